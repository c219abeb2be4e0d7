"""The regulator desk as a regulator uses it all day (issue 14): search, the overdue filter and the claim-deadline
counts; supervision cannot be closed after an order to rectify until its result is recorded (page and API, the
refusal naming the field and changing nothing); closing asks for confirmation first."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, follow, log_in, refused  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_regulator_pages import approved, push_of, row_of

REGULATOR = "reg-360730"
PERSON = {"kind": "individual", "name": "李四海", "id_code": "11010519491231002X", "phone": "13800000000"}


def _direct_push(client, applicant=None):
    if applicant is None:
        return push_of(client, approved(client, "direct"))
    from app.extensions import db
    from tests.integration.support import COUNTY, Api, run_bus

    with client.application.app_context():
        api = Api(client)
        case_no = api.create(api.item("direct"), applicant=applicant)["case_no"]
        api.act(case_no, f"window-{COUNTY}", "accept")
        api.act(case_no, f"review-{COUNTY}", "review", opinion="符合条件")
        api.act(case_no, f"review-{COUNTY}", "approve")
        run_bus()
        db.session.remove()
    return push_of(client, case_no)


def _snapshot(client, push_id):
    from app.extensions import db
    from exchange.models import OutboxMessage
    from supervision.models import SupervisionFeedback, SupervisionPush

    with client.application.app_context():
        push = db.session.get(SupervisionPush, push_id)
        out = (push.state, push.closed_at, push.closed_by,
               db.session.execute(sa.select(sa.func.count()).select_from(SupervisionFeedback)
                                  .filter_by(push_id=push_id)).scalar(),
               db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar())
        db.session.remove()
    return out


def test_search_overdue_filter_and_claim_deadline_counts(client):
    from app.extensions import db

    first = _direct_push(client)
    person = _direct_push(client, applicant=PERSON)
    with client.application.app_context():
        db.session.execute(sa.text("UPDATE supervision_push SET claim_due_at = :t WHERE id = :i"),
                           {"t": first.claim_due_at - timedelta(days=30), "i": first.id})
        db.session.commit()
        db.session.remove()
    log_in(client, REGULATOR)
    page = client.get("/regulator").get_data(as_text=True)
    assert row_of(page, first.id) and row_of(page, person.id)
    counts = re.sub(r"<[^>]+>", "", page[page.index('data-testid="claim-deadlines"'):page.index("</section>")])
    assert "逾期未认领 1 件" in counts and "待认领共 2 件" in counts
    page = client.get("/regulator?overdue=1").get_data(as_text=True)
    assert row_of(page, first.id) and not row_of(page, person.id)
    page = client.get("/regulator?q=四海").get_data(as_text=True)
    assert row_of(page, person.id) and not row_of(page, first.id)
    page = client.get(f"/regulator?tab=all&q={first.case_no}").get_data(as_text=True)
    assert row_of(page, first.id) and not row_of(page, person.id)
    # another org's regulator finds nothing by the same number
    client.delete_cookie("session")
    log_in(client, "reg-360731")
    assert not row_of(client.get(f"/regulator?tab=all&q={first.case_no}").get_data(as_text=True), first.id)


def test_no_close_after_a_rectification_order_until_its_result_is_recorded(client):
    push = _direct_push(client)
    log_in(client, REGULATOR)
    token = csrf_token(client, "/regulator")
    assert client.post(f"/regulator/pushes/{push.id}/claim", data={"csrf_token": token}).status_code == 302
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "rectification", "date": "2026-01-05", "result": "消防通道堵塞",
        "decision_no": "宁监责〔2026〕3号"})
    assert r.status_code == 302
    page = client.get(f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert 'data-testid="close"' not in page and 'data-testid="close-blocked"' in page  # not offered
    before = _snapshot(client, push.id)

    # the page's close (confirmed) is refused, in words naming what is missing; nothing changes
    r = client.post(f"/regulator/pushes/{push.id}/close", data={"csrf_token": token, "confirm": "1"})
    page = follow(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)  # back on the push's page
    assert "办结监管" in page and "已责令整改（宁监责〔2026〕3号）" in page and "整改结果" in page
    assert _snapshot(client, push.id) == before
    # closing with another order is refused too, and the feedback is not kept
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "inspection", "date": "2026-01-06", "result": "复查仍未整改",
        "rectification_ordered": "y", "close": "y"})
    page = refused(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert "整改结果" in page and "复查仍未整改" in page  # said, and what was typed is kept
    assert _snapshot(client, push.id) == before

    # the API says the same, on its field
    from tests.integration.support import Api

    with client.application.app_context():
        r = Api(client.application.test_client()).post(f"/api/v1/supervision/pushes/{push.id}/close", user=REGULATOR)
    assert r.status_code == 409 and r.get_json()["field"] == "close", r.get_json()
    assert _snapshot(client, push.id) == before

    # the result recorded (a re-inspection), closing is offered, confirmed, done
    r = client.post(f"/regulator/pushes/{push.id}/feedback", data={
        "csrf_token": token, "kind": "inspection", "date": "2026-01-07", "result": "复查：已整改到位"})
    assert r.status_code == 302
    page = client.get(f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert 'data-testid="close"' in page
    r = client.post(f"/regulator/pushes/{push.id}/close", data={"csrf_token": token})
    assert 'data-testid="close-confirm"' in follow(client, r, f"/regulator/pushes/{push.id}").get_data(as_text=True)
    assert push_of(client, push.case_no).state == "claimed"
    r = client.post(f"/regulator/pushes/{push.id}/close", data={"csrf_token": token, "confirm": "1"})
    assert r.status_code == 302 and push_of(client, push.case_no).state == "closed"


def test_the_desk_costs_the_same_statements_for_one_push_or_several(client):
    from app.extensions import db

    _direct_push(client)
    log_in(client, REGULATOR)
    with client.application.app_context():
        engine = db.engine
    statements = []

    def count(*_args, **_kw):
        statements.append(1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        client.get("/regulator?tab=all&q=赣州")
        one = len(statements)
        for _ in range(3):
            _direct_push(client)
        statements.clear()
        page = client.get("/regulator?tab=all&q=赣州").get_data(as_text=True)
        assert len(re.findall(r'<tr data-testid="push-\d+"', page)) == 4
        assert len(statements) == one
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_claim_alerts_in_the_page_language(client):
    from app.extensions import db
    from supervision.pushes import sweep

    push = _direct_push(client)
    with client.application.app_context():
        sweep(push.claim_due_at - timedelta(hours=1))  # the warning, to the regulator
        db.session.remove()
    log_in(client, REGULATOR)
    page = client.get("/regulator").get_data(as_text=True)
    alerts = re.search(r'<section class="alerts".*?</section>', page, re.S).group(0)
    assert push.case_no in alerts and "请及时认领" in alerts
    client.get("/lang/en?next=/regulator")
    page = client.get("/regulator").get_data(as_text=True)
    alerts = re.search(r'<section class="alerts".*?</section>', page, re.S).group(0)
    assert push.case_no in alerts and "is not claimed yet" in alerts
    said = re.sub(r"<[^>]+>", "", alerts).replace(push.item_name, "")
    assert not re.search(r"[\u4e00-\u9fff]", said), said  # nothing Chinese but the item's name (data)
