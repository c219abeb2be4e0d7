"""Rules of a case that more than one place asks, written once: the window's effects and the bus handlers
(delegation.cases, delegation.messaging), the API and the pages all call these, so that a page cannot accept what
the domain refuses nor word the refusal differently. A page shows the Chinese message through the Babel catalogue
(the messages are marked N_), so a page reads as it always did in either language."""
from __future__ import annotations

from datetime import datetime

from delegation.errors import Conflict, Invalid
from delegation.titles import N_
from delegation.workflow import Mode, State

VERDICTS = ("approve", "deny")


def mark_present(case, codes, now: datetime) -> None:
    """The materials `codes` are now with the case; when that completes a commitment (容缺受理) it is met — at the
    first moment it was complete, which a later supply of the same material does not move."""
    codes = set(codes)
    for m in case.materials:
        if m.code in codes:
            m.present = True
    if case.commitment_deadline and not outstanding(case):
        case.commitment_met_at = case.commitment_met_at or now


def outstanding(case) -> list:
    """The materials the applicant committed to bring and has not: the commitment is met when there are none."""
    return [m for m in case.materials if m.committed and not m.present]


def city_holds(case) -> bool:
    """The city has the case (sent, in its review, or suspended there): what the window adds goes to the city."""
    return case.state in (State.FORWARDED, State.CITY_REVIEW) or (  # forwarded: 全市通办's competent county too
        case.state is State.SUSPENDED and case.resume_state in (State.CITY_REVIEW, State.FORWARDED))


def _resubmitted(case) -> bool:
    """A returned case whose corrected materials go back with 重新提交: forward-only (to the city), or accepted for
    another county (全市通办, to the competent county)."""
    from delegation.citywide_models import competent_county

    return case.mode is Mode.FORWARD_ONLY or competent_county(case) not in (None, case.county_code)


def suppliable(case) -> list:
    """The materials the window can take for the case now (补交材料) and bring to whoever holds it. After the
    decision only a 容缺 commitment's materials count (they release the hand-out); a forward-only case the city
    returned goes back with 重新提交, which carries its files to the city."""
    if case.state is State.DECIDED:
        return outstanding(case)
    if case.state is State.RETURNED and _resubmitted(case):
        return []
    return [m for m in case.materials if not m.present]  # in the states workflow.py allows 补交材料 in


def check_supply(case, codes) -> None:
    """补交材料 of `codes` where it reaches no one is refused: a forward-only case the city returned (its files go
    back with 重新提交) and, after the decision, anything but a 容缺 commitment's materials. Elsewhere a material
    already present may come again (a scan of a paper original goes to the city with it)."""
    if case.state is State.RETURNED and _resubmitted(case):
        raise Conflict("supply_not_possible", "办件已退回，请用「重新提交」补正材料并送回审批机关",
                       "this case was returned: resubmit the corrected materials instead", field="action")
    if case.state is State.DECIDED:
        open_codes = {m.code for m in outstanding(case)}
        refused = [c for c in codes if c not in open_codes]
        if refused:
            raise Conflict("supply_not_possible", "已作出审批决定，只能补交容缺承诺的材料",
                           "the case is decided: only the materials of a 容缺 commitment can still be supplied",
                           field="materials", materials=refused)


def check_hand_out(case) -> None:
    """出件 waits for a 容缺 commitment's materials: the result is handed out once the application is complete."""
    missing = outstanding(case)
    if missing:
        raise Conflict("commitment_outstanding",
                       f"容缺承诺的材料尚未补齐（{'、'.join(m.name for m in missing)}），补齐后方可出件",
                       f"committed materials are outstanding: {', '.join(m.code for m in missing)}",
                       field="action", materials=[m.code for m in missing])


# What a mailed hand-out must name: the address, and the waybill the applicant follows the post with.
MAIL_NEEDS = {"address": (N_("邮寄出件请填写邮寄地址"), "address is required for mail"),
              "tracking_no": (N_("邮寄出件请填写快递单号"), "tracking_no is required for mail")}


def mail_gaps(method: str | None, values: dict) -> list[Invalid]:
    """Every field a mailed hand-out lacks, at once (a page names them together; a service stops at the first)."""
    if method != "mail":
        return []
    return [Invalid("required", zh, en, field=field) for field, (zh, en) in MAIL_NEEDS.items()
            if not (values.get(field) or "").strip()]


def check_tracking(method: str | None, tracking_no: str | None) -> None:
    for gap in mail_gaps(method, {"tracking_no": tracking_no, "address": "-"}):
        raise gap


def check_recommendation(mode: Mode, recommendation: str | None) -> None:
    """A delegated review ends with the county's verdict: the city approves or denies on it."""
    if mode is Mode.DELEGATED_REVIEW and recommendation not in VERDICTS:
        raise Invalid("required", N_("请选择审核结论（同意/不同意）"), "recommendation must be approve or deny",
                      field="recommendation")
