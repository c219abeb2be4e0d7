"""The claim-deadline job: `sweep(now)` warns the regulator once, one working day before the claim deadline, and
escalates once, past it, to the regulator's supervisor and to the city administration. It moves no push: an
unclaimed push stays PUSHED until its regulator claims it."""
from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from delegation import clock, deadlines
from delegation.models import Org
from persistence import db, utcnow
from supervision.models import SupervisionAlert, SupervisionPush
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
    """Set warned_at / escalated_at if still unset and the push still unclaimed; True if this call did it.
    One conditional UPDATE: of two concurrent sweeps exactly one wins, on either backend."""
    result = db.session.execute(
        sa.update(SupervisionPush)
        .where(SupervisionPush.id == push_id, column.is_(None), SupervisionPush.state == PushState.PUSHED)
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


def _escalate(push: SupervisionPush, now: datetime) -> None:
    regulator = org(push.supervising_org)
    name = regulator.name if regulator else push.supervising_org
    recipients = [c for c in (supervisor_of(regulator) if regulator else None, CITY_ADMIN_ORG)
                  if c and c != push.supervising_org]
    recipients = list(dict.fromkeys(recipients))
    _alert(push, "escalation", recipients,
           f"{name}未在期限（{local_minute(push.claim_due_at)}）内认领办件 {push.case_no}（{push.item_name}）的监管推送，"
           f"已逾期，请督促其认领", now)


def sweep(now: datetime | None = None) -> dict:
    """Warn once a working day before the claim deadline, escalate once past it. Commits per push; running it
    again (or twice at once) adds nothing."""
    now = now or utcnow()
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
    db.session.rollback()  # end the read; each push below is its own unit of work
    counts = {"warned": 0, "escalated": 0}
    for ids, column, act, key in ((overdue, SupervisionPush.escalated_at, _escalate, "escalated"),
                                  (due_soon, SupervisionPush.warned_at, _warn, "warned")):
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
