"""Approval kinds decided at the window (issue 17, part A), through the API on both backends: 告知承诺 signed and
approved on the spot by a clerk holding that authority, verified by the regulator (a false commitment revokes the
licence and blacklists the applicant), 即办件 decided in one step, 备案 of an exempt item; bad input refused naming
the field, with nothing changed. The demo data configures the items and authorises window-360730."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.integration.support import COUNTY, ENTERPRISE, OTHER_COUNTY, PERSON, Api, run_bus

WINDOW = f"window-{COUNTY}"  # holds both on-the-spot authorities in the demo data
UNAUTHORISED = f"window-{OTHER_COUNTY}"  # holds none
REGULATOR = f"reg-{COUNTY}"  # supervises the county's direct items
COMMITMENT_ITEM = "GZ-LWPQ-001"  # 劳务派遣经营许可, direct, 告知承诺制
INSTANT_ITEM = "GZ-RQJY-002"  # 燃气经营许可证变更, direct, instant
FILING_ITEM = "GZ-HPDJ-001"  # 建设项目环境影响登记表备案, exempt
ORDINARY_ITEM = "GZ-SCZT-001"  # 市场主体设立登记, direct, promised


@pytest.fixture
def api(client):
    return Api(client)


def item(api, code):
    return next(i for i in api.get("/api/v1/items", user=WINDOW).get_json() if i["code"] == code)


def register(api, code, county=COUNTY, applicant=ENTERPRISE):
    return api.create(item(api, code), county=county, applicant=applicant)["case_no"]


def refused(api, case_no, user, action, status, field, **payload):
    """The action is refused naming `field`, and the case is as it was."""
    before = api.case(case_no, user=user)
    body = api.act(case_no, user, action, expect=status, **payload)
    assert body["field"] == field, body
    after = api.case(case_no, user=user)
    assert (after["state"], after["decision"], after["timeline"]) == ("submitted", None, before["timeline"])
    return body


def pushed(api, case_no):
    """The decisions of the case's pushes the county's regulator has received (after the bus ran)."""
    listed = api.get(f"/api/v1/supervision/pushes?case_no={case_no}", user=REGULATOR).get_json()["items"]
    return [api.get(f"/api/v1/supervision/pushes/{p['id']}", user=REGULATOR).get_json()["decision"] for p in listed]


def licence(api, licence_no):
    r = api.get(f"/api/v1/licences/{licence_no}", user="admin")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_commitment_signed_and_approved_on_the_spot_then_found_false(api):
    offered = {i["code"]: i for i in api.get("/api/v1/window-decisions/items", user=WINDOW).get_json()}
    assert offered[COMMITMENT_ITEM]["approval_kind"] == "commitment"
    assert "郑重承诺" in offered[COMMITMENT_ITEM]["commitment_text"]
    case_no = register(api, COMMITMENT_ITEM)

    case = api.act(case_no, WINDOW, "approve_on_commitment", commitment_signed=True, signer_name="李四")
    assert case["state"] == "concluded" and case["decision"]["decision"] == "approve"
    certificate = case["decision"]["certificate_no"]
    assert certificate and case["decision"]["document"]  # licence and 准予行政许可决定书, as for any approval
    assert case["handout"]["method"] == "pickup"
    line = case["timeline"][-1]
    assert (line["action"], line["data"]["signer_name"]) == ("approve_on_commitment", "李四")
    assert licence(api, certificate)["status"] == "valid"

    run_bus()  # the double push reaches the county's regulator
    assert pushed(api, case_no) == ["approve"]
    tasks = api.get("/api/v1/window-decisions/commitment-checks", user=REGULATOR).get_json()
    task = next(t for t in tasks if t["case_no"] == case_no)
    assert task["signer_name"] == "李四" and "劳务派遣" in task["commitment_text"] and task["signed_by"]
    assert datetime.fromisoformat(task["verify_due_at"]) > datetime.fromisoformat(task["signed_at"])
    assert not task["overdue"]
    # another county's regulator neither sees nor records it
    assert case_no not in [t["case_no"] for t in api.get("/api/v1/window-decisions/commitment-checks",
                                                          user=f"reg-{OTHER_COUNTY}").get_json()]
    r = api.post(f"/api/v1/window-decisions/commitment-checks/{case_no}", user=f"reg-{OTHER_COUNTY}",
                 json={"result": "false", "note": "x"})
    assert (r.status_code, r.get_json()["field"]) == (404, "case_no")
    # a false finding must say what was found; refused, nothing changes
    r = api.post(f"/api/v1/window-decisions/commitment-checks/{case_no}", user=REGULATOR, json={"result": "false"})
    assert (r.status_code, r.get_json()["field"]) == (422, "note")
    assert licence(api, certificate)["status"] == "valid"

    r = api.post(f"/api/v1/window-decisions/commitment-checks/{case_no}", user=REGULATOR,
                 json={"result": "false", "note": "现场核查：经营场所与承诺不符"})
    assert r.status_code == 200 and r.get_json()["result"] == "false"
    revoked = licence(api, certificate)
    assert revoked["status"] == "revoked" and revoked["finding_ref"].startswith("commitment-record:")
    assert case_no not in [t["case_no"] for t in api.get("/api/v1/window-decisions/commitment-checks",
                                                          user=REGULATOR).get_json()]
    r = api.post(f"/api/v1/window-decisions/commitment-checks/{case_no}", user=REGULATOR,
                 json={"result": "verified"})
    assert (r.status_code, r.get_json()["field"]) == (409, "result")

    # blacklisted: the applicant's next commitment is refused at intake, naming the field
    again = register(api, COMMITMENT_ITEM)
    assert any(w["blacklisted"] for w in api.case(again)["credit_warnings"])
    refused(api, again, WINDOW, "approve_on_commitment", 409, "applicant.id_code", commitment_signed=True)

    figures = api.get("/api/v1/window-decisions/stats", user="admin").get_json()
    assert figures == {"approvals": 1, "verified": 0, "false": 1, "open": 0, "overdue": 0}


def test_commitment_verified_is_counted(api):
    case_no = register(api, COMMITMENT_ITEM, applicant=PERSON)
    certificate = api.act(case_no, WINDOW, "approve_on_commitment", commitment_signed=True)["decision"][
        "certificate_no"]
    assert api.get("/api/v1/window-decisions/stats", user="admin").get_json()["open"] == 1
    r = api.post(f"/api/v1/window-decisions/commitment-checks/{case_no}", user=REGULATOR,
                 json={"result": "verified", "note": "现场核查属实"})
    assert r.status_code == 200
    assert licence(api, certificate)["status"] == "valid"
    assert api.get("/api/v1/window-decisions/stats", user="admin").get_json() == {
        "approvals": 1, "verified": 1, "false": 0, "open": 0, "overdue": 0}
    timeline = api.case(case_no)["timeline"]
    assert timeline[-1]["action"] == "commitment_verification" and "承诺属实" in timeline[-1]["comment"]


def test_commitment_bad_input_changes_nothing(api):
    ordinary = register(api, ORDINARY_ITEM)
    body = refused(api, ordinary, WINDOW, "approve_on_commitment", 409, "item_code", commitment_signed=True)
    assert "告知承诺" in body["detail"]
    case_no = register(api, COMMITMENT_ITEM)
    refused(api, case_no, WINDOW, "approve_on_commitment", 422, "commitment_signed")
    other = register(api, COMMITMENT_ITEM, county=OTHER_COUNTY)
    body = refused(api, other, UNAUTHORISED, "approve_on_commitment", 403, "authority", commitment_signed=True)
    assert "权限" in body["detail"]
    assert api.get("/api/v1/window-decisions/stats", user="admin").get_json()["approvals"] == 0


def test_instant_item_decided_in_one_step_by_a_clerk_with_the_authority(api):
    case_no = register(api, INSTANT_ITEM)
    case = api.act(case_no, WINDOW, "decide_instant")
    assert (case["state"], case["decision"]["decision"]) == ("concluded", "approve")
    assert case["decision"]["certificate_no"] and case["decision"]["document"] and case["handout"]
    assert [e["action"] for e in case["timeline"]] == ["submit", "decide_instant"]
    run_bus()
    assert pushed(api, case_no) == ["approve"]

    other = register(api, INSTANT_ITEM, county=OTHER_COUNTY)
    refused(api, other, UNAUTHORISED, "decide_instant", 403, "authority")
    promised = register(api, ORDINARY_ITEM)
    refused(api, promised, WINDOW, "decide_instant", 409, "item_code")

    # the administrator grants the authority: the same clerk now decides on the spot; withdrawing it stops them
    r = api.client.put(f"/api/v1/window-decisions/staff/{UNAUTHORISED}", json={"authorities": ["instant_decision"]},
                       headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert r.status_code == 200 and r.get_json()["authorities"] == ["instant_decision"]
    assert api.act(other, UNAUTHORISED, "decide_instant")["state"] == "concluded"


def test_authorities_are_granted_by_an_administrator_to_window_staff_only(api):
    def put(user, username, authorities):
        return api.client.put(f"/api/v1/window-decisions/staff/{username}", json={"authorities": authorities},
                              headers={"Authorization": f"Bearer {api.token(user)}"})

    assert put(WINDOW, UNAUTHORISED, ["instant_decision"]).status_code == 403
    assert put("admin", UNAUTHORISED, ["veto"]).status_code == 422
    r = put("admin", f"review-{COUNTY}", ["instant_decision"])
    assert (r.status_code, r.get_json()["field"]) == (422, "authorities")
    assert put("admin", "nobody", []).status_code == 404
    other = register(api, INSTANT_ITEM, county=OTHER_COUNTY)
    refused(api, other, UNAUTHORISED, "decide_instant", 403, "authority")  # nothing was granted


def test_exempt_item_is_filed_and_pushed_without_approval(api):
    case_no = register(api, FILING_ITEM)
    case = api.act(case_no, WINDOW, "file")
    assert (case["state"], case["decision"]["decision"], case["decision"]["certificate_no"]) == (
        "concluded", "file", None)
    assert [e["action"] for e in case["timeline"]] == ["submit", "file"]
    run_bus()
    assert pushed(api, case_no) == ["file"]
    stats = api.get(f"/api/v1/stats/summary?item={FILING_ITEM}", user="admin").get_json()
    assert (stats["total_cases"], stats["approved"], stats["concluded"]) == (1, 0, 1)

    ordinary = register(api, ORDINARY_ITEM)
    refused(api, ordinary, WINDOW, "file", 409, "item_code")
    instant_filing = register(api, FILING_ITEM)
    refused(api, instant_filing, WINDOW, "decide_instant", 409, "item_code")  # exempt: filed, never approved
    assert refused(api, instant_filing, WINDOW, "accept", 409, "action")["code"] == "filing_item"  # nor reviewed
    refused(api, instant_filing, WINDOW, "accept_with_commitment", 409, "action", commitment_days=5)


def test_promised_items_keep_their_promised_and_statutory_limits(api):
    it = item(api, ORDINARY_ITEM)
    assert it["statutory_limit"] > it["promised_limit"] > 0
    case_no = register(api, ORDINARY_ITEM)
    deadline = api.act(case_no, WINDOW, "accept")["deadline"]
    assert (deadline["limit"], deadline["statutory_limit"]) == (it["promised_limit"], it["statutory_limit"])


def test_the_catalogue_file_carries_the_approval_kind_both_ways(app, api, tmp_path):
    """Exported with the optional columns (the demo uses them); an imported file sets and clears the kinds the
    window then offers."""
    from dataclasses import replace

    from delegation.catalog_io import read_catalog, write_catalog

    runner = app.test_cli_runner()
    assert runner.invoke(args=["catalog", "export", str(tmp_path / "out.csv")]).exit_code == 0
    specs = {s.code: s for s in read_catalog(tmp_path / "out.csv")}
    assert (specs[COMMITMENT_ITEM].approval_kind, specs[FILING_ITEM].approval_kind) == ("commitment", "filing")
    assert "郑重承诺" in specs[COMMITMENT_ITEM].commitment_text
    changed = [replace(specs[COMMITMENT_ITEM], approval_kind="standard", commitment_text=""),
               replace(specs[ORDINARY_ITEM], approval_kind="commitment", commitment_text="承诺属实", verification_days=5)]
    write_catalog(changed, tmp_path / "in.csv")
    result = runner.invoke(args=["catalog", "import", str(tmp_path / "in.csv")])
    assert result.exit_code == 0, result.output
    offered = {i["code"]: i for i in api.get("/api/v1/window-decisions/items", user=WINDOW).get_json()}
    assert COMMITMENT_ITEM not in offered
    assert (offered[ORDINARY_ITEM]["approval_kind"], offered[ORDINARY_ITEM]["commitment_text"],
            offered[ORDINARY_ITEM]["verification_days"]) == ("commitment", "承诺属实", 5)
    refused(api, register(api, COMMITMENT_ITEM), WINDOW, "approve_on_commitment", 409, "item_code",
            commitment_signed=True)


def test_a_case_accepted_for_another_county_is_not_decided_on_the_spot(api):
    """全市通办: the competent county decides; the accepting window may not conclude it on the spot."""
    r = api.client.put(f"/api/v1/citywide/items/{INSTANT_ITEM}", json={"citywide": True},
                       headers={"Authorization": f"Bearer {api.token('admin')}"})
    assert r.status_code == 200, r.get_json()
    it = item(api, INSTANT_ITEM)
    r = api.post("/api/v1/citywide/cases", user=WINDOW, json={
        "item_code": INSTANT_ITEM, "applicant": ENTERPRISE, "competent_county": "360702",
        "materials": [{"code": m["code"], "present": True} for m in it["materials"]]})
    assert r.status_code == 201, r.get_json()
    refused(api, r.get_json()["case_no"], WINDOW, "decide_instant", 409, "action")
