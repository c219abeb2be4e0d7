"""Credit and blacklist records published from the city to the county nodes (issue 18, part 3), three installations
over a real OpenSSH SFTP server: the city node (360700) and two county nodes, 宁都县 (360730) and 章贡区 (360702), the
second in JSON. A blacklisting at the city blocks 容缺 at both counties; the city's lift unblocks it there; each node
shows the version in force; an older version arriving late changes nothing; the copy expires when the city's record
does, whatever the county's own setting."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.conftest import make_app
from tests.integration.support import ENTERPRISE, PERSON, Node
from tests.integration.test_supervision_nodes import _sftp_env, peer_json, sftp, trust  # noqa: F401

CITY, NINGDU, ZHANGGONG = "360700", "360730", "360702"
COMMITMENT = "GZ-TZSB-001"  # delegated_review, 容缺: M05, M06 non-core required
CORE = ["M01", "M02", "M03", "M04"]


def build(tmp_path, node_id, server, remote=(), **env):
    import flask_migrate

    from delegation.seed import seed_demo

    app = make_app(f"sqlite:///{tmp_path / f'node-{node_id}.db'}", tmp_path / f"instance-{node_id}",
                   NODE_ID=node_id, **_sftp_env(server), **env)
    with app.app_context():
        flask_migrate.upgrade()
        seed_demo(node_id, set(remote))
        db.session.commit()
    return app


@pytest.fixture
def nodes(tmp_path, sftp):  # noqa: F811
    city = build(tmp_path, CITY, sftp, remote=[NINGDU, ZHANGGONG])
    ningdu = build(tmp_path, NINGDU, sftp)
    zhanggong = build(tmp_path, ZHANGGONG, sftp)
    for app, peer in ((city, NINGDU), (city, ZHANGGONG), (ningdu, CITY), (zhanggong, CITY)):
        trust(tmp_path, app, peer)
    peer_json(city, ZHANGGONG, sftp)
    yield Node(city), Node(ningdu), Node(zhanggong)
    for app in (city, ningdu, zhanggong):
        with app.app_context():
            db.engine.dispose()


def pump(*nodes: Node, rounds=3):
    for _ in range(rounds):
        for node in nodes:
            node.exchange()


def _item(node: Node, county: str) -> dict:
    return next(i for i in node.get("/api/v1/items", f"window-{county}") if i["code"] == COMMITMENT)


def try_rongque(node: Node, county: str, applicant: dict, expect: int) -> dict:
    """A case of `applicant` with the core materials only, accepted under 容缺 at the county's window."""
    with node.ctx():
        case_no = node.api.create(_item(node, county), present=CORE, applicant=applicant, county=county)["case_no"]
        return node.api.act(case_no, f"window-{county}", "accept_with_commitment", expect=expect, commitment_days=5)


def versions(node: Node) -> dict:
    from delegation import reference_publish

    with node.ctx():
        return {v["kind"]: (v["version"], v["source_node"]) for v in reference_publish.versions()}


def copies(node: Node) -> list[tuple]:
    from supervision.models import CreditRecord

    with node.ctx():
        return [(r.id_code, r.origin_node, r.origin_id, r.lifted_at is not None) for r in db.session.execute(
            sa.select(CreditRecord).order_by(CreditRecord.id)).scalars()]


def test_a_blacklisting_at_the_city_blocks_rongque_at_every_county_and_its_lift_unblocks_it(nodes, sftp):  # noqa: F811
    city, ningdu, zhanggong = nodes
    counties = ((ningdu, NINGDU), (zhanggong, ZHANGGONG))
    everyone = (city, ningdu, zhanggong)
    record = city.post("/api/v1/delegations/credit-records", "admin", expect=201,
                       id_code=PERSON["id_code"], name=PERSON["name"], detail="告知承诺不实：承诺的场地不存在")
    assert versions(city)["credit"] == (1, CITY)
    pump(*everyone)

    for node, county in counties:
        refused = try_rongque(node, county, PERSON, expect=409)
        assert (refused["code"], refused["field"]) == ("applicant_blacklisted", "applicant.id_code")
        assert try_rongque(node, county, ENTERPRISE, expect=200)["state"] == "county_review"  # others still may
        assert versions(node)["credit"] == (1, CITY)
        # the window sees the city's record at intake, as its own
        seen = node.get(f"/api/v1/delegations/credit-records?id_code={PERSON['id_code']}", f"window-{county}")
        assert seen["blacklisted"] and seen["records"][0]["detail"] == "告知承诺不实：承诺的场地不存在"

    city.post(f"/api/v1/credit/records/{record['id']}/lift", "admin", reason="已完成信用修复")
    assert versions(city)["credit"] == (2, CITY)
    pump(*everyone)

    for node, county in counties:
        assert try_rongque(node, county, PERSON, expect=200)["state"] == "county_review"
        assert versions(node)["credit"] == (2, CITY)
        assert copies(node) == [(PERSON["id_code"], CITY, record["id"], True)]

    with city.ctx():  # every publication was acknowledged by both counties, nothing left on the server
        from exchange.models import OutboxMessage

        sent = db.session.execute(sa.select(OutboxMessage.to_node, OutboxMessage.state)
                                  .filter_by(type="reference.publish")).all()
        assert sorted(sent) == [(ZHANGGONG, "acknowledged")] * 2 + [(NINGDU, "acknowledged")] * 2
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]


def test_an_older_version_arriving_late_changes_nothing_and_is_acknowledged(nodes, sftp):  # noqa: F811
    city, ningdu, zhanggong = nodes
    city.post("/api/v1/delegations/credit-records", "admin", expect=201,
              id_code=PERSON["id_code"], name=PERSON["name"], detail="告知承诺不实")
    pump(city, ningdu)
    assert versions(ningdu)["credit"] == (1, CITY)

    from exchange.outbox import enqueue

    with city.ctx():  # a stale publication (version 1 again) blacklisting somebody else
        stale = {"kind": "credit", "version": "1", "published_at": "2026-01-01T09:00:00+08:00",
                 "credit_records": [{"ref": "999", "kind": "false_commitment", "blacklisted": True,
                                     "id_code": ENTERPRISE["id_code"], "name": ENTERPRISE["name"],
                                     "detail": "旧版本", "recorded_by": "admin",
                                     "recorded_at": "2026-01-01T09:00:00+08:00",
                                     "expires_at": "2099-01-01T09:00:00+08:00"}]}
        message_id = enqueue("reference.publish", from_org=f"{CITY}-bureau", to_node=NINGDU,
                             to_org=f"{NINGDU}-window", body=stale, case_no="REF-credit").message_id
        db.session.commit()
    pump(city, ningdu)

    assert versions(ningdu)["credit"] == (1, CITY)
    assert [c[0] for c in copies(ningdu)] == [PERSON["id_code"]]
    assert try_rongque(ningdu, NINGDU, ENTERPRISE, expect=200)["state"] == "county_review"
    with city.ctx():
        from exchange.models import OutboxMessage

        assert db.session.execute(sa.select(OutboxMessage.state).filter_by(message_id=message_id)).scalar() \
            == "acknowledged"


def test_the_copy_expires_with_the_citys_record_whatever_the_countys_own_period(nodes, sftp):  # noqa: F811
    city, ningdu, zhanggong = nodes
    from delegation.actors import Actor
    from delegation.models import User
    from persistence import utcnow
    from supervision import credit

    with city.ctx():  # blacklisted four years ago: the city's three-year period is over
        admin = db.session.execute(sa.select(User).filter_by(username="admin")).scalar_one()
        credit.record_false_commitment(Actor.for_user(admin), PERSON["id_code"], PERSON["name"], None,
                                       "告知承诺不实（旧）", now=utcnow() - timedelta(days=4 * 365))
        db.session.commit()
    pump(city, ningdu)

    assert copies(ningdu)[0][:2] == (PERSON["id_code"], CITY)
    # 宁都县's own setting would keep a blacklisting for a hundred years (CREDIT_EXPIRY_DAYS; the periods are the
    # process's, so set here as the county's worker would have them): the city's expiry governs the copy
    credit.configure({"false_commitment": 36500})
    try:
        assert try_rongque(ningdu, NINGDU, PERSON, expect=200)["state"] == "county_review"
    finally:
        credit.configure({})


def test_the_citys_holiday_table_governs_the_working_days_at_every_county(nodes, sftp):  # noqa: F811
    """2027 is beyond chinese-calendar: the city's table (春节 on Monday 8 February, a make-up Saturday the 6th)
    decides which days count at the counties, whose deadlines read the table (delegation.clock.load_calendar)."""
    from datetime import date

    from delegation import calendar
    from delegation.actors import Actor
    from delegation.clock import load_calendar
    from delegation.models import User

    city, ningdu, zhanggong = nodes
    friday = date(2027, 2, 5)

    def days_at(node: Node) -> tuple:
        with node.ctx():
            cal = load_calendar()
            return cal.nth_workday_after(friday, 1), cal.is_workday(date(2027, 2, 8)), cal.year_basis(2027)

    assert days_at(ningdu) == (date(2027, 2, 8), True, calendar.WEEKENDS_ONLY)
    with city.ctx():
        admin = Actor.for_user(db.session.execute(sa.select(User).filter_by(username="admin")).scalar_one())
        calendar.set_holiday_day(admin, date(2027, 2, 8), False, "春节")
        calendar.set_holiday_day(admin, date(2027, 2, 6), True, "春节调休上班")
        calendar.set_year_complete(admin, 2027)
        db.session.commit()
    assert versions(city)["holidays"] == (3, CITY)
    pump(city, ningdu, zhanggong)
    for node in (ningdu, zhanggong):
        assert days_at(node) == (date(2027, 2, 6), False, calendar.HOLIDAY_TABLE)
        assert versions(node)["holidays"] == (3, CITY)

    with city.ctx():  # the make-up Saturday is withdrawn at the city: the counties' table follows
        admin = Actor.for_user(db.session.execute(sa.select(User).filter_by(username="admin")).scalar_one())
        calendar.remove_holiday_day(admin, date(2027, 2, 6))
        db.session.commit()
    pump(city, ningdu, zhanggong)
    for node in (ningdu, zhanggong):
        assert days_at(node) == (date(2027, 2, 9), False, calendar.HOLIDAY_TABLE)
        assert versions(node)["holidays"] == (4, CITY)


def test_a_county_node_that_joins_later_gets_the_citys_records_by_republication(nodes, sftp):  # noqa: F811
    """章贡区 was hosted by the city when the applicant was blacklisted, so nothing went to its node; once the
    operator places it on its own node, `flask reference republish` sends the city's data again."""
    from delegation.models import Org

    city, ningdu, zhanggong = nodes

    def place(node_id: str) -> None:
        with city.ctx():
            db.session.execute(sa.update(Org).where(Org.division_code == ZHANGGONG, Org.level == "county")
                               .values(node_id=node_id))
            db.session.commit()

    place(CITY)
    city.post("/api/v1/delegations/credit-records", "admin", expect=201,
              id_code=PERSON["id_code"], name=PERSON["name"], detail="告知承诺不实")
    place(ZHANGGONG)
    pump(city, ningdu, zhanggong)
    assert try_rongque(zhanggong, ZHANGGONG, ENTERPRISE, expect=200)  # (a clean applicant: the node works)
    assert copies(zhanggong) == [] and "credit" not in {k for k, (v, _) in versions(zhanggong).items() if v}

    refused = zhanggong.app.test_cli_runner().invoke(args=["reference", "republish"])
    assert refused.exit_code != 0 and "not_city_node" not in refused.output and "市级节点" in refused.output
    result = city.app.test_cli_runner().invoke(args=["reference", "republish", "--kind", "credit"])
    assert result.exit_code == 0, result.output
    assert '"credit": [2]' in result.output
    pump(city, ningdu, zhanggong)

    refused = try_rongque(zhanggong, ZHANGGONG, PERSON, expect=409)
    assert refused["code"] == "applicant_blacklisted"
    assert versions(zhanggong)["credit"] == (2, CITY) and versions(ningdu)["credit"] == (2, CITY)
    assert len(copies(ningdu)) == 1  # 宁都县 had it already: the same record is copied once


def test_a_catalogue_change_at_the_city_reaches_both_counties_and_governs_new_cases_only(nodes, sftp, tmp_path):  # noqa: F811
    """The city shortens 特种设备使用登记's promised limit (5 → 3 working days) and renames a material by a catalogue
    import; both counties import it, a case registered there afterwards notes catalogue version 1 and gets the
    shorter limit, a case accepted before keeps its version (none) and its deadline."""
    import dataclasses

    from delegation import catalog_io
    from delegation.models import Case, Item

    city, ningdu, zhanggong = nodes
    with ningdu.ctx():
        before = ningdu.api.create(_item(ningdu, NINGDU), county=NINGDU)["case_no"]
    ningdu.act(before, f"window-{NINGDU}", "accept")

    def stored(node: Node, case_no: str) -> tuple:
        with node.ctx():
            case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
            return case.catalogue_version, case.due_at, case.accepted_at

    kept = stored(ningdu, before)
    path = tmp_path / "change.csv"
    with city.ctx():
        item = db.session.execute(sa.select(Item).filter_by(code=COMMITMENT)).unique().scalar_one()
        spec = catalog_io.item_to_spec(item)
        spec = dataclasses.replace(spec, promised_limit=3, county_step_limit=1, city_step_limit=2, materials=[
            dataclasses.replace(m, name="特种设备使用登记表（一式一份）") if m.code == "M01" else m
            for m in spec.materials])
        catalog_io.write_catalog([spec], path)
    result = city.app.test_cli_runner().invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert versions(city)["catalogue"] == (1, CITY)
    pump(city, ningdu, zhanggong)

    for node, county in ((ningdu, NINGDU), (zhanggong, ZHANGGONG)):
        item = _item(node, county)
        assert item["promised_limit"] == 3
        assert {m["code"]: m["name"] for m in item["materials"]}["M01"] == "特种设备使用登记表（一式一份）"
        assert versions(node)["catalogue"] == (1, CITY)
        with node.ctx():
            after = node.api.create(item, county=county)["case_no"]
        node.act(after, f"window-{county}", "accept")
        version, due_at, _accepted = stored(node, after)
        assert version == 1
        with node.ctx():  # accepted moments after the earlier case: due two working days before it
            from delegation.clock import load_calendar
            from delegation.deadlines import SHANGHAI

            local = lambda at: at.astimezone(SHANGHAI).date()  # noqa: E731
            assert load_calendar().count_workdays(local(due_at), local(kept[1])) == 2
    assert stored(ningdu, before) == kept and kept[0] is None  # the earlier case keeps its version and deadline
