"""差评整改 (issue 15): a rating of 不满意 or 非常不满意 opens a rectification task for the unit that handled the case.

- The unit: the organisation that decided the case (responsible_parties "deciding"), which answers for the result;
  when another node hosts it, the accepting window (首问负责), which answers to the applicant and lives where the
  case was concluded and rated.
- Due: RATING_FOLLOW_UP_DAYS working days after the rating (the working-day calendar, close of office).
- Closed by the unit's reply: what it found (核实情况), what it put right (整改措施) and what it tells the applicant
  (答复), which the public lookup shows. One task per rating; a replied task takes no second reply.
- Overdue open tasks remind the unit once per working day (the notification job, `remind_overdue`).
Service functions flush; callers commit."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import clock, deadlines
from delegation.actors import Actor
from delegation.deadlines import to_local
from delegation.errors import Conflict, NotFound
from delegation.follow_up_models import RatingFollowUp
from delegation.models import RATING_LABELS, Case, CaseRating, Org
from delegation.notifications import notify_holder
from delegation.responsibility import responsible_parties
from delegation.text_rules import required_text
from delegation.workflow import Role
from exchange.bus import get_bus
from persistence import db, utcnow

BAD_SCORES = (1, 2)  # 非常不满意, 不满意
TEXT_MAX = 1000
LIST_LIMIT = 200


def handling_unit(case: Case) -> str:
    deciding = responsible_parties(case)["deciding"]
    hosted = db.session.execute(sa.select(Org.id).where(Org.code == deciding, Org.node_id == get_bus().node_id)
                                ).first()
    return deciding if hosted else responsible_parties(case)["accepting"]


def open_for(case: Case, rating: CaseRating, days: int, now: datetime) -> RatingFollowUp:
    """The task of a bad rating, and a line in the inbox of each of the unit's users."""
    due = deadlines.add_working_days(clock.load_calendar(), now, days, clock.office_hours())
    task = RatingFollowUp(case_id=case.id, rating_id=rating.id, case_no=case.case_no, org_code=handling_unit(case),
                          score=rating.score, reason=rating.comment, opened_at=now, due_at=due)
    db.session.add(task)
    db.session.flush()
    notify_holder(task.org_code, "follow_up", f"差评整改：{case.case_no}",
               f"{case.case_no} {case.item.name}（{case.applicant_name}）被评为“{RATING_LABELS[rating.score]}”。"
               f"申请人的理由：{rating.comment}。请于 {to_local(due):%Y-%m-%d %H:%M} 前核实、整改并答复申请人。",
               case_no=case.case_no, now=now)
    return task


def _mine(actor: Actor):
    """The tasks of the actor's unit; an approver of the city bureau also serves its sections' (as their case lists
    do); a section's approver only its own section's."""
    condition = RatingFollowUp.org_code == actor.org_code
    if actor.role is Role.CITY_APPROVER and actor.org_level == "city" and actor.org_kind != "city_section":
        sections = sa.select(Org.code).where(Org.level == "city", Org.kind == "city_section")
        condition = sa.or_(condition, RatingFollowUp.org_code.in_(sections))
    return condition


def tasks_for(actor: Actor, open_only: bool = False) -> list[RatingFollowUp]:
    """Open tasks first, the soonest due first; then the replied ones, the latest first."""
    query = sa.select(RatingFollowUp).where(_mine(actor))
    if open_only:
        query = query.where(RatingFollowUp.state == "open")
    query = query.order_by(sa.case((RatingFollowUp.state == "open", 0), else_=1), RatingFollowUp.due_at,
                           RatingFollowUp.id.desc())
    return list(db.session.execute(query.limit(LIST_LIMIT)).scalars())


def task_for(actor: Actor, task_id: int, for_update: bool = False) -> RatingFollowUp:
    query = sa.select(RatingFollowUp).where(RatingFollowUp.id == task_id, _mine(actor))
    task = db.session.execute(query.with_for_update() if for_update else query).scalar_one_or_none()
    if task is None:  # another unit's task reads as absent
        raise NotFound("follow_up_not_found", "未找到该差评整改任务", "no such rectification task", field="task_id")
    return task


def overdue(task: RatingFollowUp, now: datetime | None = None) -> bool:
    return task.state == "open" and task.due_at < (now or utcnow())


def reply(actor: Actor, task_id: int, finding: str | None, rectification: str | None, answer: str | None,
          now: datetime | None = None) -> RatingFollowUp:
    """Close the task with what was found, what was put right and the reply the applicant reads."""
    now = now or utcnow()
    values = {"finding": required_text(finding, TEXT_MAX, "finding", "核实情况"),
              "rectification": required_text(rectification, TEXT_MAX, "rectification", "整改措施"),
              "reply": required_text(answer, TEXT_MAX, "reply", "答复内容")}
    task = task_for(actor, task_id, for_update=True)
    if task.state != "open":
        raise Conflict("already_replied", "该差评已答复，不能重复答复", "this rating has already been answered",
                       field="task_id")
    for name, value in values.items():
        setattr(task, name, value)
    task.state, task.replied_at, task.replied_by = "replied", now, actor.username
    db.session.flush()
    return task


def public_reply(case_id: int) -> RatingFollowUp | None:
    """The replied task of a case, for the public lookup (its reply and when)."""
    return db.session.execute(sa.select(RatingFollowUp).where(RatingFollowUp.case_id == case_id,
                                                              RatingFollowUp.state == "replied")).scalar_one_or_none()


def remind_overdue(now: datetime | None = None, limit: int = 500) -> int:
    """On a working day, remind the unit of each open task past due, once that day. The day is stamped with a
    conditional UPDATE, so of two workers only one reminds."""
    now = now or utcnow()
    today = to_local(now).date()
    if not clock.load_calendar().is_workday(today):
        return 0
    due = db.session.execute(
        sa.select(RatingFollowUp.id).where(
            RatingFollowUp.state == "open", RatingFollowUp.due_at < now,
            sa.or_(RatingFollowUp.reminded_on.is_(None), RatingFollowUp.reminded_on < today))
        .order_by(RatingFollowUp.id).limit(limit)).scalars().all()
    reminded = 0
    for task_id in due:
        won = db.session.execute(
            sa.update(RatingFollowUp).where(RatingFollowUp.id == task_id, RatingFollowUp.state == "open",
                                            sa.or_(RatingFollowUp.reminded_on.is_(None),
                                                   RatingFollowUp.reminded_on < today))
            .values(reminded_on=today).execution_options(synchronize_session=False)).rowcount
        if won:
            task = db.session.get(RatingFollowUp, task_id)
            notify_holder(task.org_code, "follow_up", f"差评整改已超期：{task.case_no}",
                       f"{task.case_no} 的差评整改期限 {to_local(task.due_at):%Y-%m-%d %H:%M} 已过，"
                       f"请尽快核实、整改并答复申请人。", case_no=task.case_no, now=now)
            reminded += 1
    return reminded
