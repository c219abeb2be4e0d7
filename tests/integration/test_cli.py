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
    assert before[0] >= 30 and before[3] == 20 * 3 + 3
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
    assert json.loads(result.output)["demo_cases"]["cases"] == 7
    states = sorted(db.session.execute(sa.select(Case.state, Case.mode)).all())
    assert states == [("city_review", "delegated_review"), ("city_review", "forward_only"),
                      ("county_review", "direct"), ("decided", "direct"), ("decided", "forward_only"),
                      ("submitted", "direct"), ("submitted", "forward_only")]
    # the two approvals reached their regulators: the county's for a direct case, the city's for forward_only
    assert sorted(db.session.execute(sa.select(SupervisionPush.supervising_org)).scalars()) == \
        ["360700-industry", "360730-industry"]
    again = app.test_cli_runner().invoke(args=["seed-demo", "--cases"])
    assert json.loads(again.output)["demo_cases"]["cases"] == 0  # never adds to a database holding cases
    assert db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one() == 7


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
