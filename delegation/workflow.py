"""The case workflow: its states, actions, roles and one declared transition table.

Every action a user or the system can take on a case is a row of TRANSITIONS: the users' actions (Action) and what
the exchange bus and the jobs do (SystemAction, and the deadline job's TERMINATE), each row for one role. The engine
(delegation.engine.apply) looks the row up, checks the role and the guard, runs the effect and moves the case to
the row's target; nothing else changes a case's state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from delegation.titles import N_, TitledStrEnum, titles


class Mode(TitledStrEnum):
    DIRECT = "direct", N_("直接下放")  # the county accepts, reviews and decides
    DELEGATED_REVIEW = "delegated_review", N_("下放实质性审核权")  # county reviews, city approves
    FORWARD_ONLY = "forward_only", N_("服务窗口前移")  # county accepts, city reviews and decides


class State(TitledStrEnum):
    SUBMITTED = "submitted", N_("已提交")
    CORRECTION_REQUESTED = "correction_requested", N_("待补正")
    REFUSED = "refused", N_("不予受理")
    ACCEPTED = "accepted", N_("已受理")
    COUNTY_REVIEW = "county_review", N_("县级审核中")
    FORWARDED = "forwarded", N_("已转报")  # sent to the city, not yet received there
    CITY_REVIEW = "city_review", N_("市级审批中")
    RETURNED = "returned", N_("已退回")
    DECIDED = "decided", N_("已决定")
    CONCLUDED = "concluded", N_("已办结")
    SUSPENDED = "suspended", N_("特别程序中")
    WITHDRAWN = "withdrawn", N_("已撤回")
    TERMINATED = "terminated", N_("已终止")


FINAL_STATES = frozenset({State.REFUSED, State.CONCLUDED, State.WITHDRAWN, State.TERMINATED})
# States in which the time limit runs or is paused: from acceptance to the decision.
CLOCK_STATES = frozenset(
    {State.ACCEPTED, State.COUNTY_REVIEW, State.FORWARDED, State.CITY_REVIEW, State.RETURNED, State.SUSPENDED,
     State.CORRECTION_REQUESTED}
)


class Role(TitledStrEnum):
    WINDOW = "window", N_("县级窗口人员")
    REVIEWER = "reviewer", N_("县级审批人员")
    CITY_APPROVER = "city_approver", N_("市级审批人员")
    REGULATOR = "regulator", N_("监管人员")
    ADMIN = "admin", N_("市级管理员")  # 市行政审批局 administrators
    COUNTY_ADMIN = "county_admin", N_("县级管理员")  # a county's own dashboard and cases (issue 18), nothing of the city
    SYSTEM = "system", N_("系统")  # scheduled jobs and the exchange inbox


WORK_ROLES = (Role.WINDOW, Role.REVIEWER, Role.CITY_APPROVER)  # those who hold and work cases


class Action(TitledStrEnum):
    ACCEPT = "accept", N_("受理")
    ACCEPT_WITH_COMMITMENT = "accept_with_commitment", N_("容缺受理")
    REQUEST_CORRECTION = "request_correction", N_("一次性告知补正")
    REFUSE = "refuse", N_("不予受理")
    RESUBMIT = "resubmit", N_("重新提交")
    SUPPLY_MATERIALS = "supply_materials", N_("补交材料")
    REVIEW = "review", N_("审核")
    APPROVE = "approve", N_("准予许可")
    DENY = "deny", N_("不予许可")
    RETURN = "return", N_("退回")
    SUSPEND = "suspend", N_("启动特别程序")
    RESUME = "resume", N_("结束特别程序")
    HAND_OUT = "hand_out", N_("出件")
    WITHDRAW = "withdraw", N_("撤回")
    TERMINATE = "terminate", N_("终止")
    TRANSFER = "transfer", N_("转办")  # to another organisation of the same level (delegation/transfer.py)
    # decided at the window on the spot (issue 17, delegation/window_decisions.py)
    APPROVE_ON_COMMITMENT = "approve_on_commitment", N_("告知承诺当场审批")
    DECIDE_INSTANT = "decide_instant", N_("即办件当场办结")
    FILE = "file", N_("备案")


class SystemAction(TitledStrEnum):
    """What the system does to a case: routing after acceptance, and the bus applying a peer's message."""

    ROUTE = "route", N_("转县级审批")  # after acceptance, to the county bureau (direct, delegated_review)
    FORWARD = "forward", N_("转报市级")  # after acceptance, to the city (forward_only)
    RECEIVE = "receive", N_("接收转报件")  # the city receives the forward
    RECEIVE_SUPPLEMENT = "receive_supplement", N_("接收补交材料")
    RECEIVE_RETURN = "receive_return", N_("接收退回")  # the county receives the city's return
    RECEIVE_DECISION = "receive_decision", N_("接收审批结果")  # the window receives the city's decision
    FORWARD_ACKNOWLEDGED = "forward_acknowledged", N_("签收转报")  # the city's receipt of the forward
    FORWARD_REJECTED = "forward_rejected", N_("拒收转报")  # the city refused the forward
    RECEIVE_TRANSFER = "receive_transfer", N_("接收转办")  # another node's copy learns of a 转办
    # 全市通办 (issue 17, delegation/citywide.py): accepted for another county, whose bureau reviews and decides
    SEND_CITYWIDE = "send_citywide", N_("转有权县级审批")
    RECEIVE_CITYWIDE = "receive_citywide", N_("接收全市通办件")
    RECEIVE_WITHDRAWAL = "receive_withdrawal", N_("接收撤回")  # the accepting window's applicant withdrew
    RECEIVE_TERMINATION = "receive_termination", N_("接收终止")  # the accepting window's case was terminated
    RECEIVE_SUSPENSION = "receive_suspension", N_("接收特别程序")  # the competent county suspended the case
    RECEIVE_RESUMPTION = "receive_resumption", N_("接收结束特别程序")  # ... and resumed it



class SuspensionKind(TitledStrEnum):
    """The special procedures whose time does not count against the limit (启动特别程序)."""

    SITE_INSPECTION = "site_inspection", N_("现场踏勘")
    EXPERT_REVIEW = "expert_review", N_("专家评审")
    HEARING = "hearing", N_("听证")
    INTERMEDIARY = "intermediary", N_("中介服务")

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
    when: str | None = None  # an automatic row applies only to a case for which this condition holds (engine)


def _t(source, action, target, role, modes=ANY_MODE, guard=None, automatic=False, note=None, when=None):
    action = SystemAction(action) if action in SystemAction._value2member_map_ else Action(action)
    return Transition(State(source), action, State(target) if target else None, Role(role),
                      frozenset(modes), guard, automatic, note, when)


TRANSITIONS: tuple[Transition, ...] = (
    # the window: intake
    _t("submitted", "accept", "accepted", "window", guard="can_accept"),
    _t("submitted", "accept_with_commitment", "accepted", "window", guard="can_accept_with_commitment"),
    _t("submitted", "request_correction", "correction_requested", "window"),
    _t("submitted", "refuse", "refused", "window"),
    # the window decides on the spot (delegation/window_decisions.py): a 告知承诺 or instant item the county decides,
    # by a clerk holding that authority; an exempt item's filing, with no approval; concluded at once (handed out)
    _t("submitted", "approve_on_commitment", "concluded", "window", {Mode.DIRECT}, guard="on_commitment"),
    _t("submitted", "decide_instant", "concluded", "window", {Mode.DIRECT}, guard="instant_decision"),
    _t("submitted", "file", "concluded", "window", guard="filing"),
    _t("correction_requested", "resubmit", None, "window"),
    _t("returned", "resubmit", "forwarded", "window", {Mode.FORWARD_ONLY}),
    # 全市通办: the competent county's correction notice came back to the window as a return (citywide.py)
    _t("returned", "resubmit", "forwarded", "window", {Mode.DIRECT}, guard="citywide_returned"),
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
    # an item may wait for the paper originals before the decision (材料邮寄, delegation/mailing.py)
    _t("city_review", "approve", "decided", "city_approver", CITY_MODES, guard="originals_arrived"),
    _t("city_review", "deny", "decided", "city_approver", CITY_MODES, guard="originals_arrived"),
    _t("city_review", "return", "returned", "city_approver", CITY_MODES),
    _t("city_review", "suspend", "suspended", "city_approver", CITY_MODES),
    # a suspension is lifted by the level that suspended it (checked by the guard)
    _t("suspended", "resume", None, "reviewer", guard="suspended_here"),
    _t("suspended", "resume", None, "city_approver", CITY_MODES, guard="suspended_here"),
    # the window hands the result out (统一出件)
    _t("decided", "hand_out", "concluded", "window"),
    # the applicant withdraws through the window while the county holds the case; a case accepted for another
    # county (全市通办) also while that county has it (`forwarded` at the window's node; case.closure tells it)
    *(_t(s, "withdraw", "withdrawn", "window")
      for s in ("submitted", "correction_requested", "accepted", "county_review", "returned")),
    _t("forwarded", "withdraw", "withdrawn", "window", {Mode.DIRECT}, guard="citywide_withdrawable"),
    # 转办 (issue 15, delegation/transfer.py): the holder passes the case to another organisation of its level; the
    # state and the time limit stay as they are, only the holder changes (the guard checks holder and target)
    _t("city_review", "transfer", "city_review", "city_approver", CITY_MODES, guard="transfer_allowed"),
    _t("county_review", "transfer", "county_review", "reviewer", guard="transfer_allowed"),
    _t("returned", "transfer", "returned", "reviewer", {Mode.DELEGATED_REVIEW}, guard="transfer_allowed"),
    # the system: routing after acceptance, by the item's mode, in the same unit of work as the acceptance; a case
    # accepted for another county (全市通办) goes to that county's bureau first (sent, not yet received there)
    _t("accepted", "send_citywide", "forwarded", "system", {Mode.DIRECT}, automatic=True,
       note="全市通办：转有权县级审批", when="citywide_elsewhere"),
    _t("accepted", "route", "county_review", "system", {Mode.DIRECT, Mode.DELEGATED_REVIEW}, automatic=True,
       note="转县级审批"),
    _t("accepted", "forward", "forwarded", "system", {Mode.FORWARD_ONLY}, automatic=True, note="受理后自动转报市级"),
    # the bus, at the city: the forward and later materials arrive (on the embedded node, at the very case)
    *(_t(s, "receive", "city_review", "system", note="市级收到转报件") for s in ("forwarded", "returned")),
    *(_t(s, "receive_supplement", "city_review" if s in ("forwarded", "returned") else s, "system",
         note="市级收到补交材料") for s in State if s is not State.CORRECTION_REQUESTED),
    # 全市通办: the accepting window's corrected materials take the case back to the competent county's reviewer
    _t("correction_requested", "receive_supplement", None, "system", note="有权县级收到补正材料"),
    # the bus, at the county: the city's return and decision (already applied when both live on one node)
    *(_t(s, "receive_return", "returned", "system", note="县级收到市级退回")
      for s in ("forwarded", "city_review", "returned")),
    # 全市通办 on one node: the competent county's correction notice, already on the very case
    _t("correction_requested", "receive_return", "correction_requested", "system", {Mode.DIRECT}),
    *(_t(s, "receive_decision", "decided", "system", note="窗口收到审批结果，待出件")
      for s in ("forwarded", "city_review", "decided")),
    # 全市通办: the competent county receives the case (on the embedded node, the very case; else it creates its copy)
    _t("forwarded", "receive_citywide", "county_review", "system", {Mode.DIRECT}, note="有权县级收到全市通办件"),
    # 全市通办: the accepting window's case was withdrawn or terminated (case.closure); on one node, the very case
    *(_t(s, "receive_withdrawal", "withdrawn", "system", {Mode.DIRECT}, note="受理窗口已撤回申请")
      for s in ("forwarded", "county_review", "correction_requested", "suspended", "withdrawn")),
    *(_t(s, "receive_termination", "terminated", "system", {Mode.DIRECT}, note="受理窗口已终止办件")
      for s in ("forwarded", "county_review", "correction_requested", "suspended", "decided", "terminated")),
    # 全市通办 on another node: the competent county's 特别程序 shows at the window's copy (case.suspension)
    _t("forwarded", "receive_suspension", "suspended", "system", {Mode.DIRECT}, note="有权县级启动特别程序"),
    _t("suspended", "receive_resumption", None, "system", {Mode.DIRECT}, note="有权县级结束特别程序"),
    # the receipt of the forward: the city has the case, or refused it and the county gets it back
    _t("forwarded", "forward_acknowledged", "city_review", "system", note="市级已签收"),
    _t("forwarded", "forward_rejected", "returned", "system"),
    # the bus: another node's copy of the case learns of a 转办 (the window's node, when the city transferred it)
    *(_t(s, "receive_transfer", s, "system") for s in ("accepted", "county_review", "forwarded", "city_review",
                                                        "returned", "suspended", "correction_requested")),
    # the deadline job: a 容缺 commitment not kept in time
    *(_t(s, "terminate", "terminated", "system", guard="commitment_broken", note="容缺承诺逾期未补齐材料")
      for s in ("accepted", "county_review", "forwarded", "city_review", "returned", "suspended",
                "correction_requested", "decided")),
)


def transitions_for(state: State, action: Action) -> list[Transition]:
    return [t for t in TRANSITIONS if t.source == state and t.action == action]


def automatic_after(state: State, mode: Mode, holds: Callable[[str], bool] = lambda _when: False
                    ) -> Transition | None:
    """The SYSTEM row the engine takes at once when a case arrives in this state (routing after acceptance); a
    row with a condition (`when`) only where `holds(when)` says the case meets it."""
    return next((t for t in TRANSITIONS if t.automatic and t.source == state and mode in t.modes
                 and (t.when is None or holds(t.when))), None)


def allowed_actions(state: State, role: Role, mode: Mode) -> list[Action]:
    seen: list[Action] = []
    for t in TRANSITIONS:
        if t.source == state and t.role == role and mode in t.modes and t.action not in seen:
            seen.append(t.action)
    return seen


# Chinese titles by member, for the domain's own messages (zh text of errors, timeline notes): read off the enums.
STATE_ZH = titles(State)
ACTION_ZH = {**titles(Action), **titles(SystemAction)}
MODE_ZH = titles(Mode)
ROLE_ZH = titles(Role)
