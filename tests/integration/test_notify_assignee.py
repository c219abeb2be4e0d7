"""Warnings and 催办 reach the person who holds the case (issue 15, domain.md: "warnings reach the person who holds
the case"): its assignee in the organisation holding it, and the assignee's stand-in on a day of their absence; the
organisation's users only while nobody has it. The texts name people, never accounts, and give Beijing time."""
from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa

from app.extensions import db
from delegation import assignment, reminders, staff
from delegation.models import Case, User
from delegation.notification_models import Notification
from delegation.notifications import due_alerts
from delegation.workflow import Mode, State
from tests.integration.factories import make_case, reviewer, window
from tests.integration.support import COUNTY

MON = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)  # Beijing 10:00, Monday 7 December 2026
WED = datetime(2026, 12, 9, 2, 0, tzinfo=timezone.utc)


def _told(case_no: str, kind: str) -> list[str]:
    return sorted(db.session.execute(sa.select(User.username).join(Notification, Notification.user_id == User.id)
                                     .where(Notification.case_no == case_no, Notification.kind == kind)).scalars())


def test_a_reminder_and_a_warning_reach_the_assignee_and_their_stand_in(app):
    with app.app_context():
        staff.create_account("review-b", "同事乙", f"{COUNTY}-bureau", "reviewer", "password-123",
                             must_change_password=False)
        staff.create_account("review-c", "同事丙", f"{COUNTY}-bureau", "reviewer", "password-123",
                             must_change_password=False)
        me = reviewer()
        held, nobodys = (make_case(State.COUNTY_REVIEW, Mode.DIRECT, now=MON).case_no for _ in range(2))
        assignment.claim(me, held, MON)
        db.session.commit()

        reminders.remind(window(), held, "申请人来电", now=MON)
        reminders.remind(window(), nobodys, "申请人来电", now=MON)
        assert _told(held, "reminder") == [me.username]  # the person who has it, not the whole bureau
        assert {me.username, "review-b", "review-c"} <= set(_told(nobodys, "reminder"))  # nobody has it: all
        body = db.session.execute(sa.select(Notification.body).filter_by(case_no=held, kind="reminder")).scalar()
        assert f"window-{COUNTY}" not in body  # who pressed, by name

        assignment.name_stand_in(me, "review-b", date(2026, 12, 8), date(2026, 12, 10), MON)
        case = db.session.execute(sa.select(Case).filter_by(case_no=held)).unique().scalar_one()
        case.due_flag = "warning"
        db.session.commit()
        due_alerts(WED)
        assert _told(held, "warning") == sorted([me.username, "review-b"])  # the absent assignee and the stand-in
        body = db.session.execute(sa.select(Notification.body).filter_by(case_no=held, kind="warning")).scalar()
        assert "UTC" not in body
