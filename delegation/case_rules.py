"""Rules of a case that more than one place asks, written once: the window's effects and the bus handlers
(delegation.cases, delegation.messaging), the API and the pages all call these, so that a page cannot accept what
the domain refuses nor word the refusal differently. A page shows the Chinese message through the Babel catalogue
(the messages are marked N_), so a page reads as it always did in either language."""
from __future__ import annotations

from datetime import datetime

from delegation.errors import Invalid
from delegation.titles import N_
from delegation.workflow import Mode

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
