"""催办 across nodes (issue 15): a reminder pressed on one node for a case whose holder another node hosts (a county
window pressing the city section that reviews its case) travels as `case.reminder` to the holder's node, which
records it as its own (case_reminder, a timeline line, the holder's "reminder" notification), exactly once: the
bus applies a MessageId once and answers a re-delivery with the first receipt.

The pressing node keeps its own record too (delegation.reminders.remind): its staff see that and when they pressed.
Automatic reminders never travel: the holder's node sends them itself (reminders.remind_overdue).
"""
from __future__ import annotations

from datetime import datetime

from delegation.actors import Actor
from delegation.models import Case
from delegation.orgs import find_org
from delegation.workflow import FINAL_STATES
from exchange.bus import get_bus
from exchange.errors import ExchangeRejected
from exchange.handlers import applies
from exchange.outbox import enqueue
from persistence import utcnow


def send(case: Case, actor: Actor, holder: str, comment: str, now: datetime) -> bool:
    """`case.reminder` to the holder's node when it is not this one; whether it was sent."""
    org = find_org(holder)
    if org is None or org.node_id == get_bus().node_id:
        return False
    enqueue("case.reminder", from_org=actor.org_code, to_node=org.node_id, to_org=org.code,
            body={"by": actor.label, "at": now, "comment": comment or None}, case_no=case.case_no)
    return True


def _may_press(case: Case, sender) -> bool:
    """The same three as on one node: the case's window, its supervising organisation, the city bureau."""
    from delegation.responsibility import responsible_parties

    if sender.code in (case.window_org.code, responsible_parties(case)["supervising"]):
        return True
    return sender.level == "city" and sender.kind == "city_bureau"


@applies("case.reminder")
def apply_reminder(env, attachments) -> None:
    from delegation import reminders
    from delegation.messaging import _find, _sender, _system

    _system(env)
    case = _find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    sender = _sender(env)
    if not _may_press(case, sender):
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} may not remind case {case.case_no}")
    if case.state in FINAL_STATES:
        raise ExchangeRejected("state_conflict", f"case {case.case_no} is {case.state.value}: nothing to remind")
    by = env.body["by"]
    comment = env.body.get("comment") or ""  # the wire allows a longer text than the platform keeps
    reminders.record_received(case, utcnow(), comment[:reminders.COMMENT_MAX], by_org=sender.code, by_label=by)
