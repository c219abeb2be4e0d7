"""The window rules of domain.md as the window sees them: 一次性告知, 容缺 commitments, returns to the applicant,
and input that must be refused with the field named rather than fail later on the wire."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, Item
from exchange.outbox import send_due
from exchange.inbox import receive
from tests.integration.support import COUNTY, ENTERPRISE, Api, run_bus

WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"


@pytest.fixture
def api(client):
    return Api(client)


def commitment_item(api, with_optional=False) -> dict:
    for it in api.get("/api/v1/items?mode=delegated_review", user=WINDOW).get_json():
        noncore = [m for m in it["materials"] if not m["core"] and m["required"]]
        optional = [m for m in it["materials"] if not m["required"]]
        if it["allows_commitment"] and noncore and (optional or not with_optional):
            return it
    raise AssertionError("the demo catalogue lacks a 容缺 item with an optional material")


def test_commitment_covers_required_materials_only_and_hand_out_waits_for_it(api):
    item = commitment_item(api, with_optional=True)
    core = [m["code"] for m in item["materials"] if m["core"]]
    noncore = [m["code"] for m in item["materials"] if not m["core"] and m["required"]]
    optional = [m["code"] for m in item["materials"] if not m["required"]]
    case_no = api.create(item, present=core)["case_no"]
    case = api.act(case_no, WINDOW, "accept_with_commitment")
    assert sorted(case["commitment"]["materials"]) == sorted(noncore)
    assert not set(optional) & set(case["commitment"]["materials"])
    api.act(case_no, REVIEWER, "review", opinion="同意", recommendation="approve")
    run_bus()
    api.act(case_no, CITY, "approve")
    run_bus()
    r = api.act(case_no, WINDOW, "hand_out", method="pickup", expect=409)
    assert r["code"] == "commitment_outstanding" and sorted(r["materials"]) == sorted(noncore)
    case = api.act(case_no, WINDOW, "supply_materials", materials=noncore)
    assert case["commitment"]["met_at"] is not None
    assert api.act(case_no, WINDOW, "hand_out", method="pickup")["state"] == "concluded"


def test_a_second_notice_may_not_name_what_the_first_could_have(api):
    item = api.item("direct")
    codes = [m["code"] for m in item["materials"] if m["required"]]
    assert len(codes) >= 3
    case_no = api.create(item, present=codes[1:])["case_no"]  # only the first is missing
    first = api.act(case_no, WINDOW, "request_correction",
                    items=[{"material_code": codes[1], "problem": "复印件不清晰"}])
    assert {i["material_code"] for i in first["correction_items"]} == {codes[0], codes[1]}
    api.act(case_no, WINDOW, "resubmit", materials=[codes[0], codes[1]])
    r = api.act(case_no, WINDOW, "request_correction", expect=409,
                items=[{"material_code": codes[2], "problem": "缺少签字"}])
    assert r["code"] == "notice_not_one_time" and r["materials"] == [codes[2]]
    assert api.case(case_no)["state"] == "submitted"
    # what the first notice named may come back: its corrected version is still wrong
    second = api.act(case_no, WINDOW, "request_correction",
                     items=[{"material_code": codes[1], "problem": "补正后仍不清晰"}])
    assert second["state"] == "correction_requested"


def test_forward_only_return_pauses_the_clock_until_resubmission(api):
    item = api.item("forward_only")
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    run_bus()
    api.act(case_no, CITY, "return", reasons=["场地证明与申请地址不一致"])
    run_bus()
    case = api.case(case_no)
    assert case["state"] == "returned" and case["deadline"]["paused_since"] is not None
    api.act(case_no, WINDOW, "resubmit", materials=[], expect=422)
    case = api.act(case_no, WINDOW, "resubmit", materials=[item["materials"][0]["code"]])
    assert case["state"] == "forwarded" and case["deadline"]["paused_since"] is None
    run_bus()
    assert api.case(case_no, CITY)["state"] == "city_review"


@pytest.mark.parametrize("materials", [[1], [{"a": 1}], [["M01"]], [{"code": "M01", "present": "yes"}]])
def test_odd_material_lists_are_422_naming_the_field(api, materials):
    case_no = api.create(api.item("direct"))["case_no"]
    api.act(case_no, WINDOW, "accept")
    r = api.act(case_no, WINDOW, "supply_materials", materials=materials, expect=422)
    assert r["field"].startswith("materials")


def test_unknown_material_code_is_422(api):
    case_no = api.create(api.item("direct"))["case_no"]
    r = api.act(case_no, WINDOW, "supply_materials", materials=["NOPE"], expect=422)
    assert r["code"] == "material_unknown" and r["field"] == "materials"


@pytest.mark.parametrize("applicant,field", [
    ({**ENTERPRISE, "phone": "-0797-123"}, "applicant.phone"),
    ({**ENTERPRISE, "name": "   "}, "applicant.name"),
    ({**ENTERPRISE, "name": "坏\x07名字"}, "applicant.name"),
])
def test_applicant_input_that_could_not_travel_is_refused_at_intake(api, applicant, field):
    item = api.item("forward_only")
    r = api.post("/api/v1/cases", user=WINDOW, json={"item_code": item["code"], "applicant": applicant,
                                                     "materials": []})
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()


def test_a_forward_the_city_refuses_comes_back_to_the_county(api):
    item = api.item("forward_only")
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    send_due()
    # the catalogue moved the item to another department meanwhile: the city refuses the misaddressed forward
    db.session.execute(sa.update(Case).where(Case.case_no == case_no).values(department_code="360700-sec-ecology"))
    db.session.commit()
    receive()
    run_bus()
    case = api.case(case_no)
    assert case["state"] == "returned"
    assert case["return_reasons"][0].startswith("市级拒收转报") and "wrong_recipient" not in case["return_reasons"][0]
    assert case["timeline"][-1]["action"] == "forward_rejected"
