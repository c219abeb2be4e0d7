"""The operator's commands: seed-demo, catalogue import/export, tokens, the exchange cycle, the deadline sweep."""
from __future__ import annotations

import csv
import json

import sqlalchemy as sa

from app.extensions import db
from delegation.models import Delegation, Item, ItemMaterial, User


def counts():
    return tuple(db.session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
                 for m in (Item, ItemMaterial, Delegation, User))


def test_seed_demo_is_idempotent(app):
    before = counts()
    assert before[0] >= 30 and before[3] == 20 * 4 + 3  # window, reviewer, regulator, county admin per county
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["users_created"] == 0
    assert counts() == before
    modes = set(db.session.execute(sa.select(Item.mode)).scalars())
    assert modes == {"direct", "delegated_review", "forward_only"}


def test_seed_demo_cases_leave_work_on_every_desk_once(app):
    from delegation.models import Case
    from supervision.models import SupervisionPush

    result = app.test_cli_runner().invoke(args=["seed-demo", "--cases"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["demo_cases"]["cases"] == 9
    states = sorted(db.session.execute(sa.select(Case.state, Case.mode)).all())
    assert states == [("city_review", "delegated_review"), ("city_review", "forward_only"),
                      ("concluded", "direct"), ("county_review", "direct"), ("decided", "direct"),
                      ("decided", "forward_only"), ("submitted", "direct"), ("submitted", "forward_only"),
                      ("suspended", "direct")]  # issue 17: a 现场踏勘 to record at the county bureau
    # the three approvals reached their regulators: the county's for a direct case, the city's for forward_only
    assert sorted(db.session.execute(sa.select(SupervisionPush.supervising_org)).scalars()) == \
        ["360700-industry", "360730-industry", "360730-industry"]
    again = app.test_cli_runner().invoke(args=["seed-demo", "--cases"])
    assert json.loads(again.output)["demo_cases"]["cases"] == 0  # never adds to a database holding cases
    assert db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == 9


def test_seed_demo_cases_give_the_county_bureau_a_bad_rating_to_answer_and_a_unit_to_transfer_to(app):
    """Issue 15 tried on the demo: 差评整改 was empty, a county 转办 had no target, and
    the window's clerk had no colleague to 分派 a case to or name as stand-in."""
    from delegation import transfer
    from delegation.follow_up_models import RatingFollowUp
    from delegation.models import Case, Org, User
    from delegation.workflow import State

    assert app.test_cli_runner().invoke(args=["seed-demo", "--cases"]).exit_code == 0
    task = db.session.execute(sa.select(RatingFollowUp)).scalar_one()
    assert (task.org_code, task.state, task.score) == ("360730-bureau", "open", 2) and task.reason
    in_review = db.session.execute(sa.select(Case).filter_by(state=State.COUNTY_REVIEW.value)).unique().scalar_one()
    assert [o.code for o in transfer.targets(in_review)] == ["360730-bureau-1"]
    unit_user = db.session.execute(sa.select(User).filter_by(username="review2-360730")).unique().scalar_one()
    assert (unit_user.role, db.session.get(Org, unit_user.org_id).code) == ("reviewer", "360730-bureau-1")
    clerk = db.session.execute(sa.select(User).filter_by(username="window2-360730")).unique().scalar_one()
    assert db.session.get(Org, clerk.org_id).code == "360730-window"  # a colleague to assign to, or stand in
    # one deciding bureau per county still (delegation/documents/authorities.county_bureau)
    assert db.session.execute(sa.select(sa.func.count()).select_from(Org).filter_by(
        division_code="360730", kind="approval_bureau")).scalar_one() == 1


def test_seed_demo_cases_leave_a_site_inspection_to_record_and_an_accountability_record_to_decide(app):
    """Issue 17 part C tried on the demo: review-360730 finds a case suspended for a 现场踏勘 it may record, and
    the administrator an accountability record whose proposal to revoke the delegation waits for a decision."""
    from delegation import inspections
    from delegation.models import Case
    from supervision.accountability_models import AccountabilityRecord
    from tests.integration.factories import actor

    assert app.test_cli_runner().invoke(args=["seed-demo", "--cases"]).exit_code == 0
    suspended = db.session.execute(sa.select(Case).filter_by(state="suspended")).unique().scalar_one()
    assert inspections.may_record(actor("review-360730"), suspended)
    record = db.session.execute(sa.select(AccountabilityRecord)).scalar_one()
    assert (record.county_code, record.status, record.proposal) == ("360730", "open", "proposed")


def test_catalog_export_then_import_round_trips(app, tmp_path):
    runner = app.test_cli_runner()
    for suffix in ("csv", "xlsx"):
        path = tmp_path / f"catalog.{suffix}"
        assert runner.invoke(args=["catalog", "export", str(path)]).exit_code == 0
        before = counts()
        result = runner.invoke(args=["catalog", "import", str(path)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["created"] == 0
        assert counts() == before


def test_catalog_import_adds_an_item_delegated_to_every_county(app, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "catalog.csv"
    runner.invoke(args=["catalog", "export", str(path)])
    rows = list(csv.DictReader(open(path, encoding="utf-8-sig")))
    new = dict(rows[0], item_code="GZ-TEST-999", item_name="测试事项", material_code="M01")
    with open(path, "a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0])).writerow(new)
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    item = db.session.execute(sa.select(Item).filter_by(code="GZ-TEST-999")).unique().scalar_one()
    grants = db.session.execute(sa.select(Delegation).filter_by(item_id=item.id, granted=True)).scalars().all()
    assert len(grants) == 20


def test_catalog_import_with_a_bad_row_imports_nothing(app, tmp_path):
    runner = app.test_cli_runner()
    path = tmp_path / "catalog.csv"
    runner.invoke(args=["catalog", "export", str(path)])
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    good = dict(zip(header, next(csv.reader([lines[1]]))))
    bad = {**good, "item_code": "GZ-NEW-001", "mode": "sideways"}
    with open(path, "a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=header).writerow(dict(good, item_code="GZ-NEW-000"))
        csv.DictWriter(fh, fieldnames=header).writerow(bad)
    before = counts()
    result = runner.invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 1
    bad_line = len(lines) + 2
    assert f"第 {bad_line} 行" in result.output and "mode" in result.output
    assert counts() == before
    assert db.session.execute(sa.select(Item).filter_by(code="GZ-NEW-000")).first() is None


def test_users_token_prints_a_working_token(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "token", "window-360730"])
    assert result.exit_code == 0
    token = result.output.strip()
    r = app.test_client().get("/api/v1/items", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert runner.invoke(args=["users", "token", "nobody"]).exit_code != 0


def test_exchange_run_once_and_deadline_sweep_commands(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["exchange", "run-once"])
    assert result.exit_code == 0 and json.loads(result.output) == {"sent": 0, "received": 0, "expired": 0}
    result = runner.invoke(args=["deadlines", "sweep"])
    assert result.exit_code == 0 and json.loads(result.output)["terminated"] == 0
