"""全市通办 on the embedded node (issue 17 part D): 宁都县's window (360730) accepts an application of a flagged item for
章贡区 (360702); the case travels over the bus to 章贡区's bureau, which reviews and decides it; the result comes back
to 宁都县's window to be handed out; the statistics count it at both ends. Bad input (an item not flagged, a county
that does not exist, the window's own county) is refused naming competent_county and nothing is kept. Through the
API (the window's intake page: test_citywide_pages.py)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, Item
from tests.integration.support import COUNTY, ENTERPRISE, Api, run_bus

COMPETENT = "360702"  # 章贡区
ITEM = "GZ-CXYS-001"  # flagged 全市通办 in the demo catalogue
WINDOW, REVIEWER, COMPETENT_REVIEWER = f"window-{COUNTY}", f"review-{COUNTY}", f"review-{COMPETENT}"


def _body(item_code: str, competent: str) -> dict:
    item = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one()
    return {"item_code": item_code, "applicant": ENTERPRISE, "competent_county": competent,
            "materials": [{"code": m.code, "present": True} for m in item.materials]}


def _case_count() -> int:
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()


def test_accepted_at_one_window_decided_by_the_competent_county_and_handed_out_where_accepted(client):
    api = Api(client)
    counties = api.get(f"/api/v1/citywide/items/{ITEM}/counties", user=WINDOW).get_json()
    names = {c["name"]: c["code"] for c in counties["counties"]}
    assert counties["citywide"] and names["章贡区"] == COMPETENT and COUNTY not in names.values()

    r = api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(ITEM, COMPETENT))
    assert r.status_code == 201, r.get_json()
    case_no = r.get_json()["case_no"]
    assert case_no.startswith(f"{COUNTY}-")  # numbered and owned by the accepting window (首问负责)
    assert api.act(case_no, WINDOW, "accept")["state"] == "forwarded"  # on its way to 章贡区
    run_bus()
    assert api.case(case_no, COMPETENT_REVIEWER)["state"] == "county_review"
    # the accepting county's bureau does not decide it; the competent county's does
    api.act(case_no, REVIEWER, "review", expect=404, opinion="本县审核")  # not on its desk at all
    # the regulators who will supervise it are 章贡区's: it is on their 在办督促 list, not on 宁都县's
    from delegation import reminders
    from delegation.actors import Actor
    from delegation.models import User

    def to_supervise(username):
        user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
        return [c.case_no for c in reminders.to_supervise(Actor.for_user(user))[0]]
    assert case_no in to_supervise(f"reg-{COMPETENT}") and case_no not in to_supervise(f"reg-{COUNTY}")
    api.act(case_no, COMPETENT_REVIEWER, "review", opinion="经审查，车辆及路线符合要求")
    decided = api.act(case_no, COMPETENT_REVIEWER, "approve", certificate_no="章超限2026-0001")
    assert decided["state"] == "decided"
    run_bus()
    # back at the accepting window, which hands the result out
    at_window = api.case(case_no, WINDOW)
    assert at_window["state"] == "decided" and at_window["decision"]["certificate_no"] == "章超限2026-0001"
    # 章贡区 decided it and supervises it; 宁都县's window answers to the applicant and hands it out
    assert at_window["responsible"] == {**at_window["responsible"], "accepting": f"{COUNTY}-window",
                                        "deciding": f"{COMPETENT}-bureau", "supervising": f"{COMPETENT}-industry",
                                        "hands_out": f"{COUNTY}-window"}
    from supervision.models import SupervisionPush

    pushes = db.session.execute(sa.select(SupervisionPush.supervising_org).filter_by(case_no=case_no)).scalars()
    assert list(pushes) == [f"{COMPETENT}-industry"]
    done = api.act(case_no, WINDOW, "hand_out", method="pickup")
    assert done["state"] == "concluded"
    api.act(case_no, f"window-{COMPETENT}", "hand_out", expect=404, method="pickup")  # not 章贡区's window's case

    stats = {r["county"]: r for r in api.get("/api/v1/citywide/statistics", user="admin").get_json()}
    assert stats[COUNTY]["accepted_for_others"] == 1 and stats[COUNTY]["accepted_concluded"] == 1
    assert stats[COMPETENT]["handled_for_others"] == 1 and stats[COMPETENT]["handled_decided"] == 1
    assert stats[COUNTY]["handled_for_others"] == 0 and stats[COMPETENT]["accepted_for_others"] == 0
    own = api.get("/api/v1/citywide/statistics", user=COMPETENT_REVIEWER).get_json()
    assert [r["county"] for r in own] == [COMPETENT]


def test_bad_choices_are_refused_naming_the_field_and_nothing_is_kept(client):
    api = Api(client)
    before = _case_count()
    not_flagged = db.session.execute(sa.select(Item.code).filter_by(mode="direct").order_by(Item.code)
                                     ).scalars().first()
    assert not_flagged != ITEM
    for body, status, code in ((_body(not_flagged, COMPETENT), 409, "citywide_not_enabled"),
                               (_body(ITEM, "369999"), 422, "county_unknown"),
                               (_body(ITEM, COUNTY), 422, "citywide_own_county"),
                               (_body(ITEM, ""), 422, "required")):
        r = api.post("/api/v1/citywide/cases", user=WINDOW, json=body)
        problem = r.get_json()
        assert (r.status_code, problem["code"], problem["field"]) == (status, code, "competent_county"), problem
        assert "competent_county" not in problem["detail"]  # said in words, in Chinese
    assert _case_count() == before
    # only the administrator flags an item; only a direct item can carry the flag
    assert api.client.put(f"/api/v1/citywide/items/{not_flagged}", json={"citywide": True},
                          headers={"Authorization": f"Bearer {api.token(WINDOW)}"}).status_code == 403
    fo = db.session.execute(sa.select(Item.code).filter_by(mode="forward_only")).scalars().first()
    r = api.client.put(f"/api/v1/citywide/items/{fo}", json={"citywide": True},
                       headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert r.status_code == 422 and r.get_json()["field"] == "citywide"
    r = api.client.put(f"/api/v1/citywide/items/{not_flagged}", json={"citywide": True},
                       headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert r.status_code == 200
    assert api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(not_flagged, COMPETENT)).status_code == 201


def test_the_flag_travels_through_catalogue_export_and_import(app, tmp_path):
    import csv

    from delegation import catalog_io
    from delegation.citywide import citywide_item_ids

    path = tmp_path / "catalog.csv"
    catalog_io.export_catalog(db.session, path)
    rows = list(csv.DictReader(open(path, encoding="utf-8-sig")))
    assert {r["item_code"] for r in rows if r["citywide"] == "true"} == {ITEM}
    not_flagged = next(r["item_code"] for r in rows if r["mode"] == "direct" and r["item_code"] != ITEM)
    for r in rows:  # the administrator edits the sheet: the flag moves to another direct item
        r["citywide"] = "是" if r["item_code"] == not_flagged else "否"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    catalog_io.import_catalog(db.session, catalog_io.read_catalog(path), [])
    flagged = db.session.execute(sa.select(Item.code).where(Item.id.in_(citywide_item_ids()))).scalars().all()
    assert flagged == [not_flagged]
    # a file without the column leaves the flags alone; a flag on an item the city decides names its column
    forward = next(r for r in rows if r["mode"] == "forward_only")
    forward_rows = [dict(r, citywide="是") for r in rows if r["item_code"] == forward["item_code"]]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(forward_rows)
    with pytest.raises(catalog_io.CatalogError) as refused:
        catalog_io.read_catalog(path)
    assert {e.field for e in refused.value.errors} == {"citywide"}
    without = [{k: v for k, v in r.items() if k != "citywide"} for r in rows]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(without[0]))
        writer.writeheader()
        writer.writerows(without)
    catalog_io.import_catalog(db.session, catalog_io.read_catalog(path), [])
    assert db.session.execute(sa.select(Item.code).where(Item.id.in_(citywide_item_ids()))).scalars().all() \
        == [not_flagged]


def test_on_one_node_the_window_withdraws_while_the_competent_county_reviews(client):
    from exchange.models import OutboxMessage

    api = Api(client)
    case_no = api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(ITEM, COMPETENT)).get_json()["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    assert api.case(case_no, COMPETENT_REVIEWER)["state"] == "county_review"
    assert api.act(case_no, WINDOW, "withdraw", comment="申请人要求撤回")["state"] == "withdrawn"
    run_bus()  # the closure finds the very case, already withdrawn: nothing more changes, nothing is refused
    assert api.case(case_no, COMPETENT_REVIEWER)["state"] == "withdrawn"
    api.act(case_no, COMPETENT_REVIEWER, "review", expect=409, opinion="已撤回")
    sent = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.closure")).scalars().all()
    assert [m.state for m in sent] == ["acknowledged"]


def test_on_one_node_a_correction_by_the_competent_county_is_the_windows_to_resubmit(client):
    from exchange.models import OutboxMessage

    api = Api(client)
    body = _body(ITEM, COMPETENT)
    case_no = api.post("/api/v1/citywide/cases", user=WINDOW, json=body).get_json()["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    material = body["materials"][0]["code"]
    api.act(case_no, COMPETENT_REVIEWER, "request_correction", items=[{"material_code": material, "problem": "已过期"}])
    run_bus()  # the return finds the very case, waiting for the correction: nothing more changes, nothing refused
    assert api.case(case_no, WINDOW)["state"] == "correction_requested"
    assert api.act(case_no, WINDOW, "resubmit", materials=[material])["state"] == "county_review"
    sent = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.return")).scalars().all()
    assert [m.state for m in sent] == ["acknowledged"]


def test_the_competent_countys_queues_hold_the_case_and_the_accepting_countys_do_not(client):
    """本单位未分配 and 我的待办 of the county bureaus: a city-wide case is the competent county's work, never the accepting
    county's, in the list, its count and the desks' bar alike."""
    from delegation import assignment
    from tests.integration.factories import reviewer

    api = Api(client)
    case_no = api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(ITEM, COMPETENT)).get_json()["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    ordinary = {k: v for k, v in _body(ITEM, COUNTY).items() if k != "competent_county"}
    own = api.post("/api/v1/cases", user=WINDOW, json=ordinary).get_json()["case_no"]
    api.act(own, WINDOW, "accept")  # an ordinary case of the accepting county: its bureau's
    with client.application.app_context():
        competent, accepting = reviewer(COMPETENT), reviewer(COUNTY)

        def unassigned(who):
            queue = assignment.unassigned(who)
            return {c.case_no for c, _ in queue.rows}, queue.count, assignment.counts(who)["unassigned"]
        nos, count, bar = unassigned(competent)
        assert case_no in nos and count == bar == len(nos)
        nos, count, bar = unassigned(accepting)
        assert case_no not in nos and own in nos and count == bar == len(nos)
        assignment.claim(competent, case_no)
        db.session.commit()
        assert [c.case_no for c, _ in assignment.my_work(competent).rows] == [case_no]
        assert case_no not in unassigned(competent)[0]


@pytest.mark.postgresql
def test_a_county_reviewers_unassigned_queue_reads_only_its_own_countys_cases(app):
    """The reviewer's scope (全市通办) must not turn the queue into a scan of every county's cases in the state."""
    import json

    from delegation import assignment
    from delegation.workflow import Mode, State
    from tests.integration.factories import make_case, reviewer

    if db.engine.dialect.name != "postgresql":
        pytest.skip("reads PostgreSQL's plan")
    with app.app_context():
        for _ in range(40):
            make_case(State.COUNTY_REVIEW, Mode.DIRECT, county=COMPETENT)
        mine = [make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no for _ in range(3)]
        db.session.commit()
        db.session.execute(sa.text("ANALYZE case_file"))
        statements = []

        def grab(conn_, cursor, statement, parameters, context, executemany):
            if "union" in statement.lower():
                statements.append((statement, parameters))
        sa.event.listen(db.engine, "before_cursor_execute", grab)
        try:
            queue = assignment.unassigned(reviewer())
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", grab)
        assert set(mine) <= {c.case_no for c, _ in queue.rows}
        (statement, parameters), = statements
        connection = db.session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar_one()
        plan = plan if isinstance(plan, list) else json.loads(plan)

        def nodes(node):
            yield node
            for child in node.get("Plans", ()):
                yield from nodes(child)
        read = sum((n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
                   for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "case_file")
        assert read <= len(mine) + 5, f"{read} case rows read for {len(mine)} of the county's: " \
                                      + json.dumps(plan, ensure_ascii=False)[:3000]


def test_an_upgraded_database_gives_a_city_wide_case_to_the_competent_bureau(client):
    """Migration 0040: a city-wide case registered before it (no holder named) is the competent county's bureau's."""
    import flask_migrate

    from delegation import assignment
    from tests.integration.factories import reviewer

    api = Api(client)
    case_no = api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(ITEM, COMPETENT)).get_json()["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    with client.application.app_context():
        db.session.execute(sa.update(Case).where(Case.case_no == case_no).values(holder_org=None))
        db.session.commit()
        flask_migrate.downgrade(revision="0039")
        flask_migrate.upgrade()
        assert db.session.execute(sa.select(Case.holder_org).filter_by(case_no=case_no)).scalar_one() \
            == f"{COMPETENT}-bureau"
        assert case_no in {c.case_no for c, _ in assignment.unassigned(reviewer(COMPETENT)).rows}


def test_the_competent_bureau_passes_a_city_wide_case_only_within_its_own_county(client):
    """转办 of a city-wide case under review: the competent county's bureau holds it, and may pass it only to its own
    county's bureau units, never to the accepting county's (which does not decide it); a refusal changes nothing."""
    from delegation import transfer
    from delegation.errors import Invalid
    from tests.integration.factories import reviewer

    api = Api(client)
    case_no = api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(ITEM, COMPETENT)).get_json()["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    with client.application.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        assert {o.division_code for o in transfer.targets(case)} <= {COMPETENT}
        with pytest.raises(Invalid) as refused:
            transfer.transfer(reviewer(COMPETENT), case_no, f"{COUNTY}-bureau", "请贵局审查")
        assert refused.value.field == "to_org" and refused.value.code == "org_cannot_handle"
        db.session.rollback()
        assert db.session.execute(sa.select(Case.holder_org).filter_by(case_no=case_no)).scalar_one() \
            == f"{COMPETENT}-bureau"


def test_the_decision_of_a_city_wide_case_is_issued_in_the_competent_bureaus_name(client):
    """What the applicant takes home names who decided: the competent county's bureau, not the accepting one's."""
    from delegation.documents import authorities

    api = Api(client)
    case_no = api.post("/api/v1/citywide/cases", user=WINDOW, json=_body(ITEM, COMPETENT)).get_json()["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    api.act(case_no, COMPETENT_REVIEWER, "review", opinion="经审查，符合要求")
    api.act(case_no, COMPETENT_REVIEWER, "approve", certificate_no="章超限2026-0002")
    with client.application.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        issuer = authorities.issuer_of(case)
        assert issuer.code == f"{COMPETENT}-bureau" and issuer.name.startswith("章贡区"), issuer
