"""reference.publish on one node, on both backends (issue 18, part 3): a credit change at the city goes to the outbox
with the next version, in the change's own transaction, to every node hosting county organisations; what is refused
changes nothing; a publication is accepted only from the city bureau on the kind's stream; a copy received from the
city counts, is sealed and cannot be lifted at the county; the administrators see the version in force."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Org
from delegation.reference_models import ReferenceVersion
from exchange.models import InboundMessage, OutboxMessage
from supervision.models import CreditRecord
from tests.integration.support import COUNTY, ENTERPRISE, OTHER_COUNTY, PERSON, Api, run_bus

CITY = "360700"
RECORDS = "/api/v1/delegations/credit-records"


@pytest.fixture
def api(client):
    return Api(client)


def _county_on_its_own_node(county: str = COUNTY) -> None:
    db.session.execute(sa.update(Org).where(Org.division_code == county, Org.level == "county")
                       .values(node_id=county))
    db.session.commit()


def _published() -> list[OutboxMessage]:
    return db.session.execute(sa.select(OutboxMessage).filter_by(type="reference.publish")
                              .order_by(OutboxMessage.id)).scalars().all()


def app_keys():
    from exchange.bus import get_bus

    return get_bus().keys_dir


def _version(kind: str = "credit") -> int | None:
    db.session.expire_all()
    row = db.session.get(ReferenceVersion, kind)
    return row.version if row else None


def test_a_credit_change_goes_out_with_its_version_in_the_same_transaction(api):
    _county_on_its_own_node()
    r = api.post(RECORDS, user="admin", json={"id_code": PERSON["id_code"], "name": PERSON["name"], "detail": ""})
    assert r.status_code == 422 and r.get_json()["field"] == "detail"
    assert _published() == [] and _version() is None  # refused: no version, nothing sent

    r = api.post(RECORDS, user="admin",
                 json={"id_code": PERSON["id_code"], "name": PERSON["name"], "detail": "告知承诺不实"})
    assert r.status_code == 201, r.get_json()
    record_id = r.get_json()["id"]
    assert _version() == 1
    (first,) = _published()
    assert (first.to_node, first.case_no, first.sequence, first.state) == (COUNTY, "REF-credit", 1, "queued")

    r = api.post(f"/api/v1/credit/records/{record_id}/lift", user="admin", json={"reason": "已完成信用修复"})
    assert r.status_code == 200, r.get_json()
    assert _version() == 2
    second = _published()[1]
    assert (second.to_node, second.sequence) == (COUNTY, 2)
    from exchange import xmlform

    env, _ = xmlform.verify(second.raw, lambda node: [(app_keys() / "node.crt").read_bytes()], COUNTY)
    assert env.body["version"] == "2" and env.body["credit_records"][0]["lifted"]["reason"] == "已完成信用修复"


def test_a_county_record_is_not_published(app):
    """Records a county node makes stay there: only the node hosting the city bureau publishes."""
    from delegation.actors import Actor
    from delegation.models import User
    from supervision import credit

    db.session.execute(sa.update(Org).where(Org.kind == "city_bureau").values(node_id="360700-other"))
    _county_on_its_own_node(OTHER_COUNTY)
    admin = db.session.execute(sa.select(User).filter_by(username="admin")).scalar_one()
    credit.record_false_commitment(Actor.for_user(admin), PERSON["id_code"], PERSON["name"], None, "告知承诺不实")
    db.session.commit()
    assert _published() == [] and _version() is None


def _publish_to_me(from_org: str, body: dict, stream: str = "REF-credit") -> None:
    from exchange.outbox import enqueue

    enqueue("reference.publish", from_org=from_org, to_node=CITY, to_org=f"{COUNTY}-window", body=body,
            case_no=stream)
    db.session.commit()
    run_bus()


def _body(ref: str = "5", **extra) -> dict:
    record = {"ref": ref, "kind": "false_commitment", "blacklisted": True, "id_code": ENTERPRISE["id_code"],
              "name": ENTERPRISE["name"], "detail": "告知承诺不实（市级）", "recorded_by": "市管理员 (admin)",
              "recorded_at": "2026-03-01T09:00:00+08:00", "expires_at": "2099-03-01T09:00:00+08:00"}
    return {"kind": "credit", "version": "3", "published_at": "2026-03-01T09:05:00+08:00",
            "credit_records": [record], **extra}


@pytest.mark.parametrize("from_org, stream, body, code", [
    (f"{OTHER_COUNTY}-window", "REF-credit", _body(), "sender_not_allowed"),
    (f"{CITY}-bureau", "REF-holidays", _body(), "schema_invalid"),
    (f"{CITY}-bureau", "REF-credit", _body(credit_records=[]), "schema_invalid"),
])
def test_a_publication_from_anyone_but_the_city_bureau_or_off_its_stream_is_refused(app, from_org, stream, body,
                                                                                     code):
    _publish_to_me(from_org, body, stream)
    refused = db.session.execute(sa.select(InboundMessage).filter_by(type="reference.publish")).scalar_one()
    assert (refused.state, refused.reason_code) == ("quarantined", code)
    assert db.session.execute(sa.select(CreditRecord)).first() is None and _version() is None


def test_a_copy_from_the_city_counts_is_sealed_and_cannot_be_lifted_here(api):
    from supervision import credit

    _publish_to_me(f"{CITY}-bureau", _body())
    copy = db.session.execute(sa.select(CreditRecord)).scalar_one()
    assert (copy.origin_node, copy.origin_id, copy.id_code) == (CITY, 5, ENTERPRISE["id_code"])
    assert credit.is_blacklisted(ENTERPRISE["id_code"]) and _version() == 3

    r = api.post(f"/api/v1/credit/records/{copy.id}/lift", user="admin", json={"reason": "县里撤销"})
    assert r.status_code == 409 and r.get_json()["code"] == "published_record"
    assert r.get_json()["field"] == "record_id" and "市级" in r.get_json()["detail"]
    from tests.integration.pages import log_in

    log_in(api.client, "admin")  # the credit page offers no 撤销 for it, and says whose it is
    page = api.client.get("/admin/credit").get_data(as_text=True)
    assert f'data-testid="published-{copy.id}">市级发布' in page and f'data-testid="lift-{copy.id}"' not in page
    for column, value in (("origin_id", 6), ("expires_at", "2020-01-01 00:00:00")):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(f"UPDATE credit_record SET {column} = :v WHERE id = :id"),
                               {"v": value, "id": copy.id})
            db.session.flush()
        db.session.rollback()
    assert credit.is_blacklisted(ENTERPRISE["id_code"])


def _holidays(days: list[dict], complete: bool = True) -> dict:
    return {"kind": "holidays", "version": "1", "published_at": "2026-12-01T09:00:00+08:00",
            "holidays": {"year": "2027", "complete": complete, "days": days}}


def _table_2027() -> list[tuple]:
    from datetime import date

    from delegation.models import HolidayDay, HolidayYear

    db.session.expire_all()
    days = db.session.execute(sa.select(HolidayDay.day, HolidayDay.is_workday, HolidayDay.name)
                              .where(HolidayDay.day.between(date(2027, 1, 1), date(2027, 12, 31)))
                              .order_by(HolidayDay.day)).all()
    return [tuple(d) for d in days] + ([("complete",)] if db.session.get(HolidayYear, 2027) else [])


def test_a_holiday_publication_replaces_that_years_table(app):
    from datetime import date

    from delegation.models import HolidayDay

    db.session.add(HolidayDay(day=date(2027, 3, 1), is_workday=False, name="本地录入"))  # not the city's
    db.session.add(HolidayDay(day=date(2028, 1, 3), is_workday=False, name="下一年"))  # another year: untouched
    db.session.commit()
    _publish_to_me(f"{CITY}-bureau", _holidays([{"date": "2027-02-08", "workday": False, "name": "春节"},
                                                {"date": "2027-02-06", "workday": True, "name": "春节调休上班"}]),
                   stream="REF-holidays")
    assert _table_2027() == [(date(2027, 2, 6), True, "春节调休上班"), (date(2027, 2, 8), False, "春节"),
                             ("complete",)]
    assert db.session.get(HolidayDay, date(2028, 1, 3)) is not None and _version("holidays") == 1


def test_a_holiday_publication_with_a_day_outside_its_year_changes_nothing(app):
    _publish_to_me(f"{CITY}-bureau", _holidays([{"date": "2027-02-08", "workday": False, "name": "春节"},
                                                {"date": "2028-01-03", "workday": False, "name": "下一年"}]),
                   stream="REF-holidays")
    refused = db.session.execute(sa.select(InboundMessage).filter_by(type="reference.publish")).scalar_one()
    assert (refused.state, refused.reason_code) == ("quarantined", "schema_invalid")
    assert _table_2027() == [] and _version("holidays") is None


def test_a_case_notes_the_catalogue_version_in_force_when_registered(api):
    from datetime import datetime, timezone

    from delegation.models import Case

    item = api.item("direct")
    first = api.create(item)["case_no"]
    now = datetime.now(timezone.utc)
    db.session.add(ReferenceVersion(kind="catalogue", version=4, source_node=CITY, published_at=now, applied_at=now))
    db.session.commit()
    second = api.create(item)["case_no"]
    db.session.expire_all()
    noted = dict(db.session.execute(sa.select(Case.case_no, Case.catalogue_version)
                                    .where(Case.case_no.in_([first, second]))).all())
    assert noted == {first: None, second: 4}


def test_a_catalogue_publication_that_does_not_read_changes_nothing(app):
    from delegation.models import Item

    before = {i.code: i.promised_limit for i in db.session.execute(sa.select(Item)).unique().scalars()}
    _publish_to_me(f"{CITY}-bureau", {"kind": "catalogue", "version": "1", "published_at": "2026-12-01T09:00:00+08:00",
                                      "catalogue": {"csv": "code,name\nGZ-TZSB-001,特种设备使用登记\n"}},
                   stream="REF-catalogue")
    refused = db.session.execute(sa.select(InboundMessage).filter_by(type="reference.publish")).scalar_one()
    assert (refused.state, refused.reason_code) == ("quarantined", "catalogue_invalid")
    db.session.expire_all()
    assert {i.code: i.promised_limit for i in db.session.execute(sa.select(Item)).unique().scalars()} == before
    assert _version("catalogue") is None


def _enqueue(from_org: str, body: dict, stream: str) -> str:
    from exchange.outbox import enqueue

    return enqueue("reference.publish", from_org=from_org, to_node=CITY, to_org=f"{COUNTY}-window", body=body,
                   case_no=stream).message_id


def _refusal(message_id: str) -> tuple:
    """What the receiver recorded and what the sender was told (the rejection receipt) about a message."""
    db.session.expire_all()
    sent = db.session.execute(sa.select(OutboxMessage).filter_by(message_id=message_id)).scalar_one()
    got = db.session.execute(sa.select(InboundMessage).where(InboundMessage.sha256 == sent.sha256)).scalar_one()
    return got.state, got.reason_code, sent.receipt_status, sent.receipt_reason or ""


@pytest.mark.parametrize("bad, field", [
    (_body(ref="6") | {"version": "123456789012345678"}, "Version"),  # above what a 32-bit column holds
    (_body(ref="123456789012345678"), "ref"),
    (_body(ref="6") | {"published_at": "0001-01-01T00:00:00+08:00"}, "PublishedAt"),  # before year 1 in UTC
    (_body(ref="6") | {"credit_records": [{**_body()["credit_records"][0], "expires_at": "0001-01-01T07:00:00+08:00"}]},
     "ExpiresAt"),
])
def test_a_number_out_of_range_is_refused_naming_it_and_the_stream_goes_on(app, bad, field):
    """An 18-digit Version or ref fits the wire's pattern but no column: the receiver refuses it with a rejection
    receipt naming the field, the refusal uses up its Sequence, and the next publication of the stream applies."""
    refused = _enqueue(f"{CITY}-bureau", bad, "REF-credit")
    _enqueue(f"{CITY}-bureau", _body(ref="7") | {"version": "4"}, "REF-credit")
    db.session.commit()
    run_bus(3)
    state, code, receipt, reason = _refusal(refused)
    assert (state, code, receipt) == ("quarantined", "schema_invalid", "rejected") and field in reason
    assert [r.origin_id for r in db.session.execute(sa.select(CreditRecord)).scalars()] == [7]
    assert _version() == 4


def test_a_holiday_publication_of_an_impossible_year_is_refused_and_the_stream_goes_on(app):
    refused = _enqueue(f"{CITY}-bureau", _holidays([]) | {"holidays": {"year": "0000", "complete": True, "days": []}},
                       "REF-holidays")
    _enqueue(f"{CITY}-bureau", _holidays([{"date": "2027-02-08", "workday": False, "name": "春节"}])
             | {"version": "2"}, "REF-holidays")
    db.session.commit()
    run_bus(3)
    state, code, receipt, reason = _refusal(refused)
    assert (state, code, receipt) == ("quarantined", "schema_invalid", "rejected") and "Year" in reason
    from datetime import date

    assert _table_2027() == [(date(2027, 2, 8), False, "春节"), ("complete",)] and _version("holidays") == 2
