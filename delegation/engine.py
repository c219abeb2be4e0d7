"""The workflow engine: the one path by which a case changes state.

`apply(case, actor, action, payload, now)` finds the row of delegation.workflow.TRANSITIONS for the case's state, the
actor's role and the item's mode, then runs guard → effect → state → timeline line → bus message → publish. Users'
actions (cases.perform), the exchange handlers (messaging) and the jobs (cases.sweep) all come through here.

Effects change a case's columns and never its state: the engine sets the row's target (or, for a row without one,
the state the case was in before its pause). An effect that sends a message to the other level returns the sending
as a callable, which the engine runs once the state and the timeline line are set: the outbox's flush then writes
the case, its line and the message together.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable

from persistence import db, utcnow
from delegation import assignment_held, clock, events
from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden
from delegation.models import Case, CaseEvent
from delegation.workflow import (ACTION_ZH, MODE_ZH, ROLE_ZH, STATE_ZH, TRANSITIONS, Action, Role, State,
                                 SystemAction, Transition, automatic_after, transitions_for)

Guard = Callable[[Case, Actor, dict, datetime], None]  # raises a DomainError with the reason, or returns
Effect = Callable[[Case, Actor, dict, datetime, Transition], "Callable[[], None] | None"]

GUARDS: dict[str, Guard] = {}
CONDITIONS: dict[str, Callable[[Case], bool]] = {}  # of automatic rows (Transition.when), registered by their rules
EFFECTS: dict[Action | SystemAction, Effect] = {}
COUNTY_ROLES = (Role.WINDOW, Role.REVIEWER)


def guard(name: str):
    """Register a guard under the name the table's rows give."""
    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        return fn
    return register


def condition(name: str):
    """Register the condition an automatic row names (Transition.when)."""
    def register(fn):
        CONDITIONS[name] = fn
        return fn
    return register


def effect(*actions):
    """Register the effect of one or more actions (the modules owning the rules register theirs at import)."""
    def register(fn: Effect) -> Effect:
        for action in actions:
            EFFECTS[action] = fn
        return fn
    return register


@dataclass(frozen=True)
class Peer:
    """The other node's organisation whose message caused a step, as the timeline names it ("org@node")."""

    label: str
    org: str


def apply(case: Case, actor: Actor, action: Action | SystemAction, payload: dict | None = None,
          now: datetime | None = None, *, by: Peer | None = None, data: dict | None = None) -> Case:
    """Take the row for `action`, then any automatic SYSTEM row from where it leaves the case; flush once and
    publish each step. `by`: a peer to name on the timeline; `data`: the line's data instead of the payload's.
    Effects may add to `payload` what the timeline should keep (e.g. the commitment's deadline)."""
    payload = {} if payload is None else payload
    now = now or utcnow()
    steps = [_step(case, actor, find(case, actor, action), payload, now, by, data)]
    while (follow := automatic_after(case.state, case.mode, lambda when: CONDITIONS[when](case))) is not None:
        system = Actor.system(actor.org_code, actor.division_code, actor.org_level)
        steps.append(_step(case, system, follow, {}, now))
    if actor.role is not Role.SYSTEM:  # the jobs keep the other flags (clock.sweep_flags)
        clock.refresh_flag(case, now)
    db.session.flush()
    assignment_held.mark(case)
    for name, who in steps:
        events.publish(name, case, who, now)
    return case


def find(case: Case, actor: Actor, action: Action | SystemAction) -> Transition:
    """The row for this case, actor and action, or the refusal that says why there is none."""
    state, mode = case.state, case.mode
    candidates = transitions_for(state, action)
    if not candidates:
        if not any(t.action == action and t.role == actor.role for t in TRANSITIONS):
            raise role_forbidden(actor, action)
        raise Conflict("state_forbids", f"办件当前状态为{STATE_ZH[state]}，不能执行{ACTION_ZH[action]}",
                       f"{action.value} is not allowed while the case is {state.value}", field="action",
                       state=state.value)
    by_role = [t for t in candidates if t.role == actor.role]
    if not by_role:
        raise role_forbidden(actor, action)
    by_mode = [t for t in by_role if mode in t.modes]
    if not by_mode:
        raise Conflict("mode_forbids", f"{MODE_ZH[mode]}事项不能由本级执行{ACTION_ZH[action]}",
                       f"{action.value} is not done at this level for a {mode.value} item", field="action")
    if actor.role in COUNTY_ROLES and acting_county(case, actor.role) != actor.division_code:
        raise role_forbidden(actor, action)  # unreachable through get_case; kept as a second lock
    return by_mode[0]


def acting_county(case: Case, role: Role) -> str:
    """The county whose staff act on the case: the accepting county's window (首问负责, it hands the result out),
    and the bureau of the competent county for a case accepted for another county (全市通办)."""
    if role is Role.REVIEWER:
        from delegation.citywide_models import deciding_county

        return deciding_county(case)
    return case.county_code


def role_forbidden(actor: Actor, action) -> Forbidden:
    return Forbidden("role_forbidden", f"您的角色（{ROLE_ZH.get(actor.role, actor.role.value)}）不能执行{ACTION_ZH[action]}",
                     f"your role ({actor.role.value}) may not {action.value}")


def _step(case: Case, actor: Actor, t: Transition, payload: dict, now: datetime, by: Peer | None = None,
          data: dict | None = None) -> tuple[str, Actor]:
    source = case.state
    target = t.target or case.resume_state  # read before the effect clears it
    # Effects change several columns before the state; no flush may see them half done (CHECK constraints).
    with db.session.no_autoflush:
        if t.guard:
            GUARDS[t.guard](case, actor, payload, now)
        send = EFFECTS[t.action](case, actor, payload, now, t)
        case.state = target
    _record(case, actor, t, source, payload, now, by, data)
    if send is not None:
        send()
    return t.action.value, actor


def _record(case, actor, t, source, payload, now, by, data) -> None:
    _line(case, t.action.value, source, case.state, now, actor, by, payload.get("comment") or t.note or "",
          data if data is not None else event_data(payload))


def _line(case: Case, action: str, source: State | None, target: State, now: datetime, actor: Actor | None,
          by: Peer | None, comment: str, data: dict | None) -> None:
    """The one place a line of a case's timeline is written (the database triggers keep it insert-only). Setting
    `case` appends the line to case.events too (back_populates): a later step of the same unit of work, or the next
    message of a receive batch, finds it there."""
    db.session.add(CaseEvent(
        case=case, at=now, action=action, from_state=None if source is None else source.value,
        to_state=target.value, actor=by.label if by else actor.label,
        actor_username=actor.username if actor is not None and actor.user_id else None,
        actor_org=by.org if by else actor.org_code, comment=comment, data=data))


def event_data(payload: dict) -> dict | None:
    data = {k: v for k, v in payload.items() if k != "comment" and v not in (None, "", [])}
    for k, v in list(data.items()):
        if isinstance(v, (date, datetime)):
            data[k] = v.isoformat()
    return data or None


def record(case: Case, actor: Actor, action: str, target: State, now: datetime, comment: str = "",
           data: dict | None = None, *, by: Peer | None = None) -> None:
    """The first line of a case's timeline, where it is created in its first state (no transition): at the window,
    or on a city node that receives the forward of a case it did not have (`by`: the sending organisation)."""
    _line(case, action, None, target, now, actor, by, comment, data)


def note(case: Case, action: str, now: datetime, comment: str, data: dict | None, *, by: Peer) -> None:
    """A line that moves nothing: what another organisation did about the case (a regulator claimed its push, fed
    back, closed its supervision), written where the case is."""
    _line(case, action, case.state, case.state, now, None, by, comment, data)
