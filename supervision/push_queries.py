"""Who sees which push, and the reads of the regulator desk, the supervision API and the case view: the pushes
addressed to a regulator's organisation, one push, a case's pushes for its approvers, the alerts. They return rows;
the app shell turns them into what a page or the API shows."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation.actors import Actor
from delegation.errors import Forbidden, NotFound
from delegation.models import Case
from delegation.workflow import Mode, Role
from persistence import db, utcnow
from supervision.models import SupervisionAlert, SupervisionPush
from supervision.push_states import PushState

TIMELINE_ACTIONS = frozenset({"supervision_claim", "supervision_feedback", "supervision_closed"})


def visible_filter(actor: Actor):
    """Regulators see the pushes addressed to their own organisation once they have arrived; administrators
    see every push on this node; nobody else sees any."""
    if actor.role is Role.REGULATOR:
        return sa.and_(SupervisionPush.supervising_org == actor.org_code, SupervisionPush.received_at.is_not(None))
    if actor.role is Role.ADMIN:
        return sa.true()
    return sa.false()


def _not_found(push_id) -> NotFound:
    return NotFound("push_not_found", f"监管推送 {push_id} 不存在", f"supervision push {push_id} not found",
                    field="push_id")


def get_push(actor: Actor, push_id: int, for_update: bool = False) -> SupervisionPush:
    query = sa.select(SupervisionPush).where(SupervisionPush.id == push_id, visible_filter(actor))
    if for_update:
        query = query.with_for_update(of=SupervisionPush)
    push = db.session.execute(query).scalar_one_or_none()
    if push is None:
        raise _not_found(push_id)
    return push


def _staff_may_list(actor: Actor) -> None:
    if actor.role not in (Role.REGULATOR, Role.ADMIN):
        raise Forbidden("role_forbidden", "只有监管人员和管理员可以查看监管推送",
                        "only regulators and administrators see supervision pushes")


def is_overdue(push: SupervisionPush, now: datetime) -> bool:
    """Unclaimed past its claim deadline (the SQL of `list_pushes(overdue=True)`, for one row)."""
    return push.state == PushState.PUSHED and push.claim_due_at is not None and push.claim_due_at < now


def search_filter(text: str):
    """A case number or the applicant's credit code/ID number, exactly; or a part of the applicant's name."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(SupervisionPush.case_no == text, SupervisionPush.applicant_id_code == text.upper(),
                  SupervisionPush.applicant_name.like(pattern, escape="\\"))


def list_pushes(actor: Actor, *, state=None, case_no=None, overdue=None, search=None, after_id=None, limit=50,
                now: datetime | None = None):
    _staff_may_list(actor)
    now = now or utcnow()
    query = sa.select(SupervisionPush).where(visible_filter(actor))
    if state:
        query = query.where(SupervisionPush.state == PushState(state))
    if case_no:
        query = query.where(SupervisionPush.case_no == case_no)
    if search:
        query = query.where(search_filter(search))
    if overdue is True:
        query = query.where(SupervisionPush.state == PushState.PUSHED, SupervisionPush.claim_due_at < now)
    elif overdue is False:
        query = query.where(sa.or_(SupervisionPush.state != PushState.PUSHED, SupervisionPush.claim_due_at.is_(None),
                                   SupervisionPush.claim_due_at >= now))
    if after_id:
        query = query.where(SupervisionPush.id < after_id)
    rows = db.session.execute(query.order_by(SupervisionPush.id.desc()).limit(limit + 1)).scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def claim_deadlines(actor: Actor, now: datetime | None = None) -> dict[str, int]:
    """How many pushes wait to be claimed: past their claim deadline (`overdue`), warned that it is one working day
    away (`due_soon`, the sweep's warning), and in all (`unclaimed`). One query."""
    _staff_may_list(actor)
    now = now or utcnow()
    late = sa.and_(SupervisionPush.claim_due_at.is_not(None), SupervisionPush.claim_due_at < now)
    soon = sa.and_(SupervisionPush.warned_at.is_not(None), sa.not_(late))
    counted = lambda cond: sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)  # noqa: E731
    row = db.session.execute(sa.select(counted(late), counted(soon), sa.func.count()).where(
        visible_filter(actor), SupervisionPush.state == PushState.PUSHED)).one()
    return {"overdue": int(row[0]), "due_soon": int(row[1]), "unclaimed": int(row[2])}


# -- what the approvers see -----------------------------------------------------------------------------------

def pushes_of_case(case_no: str) -> list[SupervisionPush]:
    """Every push of a case known on this node, oldest first."""
    return db.session.execute(
        sa.select(SupervisionPush).filter_by(case_no=case_no).order_by(SupervisionPush.id)
    ).scalars().all()


def sees_supervision(actor: Actor, case: Case) -> bool:
    """The one rule of who reads what supervision found on a case the actor may see (cases.get_case): its
    approvers (the county bureau for `direct`, the city otherwise) and the administrators. Windows and the county
    reviewers of a city decision handle the case, not its supervision: regulators' comments, decision numbers and
    amounts are not theirs. The supervision view and the case view (API and page) all ask this."""
    if actor.role is Role.ADMIN:
        return True
    direct = Mode(case.mode) is Mode.DIRECT
    return (actor.role is Role.REVIEWER and direct) or (actor.role is Role.CITY_APPROVER and not direct)


def is_supervision_line(action: str) -> bool:
    """A line of the case's timeline that carries what supervision did (claim, feedback, closure)."""
    return action in TIMELINE_ACTIONS


def case_pushes(actor: Actor, case_no: str) -> list[SupervisionPush]:
    """The supervision of a case, for those `sees_supervision` admits."""
    from delegation.cases import get_case

    if actor.role is Role.ADMIN:
        known = db.session.execute(sa.select(Case.id).filter_by(case_no=case_no)).first() or \
            db.session.execute(sa.select(SupervisionPush.id).filter_by(case_no=case_no)).first()
        if not known:
            raise NotFound("case_not_found", f"办件 {case_no} 不存在", f"case {case_no} not found", field="case_no")
        return pushes_of_case(case_no)
    case = get_case(actor, case_no)  # another county's case, or one not forwarded to the city: 404
    if not sees_supervision(actor, case):
        raise Forbidden("role_forbidden", "只有作出审批决定的审批人员可以查看监管反馈",
                        "only the approvers who decided the case see its supervision")
    return pushes_of_case(case_no)


# -- alerts ---------------------------------------------------------------------------------------------------

def _addressed_to(org_code: str):
    pattern = '%"' + org_code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    return sa.cast(SupervisionAlert.recipients, sa.Text).like(pattern, escape="\\")


def list_alerts(actor: Actor, *, kind=None, after_id=None, limit=50):
    """Alerts addressed to the caller's organisation, with their case numbers; administrators see all.
    Returns ([(alert, case_no)], next cursor)."""
    query = sa.select(SupervisionAlert, SupervisionPush.case_no).join(
        SupervisionPush, SupervisionPush.id == SupervisionAlert.push_id)
    if actor.role is not Role.ADMIN:
        query = query.where(_addressed_to(actor.org_code))
    if kind:
        query = query.where(SupervisionAlert.kind == kind)
    if after_id:
        query = query.where(SupervisionAlert.id < after_id)
    rows = db.session.execute(query.order_by(SupervisionAlert.id.desc()).limit(limit + 1)).all()
    return [tuple(r) for r in rows[:limit]], (rows[limit - 1][0].id if len(rows) > limit else None)
