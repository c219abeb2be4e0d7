"""Notifications (issue 15): a line in the inbox of each user of the organisation an event concerns, and, for a
user who gave an address, an e-mail (and an SMS) in the delivery outbox — all in the transaction of the event, so
that a rolled-back action notifies nobody and a committed one cannot lose its mail (app/mailer.py sends it).

Who hears of what (the users of the organisation that must act, on this node; a user of another organisation never
sees the line: the inbox is read by user id):
- a case returned by the city: the holder of the returned case (the window; the county bureau for 下放实质性审核权)
- a decision to hand out: the accepting window
- a case entering warning or overdue: its holder (a city section's cases: also the bureau's approvers) (once per case and flag; the job `due_alerts`)
- a reminder (催办): the holder; an escalation: the city administrators (delegation/reminders.py)
- a supervision push to claim: the regulators of the supervising organisation (supervision/push_notify.py)
"""
from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from delegation import events
from delegation.errors import Invalid
from delegation.models import Case, Org, User
from delegation.notification_models import Notification, NotificationDelivery
from delegation.workflow import FINAL_STATES, WORK_ROLES, Mode, Role, State
from delegation.deadlines import to_local
from delegation.worklist import holder_code
from exchange.bus import get_bus
from persistence import db, utcnow

EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
INBOX_LIMIT = 100


def notify_org(org_code: str, kind: str, title: str, body: str = "", *, case_no: str | None = None,
               roles: tuple[Role, ...] | None = None, now: datetime | None = None) -> list[Notification]:
    """One notification per active user of the organisation (of those roles), hosted on this node."""
    query = (sa.select(User).join(Org, Org.id == User.org_id)
             .where(Org.code == org_code, User.is_active.is_(True)))
    if roles:
        query = query.where(User.role.in_([r.value for r in roles]))
    return notify_users(db.session.execute(query).unique().scalars().all(), kind, title, body, case_no=case_no,
                        now=now)


def notify_holder(holder: str, kind: str, title: str, body: str = "", *, case_no: str | None = None,
                  now: datetime | None = None) -> list[Notification]:
    """The users who work the cases of the holding organisation: its own staff, and for a city section also the
    city approvers of the bureau, who serve every section's cases (as delegation.cases.visible_filter has it)."""
    org = db.session.execute(sa.select(Org).where(Org.code == holder)).scalar_one_or_none()
    if org is None:  # held by an organisation another node hosts: its own node tells its users
        return []
    # only those who work cases: the county administrator sits in the bureau but acts on none (issue 18)
    users = db.session.execute(sa.select(User).where(User.org_id == org.id, User.is_active.is_(True),
                                                     User.role.in_([r.value for r in WORK_ROLES]))
                               ).unique().scalars().all()
    if org.level == "city" and org.kind == "city_section":
        users += db.session.execute(
            sa.select(User).join(Org, Org.id == User.org_id)
            .where(Org.level == "city", Org.kind != "city_section", User.role == Role.CITY_APPROVER.value,
                   User.is_active.is_(True))).unique().scalars().all()
    return notify_users(users, kind, title, body, case_no=case_no, now=now)


def notify_case_holder(case: Case, kind: str, title: str, body: str = "", *,
                       now: datetime | None = None) -> list[Notification]:
    """The person who works the case in the organisation holding it (its assignee there, and the assignee's
    stand-in on a day of their absence); the organisation's users while nobody has it (notify_holder)."""
    from delegation.assignment_models import CaseAssignment, StandIn

    now = now or utcnow()
    holder = holder_code(case)
    assignee = db.session.execute(sa.select(User).join(CaseAssignment, CaseAssignment.user_id == User.id).where(
        CaseAssignment.case_id == case.id, CaseAssignment.org_code == holder, User.is_active.is_(True))
    ).unique().scalar_one_or_none()
    if assignee is None:
        return notify_holder(holder, kind, title, body, case_no=case.case_no, now=now)
    today = to_local(now).date()
    stand_in = db.session.execute(sa.select(User).join(StandIn, StandIn.stand_in_id == User.id).where(
        StandIn.user_id == assignee.id, StandIn.cancelled_at.is_(None), StandIn.starts_on <= today,
        StandIn.ends_on >= today, User.is_active.is_(True)).limit(1)).unique().scalar_one_or_none()
    return notify_users([assignee] + ([stand_in] if stand_in else []), kind, title, body, case_no=case.case_no,
                        now=now)


def notify_users(users, kind: str, title: str, body: str = "", *, case_no: str | None = None,
                 now: datetime | None = None) -> list[Notification]:
    now = now or utcnow()
    made = []
    for user in users:
        note = Notification(user_id=user.id, kind=kind, case_no=case_no, title=title[:200], body=body,
                            created_at=now)
        db.session.add(note)
        made.append((note, user))
    db.session.flush()
    # No mail server configured (SMTP_HOST): no e-mail rows, rather than rows that could only ever fail
    email_on = bool(get_bus().settings.smtp)
    for note, user in made:
        for channel, address in (("email", user.email if email_on else None), ("sms", user.mobile)):
            if address:
                db.session.add(NotificationDelivery(notification_id=note.id, channel=channel, address=address,
                                                    next_attempt_at=now, created_at=now))
    return [note for note, _ in made]


def _case_line(case: Case) -> str:
    return f"{case.case_no} {case.item.name}（{case.applicant_name}）"


# -- the workflow's events ------------------------------------------------------------------------------------

@events.subscribe("return")
@events.subscribe("receive_return")
def on_returned(event: events.CaseEvent) -> None:
    """The city's return, where the county's users are: at the return itself when one node hosts both (the
    receive_return that may follow there finds the "return" line before it and stays silent), else at the
    county node's receive_return (its timeline has no "return" line of the city's)."""
    case = event.case
    if event.name == "receive_return":
        actions = [e.action for e in case.events][:-1]
        if next((a for a in reversed(actions) if a in ("return", "receive_return")), None) == "return":
            return
    reasons = "；".join(case.return_reasons or [])
    notify_holder(holder_code(case), "returned", f"办件被退回：{case.case_no}",
               f"{_case_line(case)} 被市级退回。退回理由：{reasons}", case_no=case.case_no, now=event.at)


def _decision_to_hand_out(event: events.CaseEvent) -> None:
    case = event.case
    if case.state is not State.DECIDED:
        return
    outcome = "准予许可" if case.decision == "approve" else "不予许可"
    notify_org(case.window_org.code, "decision", f"审批结果待出件：{case.case_no}",
               f"{_case_line(case)} 已作出决定（{outcome}），请通知申请人并出件。", case_no=case.case_no,
               roles=(Role.WINDOW,), now=event.at)


@events.subscribe("receive_decision")
def on_decision_received(event: events.CaseEvent) -> None:
    _decision_to_hand_out(event)


@events.subscribe("approve")
@events.subscribe("deny")
def on_county_decision(event: events.CaseEvent) -> None:
    # A city decision reaches the window as receive_decision (on the county's node); only a county's own
    # decision (直接下放) is handed out from where it was taken.
    if Mode(event.case.mode) is Mode.DIRECT:
        _decision_to_hand_out(event)


# -- warning and overdue --------------------------------------------------------------------------------------

_FLAG_TITLE = {"warning": "办件即将超期", "overdue": "办件已超期"}


def due_alerts(now: datetime | None = None, limit: int = 500) -> int:
    """Tell the holder of each open case whose flag (kept by the deadline sweep) turned warning or overdue, once
    per case and flag: the notifications already written are the memory (ix_notification_case_kind)."""
    now = now or utcnow()
    told = (sa.select(Notification.id)
            .where(Notification.case_no == Case.case_no, Notification.kind == Case.due_flag).exists())
    rows = db.session.execute(
        sa.select(Case).where(Case.due_flag.in_(tuple(_FLAG_TITLE)), Case.paused_at.is_(None),
                              Case.state.not_in([s.value for s in (*FINAL_STATES, State.DECIDED)]), ~told)
        .order_by(Case.id).limit(limit)).unique().scalars().all()
    for case in rows:
        notify_case_holder(case, case.due_flag, f"{_FLAG_TITLE[case.due_flag]}：{case.case_no}",
                           f"{_case_line(case)} 办理期限 {to_local(case.due_at):%Y-%m-%d %H:%M}。", now=now)
    return len(rows)


# -- the inbox ------------------------------------------------------------------------------------------------

def unread_count(user_id: int) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Notification)
                              .where(Notification.user_id == user_id, Notification.read_at.is_(None))).scalar_one()


def inbox(user_id: int, unread_only: bool = False, limit: int = INBOX_LIMIT) -> list[Notification]:
    query = sa.select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(db.session.execute(query.order_by(Notification.id.desc()).limit(limit)).scalars())


def mark_read(user_id: int, ids: list[int] | None, now: datetime | None = None) -> int:
    """Mark the user's own notifications read (all of them without ids); another user's ids change nothing."""
    query = sa.update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    return db.session.execute(query.values(read_at=now or utcnow())
                              .execution_options(synchronize_session=False)).rowcount or 0


def set_contact(user: User, email: str | None, mobile: str | None) -> User:
    """The addresses a user gives for notifications; empty removes one."""
    email, mobile = (email or "").strip(), (mobile or "").strip()
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        raise Invalid("invalid_email", "电子邮箱格式不正确", "the e-mail address is not valid", field="email")
    if mobile and not MOBILE_RE.match(mobile):
        raise Invalid("invalid_mobile", "手机号码应为 11 位数字", "the mobile number must be 11 digits",
                      field="mobile")
    user.email, user.mobile = email or None, mobile or None
    return user
