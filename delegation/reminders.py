"""催办 (issue 15): pressing the holder of a case, by hand and automatically.

- Who may press: the accepting window (首问负责: window staff of the case's county), the city administrator, and a
  regulator of the organisation that supervises the case's item (responsible_parties "supervising").
- Whom: the organisation holding the case now (delegation.worklist.holder_code), computed at each reminder; the
  reminder row belongs to the case, not to a step, so the count goes on after a return and a re-forward.
- Automatically: each overdue case whose holder this node hosts (the flag the deadline sweep keeps) once per working day (the working-day
  calendar; `working_day` is unique per case, so two workers remind once). After REMINDER_ESCALATE_AFTER automatic
  reminders the case is escalated to the city administrators (市行政审批局, who oversee every window and
  department; a county has no administrator of its own), once, at the reminder that reaches the number.
- Each reminder is a line of the case's timeline (engine.note) and a notification to the holder's users.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import clock, engine, remote_reminders
from delegation.actors import Actor, person_of
from delegation.cases import get_case
from delegation.deadlines import to_local
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, Org, User
from delegation.notification_models import CaseReminder
from delegation.notifications import notify_case_holder, notify_users
from delegation.responsibility import responsible_parties, supervising_clause
from delegation.workflow import FINAL_STATES, STATE_ZH, Role, State
from delegation.worklist import holder_code, search_clause
from exchange.bus import get_bus
from persistence import db, utcnow

COMMENT_MAX = 500
SYSTEM_LABEL = "系统 (system)"


def _case_for(actor: Actor, case_no: str) -> Case:
    case_no = (case_no or "").strip()[:40]
    if actor.role in (Role.WINDOW, Role.ADMIN):
        return get_case(actor, case_no, for_update=True)
    if actor.role is Role.REGULATOR:
        case = db.session.execute(sa.select(Case).where(Case.case_no == case_no)).unique().scalar_one_or_none()
        if case is not None and responsible_parties(case)["supervising"] == actor.org_code:
            return case
        raise NotFound("case_not_found", f"办件 {case_no} 不存在", f"case {case_no} not found", field="case_no")
    raise Forbidden("role_forbidden", "只有受理窗口、市级管理员和监管人员可以催办",
                    "only the accepting window, the city administrator and a regulator may send a reminder")


def may_remind(actor: Actor, case: Case) -> bool:
    """Whether the case page offers the form (the service decides again)."""
    if case.state in FINAL_STATES:
        return False
    if actor.role is Role.WINDOW:
        return case.county_code == actor.division_code
    if actor.role is Role.REGULATOR:
        return responsible_parties(case)["supervising"] == actor.org_code
    return actor.role is Role.ADMIN


def remind(actor: Actor, case_no: str, comment: str | None, now: datetime | None = None) -> CaseReminder:
    now = now or utcnow()
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise Invalid("too_long", f"催办说明不能超过 {COMMENT_MAX} 个字", f"the comment is longer than {COMMENT_MAX}",
                      field="comment")
    case = _case_for(actor, case_no)
    if case.state in FINAL_STATES:
        raise Conflict("case_closed", f"办件已{STATE_ZH[case.state]}，不能催办",
                       f"the case is {case.state.value}: nothing to remind", field="case_no")
    reminder = _remind(case, "manual", now, comment, by_username=actor.username, by_org=actor.org_code,
                       by_label=actor.label)
    remote_reminders.send(case, actor, reminder.to_org, comment, now)  # a holder on another node hears it there
    return reminder


def record_received(case: Case, now: datetime, comment: str, *, by_org: str, by_label: str) -> CaseReminder:
    """A reminder pressed on another node (case.reminder, delegation/remote_reminders.py), recorded here where the
    case's holder is, as if pressed here."""
    return _remind(case, "manual", now, comment, by_username=by_label[:60], by_org=by_org, by_label=by_label)


def _remind(case: Case, kind: str, now: datetime, comment: str, *, by_username: str | None, by_org: str,
            by_label: str, working_day=None) -> CaseReminder:
    holder = holder_code(case)
    reminder = CaseReminder(case_id=case.id, kind=kind, at=now, by_username=by_username, by_org=by_org,
                            to_org=holder, comment=comment, working_day=working_day)
    count = count_for(case) + 1  # counted before the add: autoflush would count this one too
    db.session.add(reminder)
    engine.note(case, "remind", now, comment or ("超期自动催办" if kind == "automatic" else "催办"),
                {"to_org": holder, "kind": kind, "count": count}, by=engine.Peer(by_label, by_org))
    who = "系统（超期自动催办）" if kind == "automatic" else person_of(by_label)
    notify_case_holder(case, "reminder", f"催办：{case.case_no}（第 {count} 次）",
                       f"{case.case_no} {case.item.name}（{case.applicant_name}）被{who}催办。{comment}".strip(), now=now)
    db.session.flush()
    return reminder


def to_supervise(actor: Actor, *, q: str | None = None, due: str | None = None, after: int | None = None,
                 limit: int = 30) -> tuple[list[Case], dict[int, int], int | None]:
    """The open cases a regulator's organisation will supervise once approved (the cases it may press), newest
    first, searched and narrowed to those near or past their limit; with each row's reminder count and the next
    page's cursor. Only a regulator has this list."""
    if actor.role is not Role.REGULATOR:
        raise Forbidden("role_forbidden", "只有监管人员可以查看待监管的在办件",
                        "only a regulator has the list of open cases to supervise")
    query = sa.select(Case.id).where(supervising_clause(Case, actor.org_code),
                                     Case.state.not_in([s.value for s in FINAL_STATES]))
    if q and q.strip():
        query = query.where(search_clause(q))
    if due in ("warning", "overdue"):
        query = query.where(Case.due_flag == due)
    if after is not None:
        query = query.where(Case.id < after)
    ids = query.order_by(Case.id.desc()).limit(limit + 1)
    rows = db.session.execute(sa.select(Case).where(Case.id.in_(ids)).order_by(Case.id.desc())).unique().scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    counts = dict(db.session.execute(
        sa.select(CaseReminder.case_id, sa.func.count()).where(CaseReminder.case_id.in_([c.id for c in rows]))
        .group_by(CaseReminder.case_id)).all()) if rows else {}
    return rows, counts, rows[-1].id if rows and more else None


def supervised_case(actor: Actor, case_no: str) -> Case:
    """One open or concluded case the regulator's organisation supervises (anyone else's: not found)."""
    if actor.role is not Role.REGULATOR:
        raise Forbidden("role_forbidden", "只有监管人员可以查看待监管的在办件",
                        "only a regulator has the list of open cases to supervise")
    return _case_for(actor, case_no)


def count_for(case: Case) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(CaseReminder)
                              .where(CaseReminder.case_id == case.id)).scalar_one()


def reminders_of(case: Case) -> list[CaseReminder]:
    return list(db.session.execute(sa.select(CaseReminder).where(CaseReminder.case_id == case.id)
                                   .order_by(CaseReminder.id)).scalars())


def remind_overdue(escalate_after: int, now: datetime | None = None, limit: int = 500) -> dict:
    """The daily automatic reminders: on a working day, each overdue case not yet reminded today."""
    now = now or utcnow()
    today = to_local(now).date()
    if not clock.load_calendar().is_workday(today):
        return {"reminded": 0, "escalated": 0}
    done_today = (sa.select(CaseReminder.id)
                  .where(CaseReminder.case_id == Case.id, CaseReminder.working_day == today).exists())
    here = db.session.execute(sa.select(Org.code, Org.division_code, Org.level)
                              .where(Org.node_id == get_bus().node_id)).all()
    hosted = {code for code, _, _ in here}
    counties = {division for _, division, level in here if level == "county"}
    cases = db.session.execute(
        sa.select(Case).where(Case.due_flag == "overdue", Case.paused_at.is_(None),
                              sa.or_(Case.county_code.in_(counties), Case.department_code.in_(hosted)),
                              Case.state.not_in([s.value for s in (*FINAL_STATES, State.DECIDED)]), ~done_today)
        .order_by(Case.id).limit(limit)).unique().scalars().all()
    escalated = 0
    cases = [c for c in cases if holder_code(c) in hosted]  # another node's copy: its holder's node reminds
    for case in cases:
        reminder = _remind(case, "automatic", now, "", by_username=None, by_org="system", by_label=SYSTEM_LABEL,
                           working_day=today)
        automatic = db.session.execute(sa.select(sa.func.count()).select_from(CaseReminder).where(
            CaseReminder.case_id == case.id, CaseReminder.kind == "automatic")).scalar_one()
        if automatic == escalate_after:
            _escalate(case, reminder, automatic, now)
            escalated += 1
    return {"reminded": len(cases), "escalated": escalated}


def _escalate(case: Case, reminder: CaseReminder, count: int, now: datetime) -> None:
    admins = db.session.execute(
        sa.select(User).join(Org, Org.id == User.org_id)
        .where(User.role == Role.ADMIN.value, Org.level == "city", User.is_active.is_(True))).unique().scalars().all()
    reminder.escalated_to = "city-admin"
    notify_users(admins, "escalation", f"超期督办：{case.case_no}",
                 f"{case.case_no} {case.item.name} 已超期并自动催办 {count} 次，办理单位 {reminder.to_org} 仍未办结，"
                 f"请督办。", case_no=case.case_no, now=now)
