"""The claim-deadline job: `sweep(now)` warns the regulator once, one working day before the claim deadline, and
escalates once, past it, to the regulator's supervisor and to the city administration (an alert on their desks and
a notification to their regulators and administrators). A claimed push that has no feedback
SUPERVISION_FEEDBACK_DAYS working days after its claim is escalated the same way, once (issue 15). It moves no push: an unclaimed push stays PUSHED until its
regulator claims it, a claimed one stays CLAIMED until it is closed."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from delegation import clock, deadlines
from delegation.models import Org
from delegation.notifications import notify_org
from delegation.workflow import Role
from exchange.bus import get_bus
from persistence import db, utcnow
from supervision.models import SupervisionAlert, SupervisionFeedback, SupervisionPush
from supervision.push_common import CITY_ADMIN_ORG, CITY_INDUSTRY_ORG, local_minute, org
from supervision.push_states import PushState

log = logging.getLogger(__name__)


def supervisor_of(regulator: Org) -> str | None:
    """Who answers for a regulator that does not claim: its parent organisation; for a county industry authority,
    the city's industry authority."""
    if regulator.parent is not None:
        return regulator.parent.code
    if regulator.level == "county":
        return CITY_INDUSTRY_ORG
    return None


def _stamp(push_id: int, column, now: datetime) -> bool:
    """Set warned_at / escalated_at (the push still unclaimed) or feedback_escalated_at (still claimed) if unset;
    True if this call did it. One conditional UPDATE: of two concurrent sweeps exactly one wins, on either backend."""
    silent = column is SupervisionPush.feedback_escalated_at
    state = PushState.CLAIMED if silent else PushState.PUSHED
    still = [~sa.select(SupervisionFeedback.id).where(SupervisionFeedback.push_id == push_id).exists()] if silent else []
    result = db.session.execute(  # (feedback recorded since the sweep read the push: no escalation)
        sa.update(SupervisionPush)
        .where(SupervisionPush.id == push_id, column.is_(None), SupervisionPush.state == state, *still)
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


def _alert(push: SupervisionPush, kind: str, recipients: list[str], message: str, now: datetime) -> None:
    db.session.add(SupervisionAlert(push_id=push.id, kind=kind, recipients=recipients, message=message,
                                    created_at=now))


def _warn(push: SupervisionPush, now: datetime) -> None:
    _alert(push, "warning", [push.supervising_org],
           f"办件 {push.case_no}（{push.item_name}）的监管推送尚未认领，认领期限为 {local_minute(push.claim_due_at)}，"
           f"请及时认领", now)


def _above(push: SupervisionPush) -> tuple[str, list[str]]:
    """The regulator's name and whom its escalations go to: its supervisor and the city administration."""
    regulator = org(push.supervising_org)
    recipients = [c for c in (supervisor_of(regulator) if regulator else None, CITY_ADMIN_ORG)
                  if c and c != push.supervising_org]
    return (regulator.name if regulator else push.supervising_org), list(dict.fromkeys(recipients))


def _escalate(push: SupervisionPush, now: datetime) -> None:
    name, recipients = _above(push)
    message = (f"{name}未在期限（{local_minute(push.claim_due_at)}）内认领办件 {push.case_no}（{push.item_name}）"
               f"的监管推送，已逾期，请督促其认领")
    _raise(push, "escalation", recipients, f"监管推送逾期未认领：{push.case_no}", message, now)


def _escalate_no_feedback(push: SupervisionPush, now: datetime) -> None:
    name, recipients = _above(push)
    message = (f"{name}于 {local_minute(push.claimed_at)} 认领办件 {push.case_no}（{push.item_name}）的监管推送后，"
               f"逾期未反馈监管结果，请督促其反馈")
    _raise(push, "no_feedback", recipients, f"监管逾期未反馈：{push.case_no}", message, now)


def _raise(push: SupervisionPush, kind: str, recipients: list[str], title: str, message: str, now: datetime) -> None:
    """An escalation: the alert on the desks and a notification in the inbox of each recipient's regulators and
    administrators (not the bureau's approvers)."""
    _alert(push, kind, recipients, message, now)
    for code in recipients:
        notify_org(code, "escalation", title, message, case_no=push.case_no, roles=(Role.REGULATOR, Role.ADMIN),
                   now=now)


def _claimed_without_feedback(now: datetime, days: int) -> list[int]:
    """Claimed pushes, not yet escalated, without feedback `days` working days after the claim. Working days are
    never fewer than calendar days, so only claims older than `days` - 1 calendar days can be due."""
    cal, hours = clock.load_calendar(), clock.office_hours()
    no_feedback = ~sa.select(SupervisionFeedback.id).where(SupervisionFeedback.push_id == SupervisionPush.id).exists()
    rows = db.session.execute(
        sa.select(SupervisionPush.id, SupervisionPush.claimed_at)
        .where(SupervisionPush.state == PushState.CLAIMED, SupervisionPush.feedback_escalated_at.is_(None),
               SupervisionPush.claimed_at < now - timedelta(days=days - 1), no_feedback)
        .order_by(SupervisionPush.id)).all()
    return [push_id for push_id, claimed_at in rows
            if deadlines.add_working_days(cal, claimed_at, days, hours) < now]


def sweep(now: datetime | None = None, feedback_days: int | None = None) -> dict:
    """Warn once a working day before the claim deadline, escalate once past it; escalate once a claimed push
    without feedback `feedback_days` working days after its claim (default: the node's SUPERVISION_FEEDBACK_DAYS).
    Commits per push; running it again (or twice at once) adds nothing."""
    now = now or utcnow()
    feedback_days = feedback_days or get_bus().settings.supervision_feedback_days
    cal = clock.load_calendar()
    threshold = deadlines.add_working_days(cal, now, 1, clock.office_hours())
    base = sa.select(SupervisionPush.id).where(SupervisionPush.state == PushState.PUSHED,
                                                SupervisionPush.claim_due_at.is_not(None))
    overdue = db.session.execute(
        base.where(SupervisionPush.claim_due_at < now, SupervisionPush.escalated_at.is_(None))
        .order_by(SupervisionPush.id)).scalars().all()
    due_soon = db.session.execute(
        base.where(SupervisionPush.claim_due_at >= now, SupervisionPush.claim_due_at <= threshold,
                   SupervisionPush.warned_at.is_(None), SupervisionPush.escalated_at.is_(None))
        .order_by(SupervisionPush.id)).scalars().all()
    silent = _claimed_without_feedback(now, feedback_days)
    db.session.rollback()  # end the read; each push below is its own unit of work
    counts = {"warned": 0, "escalated": 0, "no_feedback": 0}
    for ids, column, act, key in ((overdue, SupervisionPush.escalated_at, _escalate, "escalated"),
                                  (due_soon, SupervisionPush.warned_at, _warn, "warned"),
                                  (silent, SupervisionPush.feedback_escalated_at, _escalate_no_feedback,
                                   "no_feedback")):
        for push_id in ids:
            try:
                if _stamp(push_id, column, now):
                    act(db.session.get(SupervisionPush, push_id), now)
                    counts[key] += 1
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("supervision push %s: %s not recorded", push_id, key)
    return counts
