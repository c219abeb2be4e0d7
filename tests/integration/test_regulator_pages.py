"""The regulator desk (/regulator): the pushes to claim, claim, feedback and closure through the pages, and what the
case's supervision (supervision.pushes.for_case) then shows; scoping to the regulator's own organisation."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, follow, log_in, refused  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, run_bus

WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"


def login(client, username, password="demo"):
    return log_in(client, username, password)


def logout(client):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/regulator")})


def approved(client, mode: str) -> str:
    """A case taken to approval through the JSON API, the bus carrying every hand-off (as the supervision tests do)."""
    from app.extensions import db

    with client.application.app_context():
        api = Api(client)
        case_no = api.create(api.item(mode))["case_no"]
        api.act(case_no, WINDOW, "accept")
        if mode == "direct":
            api.act(case_no, REVIEWER, "review", opinion="材料真实完整，符合条件")
            api.act(case_no, REVIEWER, "approve")
        else:
            if mode == "delegated_review":
                api.act(case_no, REVIEWER, "review", opinion="经审核，符合条件", recommendation="approve")
            run_bus()
            api.act(case_no, CITY, "approve")
        run_bus()
        db.session.remove()
    return case_no


def push_of(client, case_no):
    from app.extensions import db
    from supervision.models import SupervisionPush

    with client.application.app_context():
        push = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=case_no)).scalar_one()
        db.session.expunge(push)
        db.session.remove()
    return push


def for_case(client, case_no):
    from app.extensions import db
    from app.api.supervision_api import for_case as views

    with client.application.app_context():
        run_bus()
        out = views(case_no)
        db.session.remove()
    return out


def row_of(page: str, push_id: int) -> str:
    match = re.search(rf'<tr data-testid="push-{push_id}".*?</tr>', page, re.S)
    return match.group(0) if match else ""


def test_claim_feedback_and_close_through_the_pages(client):
    case_no = approved(client, "delegated_review")
    push = push_of(client, case_no)
    login(client, "reg-city")

    page = client.get("/regulator").get_data(as_text=True)
    row = row_of(page, push.id)
    # the case number opens the push (the regulator's view of the case: the case page is the handlers')
    assert case_no in row and f'/regulator/pushes/{push.id}"' in row and "认领" in row
    assert "赣州市行政审批局" in row  # the deciding organisation by name, not its code
    token = csrf_token(client, "/regulator")

    r = client.post(f"/regulator/pushes/{push.id}/claim", data={"csrf_token": token})
    assert r.status_code == 302
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已认领" in detail and "市级监管员" in detail and 'data-testid="feedback-form"' in detail
    assert row_of(client.get("/regulator").get_data(as_text=True), push.id) == ""  # left the claim tab
    assert case_no in client.get("/regulator?tab=claimed").get_data(as_text=True)

    # claiming twice: the service's message, nothing changed
    r = client.post(f"/regulator/pushes/{push.id}/claim", data={"csrf_token": token})
    assert "已于" in follow(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)

    # bad input: the domain names the field in Chinese; nothing is recorded
    today = "2026-01-05"
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "penalty", "date": today, "result": "逾期未整改，罚款", "amount": "5000"})
    page = refused(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert "决定书文号" in page and "行政处罚须填写处罚决定书文号" in page
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "inspection", "date": today, "result": ""})
    assert "监管结果" in refused(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert for_case(client, case_no)[0]["feedback"] == []

    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "inspection", "date": today, "result": "现场检查，消防通道堵塞",
        "rectification_ordered": "y", "comment": "限期七日整改"})
    assert r.status_code == 302
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "penalty", "date": today, "result": "逾期未整改，罚款",
        "decision_no": "赣市监罚〔2026〕12号", "amount": "5000"})
    assert r.status_code == 302
    detail = client.get(f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert "现场检查，消防通道堵塞" in detail and "赣市监罚〔2026〕12号" in detail and "5000.00" in detail

    # closing is final: the first post asks for confirmation and changes nothing
    r = client.post(f"/regulator/pushes/{push.id}/close", data={"csrf_token": token})
    assert 'data-testid="close-confirm"' in follow(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert push_of(client, case_no).state == "claimed"
    r = client.post(f"/regulator/pushes/{push.id}/close", data={"csrf_token": token, "confirm": "1"})
    assert r.status_code == 302
    assert case_no in client.get("/regulator?tab=done").get_data(as_text=True)
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "no_issue", "date": today, "result": "再次检查"})
    assert "不能再反馈" in refused(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)

    # the case's supervision (what the case page shows the approvers) carries the claim and the feedback
    (seen,) = for_case(client, case_no)
    assert seen["state"] == "closed" and "市级监管员" in seen["claimed_by"]
    assert [f["kind"] for f in seen["feedback"]] == ["inspection", "penalty"]
    assert seen["feedback"][0]["rectification_ordered"] is True
    assert seen["feedback"][1]["decision_no"] == "赣市监罚〔2026〕12号"


def test_a_regulator_of_another_org_cannot_see_or_claim(client):
    case_no = approved(client, "direct")  # supervised by the county's industry authority
    push = push_of(client, case_no)
    login(client, f"reg-{OTHER_COUNTY}")
    assert case_no not in client.get("/regulator").get_data(as_text=True)
    token = csrf_token(client, "/regulator")
    assert client.get(f"/regulator/pushes/{push.id}").status_code == 404
    r = client.post(f"/regulator/pushes/{push.id}/claim", data={"csrf_token": token})
    assert r.status_code == 404 and "Traceback" not in r.get_data(as_text=True)
    logout(client)

    login(client, "reg-city")  # the wrong level: the city does not supervise a direct case
    token = csrf_token(client, "/regulator")
    assert client.post(f"/regulator/pushes/{push.id}/claim", data={"csrf_token": token}).status_code == 404
    logout(client)
    assert push_of(client, case_no).state == "pushed"

    login(client, f"reg-{COUNTY}")
    assert case_no in row_of(client.get("/regulator").get_data(as_text=True), push.id)


def test_overdue_pushes_are_highlighted_and_alerts_listed(client):
    from app.extensions import db
    from supervision.pushes import sweep

    case_no = approved(client, "direct")
    push = push_of(client, case_no)
    with client.application.app_context():
        sweep(push.claim_due_at - timedelta(hours=1))  # the warning, to the regulator
        db.session.execute(sa.text("UPDATE supervision_push SET claim_due_at = :t WHERE id = :i"),
                           {"t": push.claim_due_at - timedelta(days=30), "i": push.id})
        db.session.commit()
        db.session.remove()
    login(client, f"reg-{COUNTY}")
    page = client.get("/regulator").get_data(as_text=True)
    assert 'class="due-overdue"' in row_of(page, push.id) and "已超期" in row_of(page, push.id)
    alerts = re.search(r'<section class="alerts".*?</section>', page, re.S).group(0)
    assert case_no in alerts and "即将到期" in alerts


@pytest.mark.parametrize("user", [WINDOW, CITY, "admin"])
def test_other_roles_get_403(client, user):
    login(client, user)
    r = client.get("/regulator")
    assert r.status_code == 403 and "无权访问" in r.get_data(as_text=True)
