"""The exchange operations view, for administrators: message log, outbox, dead letters, quarantine."""
from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import Instant, StrictSchema
from app.auth import current_actor
from app.extensions import db
from delegation.errors import Conflict, Forbidden, NotFound
from delegation.workflow import Role
from exchange import operations

blp = Blueprint("exchange", __name__, description="交换运维 / exchange operations (administrators)")


class LogQuery(StrictSchema):
    direction = fields.String(validate=validate.OneOf(["in", "out"]))
    case_no = fields.String()
    type = fields.String()
    peer = fields.String()
    state = fields.String()
    after = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MessageOut(Schema):
    direction = fields.String()
    id = fields.Integer()
    message_id = fields.String()
    type = fields.String(allow_none=True)
    peer = fields.String(allow_none=True)
    org = fields.String(allow_none=True)
    case_no = fields.String(allow_none=True)
    sequence = fields.Integer(allow_none=True)
    format = fields.String()
    state = fields.String()
    state_label = fields.String()
    attempts = fields.Integer(allow_none=True)
    next_attempt_at = Instant(allow_none=True)
    last_error = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    sha256 = fields.String()
    size = fields.Integer()
    at = Instant()


class MessagePage(Schema):
    items = fields.List(fields.Nested(MessageOut))
    next_after = fields.Integer(allow_none=True)


def _admin():
    actor = current_actor()
    if actor.role is not Role.ADMIN:
        raise Forbidden("role_forbidden", "只有管理员可以查看交换运维信息", "administrators only")
    return actor


@blp.get("/messages")
@blp.arguments(LogQuery, location="query")
@blp.response(200, MessagePage)
def messages(query):
    """Every message sent and received, searchable by case number, type, peer and state."""
    _admin()
    items, next_after = operations.message_log(
        direction=query.get("direction"), case_no=query.get("case_no"), type_=query.get("type"),
        peer=query.get("peer"), state=query.get("state"), after_id=query.get("after"), limit=query["limit"])
    return {"items": items, "next_after": next_after}


@blp.get("/messages/<any(in,out):direction>/<int:row_id>/raw")
@blp.response(200)
def raw(direction, row_id):
    """The exact bytes sent or received, for an auditor's own tools."""
    _admin()
    found = operations.raw_message(direction, row_id)
    if found is None:
        raise NotFound("message_not_found", "报文不存在", "no such message")
    data, fmt = found
    return Response(data, mimetype="application/xml" if fmt == "xml" else "application/json")


@blp.get("/dead-letters")
@blp.response(200, MessagePage)
def dead_letters():
    _admin()
    items, _ = operations.message_log(direction="out", state="dead", limit=200)
    return {"items": items, "next_after": None}


@blp.get("/quarantine")
@blp.response(200, MessagePage)
def quarantine():
    _admin()
    items, _ = operations.message_log(direction="in", state="quarantined", limit=200)
    return {"items": items, "next_after": None}


@blp.post("/outbox/<message_id>/resend")
@blp.response(200, MessageOut)
def resend(message_id):
    """Send a dead letter (or a message the peer rejected) again."""
    _admin()
    try:
        row = operations.resend(message_id)
    except LookupError:
        raise NotFound("message_not_found", "报文不存在", "no such message", field="message_id") from None
    except operations.NotResendable as exc:
        raise Conflict("not_resendable", f"只有失败或被拒收的报文可以重发（当前：{exc}）",
                       f"only dead or rejected messages can be sent again (this one is {exc})") from None
    db.session.commit()
    return operations._out(row)
