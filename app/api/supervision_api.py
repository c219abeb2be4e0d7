"""监管推送 / supervision: the double push as regulators and approvers see it — claim, feedback, close, alerts."""
from __future__ import annotations

import re
from datetime import date, datetime

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db, utcnow
from exchange import field_rules
from supervision import push_actions, push_queries
from supervision.models import FEEDBACK_KINDS, PUSH_STATES
from supervision.push_common import FEEDBACK_ZH
from supervision.push_states import PushState

blp = Blueprint("supervision", __name__, description="监管推送 / supervision pushes (双推送、认领、反馈)")


def _amount(value: str) -> None:
    if not re.fullmatch(field_rules.AMOUNT, value):
        raise ValidationError("罚款金额应为元，最多两位小数，如 5000.00 / an amount in yuan, e.g. 5000.00")


class PushQuery(StrictSchema):
    state = fields.String(validate=validate.OneOf(PUSH_STATES))
    case_no = fields.String(validate=validate.Length(min=1, max=40))
    overdue = fields.Boolean(metadata={"description": "true: unclaimed past the claim deadline"})
    after = fields.Integer(validate=validate.Range(min=1), metadata={"description": "keyset cursor (next_after)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class FeedbackIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(FEEDBACK_KINDS))
    date = fields.Date(required=True, metadata={"description": "the day of the inspection, order or penalty"})
    result = Text(required=True, min_length=1, max_length=field_rules.WIRE_TEXT_MAX)
    comment = Text(max_length=field_rules.WIRE_TEXT_MAX, load_default="")
    rectification_ordered = fields.Boolean(load_default=False)
    decision_no = Text(max_length=field_rules.NAME_MAX, allow_none=True,
                       metadata={"description": "决定书文号; required for a penalty"})
    amount = fields.String(allow_none=True, validate=_amount, metadata={"description": "yuan, e.g. 5000.00"})
    close = fields.Boolean(load_default=False, metadata={"description": "the last feedback: supervision done"})


class FeedbackOut(Schema):
    id = fields.String()
    kind = fields.String()
    kind_zh = fields.String()
    date = fields.Date()
    result = fields.String()
    comment = fields.String()
    rectification_ordered = fields.Boolean()
    decision_no = fields.String(allow_none=True)
    amount = fields.String(allow_none=True)
    by = fields.String()
    at = Instant()


class PartyOut(Schema):
    role = fields.String()
    org = fields.String()
    person = fields.String(allow_none=True)


class PushSummary(Schema):
    id = fields.Integer()
    case_no = fields.String()
    item_code = fields.String()
    item_name = fields.String()
    mode = fields.String()
    county_code = fields.String()
    applicant_name = fields.String()
    deciding_org = fields.String()
    supervising_org = fields.String()
    decided_at = Instant()
    received_at = Instant(allow_none=True)
    claim_due_at = Instant(allow_none=True)
    overdue = fields.Boolean()
    state = fields.String()
    state_zh = fields.String()


class PushOut(PushSummary):
    """One push in full: the summary, who answers for what, the claim, closure and feedback."""

    applicant_id_code = fields.String()
    decision = fields.String()
    certificate_no = fields.String(allow_none=True)
    accepting_org = fields.String()
    deciding_node = fields.String()
    supervising_node = fields.String()
    responsible = fields.List(fields.Nested(PartyOut))
    accepted_at = Instant(allow_none=True)
    pushed_at = Instant()
    claimed_at = Instant(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    warned_at = Instant(allow_none=True)
    escalated_at = Instant(allow_none=True)
    closed_at = Instant(allow_none=True)
    closed_by = fields.String(allow_none=True)
    feedback = fields.List(fields.Nested(FeedbackOut))


class PushPage(Schema):
    items = fields.List(fields.Nested(PushSummary))
    next_after = fields.Integer(allow_none=True)


class AlertQuery(StrictSchema):
    kind = fields.String(validate=validate.OneOf(["warning", "escalation", "no_feedback"]))
    after = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AlertOut(Schema):
    id = fields.Integer()
    push_id = fields.Integer()
    case_no = fields.String()
    kind = fields.String()
    recipients = fields.List(fields.String())
    message = fields.String()
    created_at = Instant()


class AlertPage(Schema):
    items = fields.List(fields.Nested(AlertOut))
    next_after = fields.Integer(allow_none=True)


# -- the views: a push, its feedback and an alert as the API (and the regulator's pages) show them -------------

def feedback_view(fb) -> dict:
    return {"id": fb.feedback_uid, "kind": fb.kind, "kind_zh": FEEDBACK_ZH[fb.kind], "date": fb.on_date,
            "result": fb.result, "comment": fb.comment, "rectification_ordered": fb.rectification_ordered,
            "decision_no": fb.decision_no, "amount": fb.amount, "by": fb.created_by, "at": fb.created_at}


def push_view(push, now: datetime | None = None) -> dict:
    """A push as PushOut shows it (datetimes as datetimes; `for_case` gives the JSON-ready form). `state` is the
    PushState: its value in JSON, its `label` on a page; `state_zh` its Chinese title whatever the language."""
    state = PushState(push.state)
    return {
        "id": push.id, "case_no": push.case_no, "item_code": push.item_code, "item_name": push.item_name,
        "mode": push.mode, "county_code": push.county_code, "applicant_name": push.applicant_name,
        "applicant_id_code": push.applicant_id_code, "decision": push.decision,
        "certificate_no": push.certificate_no, "accepting_org": push.accepting_org,
        "deciding_org": push.deciding_org, "deciding_node": push.deciding_node,
        "supervising_org": push.supervising_org, "supervising_node": push.supervising_node,
        "responsible": push.responsible, "accepted_at": push.accepted_at, "decided_at": push.decided_at,
        "pushed_at": push.pushed_at, "received_at": push.received_at, "claim_due_at": push.claim_due_at,
        "overdue": push_queries.is_overdue(push, now or utcnow()), "state": state, "state_zh": state.title_zh,
        "claimed_at": push.claimed_at, "claimed_by": push.claimed_by, "warned_at": push.warned_at,
        "escalated_at": push.escalated_at, "closed_at": push.closed_at, "closed_by": push.closed_by,
        "feedback": [feedback_view(fb) for fb in push.feedback],
    }


def alert_view(alert, case_no: str) -> dict:
    return {"id": alert.id, "push_id": alert.push_id, "case_no": case_no, "kind": alert.kind,
            "recipients": alert.recipients, "message": alert.message, "created_at": alert.created_at}


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, PushState):
        return value.value
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def case_views(actor, case_no: str) -> list[dict]:
    """The supervision of a case, for those push_queries.sees_supervision admits."""
    now = utcnow()
    return [push_view(p, now) for p in push_queries.case_pushes(actor, case_no)]


def for_case(case_no: str) -> list[dict]:
    """Every push of a case known on this node, with its claim and feedback, JSON-ready (for the case view)."""
    now = utcnow()
    return [_jsonable(push_view(p, now)) for p in push_queries.pushes_of_case(case_no)]


@blp.get("/pushes")
@blp.arguments(PushQuery, location="query")
@blp.response(200, PushPage)
def list_pushes(query):
    """The pushes addressed to the caller's organisation (administrators: all), newest first."""
    rows, next_after = push_queries.list_pushes(current_actor(), state=query.get("state"),
                                                case_no=query.get("case_no"), overdue=query.get("overdue"),
                                                after_id=query.get("after"), limit=query["limit"])
    now = utcnow()
    return {"items": [push_view(p, now) for p in rows], "next_after": next_after}


@blp.get("/pushes/<int:push_id>")
@blp.response(200, PushOut)
def get_push(push_id):
    return push_view(push_queries.get_push(current_actor(), push_id))


@blp.post("/pushes/<int:push_id>/claim")
@blp.response(200, PushOut)
def claim(push_id):
    """认领: the regulator takes the push on; the deciding node is told."""
    push = push_actions.claim(current_actor(), push_id)
    db.session.commit()
    return push_view(push)


@blp.post("/pushes/<int:push_id>/feedback")
@blp.arguments(FeedbackIn)
@blp.response(201, PushOut)
def feedback(data, push_id):
    """One finding (inspection, rectification order, penalty, no issue); `close: true` also closes supervision."""
    fb = push_actions.add_feedback(current_actor(), push_id, data)
    db.session.commit()
    return push_view(fb.push)


@blp.post("/pushes/<int:push_id>/close")
@blp.response(200, PushOut)
def close(push_id):
    """监管办结: supervision of this push is done; later feedback is refused."""
    push = push_actions.close(current_actor(), push_id)
    db.session.commit()
    return push_view(push)


@blp.get("/alerts")
@blp.arguments(AlertQuery, location="query")
@blp.response(200, AlertPage)
def alerts(query):
    """Warnings and escalations about unclaimed pushes (and claimed ones without feedback, no_feedback) addressed to the caller's organisation (admins: all)."""
    rows, next_after = push_queries.list_alerts(current_actor(), kind=query.get("kind"),
                                                after_id=query.get("after"), limit=query["limit"])
    return {"items": [alert_view(a, case_no) for a, case_no in rows], "next_after": next_after}


@blp.get("/cases/<case_no>")
@blp.response(200, PushOut(many=True))
def case_supervision(case_no):
    """The supervision of a case (claim and feedback), for its approvers and the administrators."""
    return case_views(current_actor(), case_no)
