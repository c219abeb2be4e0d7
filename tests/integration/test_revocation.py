"""收回 / 恢复审批权限: the city administrator revokes a county's delegation of an item and grants it again.
New acceptance at that county stops (at once, or from the effective time), cases already accepted finish, other
counties go on; the change reaches a county on its own node over SFTP; the history lists every change."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db, utcnow
from delegation import cases, grants
from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden
from delegation.models import Delegation, DelegationEvent, Item, User
from exchange.models import InboundMessage, OutboxMessage
from tests.integration.support import COUNTY, ENTERPRISE, OTHER_COUNTY, Api, run_bus
from tests.integration.test_two_nodes import CITY, Node, nodes, pump, sftp  # noqa: F401  (fixtures)

CST = ZoneInfo("Asia/Shanghai")
WINDOW, REVIEWER = f"window-{COUNTY}", f"review-{COUNTY}"
BASE = "/api/v1/delegations"


@pytest.fixture
def api(client):
    return Api(client)


def change(api, what, item_code, county=COUNTY, user="admin", expect=200, **extra):
    r = api.post(f"{BASE}/{what}", user=user, json={"item_code": item_code, "county": county,
                                                    "reason": extra.pop("reason", "抽查发现违法审批，情节严重"), **extra})
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def test_revocation_blocks_that_county_only_lets_accepted_cases_finish_and_restoration_undoes_it(api):
    item = api.item("direct")
    in_flight = api.create(item)["case_no"]
    api.act(in_flight, WINDOW, "accept")
    waiting = api.create(item)["case_no"]  # registered, not yet accepted
    elsewhere = api.create(item, county=OTHER_COUNTY)["case_no"]

    state = change(api, "revoke", item["code"], finding_ref="宁都县专项抽查2026-03号")
    assert state["granted"] is False and state["pending"] is None and state["county"] == COUNTY

    refused = api.act(waiting, WINDOW, "accept", expect=409)
    assert refused["code"] == "delegation_revoked" and refused["field"] == "item_code"
    assert refused["apply_at"]["org"] and refused["apply_at"]["org"] in refused["detail"]
    api.act(waiting, WINDOW, "accept_with_commitment", expect=409)
    # a new application is refused already at registration (issue 17), saying where to apply
    fresh = api.create(item, expect=409)
    assert fresh["code"] == "delegation_revoked" and fresh["field"] == "item_code"
    # the other county is not touched
    assert api.act(elsewhere, f"window-{OTHER_COUNTY}", "accept")["state"] == "county_review"
    # the case accepted before goes on to its conclusion under its rules
    api.act(in_flight, REVIEWER, "review", opinion="符合条件")
    api.act(in_flight, REVIEWER, "approve")
    assert api.act(in_flight, WINDOW, "hand_out", method="pickup")["state"] == "concluded"

    listed = api.get(f"{BASE}?item={item['code']}", user=WINDOW).get_json()
    by_county = {d["county"]: d["granted"] for d in listed}
    assert by_county[COUNTY] is False and by_county[OTHER_COUNTY] is True and len(listed) == 20
    assert [d["county"] for d in api.get(f"{BASE}?state=revoked", user="admin").get_json()] == [COUNTY]

    run_bus()  # the county's window is on this node: the message finds the change already made
    sent = db.session.execute(sa.select(OutboxMessage).filter_by(type="delegation.change")).scalars().all()
    assert [(m.to_org, m.state) for m in sent] == [(f"{COUNTY}-window", "acknowledged")]

    state = change(api, "restore", item["code"], reason="整改到位，恢复下放")
    assert state["granted"] is True
    fresh = api.create(item)["case_no"]  # registered again once restored
    assert api.act(fresh, WINDOW, "accept")["state"] == "county_review"
    assert api.act(waiting, WINDOW, "accept")["state"] == "county_review"
    run_bus()

    history = api.get(f"{BASE}/history?item={item['code']}&county={COUNTY}", user="admin").get_json()
    assert [(h["action"], h["reason"]) for h in history] == [("revoke", "抽查发现违法审批，情节严重"),
                                                             ("grant", "整改到位，恢复下放")]
    assert history[0]["finding_ref"] == "宁都县专项抽查2026-03号" and "(admin)" in history[0]["by"]
    assert history[0]["at"] <= history[1]["at"]
    assert api.get(f"{BASE}/history?item={item['code']}&county={OTHER_COUNTY}", user="admin").get_json() == []
    current = api.get(f"{BASE}?item={item['code']}&county={COUNTY}", user="admin").get_json()
    assert len(current) == 1 and current[0]["granted"] is True and current[0]["reason"] == "整改到位，恢复下放"


def test_who_may_change_and_bad_input_named_in_chinese(api):
    code = api.item("forward_only")["code"]
    for user in (WINDOW, REVIEWER, "city-approver", "reg-city"):
        r = change(api, "revoke", code, user=user, expect=403)
        assert r["code"] == "role_forbidden" and "管理员" in r["detail"]
    assert change(api, "revoke", "NO-SUCH-ITEM", expect=422)["field"] == "item_code"
    r = change(api, "revoke", code, county="369999", expect=422)
    assert r["field"] == "county" and "369999" in r["detail"]
    assert change(api, "revoke", code, county="360700", expect=422)["field"] == "county"  # the city itself
    assert change(api, "revoke", code, reason="   ", expect=422)["field"] == "reason"
    past = (utcnow() - timedelta(days=2)).isoformat()
    r = change(api, "revoke", code, effective_at=past, expect=422)
    assert r["field"] == "effective_at" and "生效时间" in r["detail"]
    r = api.post(f"{BASE}/revoke", user="admin", json={"item_code": code, "county": COUNTY})
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    assert change(api, "restore", code, expect=409)["code"] == "delegation_not_revoked"
    change(api, "revoke", code)
    r = change(api, "revoke", code, expect=409)
    assert r["code"] == "delegation_already_revoked" and "已收回" in r["detail"]
    assert api.get(BASE, user="admin").status_code == 422  # the whole matrix is not a page
    r = api.get(f"{BASE}?item=NOPE", user="admin")
    assert r.status_code == 422 and r.get_json()["field"] == "item"
    r = api.get(f"{BASE}/history?county=123", user="admin")
    assert r.status_code == 422 and r.get_json()["field"] == "county"
    assert api.get(f"{BASE}?county={COUNTY}").status_code == 401
    # nothing of the refused attempts reached the history
    assert len(api.get(f"{BASE}/history?item={code}", user="admin").get_json()) == 1


def test_revocation_effective_later_keeps_acceptance_open_until_then(app):
    t0 = datetime(2026, 3, 2, 10, tzinfo=CST)  # Monday
    admin, window = actor("admin"), actor(WINDOW)
    item = db.session.execute(sa.select(Item).filter_by(mode="direct").order_by(Item.code)).unique().scalars().first()
    everything = [{"code": m.code, "present": True} for m in item.materials]

    def new_case(now):
        case = cases.create_case(window, item.code, dict(ENTERPRISE), everything, now=now)
        db.session.commit()
        return case.case_no

    grants.revoke(admin, item.code, COUNTY, "限期整改未完成", effective_at=t0 + timedelta(days=3), now=t0)
    db.session.commit()
    row = db.session.execute(sa.select(Delegation).filter_by(item_id=item.id, division_code=COUNTY)).scalar_one()
    state = grants.state(item, grants.find_county(COUNTY), now=t0 + timedelta(days=1))
    assert state["granted"] is True and state["pending"]["action"] == "revoke"
    assert grants.in_effect(row, t0 + timedelta(days=3, seconds=1)) is False

    before = new_case(t0 + timedelta(days=1))
    assert cases.perform(window, before, "accept", now=t0 + timedelta(days=1)).state == "county_review"
    after = new_case(t0 + timedelta(days=2))
    with pytest.raises(Conflict) as refused:
        cases.perform(window, after, "accept", now=t0 + timedelta(days=3, hours=1))
    assert refused.value.code == "delegation_revoked"
    db.session.rollback()

    # a second scheduled change while one is pending is refused; an immediate one calls the pending one off
    with pytest.raises(Conflict) as stacked:
        grants.restore(admin, item.code, COUNTY, "改期", effective_at=t0 + timedelta(days=5), now=t0 + timedelta(days=1))
    assert stacked.value.code == "delegation_change_pending"
    grants.restore(admin, item.code, COUNTY, "整改已完成，取消收回", now=t0 + timedelta(days=2))
    db.session.commit()
    assert cases.perform(window, after, "accept", now=t0 + timedelta(days=4)).state == "county_review"
    events = db.session.execute(sa.select(DelegationEvent).filter_by(item_id=item.id, division_code=COUNTY)
                                .order_by(DelegationEvent.id)).scalars().all()
    assert [e.action for e in events] == ["revoke", "grant"]
    assert events[0].effective_at == t0 + timedelta(days=3) and events[1].effective_at == t0 + timedelta(days=2)
    with pytest.raises(Forbidden):
        grants.revoke(actor("reg-city"), item.code, COUNTY, "x", now=t0)


def test_scheduled_revocation_through_the_api(api):
    item = api.item("delegated_review")
    tomorrow = (utcnow() + timedelta(days=1)).astimezone(CST).replace(tzinfo=None).isoformat()  # Beijing time
    state = change(api, "revoke", item["code"], effective_at=tomorrow)
    assert state["granted"] is True and state["pending"]["action"] == "revoke"
    assert api.act(api.create(item)["case_no"], WINDOW, "accept")["state"] == "county_review"  # still open today
    r = change(api, "revoke", item["code"], expect=409)
    assert r["code"] == "delegation_already_revoked" and "将于" in r["detail"]
    assert [d["item_code"] for d in api.get(f"{BASE}?state=pending", user="admin").get_json()] == [item["code"]]


def test_delegation_change_from_a_county_organisation_is_rejected(app):
    from exchange.outbox import enqueue

    item = db.session.execute(sa.select(Item).order_by(Item.code)).unique().scalars().first()
    enqueue("delegation.change", from_org=f"{OTHER_COUNTY}-window", to_node=CITY, to_org=f"{COUNTY}-window",
            body={"item_code": item.code, "division": COUNTY, "action": "revoke", "effective_at": utcnow(),
                  "reason": "伪造"})
    db.session.commit()
    run_bus()
    rejected = db.session.execute(sa.select(InboundMessage).filter_by(type="delegation.change")).scalar_one()
    assert rejected.state == "quarantined" and rejected.reason_code == "sender_not_allowed"
    row = db.session.execute(sa.select(Delegation).filter_by(item_id=item.id, division_code=COUNTY)).scalar_one()
    assert row.granted is True
    assert db.session.execute(sa.select(DelegationEvent)).first() is None


def test_revocation_reaches_a_county_on_its_own_node_over_sftp(nodes, sftp):  # noqa: F811
    county, city = Node(nodes[0]), Node(nodes[1])
    with county.ctx():
        item = county.api.item("direct")
        in_flight = county.api.create(item)["case_no"]
    county.act(in_flight, WINDOW, "accept")

    with city.ctx():
        change(city.api, "revoke", item["code"], finding_ref="spot-check-2026-07")
    pump(county, city)
    with county.ctx():
        refused = county.api.create(item, expect=409)  # refused already at registration (issue 17)
        assert refused["code"] == "delegation_revoked" and refused["apply_at"]["org"] in refused["detail"]
        history = county.api.get(f"{BASE}/history?item={item['code']}&county={COUNTY}", user=WINDOW).get_json()
        assert [(h["action"], h["by"]) for h in history] == [("revoke", f"{CITY}-bureau@{CITY}")]
        other = county.api.get(f"{BASE}?item={item['code']}&county={OTHER_COUNTY}", user=WINDOW).get_json()
        assert other[0]["granted"] is True
    # the case accepted before the revocation finishes on the county node
    county.act(in_flight, REVIEWER, "review", opinion="符合条件")
    county.act(in_flight, REVIEWER, "approve")
    assert county.act(in_flight, WINDOW, "hand_out", method="pickup")["state"] == "concluded"

    with city.ctx():
        change(city.api, "restore", item["code"], reason="整改到位")
    pump(county, city)
    with county.ctx():
        fresh = county.api.create(item)["case_no"]  # registered again once restored
    assert county.act(fresh, WINDOW, "accept")["state"] == "county_review"
    with county.ctx():
        history = county.api.get(f"{BASE}/history?item={item['code']}&county={COUNTY}", user=WINDOW).get_json()
        assert [h["action"] for h in history] == ["revoke", "grant"]
    with city.ctx():
        rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="delegation.change")
                                  .order_by(OutboxMessage.id)).scalars().all()
        assert [(r.to_node, r.fmt, r.state) for r in rows] == [(COUNTY, "json", "acknowledged")] * 2
