"""For every action: the wrong role is refused (403), another county's staff cannot even see the case (404), the
wrong state is refused (409) — and the right person in the right state succeeds. Nothing changes on a refusal."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, run_bus

WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def other_section_approver(app):
    """A city approver of a department that does not own the demo items used here."""
    from delegation.models import Org, User

    org = db.session.execute(sa.select(Org).filter_by(code="360700-sec-ecology")).scalar_one()
    db.session.add(User(username="eco-approver", display_name="生态环境审批科", role="city_approver",
                        org_id=org.id, password_hash="x"))
    db.session.commit()
    return "eco-approver"


def build(api, state: str, mode: str = "direct") -> str:
    if state == "correction_requested":
        item = api.item("direct")
        case_no = api.create(item, present=[])["case_no"]
        api.act(case_no, WINDOW, "request_correction")
        return case_no
    if state in ("city_review", "forwarded", "city_decided"):
        item = next(i for i in api.get("/api/v1/items?mode=forward_only", user=WINDOW).get_json()
                    if i["department_code"] != "360700-sec-ecology")
        case_no = api.create(item)["case_no"]
        api.act(case_no, WINDOW, "accept")
        if state != "forwarded":
            run_bus()
        if state == "city_decided":
            api.act(case_no, CITY, "approve")
            run_bus()
        return case_no
    item = api.item(mode)
    case_no = api.create(item)["case_no"]
    if state == "submitted":
        return case_no
    api.act(case_no, WINDOW, "accept")
    if state == "county_review":
        return case_no
    if state == "suspended":
        api.act(case_no, REVIEWER, "suspend", kind="site_inspection", expected_end="2030-01-01")
        return case_no
    if state == "decided":
        api.act(case_no, REVIEWER, "review", opinion="符合条件")
        api.act(case_no, REVIEWER, "approve")
        return case_no
    raise ValueError(state)


# action, state where allowed, who may, payload, a state where it is not allowed
MATRIX = [
    ("accept", "submitted", WINDOW, {}, "county_review"),
    ("request_correction", "submitted", WINDOW, {"items": [{"problem": "身份证复印件模糊"}]}, "decided"),
    ("refuse", "submitted", WINDOW, {"reason": "不属于受理范围", "redirect": "市级窗口"}, "county_review"),
    ("resubmit", "correction_requested", WINDOW, {"materials": []}, "submitted"),
    ("supply_materials", "county_review", WINDOW, {"materials": ["M01"]}, "correction_requested"),
    ("review", "county_review", REVIEWER, {"opinion": "符合条件"}, "submitted"),
    ("suspend", "county_review", REVIEWER, {"kind": "expert_review", "expected_end": "2030-01-01"}, "decided"),
    ("resume", "suspended", REVIEWER, {}, "county_review"),
    ("approve", "city_review", CITY, {}, "city_decided"),
    ("deny", "city_review", CITY, {"reasons": ["不符合条件"]}, "city_decided"),
    ("return", "city_review", CITY, {"reasons": ["材料需核实"]}, "city_decided"),
    ("hand_out", "decided", WINDOW, {"method": "pickup"}, "county_review"),
    ("withdraw", "county_review", WINDOW, {"comment": "申请人撤回"}, "decided"),
]


def _wrong_role(user):
    return REVIEWER if user == WINDOW else WINDOW


def _other_county(user, other_section):
    if user == CITY:
        return other_section
    return user.replace(COUNTY, OTHER_COUNTY)


@pytest.mark.parametrize("action,state,user,payload,bad_state", MATRIX, ids=[m[0] for m in MATRIX])
def test_action_is_guarded_by_role_org_and_state(api, other_section_approver, action, state, user, payload,
                                                 bad_state):
    case_no = build(api, state)
    if action == "supply_materials":
        payload = {"materials": [api.case(case_no)["materials"][0]["code"]]}
    before = api.case(case_no)

    r = api.act(case_no, _wrong_role(user), action, expect=403, **payload)
    assert r["code"] in ("role_forbidden", "suspended_elsewhere") and r["status"] == 403
    r = api.act(case_no, _other_county(user, other_section_approver), action, expect=404, **payload)
    assert r["code"] == "case_not_found"
    after = api.case(case_no)
    assert after["state"] == before["state"] and len(after["timeline"]) == len(before["timeline"])

    other = build(api, bad_state)
    r = api.act(other, user, action, expect=409, **payload)
    assert r["code"] in ("state_forbids", "mode_forbids")

    api.act(case_no, user, action, **payload)  # and the right person, in the right state, may


def test_other_county_cannot_list_or_read_cases(api):
    case_no = build(api, "submitted")
    assert api.get(f"/api/v1/cases/{case_no}", user=f"window-{OTHER_COUNTY}").status_code == 404
    listed = api.get("/api/v1/cases", user=f"window-{OTHER_COUNTY}").get_json()["items"]
    assert case_no not in [c["case_no"] for c in listed]
    assert case_no in [c["case_no"] for c in api.get("/api/v1/cases", user=WINDOW).get_json()["items"]]


def test_city_sees_only_forwarded_cases(api):
    direct = build(api, "county_review", "direct")
    forwarded = build(api, "city_review")
    assert api.get(f"/api/v1/cases/{direct}", user=CITY).status_code == 404
    listed = [c["case_no"] for c in api.get("/api/v1/cases", user=CITY).get_json()["items"]]
    assert forwarded in listed and direct not in listed


def test_regulator_sees_no_case_through_the_case_api(api):
    case_no = build(api, "submitted")
    assert api.get(f"/api/v1/cases/{case_no}", user=f"reg-{COUNTY}").status_code == 404
