"""催办 (issue 15): the accepting window presses the holder, who sees it at once; the reminder stays with the case
through a return and a re-forward; a concluded case and bad input are refused naming the field, changing nothing;
overdue cases are reminded automatically once per working day (a controlled clock) and escalate after N."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import clock, engine
from delegation.models import Case, CaseEvent, User
from delegation.notification_models import CaseReminder, Notification
from delegation.workflow import Action, Mode, State, SystemAction
from tests.conftest import make_app
from tests.integration.factories import actor, make_case, system_at, window
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY

# Beijing time 10:00 on Monday 7, Tuesday 8 and Saturday 12 December 2026 (ordinary working days / a weekend day)
MON, TUE, SAT = (datetime(2026, 12, d, 2, 0, tzinfo=timezone.utc) for d in (7, 8, 12))
LONG_AGO = datetime(2026, 9, 1, 2, 0, tzinfo=timezone.utc)


def _told(case_no: str, kind: str) -> list[str]:
    return list(db.session.execute(
        sa.select(User.username).join(Notification, Notification.user_id == User.id)
        .where(Notification.case_no == case_no, Notification.kind == kind).order_by(Notification.id)).scalars())


def _token(client) -> dict:  # noqa: F811
    r = client.post("/api/v1/auth/token", json={"username": f"window-{COUNTY}", "password": "demo"})
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def test_the_window_presses_the_holder_and_the_reminder_survives_a_return_and_a_reforward(client):  # noqa: F811
    app = client.application
    with app.app_context():
        case_no = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY).case_no
        db.session.commit()

    log_in(client, f"window-{COUNTY}")
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="remind-form"' in page
    r = client.post(f"/cases/{case_no}/remind", data={"comment": "申请人多次来电询问",
                                                       "csrf_token": csrf_token(client, f"/cases/{case_no}")})
    assert r.status_code == 303
    with app.app_context():
        assert _told(case_no, "reminder") == ["city-approver"]  # the city holds it: its approver hears at once
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        assert [e.comment for e in case.events if e.action == "remind"] == ["申请人多次来电询问"]
        # the city returns it, the window resubmits, the city receives it again
        engine.apply(case, actor("city-approver"), Action.RETURN, {"reasons": ["缺少现场照片"]})
        db.session.commit()
    r = client.post(f"/cases/{case_no}/remind", data={"comment": "", "csrf_token": csrf_token(client, f"/cases/{case_no}")})
    assert r.status_code == 303
    with app.app_context():
        assert _told(case_no, "reminder") == ["city-approver", f"window-{COUNTY}"]  # now the window holds it
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        engine.apply(case, window(), Action.RESUBMIT, {"materials": [m.code for m in case.materials]})
        if case.state is not State.CITY_REVIEW:
            engine.apply(case, system_at(case), SystemAction.RECEIVE, {}, by=engine.Peer("市级", case.department_code),
                         data={"message_id": "test"})
        db.session.commit()
        assert case.state is State.CITY_REVIEW
    r = client.post(f"/api/v1/cases/{case_no}/reminders", json={"comment": "第三次"}, headers=_token(client))
    assert r.status_code == 201, r.get_json()
    listed = client.get(f"/api/v1/cases/{case_no}/reminders", headers=_token(client)).get_json()
    assert [x["comment"] for x in listed] == ["申请人多次来电询问", "", "第三次"]
    assert [x["to_org"] for x in listed][1] == f"{COUNTY}-window"
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert page.count('data-testid="reminder-') == 3
    assert page.count('<tr data-testid="event-remind">') == 3 and "<td>remind</td>" not in page
    assert "<td>催办</td>" in page  # the timeline names the line in the page language


@pytest.mark.parametrize("body, status, field", [({"comment": "催" * 501}, 422, "comment")])
def test_bad_input_is_refused_naming_the_field_and_nothing_changes(client, body, status, field):  # noqa: F811
    with client.application.app_context():
        case_no = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY).case_no
        db.session.commit()
    r = client.post(f"/api/v1/cases/{case_no}/reminders", json=body, headers=_token(client))
    assert r.status_code == status and field in str(r.get_json()), r.get_json()
    with client.application.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(CaseReminder)).scalar_one() == 0


def test_a_reminder_on_a_concluded_case_is_refused_naming_the_field(client):  # noqa: F811
    with client.application.app_context():
        case_no = make_case(State.CONCLUDED, Mode.DIRECT).case_no
        db.session.commit()
    r = client.post(f"/api/v1/cases/{case_no}/reminders", json={"comment": "请尽快"}, headers=_token(client))
    assert r.status_code == 409
    assert r.get_json()["field"] == "case_no" and "不能催办" in r.get_json()["detail"]
    with client.application.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(CaseReminder)).scalar_one() == 0
        assert not _told(case_no, "reminder")
        assert not db.session.execute(sa.select(CaseEvent).filter_by(action="remind")).first()
    log_in(client, f"window-{COUNTY}")
    assert 'data-testid="remind-form"' not in client.get(f"/cases/{case_no}").get_data(as_text=True)


@pytest.fixture
def jobs_app(database_url, tmp_path):
    app = make_app(database_url, tmp_path / "instance", REMINDER_ESCALATE_AFTER="2")
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


def test_overdue_cases_are_reminded_once_per_working_day_and_escalate_after_n(jobs_app):
    from app.mailer import run_notification_jobs

    case_no = make_case(State.COUNTY_REVIEW, Mode.DIRECT, now=LONG_AGO).case_no
    db.session.commit()
    clock.sweep_flags(MON)
    db.session.commit()

    first = run_notification_jobs(MON)
    assert (first["alerts"], first["reminded"], first["escalated"]) == (1, 1, 0)
    assert _told(case_no, "overdue") == [f"review-{COUNTY}"]  # the county bureau holds it
    assert _told(case_no, "reminder") == [f"review-{COUNTY}"]
    assert run_notification_jobs(MON + timedelta(hours=5))["reminded"] == 0  # once a day
    assert run_notification_jobs(SAT)["reminded"] == 0  # not on a weekend day

    second = run_notification_jobs(TUE)
    assert (second["alerts"], second["reminded"], second["escalated"]) == (0, 1, 1)
    assert _told(case_no, "escalation") == ["admin"]  # the city administrator, after 2 (REMINDER_ESCALATE_AFTER)
    third = run_notification_jobs(TUE + timedelta(days=1))
    assert (third["reminded"], third["escalated"]) == (1, 0)  # escalated once
    assert _told(case_no, "reminder") == [f"review-{COUNTY}"] * 3
    rows = db.session.execute(sa.select(CaseReminder).order_by(CaseReminder.id)).scalars().all()
    assert [r.working_day.day for r in rows] == [7, 8, 9] and [r.kind for r in rows] == ["automatic"] * 3


def test_warning_and_overdue_are_told_to_the_holder_once_each(jobs_app):
    from app.mailer import run_notification_jobs

    case = make_case(State.COUNTY_REVIEW, Mode.DIRECT, now=LONG_AGO)
    case_no, due = case.case_no, case.due_at
    db.session.commit()
    near = due - timedelta(minutes=30)  # within the last office hour (or working day) of the limit
    clock.sweep_flags(near)
    db.session.commit()
    assert run_notification_jobs(near)["alerts"] == 1
    assert run_notification_jobs(near + timedelta(minutes=30))["alerts"] == 0
    assert _told(case_no, "warning") == [f"review-{COUNTY}"] and _told(case_no, "overdue") == []

    late = due + timedelta(days=1)
    clock.sweep_flags(late)
    db.session.commit()
    assert run_notification_jobs(late)["alerts"] == 1
    assert run_notification_jobs(late + timedelta(hours=1))["alerts"] == 0
    assert _told(case_no, "overdue") == [f"review-{COUNTY}"]


def test_the_holder_is_told_which_reminder_it_is_counting_from_one(client):  # noqa: F811
    """Found trying the demo (issue 15): the first 催办 of a case reached its holder as 第 2 次."""
    app = client.application
    with app.app_context():
        case_no = make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no
        db.session.commit()
    log_in(client, f"window-{COUNTY}")
    for _ in range(2):
        client.post(f"/cases/{case_no}/remind", data={"comment": "", "csrf_token": csrf_token(client, f"/cases/{case_no}")})
    with app.app_context():
        titles = db.session.execute(sa.select(Notification.title).where(
            Notification.case_no == case_no, Notification.kind == "reminder").order_by(Notification.id)).scalars()
        assert list(titles) == [f"催办：{case_no}（第 1 次）", f"催办：{case_no}（第 2 次）"]
