"""What the push modules share: the organisations the loop names, look-ups of organisations and this node, the
local time in messages, and the limits of what a regulator writes."""
from __future__ import annotations

from datetime import datetime

from delegation.deadlines import SHANGHAI
from delegation.orgs import find_org
from delegation.responsibility import CITY
from exchange import field_rules
from supervision.models import FeedbackKind

CITY_ADMIN_ORG = f"{CITY}-bureau"
CITY_INDUSTRY_ORG = f"{CITY}-industry"
FEEDBACK_ZH = {kind.value: kind.title_zh for kind in FeedbackKind}  # messages and the timeline are Chinese
TEXT_MAX = field_rules.WIRE_TEXT_MAX  # what a regulator writes travels in supervision.feedback (tq:Text, tq:Name)
NAME_MAX = field_rules.NAME_MAX


def rectification_ordered(kind: str, ordered) -> bool:
    """Whether a feedback ordered rectification: a rectification order always does, an inspection when it says so.
    The regulator's service and the handler of the feedback message both ask this."""
    return bool(ordered) or kind == "rectification"


org = find_org  # the organisation of a code, or None (delegation.orgs)


def this_node() -> str:
    from exchange.bus import get_bus

    return get_bus().node_id


def local_minute(moment: datetime) -> str:
    """A moment as the regulators read it in messages: Shanghai time, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
