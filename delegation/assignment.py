"""Assignment within an organisation (issue 15): a case held by an organisation is claimed by (领取), or assigned to
(分派), a named member of staff, who may release it back to the unit; a time-bounded stand-in (委托) works an
absent colleague's cases.

The rules, decided here (there is no leader role in the role model, delegation.workflow.Role):
- The unit of a case is the organisation holding it now (delegation.worklist.holder_code): the window, the county
  bureau or the city department. Its members are that organisation's window staff, reviewers or city approvers;
  a city department's cases are also served by the city approvers of the bureau (as delegation.cases.visible_filter
  and delegation.notifications.notify_holder have it).
- Any member claims a case of the unit nobody has, or assigns it to a colleague of the unit. Once a case is
  someone's, only that person assigns it on or releases it (no one takes a colleague's case from them).
- Assignment is not a transition: the state never changes; each claim, assignment and release is a line of the
  case's timeline (engine._line, the one writer of timeline lines) and an assignment notifies the assignee.
- An assignment belongs to the case and the organisation (CaseAssignment). It is current only while that
  organisation holds the case, so it ends when the case is forwarded or returned to another organisation and is
  current again when the case comes back: the person who had it gets it back (no task lost by a return).
- A stand-in (StandIn) is named by the absent user for a period of local dates (at most STAND_IN_MAX_DAYS), a
  colleague of the same organisation. During it the user's cases, and any new assignment to the user, show in the
  stand-in's 我的待办 marked 代办; the assignment itself stays the user's, so what is unfinished is the user's again
  when the period ends. A stand-in cannot pass the work on: no assignment or release of the absent user's cases,
  and no stand-in of their own during a period in which they stand in for someone (nor the reverse).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from delegation import engine
from delegation.actors import Actor
from delegation.assignment_models import CaseAssignment, StandIn
from delegation.cases import get_case, visible_filter
from delegation.citywide_models import citywide_ids, decided_by_parameters
from delegation.deadlines import to_local
from delegation.errors import Conflict, Forbidden, Invalid
from delegation.models import Case, Org, User
from delegation.notifications import notify_users
from delegation.responsibility import county_org
from delegation.workflow import FINAL_STATES, STATE_ZH, TRANSITIONS, WORK_ROLES, Mode, Role, State
from delegation.worklist import COUNT_CAP, capped_count, holder_code
from persistence import db, utcnow

STAND_IN_MAX_DAYS = 90
QUEUE_LIMIT = 50


# -- who holds a case, in SQL (the same rule as worklist.holder_code) -----------------------------------------

@functools.cache  # one expression, reused: building it was a good part of a desk's time in Python
def holder_expr():
    state = sa.case((Case.state == State.SUSPENDED.value, sa.func.coalesce(Case.resume_state, Case.state)),
                    else_=Case.state)
    county = sa.type_coerce(Case.county_code, sa.String())
    return sa.case(
        (state.in_([State.FORWARDED.value, State.CITY_REVIEW.value]), Case.department_code),
        (sa.or_(state.in_([State.ACCEPTED.value, State.COUNTY_REVIEW.value]),
                sa.and_(state == State.RETURNED.value, Case.mode == Mode.DELEGATED_REVIEW.value)),
         sa.func.coalesce(Case.holder_org, county + "-bureau")),  # holder_org: a county 转办's target
        else_=county + "-window")


# The states in which each kind of unit holds a case (holder_expr's branches). The queues' statements name them, so
# that a unit's queue is the index ranges of those states (ix_case_file_county_state, ix_case_file_city_queue)
# instead of every open case of the county with its holder computed; holder_expr still decides, this only narrows.
# A suspended case is held where it resumes, and is suspended only from the states the transition table says.
_HELD_IN = {
    "window": (State.SUBMITTED, State.CORRECTION_REQUESTED, State.RETURNED, State.DECIDED),
    "bureau": (State.ACCEPTED, State.COUNTY_REVIEW, State.RETURNED),  # the county bureau, or a 转办's target
    "city": (State.FORWARDED, State.CITY_REVIEW),
}
_SUSPENDED_FROM = frozenset(t.source for t in TRANSITIONS if t.target is State.SUSPENDED)


def _unit_kind(actor: Actor, code: str) -> str:
    if actor.org_level == "city":
        return "city"
    return "window" if code == county_org(actor.division_code, "window") else "bureau"


def _held(actor: Actor, codes: list[str]) -> tuple[list[str], list[str]]:
    """The states in which the units of `codes` hold cases, and those of them a suspended case resumes to."""
    held = sorted({s for code in codes for s in _HELD_IN[_unit_kind(actor, code)]}, key=list(State).index)
    return [s.value for s in held], [s.value for s in held if s in _SUSPENDED_FROM]


def held_states(actor: Actor, codes: list[str]):
    """The states in which the units of `codes` can hold a case, as one condition (a suspended case by the state it
    resumes to): one list of states, ranges of ix_case_file_open, the suspended ones told apart by a column the
    index includes."""
    states, resumes = _held(actor, codes)
    if not resumes:
        return Case.state.in_(states)
    return sa.and_(Case.state.in_(states + [State.SUSPENDED.value]),
                   sa.or_(Case.state != State.SUSPENDED.value, Case.resume_state.in_(resumes)))


def held_state_parts(actor: Actor, codes: list[str]) -> list:
    """The same, one condition per state: each a range of an index in deadline order (ix_case_file_county_state_due,
    ix_case_file_city_queue) that a list's page stops reading after its rows."""
    states, resumes = _held(actor, codes)
    parts = [Case.state == state for state in states]
    if resumes:
        parts.append(sa.and_(Case.state == State.SUSPENDED.value, Case.resume_state.in_(resumes)))
    return parts


def unit_codes(actor: Actor) -> list[str]:
    """The organisations whose cases the actor works: their own; for a city approver of the bureau, also every
    city department's."""
    if actor.role not in WORK_ROLES:
        return []
    codes = [actor.org_code]
    if actor.role is Role.CITY_APPROVER and actor.org_kind != "city_section":
        codes += db.session.execute(sa.select(Org.code).where(Org.level == "city", Org.kind == "city_section")
                                    ).scalars().all()
    return codes


def members(org_code: str) -> list[User]:
    """The active staff who may hold a case of this organisation, by name."""
    org = db.session.execute(sa.select(Org).where(Org.code == org_code)).scalar_one_or_none()
    if org is None:
        return []
    where = User.org_id == org.id
    if org.level == "city" and org.kind == "city_section":
        bureau = sa.select(Org.id).where(Org.level == "city", Org.kind != "city_section")
        where = sa.or_(where, sa.and_(User.org_id.in_(bureau.scalar_subquery()),
                                      User.role == Role.CITY_APPROVER.value))
    return list(db.session.execute(
        sa.select(User).where(where, User.is_active.is_(True), User.role.in_([r.value for r in WORK_ROLES]))
        .order_by(User.display_name, User.id)).unique().scalars())


# -- stand-ins ------------------------------------------------------------------------------------------------

def _today(now: datetime) -> date:
    return to_local(now).date()


def _active(on: date):
    return sa.and_(StandIn.cancelled_at.is_(None), StandIn.starts_on <= on, StandIn.ends_on >= on)


def stand_in_for(user_id: int, on: date) -> StandIn | None:
    """The user's stand-in period running on that day, if any."""
    return db.session.execute(sa.select(StandIn).where(StandIn.user_id == user_id, _active(on))
                              .order_by(StandIn.id).limit(1)).scalar_one_or_none()


def _worker(user_id: int, on: date) -> int:
    """Who works a case assigned to the user on that day: the stand-in during the user's absence."""
    period = stand_in_for(user_id, on)
    return period.stand_in_id if period else user_id


def stand_ins_of(user_id: int, now: datetime | None = None) -> list[StandIn]:
    """The user's periods not yet over, given or taken, for their page."""
    today = _today(now or utcnow())
    return list(db.session.execute(
        sa.select(StandIn).where(sa.or_(StandIn.user_id == user_id, StandIn.stand_in_id == user_id),
                                 StandIn.cancelled_at.is_(None), StandIn.ends_on >= today)
        .order_by(StandIn.starts_on, StandIn.id)).scalars())


def _date(value, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        raise Invalid("invalid_date", "请填写日期（年-月-日）", f"{field}: a date YYYY-MM-DD is required",
                      field=field) from None


def _overlap(column, user_id: int, starts: date, ends: date):
    return db.session.execute(sa.select(StandIn).where(column == user_id, StandIn.cancelled_at.is_(None),
                                                       StandIn.starts_on <= ends, StandIn.ends_on >= starts)
                              .limit(1)).scalar_one_or_none()


def name_stand_in(actor: Actor, stand_in: str, starts_on, ends_on, now: datetime | None = None) -> StandIn:
    """The actor names a colleague of their own organisation to work their cases from starts_on to ends_on."""
    now = now or utcnow()
    if actor.role not in WORK_ROLES or not actor.user_id:
        raise Forbidden("role_forbidden", "只有办件人员可以委托代办", "only case-handling staff name a stand-in")
    starts, ends = _date(starts_on, "starts_on"), _date(ends_on, "ends_on")
    if starts < _today(now):
        raise Invalid("date_past", "开始日期不能早于今天", "starts_on is in the past", field="starts_on")
    if ends < starts:
        raise Invalid("end_before_start", "结束日期不能早于开始日期", "ends_on is before starts_on", field="ends_on")
    if (ends - starts).days + 1 > STAND_IN_MAX_DAYS:
        raise Invalid("period_too_long", f"委托期限不能超过 {STAND_IN_MAX_DAYS} 天",
                      f"the period is longer than {STAND_IN_MAX_DAYS} days", field="ends_on")
    me = db.session.get(User, actor.user_id)
    name = (stand_in or "").strip()[:60]
    other = db.session.execute(sa.select(User).where(User.username == name)).unique().scalar_one_or_none()
    if other is None or not other.is_active or other.org_id != me.org_id or Role(other.role) not in WORK_ROLES:
        raise Invalid("stand_in_not_colleague", "代办人须为本单位在岗的办件人员",
                      "the stand-in must be an active colleague of your own organisation", field="stand_in")
    if other.id == me.id:
        raise Invalid("stand_in_self", "不能委托自己代办", "you cannot stand in for yourself", field="stand_in")
    # both people locked (in id order) before the checks: a double submit, or B naming C while A names B, waits here
    # and then sees the other's period
    db.session.execute(sa.select(User.id).where(User.id.in_((me.id, other.id))).order_by(User.id).with_for_update())
    if _overlap(StandIn.user_id, me.id, starts, ends):
        raise Conflict("stand_in_overlaps", "该期间已有委托", "you already have a stand-in in this period",
                       field="starts_on")
    if (taken := _overlap(StandIn.stand_in_id, me.id, starts, ends)) is not None:
        raise Conflict("stand_in_onward", "您在该期间为他人代办，代办的工作不能再委托他人",
                       f"you stand in for a colleague until {taken.ends_on}: the work cannot be passed on",
                       field="stand_in")
    if _overlap(StandIn.user_id, other.id, starts, ends):
        raise Invalid("stand_in_absent", f"{other.display_name} 在该期间也委托了他人代办",
                      f"{other.username} is away (has a stand-in) in this period", field="stand_in")
    period = StandIn(user_id=me.id, stand_in_id=other.id, starts_on=starts, ends_on=ends, created_at=now)
    db.session.add(period)
    db.session.flush()
    notify_users([other], "assigned", f"委托代办：{me.display_name}",
                 f"{me.display_name} 委托您在 {starts} 至 {ends} 期间代办其办件。", now=now)
    return period


def cancel_stand_in(actor: Actor, period_id: int, now: datetime | None = None) -> StandIn:
    """The user ends their own stand-in period early (their cases are theirs again at once)."""
    period = db.session.get(StandIn, period_id)
    if period is None or period.user_id != actor.user_id or period.cancelled_at is not None:
        raise Invalid("stand_in_not_found", "没有这项委托", "no such stand-in of yours", field="stand_in_id")
    period.cancelled_at = now or utcnow()
    db.session.flush()
    return period


# -- claim, assign, release -----------------------------------------------------------------------------------

def current(case: Case) -> CaseAssignment | None:
    """The case's assignment in the organisation holding it now."""
    return db.session.execute(sa.select(CaseAssignment).where(CaseAssignment.case_id == case.id,
                                                              CaseAssignment.org_code == holder_code(case))
                              ).scalar_one_or_none()


def _case_for(actor: Actor, case_no: str) -> tuple[Case, str]:
    if actor.role not in WORK_ROLES or not actor.user_id:
        raise Forbidden("role_forbidden", "只有办件人员可以领取或分派办件", "only case-handling staff claim or assign cases")
    case = get_case(actor, (case_no or "").strip()[:40], for_update=True)
    holder = holder_code(case)
    if holder not in unit_codes(actor):
        raise Conflict("not_your_unit", "办件当前不在本单位办理，不能领取或分派",
                       f"the case is held by {holder}, not by your organisation", field="case_no")
    if case.state in FINAL_STATES:
        raise Conflict("case_closed", f"办件已{STATE_ZH[case.state]}，无需分派",
                       f"the case is {case.state.value}: nothing to assign", field="case_no")
    return case, holder


def _owned_by_other(actor: Actor, row: CaseAssignment, now: datetime) -> None:
    """Only the assignee passes their case on; their stand-in may not (no onward passing)."""
    if row.user_id == actor.user_id:
        return
    owner = db.session.get(User, row.user_id)
    if _worker(row.user_id, _today(now)) == actor.user_id:
        raise Conflict("stand_in_cannot_pass_on", f"您为 {owner.display_name} 代办此件，不能转交他人或退回本单位",
                       f"you stand in for {owner.username}: their work cannot be passed on", field="assignee")
    raise Conflict("assigned_to_other", f"办件已由 {owner.display_name} 负责",
                   f"the case is assigned to {owner.username}", field="case_no")


def _line(case: Case, actor: Actor, action: str, now: datetime, comment: str, data: dict) -> None:
    engine._line(case, action, case.state, case.state, now, actor, None, comment, data)


def claim(actor: Actor, case_no: str, now: datetime | None = None) -> CaseAssignment:
    now = now or utcnow()
    case, holder = _case_for(actor, case_no)
    row = current(case)
    if row is not None:
        if row.user_id == actor.user_id:
            raise Conflict("already_yours", "您已领取此件", "the case is already yours", field="case_no")
        _owned_by_other(actor, row, now)
    row = CaseAssignment(case_id=case.id, org_code=holder, user_id=actor.user_id, assigned_by=actor.username,
                         assigned_at=now)
    db.session.add(row)
    _line(case, actor, "claim", now, "", {"org": holder, "assignee": actor.username})
    db.session.flush()
    return row


def assign(actor: Actor, case_no: str, assignee: str, now: datetime | None = None) -> CaseAssignment:
    """To a colleague of the unit holding the case: a case nobody has, or the actor's own."""
    now = now or utcnow()
    name = (assignee or "").strip()[:60]
    if not name:
        raise Invalid("required", "请选择分派给谁", "assignee is required", field="assignee")
    case, holder = _case_for(actor, case_no)
    target = next((u for u in members(holder) if u.username == name), None)
    if target is None:
        raise Invalid("assignee_not_colleague", "只能分派给本单位在岗的办件人员",
                      f"{name} is not an active member of {holder}", field="assignee")
    row = current(case)
    if row is not None:
        _owned_by_other(actor, row, now)
        if row.user_id == target.id:
            raise Conflict("unchanged", f"办件已由 {target.display_name} 负责", f"the case is already {name}'s",
                           field="assignee")
        row.user_id, row.assigned_by, row.assigned_at = target.id, actor.username, now
    else:
        row = CaseAssignment(case_id=case.id, org_code=holder, user_id=target.id, assigned_by=actor.username,
                             assigned_at=now)
        db.session.add(row)
    worker_id = _worker(target.id, _today(now))
    data = {"org": holder, "assignee": target.username}
    if worker_id != target.id:  # the assignee is away: the stand-in works it meanwhile
        worker = db.session.get(User, worker_id)
        data["stand_in"] = worker.username
    else:
        worker = target
    _line(case, actor, "assign", now, f"→ {target.display_name}", data)
    db.session.flush()
    if worker.id != actor.user_id:
        on_behalf = f"（代 {target.display_name} 办理）" if worker is not target else ""
        notify_users([worker], "assigned", f"分派办件：{case.case_no}",
                     f"{actor.display_name} 将 {case.case_no} {case.item.name}（{case.applicant_name}）分派给您"
                     f"{on_behalf}。", case_no=case.case_no, now=now)
    return row


def release(actor: Actor, case_no: str, now: datetime | None = None) -> None:
    """The assignee gives the case back to the unit (本单位未分配)."""
    now = now or utcnow()
    case, holder = _case_for(actor, case_no)
    row = current(case)
    if row is None:
        raise Conflict("not_assigned", "办件尚未分派", "the case is not assigned", field="case_no")
    _owned_by_other(actor, row, now)
    db.session.delete(row)
    _line(case, actor, "release", now, "", {"org": holder})
    db.session.flush()


# -- the desks' queues and the case page ----------------------------------------------------------------------

@dataclass
class Queue:
    count: int
    rows: list  # (case, for_whom: User | None — the absent colleague a row is worked for)
    more: bool = False  # the count stopped at worklist.COUNT_CAP


def _mine(actor: Actor, now: datetime | None):
    """我的待办's owners and codes: the open cases assigned to the actor (unless a stand-in works them now) and those
    of the colleagues the actor stands in for today, in the organisation holding them; None when there are none.
    (codes, owners, absent)."""
    codes = unit_codes(actor)
    if not codes or not actor.user_id:
        return None
    today = _today(now or utcnow())
    periods = db.session.execute(sa.select(StandIn.user_id, StandIn.stand_in_id).where(
        sa.or_(StandIn.stand_in_id == actor.user_id, StandIn.user_id == actor.user_id), _active(today))).all()
    absent = sorted({user for user, stand_in in periods if stand_in == actor.user_id})
    away = any(user == actor.user_id for user, _ in periods)
    owners = absent + ([] if away else [actor.user_id])
    if not owners:
        return None
    return codes, owners, absent


def _mine_where(scope, actor: Actor, codes: list[str]):
    """我的待办's condition and join, the owners as the expanding parameter `owners`."""
    # held: the clerk's current rows only (ix_case_assignment_held), not the history of every case they ever had
    where = sa.and_(scope, held_states(actor, codes),
                    CaseAssignment.user_id.in_(sa.bindparam("owners", expanding=True)),
                    CaseAssignment.held, CaseAssignment.org_code.in_(codes))
    # joined by case id only, the holder checked on the pairs found: as a second hash key the holder expression was
    # computed for every case the unit holds (a third of the time of the city's 我的待办)
    holder = _holder_in(actor, codes)
    joined = sa.and_(CaseAssignment.case_id == Case.id, CaseAssignment.org_code == holder if holder is Case.department_code
                     else sa.func.coalesce(CaseAssignment.org_code == holder, sa.false()))
    return where, joined


_STATEMENTS: dict = {}  # (name, kind of actor, unit codes) -> (statement, its parameter names)


def _run(name: str, actor: Actor, codes: list[str], build, scoped: bool = True, **given):
    """Execute the statement `build(scope)` makes (`scope`: the cases the actor may see; None when not `scoped`),
    built once per kind of actor and unit (with the actor's division and organisation and `given` as parameters):
    building these statements and their cache keys cost as much as running them, and the desks' bar runs them on
    every staff page."""
    shape = ()
    if scoped and actor.role is Role.REVIEWER:  # 全市通办: the county's city-wide cases by id, as parameters
        here, elsewhere = citywide_ids(actor.division_code, open_only=True)
        shape = (bool(here), bool(elsewhere))
        given.update(citywide_here=here, citywide_elsewhere=elsewhere)
    key = (name, actor.role, actor.org_kind, actor.org_level, tuple(codes), shape)
    built = _STATEMENTS.get(key)
    if built is None:
        # the bound visible_filter's subqueries for a reviewer made PostgreSQL read every county's cases in the
        # state and sort them: each shape of the city-wide ids has its own statement
        statement = build(None if not scoped else decided_by_parameters(Case, *shape) if shape
                          else visible_filter(actor, bound=True))
        names = tuple(statement.compile().params)
        built = _STATEMENTS[key] = (statement, names)
    statement, names = built
    given.update(division_code=actor.division_code, org_code=actor.org_code)
    return db.session.execute(statement, {n: given[n] for n in names if n in given})


def my_work(actor: Actor, now: datetime | None = None, limit: int = QUEUE_LIMIT) -> Queue:
    """我的待办, nearest deadline first; a row worked for an absent colleague names them (代办)."""
    parts = _mine(actor, now)
    if parts is None:
        return Queue(0, [])
    codes, owners_, absent = parts

    def build(scope):
        where, joined = _mine_where(scope, actor, codes)
        return (sa.select(Case.id, CaseAssignment.user_id, sa.func.count().over()).join(CaseAssignment, joined)
                .where(where).order_by(*_BY_DEADLINE).limit(sa.bindparam("limit")))
    # The page's ids and owners with the count, in one statement from the indexes alone (ix_case_file_open,
    # ix_case_assignment_held): the join of the unit's open cases with the clerk's assignments is made once,
    # and the cases of the page are read after it (not every matching case, to sort them).
    found = _run("my_work", actor, codes, build, owners=owners_, limit=limit).all()
    owners = {case_id: owner for case_id, owner, _ in found}
    names = {u.id: u for u in db.session.execute(sa.select(User).where(User.id.in_(absent))).unique().scalars()}
    rows = [(case, names.get(owners[case.id]) if owners[case.id] != actor.user_id else None)
            for case in _cases(owners)]
    return Queue(found[0][2] if found else 0, rows)


_BY_DEADLINE = (Case.due_at.is_(None), Case.due_at, Case.id)


def _cases(ids) -> list[Case]:
    """The cases of these ids, nearest deadline first."""
    if not ids:
        return []
    return list(db.session.execute(sa.select(Case).where(Case.id.in_(list(ids))).order_by(*_BY_DEADLINE))
                .unique().scalars())


def _count_mine(actor: Actor, parts) -> int:
    if parts is None:
        return 0
    codes, owners, _ = parts

    # the held rows alone (ix_case_assignment_held): `held` is exact (delegation.assignment_held, migration 0035), so
    # the join with every open case of the unit that my_work makes to sort its page is not needed for the number
    def build(_scope):
        return sa.select(sa.func.count()).select_from(CaseAssignment).where(
            CaseAssignment.user_id.in_(sa.bindparam("owners", expanding=True)), CaseAssignment.held,
            CaseAssignment.org_code.in_(codes))
    return _run("count_mine", actor, codes, build, scoped=False, owners=owners).scalar_one()


def _unassigned_where(scope, actor: Actor, codes: list[str], held=None):
    """本单位未分配's condition, in the states `held` (by default every state the unit can hold a case in)."""
    holder = _holder_in(actor, codes)
    taken = sa.select(CaseAssignment.id).where(CaseAssignment.case_id == Case.id,
                                               CaseAssignment.org_code == holder).exists()
    held = held_states(actor, codes) if held is None else held
    # coalesce(…, false) says the same (NULL is not true) but the planner then guesses half the rows match, not
    # 0.5 % (no statistics on the expression): with that guess a page walked the deadline index and stopped after
    # its rows; with the other it read and sorted every case the unit holds, as if a handful matched
    holds = holder.in_(codes) if holder is Case.department_code else sa.func.coalesce(holder.in_(codes), sa.false())
    return sa.and_(scope, held, holds, ~taken)


def _holder_in(actor: Actor, codes: list[str]):
    """holder_expr, in the states the units of `codes` hold cases in: a city unit's are all held by the case's
    department, said as the column so that the planner estimates its rows from statistics (the city's suspended
    cases were thought 26, from the expression's fixed guess, and 5,000 were read and joined before sorting)."""
    return Case.department_code if _unit_kind(actor, codes[0]) == "city" else holder_expr()


def counts(actor: Actor, now: datetime | None = None) -> dict | None:
    """The two queues' counts for the desks' bar; None for staff who are not assigned cases."""
    codes = unit_codes(actor)
    if not codes:
        return None
    # every staff page draws this bar: its badge stops at "99+" (the /work page counts on to COUNT_CAP), an index
    # range of a hundred rows rather than a thousand, each looked up for its assignment
    unassigned_count = _run("count_unassigned_bar", actor, codes,
                            lambda scope: sa.select(capped_count(_unassigned_where(scope, actor, codes), BAR_CAP))
                            ).scalar_one()
    return {"mine": _count_mine(actor, _mine(actor, now)), "unassigned": min(unassigned_count, BAR_CAP - 1),
            "unassigned_more": unassigned_count >= BAR_CAP}


BAR_CAP = 100


def unassigned(actor: Actor, limit: int = QUEUE_LIMIT) -> Queue:
    """本单位未分配: the open cases the actor's unit holds that nobody in it has, nearest deadline first."""
    codes = unit_codes(actor)
    if not codes:
        return Queue(0, [])
    count = _run("count_unassigned", actor, codes,
                 lambda scope: sa.select(capped_count(_unassigned_where(scope, actor, codes)))).scalar_one()

    def build(scope):
        # each held state's first rows in deadline order, merged: an index range per state that stops after `limit`
        # unassigned rows (one list of states has no such order: every case the unit holds was read and sorted)
        parts = [sa.select(Case.id, Case.due_at).where(_unassigned_where(scope, actor, codes, held))
                 .order_by(*_BY_DEADLINE)
                 .limit(sa.bindparam("limit")).subquery() for held in held_state_parts(actor, codes)]
        merged = sa.union_all(*(sa.select(p.c.id, p.c.due_at) for p in parts)).subquery()
        return sa.select(merged.c.id).order_by(merged.c.due_at.is_(None), merged.c.due_at,
                                               merged.c.id).limit(sa.bindparam("limit"))
    ids = _run("unassigned", actor, codes, build, limit=limit).scalars().all()
    return Queue(count, [(case, None) for case in _cases(ids)], more=count >= COUNT_CAP)


@dataclass
class Panel:
    holder: str
    assignee: User | None
    worker: User | None  # who works it today (the stand-in while the assignee is away)
    may_claim: bool
    may_pass_on: bool  # assign on / release: the assignee only
    may_assign: bool
    colleagues: list


def panel(actor: Actor, case: Case, now: datetime | None = None) -> Panel | None:
    """What the case page shows and offers; None where the actor's unit does not hold the case."""
    holder = holder_code(case)
    if case.state in FINAL_STATES or holder not in unit_codes(actor) or not actor.user_id:
        return None
    row = current(case)
    assignee = db.session.get(User, row.user_id) if row else None
    worker = db.session.get(User, _worker(row.user_id, _today(now or utcnow()))) if row else None
    mine = row is not None and row.user_id == actor.user_id
    return Panel(holder, assignee, worker, may_claim=row is None, may_pass_on=mine, may_assign=row is None or mine,
                 colleagues=[u for u in members(holder) if not (row and u.id == row.user_id)])


def colleagues_of(user: User) -> list[User]:
    """Who may stand in for the user: the active case-handling staff of their own organisation."""
    return list(db.session.execute(
        sa.select(User).where(User.org_id == user.org_id, User.id != user.id, User.is_active.is_(True),
                              User.role.in_([r.value for r in WORK_ROLES]))
        .order_by(User.display_name, User.id)).unique().scalars())


def display_names(user_ids) -> dict[int, str]:
    ids = list({*user_ids})
    return dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}


def describe(case: Case, now: datetime | None = None) -> dict:
    """Who has the case in the organisation holding it, for the API."""
    row = current(case)
    if row is None:
        return {"org": holder_code(case), "assignee": None, "worker": None}
    names = dict(db.session.execute(sa.select(User.id, User.username).where(
        User.id.in_({row.user_id, _worker(row.user_id, _today(now or utcnow()))}))).all())
    return {"org": row.org_code, "assignee": names[row.user_id],
            "worker": names[_worker(row.user_id, _today(now or utcnow()))]}
