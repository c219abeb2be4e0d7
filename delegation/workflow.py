"""The case workflow: its states, actions, roles and one declared transition table.

Every action a user or the system can take on a case is a row of TRANSITIONS: the users' actions (Action) and what
the exchange bus and the jobs do (SystemAction, and the deadline job's TERMINATE), each row for one role. The engine
(delegation.engine.apply) looks the row up, checks the role and the guard, runs the effect and moves the case to
the row's target; nothing else changes a case's state.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Mode(enum.StrEnum):
    DIRECT = "direct"  # 直接下放: the county accepts, reviews and decides
    DELEGATED_REVIEW = "delegated_review"  # 下放实质性审核权: county reviews, city approves
    FORWARD_ONLY = "forward_only"  # 服务窗口前移: county accepts, city reviews and decides


class State(enum.StrEnum):
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


class Role(enum.StrEnum):
    WINDOW = "window"  # 县级窗口人员
    REVIEWER = "reviewer"  # 县级审批人员
    CITY_APPROVER = "city_approver"  # 市级审批人员
    REGULATOR = "regulator"  # 监管人员
    ADMIN = "admin"  # 市行政审批局 administrators
    SYSTEM = "system"  # scheduled jobs and the exchange inbox


class Action(enum.StrEnum):
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


class SystemAction(enum.StrEnum):
    """What the system does to a case: routing after acceptance, and the bus applying a peer's message."""

    ROUTE = "route"  # after acceptance, to the county bureau (direct, delegated_review)
    FORWARD = "forward"  # after acceptance, to the city (forward_only)
    RECEIVE = "receive"  # the city receives the forward
    RECEIVE_SUPPLEMENT = "receive_supplement"
    RECEIVE_RETURN = "receive_return"  # the county receives the city's return
    RECEIVE_DECISION = "receive_decision"  # the window receives the city's decision
    FORWARD_ACKNOWLEDGED = "forward_acknowledged"  # the city's receipt of the forward
    FORWARD_REJECTED = "forward_rejected"  # the city refused the forward


# Where the case physically is decides who may touch it: the county (window or county bureau) or the city.
COUNTY_HELD = frozenset(
    {State.SUBMITTED, State.CORRECTION_REQUESTED, State.ACCEPTED, State.COUNTY_REVIEW, State.RETURNED}
)

ANY_MODE = frozenset(Mode)
CITY_MODES = frozenset({Mode.DELEGATED_REVIEW, Mode.FORWARD_ONLY})


@dataclass(frozen=True)
class Transition:
    source: State
    action: Action | SystemAction
    target: State | None  # None: back to where the case was before a pause (its resume_state)
    role: Role
    modes: frozenset = ANY_MODE
    guard: str | None = None  # name of a registered guard (delegation.engine.GUARDS); it explains a refusal
    automatic: bool = False  # the engine takes this SYSTEM row as soon as the case is in its source state
    note: str | None = None  # the timeline's comment when the step brings none


def _t(source, action, target, role, modes=ANY_MODE, guard=None, automatic=False, note=None):
    action = SystemAction(action) if action in SystemAction._value2member_map_ else Action(action)
    return Transition(State(source), action, State(target) if target else None, Role(role),
                      frozenset(modes), guard, automatic, note)


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
    # the system: routing after acceptance, by the item's mode, in the same unit of work as the acceptance
    _t("accepted", "route", "county_review", "system", {Mode.DIRECT, Mode.DELEGATED_REVIEW}, automatic=True,
       note="转县级审批"),
    _t("accepted", "forward", "forwarded", "system", {Mode.FORWARD_ONLY}, automatic=True, note="受理后自动转报市级"),
    # the bus, at the city: the forward and later materials arrive (on the embedded node, at the very case)
    *(_t(s, "receive", "city_review", "system", note="市级收到转报件") for s in ("forwarded", "returned")),
    *(_t(s, "receive_supplement", "city_review" if s in ("forwarded", "returned") else s, "system",
         note="市级收到补交材料") for s in State),
    # the bus, at the county: the city's return and decision (already applied when both live on one node)
    *(_t(s, "receive_return", "returned", "system", note="县级收到市级退回")
      for s in ("forwarded", "city_review", "returned")),
    *(_t(s, "receive_decision", "decided", "system", note="窗口收到审批结果，待出件")
      for s in ("forwarded", "city_review", "decided")),
    # the receipt of the forward: the city has the case, or refused it and the county gets it back
    _t("forwarded", "forward_acknowledged", "city_review", "system", note="市级已签收"),
    _t("forwarded", "forward_rejected", "returned", "system"),
    # the deadline job: a 容缺 commitment not kept in time
    *(_t(s, "terminate", "terminated", "system", guard="commitment_broken", note="容缺承诺逾期未补齐材料")
      for s in ("accepted", "county_review", "forwarded", "city_review", "returned", "suspended",
                "correction_requested", "decided")),
)


def transitions_for(state: State, action: Action) -> list[Transition]:
    return [t for t in TRANSITIONS if t.source == state and t.action == action]


def automatic_after(state: State, mode: Mode) -> Transition | None:
    """The SYSTEM row the engine takes at once when a case arrives in this state (routing after acceptance)."""
    return next((t for t in TRANSITIONS if t.automatic and t.source == state and mode in t.modes), None)


def allowed_actions(state: State, role: Role, mode: Mode) -> list[Action]:
    seen: list[Action] = []
    for t in TRANSITIONS:
        if t.source == state and t.role == role and mode in t.modes and t.action not in seen:
            seen.append(t.action)
    return seen


# Chinese labels of the domain's own messages (the pages translate theirs through the Babel catalogue).
STATE_ZH = {
    State.SUBMITTED: "已提交", State.CORRECTION_REQUESTED: "待补正", State.REFUSED: "不予受理",
    State.ACCEPTED: "已受理", State.COUNTY_REVIEW: "县级审核中", State.FORWARDED: "已转报",
    State.CITY_REVIEW: "市级审批中", State.RETURNED: "已退回", State.DECIDED: "已决定", State.CONCLUDED: "已办结",
    State.SUSPENDED: "特别程序中", State.WITHDRAWN: "已撤回", State.TERMINATED: "已终止",
}
ACTION_ZH = {
    Action.ACCEPT: "受理", Action.ACCEPT_WITH_COMMITMENT: "容缺受理", Action.REQUEST_CORRECTION: "一次性告知补正",
    Action.REFUSE: "不予受理", Action.RESUBMIT: "重新提交", Action.SUPPLY_MATERIALS: "补交材料",
    Action.REVIEW: "审核", Action.APPROVE: "准予许可", Action.DENY: "不予许可", Action.RETURN: "退回",
    Action.SUSPEND: "启动特别程序", Action.RESUME: "结束特别程序", Action.HAND_OUT: "出件", Action.WITHDRAW: "撤回",
    Action.TERMINATE: "终止",
    SystemAction.ROUTE: "转县级审批", SystemAction.FORWARD: "转报市级", SystemAction.RECEIVE: "接收转报件",
    SystemAction.RECEIVE_SUPPLEMENT: "接收补交材料", SystemAction.RECEIVE_RETURN: "接收退回",
    SystemAction.RECEIVE_DECISION: "接收审批结果", SystemAction.FORWARD_ACKNOWLEDGED: "签收转报",
    SystemAction.FORWARD_REJECTED: "拒收转报",
}
MODE_ZH = {Mode.DIRECT: "直接下放", Mode.DELEGATED_REVIEW: "下放实质性审核权", Mode.FORWARD_ONLY: "服务窗口前移"}
ROLE_ZH = {Role.WINDOW: "县级窗口人员", Role.REVIEWER: "县级审批人员", Role.CITY_APPROVER: "市级审批人员",
           Role.REGULATOR: "监管人员", Role.ADMIN: "市级管理员", Role.SYSTEM: "系统"}
