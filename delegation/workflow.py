"""The case workflow: its states, actions, roles and one declared transition table.

Every action a user or the system can take on a case is a row of TRANSITIONS. The service layer looks the row up,
checks the role and the guard, and moves the case; nothing else changes a case's state.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Mode(str, enum.Enum):
    DIRECT = "direct"  # 直接下放: the county accepts, reviews and decides
    DELEGATED_REVIEW = "delegated_review"  # 下放实质性审核权: county reviews, city approves
    FORWARD_ONLY = "forward_only"  # 服务窗口前移: county accepts, city reviews and decides


class State(str, enum.Enum):
    SUBMITTED = "submitted"
    CORRECTION_REQUESTED = "correction_requested"
    REFUSED = "refused"
    ACCEPTED = "accepted"
    COUNTY_REVIEW = "county_review"
    FORWARDED = "forwarded"  # sent to the city, not yet received there
    CITY_REVIEW = "city_review"
    RETURNED = "returned"
    DECIDED = "decided"
    CONCLUDED = "concluded"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"
    TERMINATED = "terminated"


FINAL_STATES = frozenset({State.REFUSED, State.CONCLUDED, State.WITHDRAWN, State.TERMINATED})
# States in which the time limit runs or is paused: from acceptance to the decision.
CLOCK_STATES = frozenset(
    {State.ACCEPTED, State.COUNTY_REVIEW, State.FORWARDED, State.CITY_REVIEW, State.RETURNED, State.SUSPENDED,
     State.CORRECTION_REQUESTED}
)


class Role(str, enum.Enum):
    WINDOW = "window"  # 县级窗口人员
    REVIEWER = "reviewer"  # 县级审批人员
    CITY_APPROVER = "city_approver"  # 市级审批人员
    REGULATOR = "regulator"  # 监管人员
    ADMIN = "admin"  # 市行政审批局 administrators
    SYSTEM = "system"  # scheduled jobs and the exchange inbox


class Action(str, enum.Enum):
    ACCEPT = "accept"
    ACCEPT_WITH_COMMITMENT = "accept_with_commitment"
    REQUEST_CORRECTION = "request_correction"
    REFUSE = "refuse"
    RESUBMIT = "resubmit"
    SUPPLY_MATERIALS = "supply_materials"
    REVIEW = "review"
    APPROVE = "approve"
    DENY = "deny"
    RETURN = "return"
    SUSPEND = "suspend"
    RESUME = "resume"
    HAND_OUT = "hand_out"
    WITHDRAW = "withdraw"
    TERMINATE = "terminate"


# Where the case physically is decides who may touch it: the county (window or county bureau) or the city.
COUNTY_HELD = frozenset(
    {State.SUBMITTED, State.CORRECTION_REQUESTED, State.ACCEPTED, State.COUNTY_REVIEW, State.RETURNED}
)

ANY_MODE = frozenset(Mode)
CITY_MODES = frozenset({Mode.DELEGATED_REVIEW, Mode.FORWARD_ONLY})


@dataclass(frozen=True)
class Transition:
    source: State
    action: Action
    target: State | None  # None: the target is computed (back to where the case was before a pause)
    role: Role
    modes: frozenset = ANY_MODE
    guard: str | None = None  # name of a guard in delegation.cases; the guard explains a refusal


def _t(source, action, target, role, modes=ANY_MODE, guard=None):
    return Transition(State(source), Action(action), State(target) if target else None, Role(role),
                      frozenset(modes), guard)


TRANSITIONS: tuple[Transition, ...] = (
    # the window: intake
    _t("submitted", "accept", "accepted", "window", guard="can_accept"),
    _t("submitted", "accept_with_commitment", "accepted", "window", guard="can_accept_with_commitment"),
    _t("submitted", "request_correction", "correction_requested", "window"),
    _t("submitted", "refuse", "refused", "window"),
    _t("correction_requested", "resubmit", None, "window"),
    _t("returned", "resubmit", "forwarded", "window", {Mode.FORWARD_ONLY}),
    # materials brought later (容缺 or a correction) while the case goes on
    *(_t(s, "supply_materials", s, "window")
      for s in ("submitted", "county_review", "forwarded", "city_review", "returned", "suspended", "decided")),
    # the county bureau
    _t("county_review", "review", "county_review", "reviewer", {Mode.DIRECT}),
    _t("county_review", "review", "forwarded", "reviewer", {Mode.DELEGATED_REVIEW}),
    _t("returned", "review", "forwarded", "reviewer", {Mode.DELEGATED_REVIEW}),
    _t("county_review", "approve", "decided", "reviewer", {Mode.DIRECT}, guard="reviewed"),
    _t("county_review", "deny", "decided", "reviewer", {Mode.DIRECT}, guard="reviewed"),
    _t("county_review", "request_correction", "correction_requested", "reviewer"),
    _t("county_review", "suspend", "suspended", "reviewer"),
    # the city department
    _t("city_review", "approve", "decided", "city_approver", CITY_MODES),
    _t("city_review", "deny", "decided", "city_approver", CITY_MODES),
    _t("city_review", "return", "returned", "city_approver", CITY_MODES),
    _t("city_review", "suspend", "suspended", "city_approver", CITY_MODES),
    # a suspension is lifted by the level that suspended it (checked by the guard)
    _t("suspended", "resume", None, "reviewer", guard="suspended_here"),
    _t("suspended", "resume", None, "city_approver", CITY_MODES, guard="suspended_here"),
    # the window hands the result out (统一出件)
    _t("decided", "hand_out", "concluded", "window"),
    # the applicant withdraws through the window while the county holds the case
    *(_t(s, "withdraw", "withdrawn", "window")
      for s in ("submitted", "correction_requested", "accepted", "county_review", "returned")),
    # the deadline job: a 容缺 commitment not kept in time
    *(_t(s, "terminate", "terminated", "system", guard="commitment_broken")
      for s in ("accepted", "county_review", "forwarded", "city_review", "returned", "suspended",
                "correction_requested", "decided")),
)


def transitions_for(state: State, action: Action) -> list[Transition]:
    return [t for t in TRANSITIONS if t.source == state and t.action == action]


def allowed_actions(state: State, role: Role, mode: Mode) -> list[Action]:
    seen: list[Action] = []
    for t in TRANSITIONS:
        if t.source == state and t.role == role and mode in t.modes and t.action not in seen:
            seen.append(t.action)
    return seen
