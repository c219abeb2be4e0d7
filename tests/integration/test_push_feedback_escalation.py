"""A claimed supervision push without feedback escalates like an unclaimed one (issue 15): once, past
SUPERVISION_FEEDBACK_DAYS working days after the claim, to the regulator's supervisor and the city administration,
who are notified; a push with feedback is not escalated. The clock is the sweep's `now`."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import clock, deadlines
from delegation.models import User
from delegation.notification_models import Notification
from supervision.models import SupervisionAlert, SupervisionPush
from tests.conftest import make_app
from tests.integration.pages import log_in
from tests.integration.support import COUNTY, Api
from tests.integration.test_supervision_loop import REG_COUNTY, approved, post, push_id


@pytest.fixture
def api(database_url, tmp_path):
    app = make_app(database_url, tmp_path / "instance", SUPERVISION_FEEDBACK_DAYS="2")
    ctx = app.app_context()
    ctx.push()
    yield Api(app.test_client())
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def _escalated_to(case_no: str) -> list[str]:
    return sorted(db.session.execute(
        sa.select(User.username).join(Notification, Notification.user_id == User.id)
        .where(Notification.case_no == case_no, Notification.kind == "escalation")).scalars())


def test_a_claimed_push_without_feedback_escalates_once(api):
    from supervision.pushes import sweep

    silent, reported = approved(api, "direct"), approved(api, "direct")
    for case_no in (silent, reported):
        post(api, push_id(api, case_no, REG_COUNTY), "claim", REG_COUNTY, 200)
    post(api, push_id(api, reported, REG_COUNTY), "feedback", REG_COUNTY, 201, kind="inspection",
         date=str(date.today()), result="现场检查，未见异常")
    push = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=silent)).scalar_one()
    due = deadlines.add_working_days(clock.load_calendar(), push.claimed_at, 2, clock.office_hours())

    assert sweep(due - timedelta(minutes=1))["no_feedback"] == 0
    assert sweep(due + timedelta(minutes=1))["no_feedback"] == 1
    assert sweep(due + timedelta(days=30))["no_feedback"] == 0  # once

    alerts = db.session.execute(sa.select(SupervisionAlert).filter_by(kind="no_feedback")).scalars().all()
    assert [(a.push_id, a.recipients) for a in alerts] == [(push.id, ["360700-industry", "360700-bureau"])]
    assert "逾期未反馈" in alerts[0].message
    # the supervisor's regulator and the administrator hear of it; the bureau's approvers and the regulator do not
    assert _escalated_to(silent) == ["admin", "reg-city"]
    assert _escalated_to(reported) == []
    assert db.session.get(SupervisionPush, push.id).state == "claimed"  # escalation moves nothing
    r = api.get("/api/v1/supervision/alerts?kind=no_feedback", user="reg-city")
    assert r.status_code == 200 and [a["case_no"] for a in r.get_json()["items"]] == [silent]
    assert f"reg-{COUNTY}" not in _escalated_to(silent)
    log_in(api.client, "reg-city")
    desk = api.client.get("/regulator").get_data(as_text=True)
    assert "逾期未反馈" in desk and silent in desk


def test_an_unclaimed_push_escalates_to_the_same_people_with_a_notification(api):
    from supervision.pushes import sweep

    unclaimed = approved(api, "direct")
    push = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=unclaimed)).scalar_one()
    assert sweep(push.claim_due_at + timedelta(minutes=1))["escalated"] == 1
    assert sweep(push.claim_due_at + timedelta(days=30))["escalated"] == 0  # once
    # the regulator's supervisor and the city administration hear of it in their inbox, as of a silent claim
    assert _escalated_to(unclaimed) == ["admin", "reg-city"]


def test_feedback_recorded_after_the_sweep_read_the_push_stops_its_escalation(api):
    """The sweep lists silent claims, then stamps each: feedback that lands in between wins (no alert, no mail)."""
    from supervision.push_sweep import _stamp

    case_no = approved(api, "direct")
    post(api, push_id(api, case_no, REG_COUNTY), "claim", REG_COUNTY, 200)
    push = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=case_no)).scalar_one()
    post(api, push.id, "feedback", REG_COUNTY, 201, kind="inspection", date=str(date.today()), result="已检查")
    assert _stamp(push.id, SupervisionPush.feedback_escalated_at, push.claimed_at + timedelta(days=30)) is False
