"""What the push modules share: the organisations the loop names, look-ups of organisations and this node, the
local time in messages, and the limits of what a regulator writes."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation.deadlines import SHANGHAI
from delegation.models import Org
from delegation.responsibility import CITY
from exchange import field_rules
from persistence import db

CITY_ADMIN_ORG = f"{CITY}-bureau"
CITY_INDUSTRY_ORG = f"{CITY}-industry"
FEEDBACK_ZH = {"inspection": "检查", "rectification": "责令整改", "penalty": "行政处罚", "no_issue": "未发现问题"}
TEXT_MAX = field_rules.WIRE_TEXT_MAX  # what a regulator writes travels in supervision.feedback (tq:Text, tq:Name)
NAME_MAX = field_rules.NAME_MAX


def org(code: str) -> Org | None:
    return db.session.execute(sa.select(Org).filter_by(code=code)).scalar_one_or_none()


def this_node() -> str:
    from exchange.bus import get_bus

    return get_bus().node_id


def local_minute(moment: datetime) -> str:
    """A moment as the regulators read it in messages: Shanghai time, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
