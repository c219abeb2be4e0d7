"""问责 (issue 17): a spot-check finding of illegal approval opens an accountability record (the case, the deciding
unit and person, the finding; open → handled with a note) and proposes to the city administrator to revoke the
county's delegation of the item; accepting (confirmed) revokes through delegation.grants — the county then cannot
register the item — declining needs a reason. Bad input names its field and changes nothing. API and admin pages."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from delegation.models import DelegationEvent
from supervision.accountability_models import AccountabilityRecord
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY, OTHER_COUNTY, Api
from tests.integration.test_spot_checks import approved_case

URL = "/api/v1/accountability"
ADMIN = "admin"
FINDING = "不符合许可条件仍予批准"


def _illegal(api) -> tuple[str, dict, int]:
    """An approved case of COUNTY drawn and found illegal by the admin: (case_no, item, spot-check entry id)."""
    item = api.item("direct")
    case_no = approved_case(api, item=item)
    check = api.post("/api/v1/spot-checks", user=ADMIN, json={
        "count": 1, "county": COUNTY, "seed": "accountability",
        "inspector_pool": [f"reg-{OTHER_COUNTY}", "reg-city"]}).get_json()
    entry = check["entries"][0]
    assert entry["case_no"] == case_no
    r = api.post(f"/api/v1/spot-checks/{check['id']}/entries/{entry['id']}/finding", user=ADMIN,
                 json={"finding": "illegal_approval", "note": FINDING})
    assert r.status_code == 200, r.get_json()
    return case_no, item, (check["id"], entry["id"])


def _revocations(item_code: str) -> int:
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(DelegationEvent).filter_by(
        division_code=COUNTY, action="revoke")).scalar_one()


def test_an_illegal_approval_opens_a_record_the_admin_handles_and_whose_proposal_revokes_the_delegation(app):
    api = Api(app.test_client())
    case_no, item, _entry = _illegal(api)
    rows = api.get(URL, user=ADMIN).get_json()
    assert len(rows) == 1
    record = rows[0]
    assert record["case_no"] == case_no and record["item_code"] == item["code"] and record["county"] == COUNTY
    assert record["deciding_org"] == f"{COUNTY}-bureau" and f"review-{COUNTY}" in record["deciding_person"]
    assert record["finding"] == FINDING and record["status"] == "open" and record["proposal"] == "proposed"
    path = f"{URL}/{record['id']}"

    # bad input names its field and changes nothing
    r = api.post(f"{path}/handle", user=ADMIN, json={"note": " "})
    assert r.status_code == 422 and r.get_json()["field"] == "note"
    r = api.post(f"{path}/proposal", user=ADMIN, json={"decision": "accept"})  # not confirmed
    assert r.status_code == 422 and r.get_json()["field"] == "confirm"
    r = api.post(f"{path}/proposal", user=ADMIN, json={"decision": "decline", "reason": ""})
    assert r.status_code == 422 and r.get_json()["field"] == "reason"
    assert _revocations(item["code"]) == 0
    assert api.get(path, user=ADMIN).get_json()["proposal"] == "proposed"
    # only the city administrator sees and decides
    for user in ("reg-city", f"review-{COUNTY}", "city-approver"):
        assert api.get(URL, user=user).status_code == 403
        assert api.post(f"{path}/proposal", user=user, json={"decision": "accept", "confirm": True}
                        ).status_code == 403

    r = api.post(f"{path}/handle", user=ADMIN, json={"note": "已约谈审批人员并责令整改"})
    assert r.status_code == 200 and r.get_json()["status"] == "handled"
    r = api.post(f"{path}/proposal", user=ADMIN, json={"decision": "accept", "confirm": True})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["proposal"] == "accepted"
    assert _revocations(item["code"]) == 1
    event = db.session.execute(sa.select(DelegationEvent).filter_by(division_code=COUNTY, action="revoke")
                               ).scalar_one()
    assert event.finding_ref == f"spot-check-entry:{_entry[1]}" and case_no in event.reason
    # the county can no longer register the item
    r = api.post("/api/v1/cases", user=f"window-{COUNTY}", json={
        "item_code": item["code"], "applicant": {"kind": "individual", "name": "张三",
                                                 "id_code": "11010519491231002X"},
        "materials": [{"code": m["code"], "present": True} for m in item["materials"]]})
    assert r.status_code == 409 and r.get_json()["code"] == "delegation_revoked"
    # decided once
    r = api.post(f"{path}/proposal", user=ADMIN, json={"decision": "decline", "reason": "重复"})
    assert r.status_code == 409


def test_a_declined_proposal_keeps_the_delegation_and_a_corrected_finding_withdraws_it(app):
    api = Api(app.test_client())
    _case_no, item, (check_id, entry_id) = _illegal(api)
    record = api.get(URL, user=ADMIN).get_json()[0]
    r = api.post(f"{URL}/{record['id']}/proposal", user=ADMIN,
                 json={"decision": "decline", "reason": "属个人过错，已处分当事人，不收回县级权限"})
    assert r.status_code == 200 and r.get_json()["proposal"] == "declined"
    assert _revocations(item["code"]) == 0

    # another finding, corrected before publication: its proposal is withdrawn, not left for the admin
    db.session.execute(sa.delete(AccountabilityRecord))
    db.session.commit()
    api.post(f"/api/v1/spot-checks/{check_id}/entries/{entry_id}/finding", user=ADMIN,
             json={"finding": "illegal_approval", "note": FINDING})
    api.post(f"/api/v1/spot-checks/{check_id}/entries/{entry_id}/finding", user=ADMIN,
             json={"finding": "compliant"})
    record = api.get(URL, user=ADMIN).get_json()[0]
    assert record["proposal"] == "withdrawn" and record["status"] == "handled"
    assert api.post(f"{URL}/{record['id']}/proposal", user=ADMIN,
                    json={"decision": "accept", "confirm": True}).status_code == 409
    assert _revocations(item["code"]) == 0


def test_the_admin_pages_show_the_record_and_revoke_only_once_confirmed(client):  # noqa: F811
    app = client.application
    with app.app_context():
        api = Api(app.test_client())
        case_no, item, _entry = _illegal(api)
        record_id = db.session.execute(sa.select(AccountabilityRecord.id)).scalar_one()
    log_in(client, ADMIN)
    page = client.get("/admin/accountability").get_data(as_text=True)
    assert case_no in page and "建议收回审批权限（待决定）" in page
    page = client.get(f"/admin/accountability/{record_id}").get_data(as_text=True)
    assert FINDING in page and 'data-testid="accept-proposal"' in page

    confirm_page = f"/admin/accountability/{record_id}/accept"
    token = csrf_token(client, confirm_page)
    r = client.post(confirm_page, data={"csrf_token": token, "reason": ""})  # the box not ticked
    assert r.status_code == 422
    assert "请确认收回该县（市、区）此事项的审批权限" in r.get_data(as_text=True)
    with app.app_context():
        assert _revocations(item["code"]) == 0
    r = client.post(confirm_page, data={"csrf_token": token, "confirm": "y", "reason": ""})
    assert r.status_code == 303
    page = client.get(f"/admin/accountability/{record_id}").get_data(as_text=True)
    assert "已收回该县（市、区）此事项的审批权限" in page and "已采纳，审批权限已收回" in page
    with app.app_context():
        assert _revocations(item["code"]) == 1

    token = csrf_token(client, f"/admin/accountability/{record_id}")
    r = client.post(f"/admin/accountability/{record_id}/handle", data={"csrf_token": token, "note": ""})
    assert r.status_code == 422 and "请填写处理情况" in r.get_data(as_text=True)
    r = client.post(f"/admin/accountability/{record_id}/handle", data={"csrf_token": token, "note": "已问责"})
    assert r.status_code == 303
    assert re.search("已处理", client.get(f"/admin/accountability/{record_id}").get_data(as_text=True))
