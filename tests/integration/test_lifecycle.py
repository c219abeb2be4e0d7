"""Each delegation mode end to end through the API, with the hand-offs carried by the bus."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from exchange.models import InboundMessage, OutboxMessage
from tests.integration.support import COUNTY, Api, run_bus

WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"


@pytest.fixture
def api(client):
    return Api(client)


def states(timeline):
    return [e["to_state"] for e in timeline]


def outbox(case_no):
    return db.session.execute(
        sa.select(OutboxMessage).filter_by(case_no=case_no).order_by(OutboxMessage.id)).scalars().all()


def test_direct_case_never_leaves_the_county(api):
    item = api.item("direct")
    case = api.create(item)
    assert case["state"] == "submitted" and case["case_no"].startswith(f"{COUNTY}-20")
    case = api.act(case["case_no"], WINDOW, "accept")
    assert case["state"] == "county_review"
    assert case["deadline"]["due_at"] and case["deadline"]["unit"] == item["limit_unit"]
    assert case["responsible"]["deciding"] == f"{COUNTY}-bureau"
    assert case["responsible"]["supervising"] == f"{COUNTY}-industry"
    api.act(case["case_no"], REVIEWER, "approve", expect=409)  # no decision before the review opinion
    api.act(case["case_no"], REVIEWER, "review", opinion="材料真实完整，符合条件")
    case = api.act(case["case_no"], REVIEWER, "approve", certificate_no="NDX-2026-001")
    assert case["state"] == "decided" and case["decision"]["certificate_no"] == "NDX-2026-001"
    case = api.act(case["case_no"], WINDOW, "hand_out", method="pickup")
    assert case["state"] == "concluded"
    assert states(case["timeline"]) == ["submitted", "accepted", "county_review", "county_review", "decided",
                                        "concluded"]
    # direct: nothing travels to the city; the approval is pushed to the county's own regulator
    assert [(m.type, m.to_org) for m in outbox(case["case_no"])] == [("supervision.push", f"{COUNTY}-industry")]


def test_delegated_review_county_reviews_city_approves(api):
    item = api.item("delegated_review")
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, REVIEWER, "review", expect=422)  # opinion and recommendation are required
    case = api.act(case_no, REVIEWER, "review", opinion="经审核，符合许可条件", recommendation="approve")
    assert case["state"] == "forwarded"
    assert case["responsible"]["answers_for_review"] == f"{COUNTY}-bureau"
    assert case["responsible"]["deciding"] == item["department_code"]
    # the city cannot act before the forward has arrived
    assert api.get(f"/api/v1/cases/{case_no}", user=CITY).status_code == 200
    api.act(case_no, CITY, "approve", expect=409)
    run_bus()
    city_view = api.case(case_no, CITY)
    assert city_view["state"] == "city_review"
    assert city_view["review"]["opinion"] == "经审核，符合许可条件"
    api.act(case_no, CITY, "approve", certificate_no="GZTZ-2026-0001")
    run_bus()
    case = api.case(case_no)
    assert case["state"] == "decided" and case["decision"]["decision"] == "approve"
    assert "receive_decision" in [e["action"] for e in case["timeline"]]
    api.act(case_no, WINDOW, "hand_out", method="mail", expect=422)  # mail needs a tracking number
    case = api.act(case_no, WINDOW, "hand_out", method="mail", tracking_no="SF1234567890",
                   address="赣州市宁都县梅江镇 1 号")  # the proof of service needs where it was mailed (issue 16)
    assert case["state"] == "concluded" and case["handout"]["tracking_no"] == "SF1234567890"
    sent = outbox(case_no)
    assert [m.type for m in sent if m.type != "receipt"] == ["case.forward", "case.decision", "supervision.push"]
    assert all(m.state == "acknowledged" for m in sent if m.type != "receipt")


def test_forward_only_goes_to_the_city_on_acceptance(api):
    item = api.item("forward_only")
    case_no = api.create(item)["case_no"]
    case = api.act(case_no, WINDOW, "accept")
    assert case["state"] == "forwarded"
    assert case["responsible"]["reviewing"] == item["department_code"]
    api.act(case_no, REVIEWER, "review", expect=409)  # forward_only: the county does not review
    run_bus()
    api.act(case_no, CITY, "deny", expect=422)  # a denial states its reasons
    api.act(case_no, CITY, "deny", reasons=["申请场所不符合安全间距要求"])
    run_bus()
    case = api.case(case_no)
    assert case["state"] == "decided" and case["decision"]["decision"] == "deny"
    case = api.act(case_no, WINDOW, "hand_out", method="pickup")
    assert case["state"] == "concluded"
    inbound = db.session.execute(sa.select(InboundMessage).filter_by(case_no=case_no)).scalars().all()
    assert sorted(m.type for m in inbound if m.type != "receipt") == ["case.decision", "case.forward"]
    assert all(m.state == "applied" for m in inbound)


def test_city_return_and_county_re_review(api):
    item = api.item("delegated_review")
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, REVIEWER, "review", opinion="同意", recommendation="approve")
    run_bus()
    api.act(case_no, CITY, "return", expect=422)
    reasons = ["现场照片不清晰", "法定代表人身份证明缺少签字"]
    api.act(case_no, CITY, "return", reasons=reasons)
    run_bus()
    case = api.case(case_no, REVIEWER)
    assert case["state"] == "returned" and case["return_reasons"] == reasons
    assert "review" in case["allowed_actions"]
    case = api.act(case_no, REVIEWER, "review", opinion="已补充核实，同意", recommendation="approve")
    assert case["state"] == "forwarded"
    run_bus()
    assert api.case(case_no, CITY)["review"]["opinion"] == "已补充核实，同意"
    api.act(case_no, CITY, "approve")
    run_bus()
    assert api.case(case_no)["state"] == "decided"
    # one node hosts county and city here, so one sender numbers every message of the case
    sent = [(m.type, m.sequence) for m in outbox(case_no) if m.type != "receipt"]
    assert sent == [("case.forward", 1), ("case.return", 2), ("case.forward", 3), ("case.decision", 4),
                    ("supervision.push", 5)]


def test_correction_round_lists_every_missing_material_at_once(api):
    item = api.item("forward_only")
    required = [m for m in item["materials"] if m["required"]]
    assert len(required) >= 2
    case_no = api.create(item, present=[])["case_no"]
    r = api.act(case_no, WINDOW, "accept", expect=409)
    assert r["code"] == "materials_missing" and r["field"] == "materials"
    # the clerk names one problem; the notice still lists every missing material
    case = api.act(case_no, WINDOW, "request_correction",
                   items=[{"material_code": required[0]["code"], "problem": "营业执照复印件需加盖公章"}])
    assert case["state"] == "correction_requested"
    listed = {i["material_code"] for i in case["correction_items"]}
    assert listed == {m["code"] for m in required}
    case = api.act(case_no, WINDOW, "resubmit", materials=[m["code"] for m in item["materials"]])
    assert case["state"] == "submitted"
    assert api.act(case_no, WINDOW, "accept")["state"] == "forwarded"


def test_refusal_states_reason_and_where_to_go(api):
    case_no = api.create(api.item("direct"))["case_no"]
    r = api.act(case_no, WINDOW, "refuse", reason="不属于本窗口受理范围", expect=422)
    assert r["field"] == "redirect" and "请填写" in r["detail"]
    case = api.act(case_no, WINDOW, "refuse", reason="不属于本窗口受理范围", redirect="赣州市政务服务中心")
    assert case["state"] == "refused" and case["refusal"]["redirect"] == "赣州市政务服务中心"
    api.act(case_no, WINDOW, "accept", expect=409)


def test_withdrawal_while_the_county_holds_the_case(api):
    case_no = api.create(api.item("direct"))["case_no"]
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, WINDOW, "withdraw", expect=422)  # the reason is required
    case = api.act(case_no, WINDOW, "withdraw", comment="申请人书面申请撤回")
    assert case["state"] == "withdrawn" and case["closed_reason"] == "申请人书面申请撤回"
    api.act(case_no, REVIEWER, "review", opinion="x", expect=409)


def test_revoked_delegation_refuses_acceptance(api):
    from delegation.models import Delegation, Item

    item = api.item("direct")
    case_no = api.create(item)["case_no"]
    row = db.session.execute(sa.select(Delegation).join(Item, Item.id == Delegation.item_id)
                             .where(Item.code == item["code"], Delegation.division_code == COUNTY)).scalar_one()
    row.granted = False
    db.session.commit()
    r = api.act(case_no, WINDOW, "accept", expect=409)
    assert r["code"] == "delegation_revoked" and "赣州市" in r["detail"]
    assert api.case(case_no)["state"] == "submitted"
    # another county still holds the delegation
    other = api.create(item, county="360731")
    assert api.act(other["case_no"], "window-360731", "accept")["state"] == "county_review"
