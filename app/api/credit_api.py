"""信用记录 administration and 帮办人员 (issue 17): the city administrators list the credit records with filters and
lift one with a reason; they name window clerks assistants; a window reads its own assistants (for intake's
`assisted_by`). The services: supervision.credit_admin, delegation.representation."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.delegations_api import CreditRecordOut
from app.api.schemas import StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import limits, representation
from supervision import credit, credit_admin

blp = Blueprint("credit", __name__, description="信用记录撤销、帮办人员 / credit records and assistants")


class RecordQuery(StrictSchema):
    kind = fields.String(validate=validate.OneOf(list(credit.KIND_ZH)))
    status = fields.String(validate=validate.OneOf(list(credit_admin.STATUSES)),
                           metadata={"description": "in_force | expired | lifted"})
    q = Text(max_length=credit_admin.SEARCH_MAX, metadata={"description": "an applicant's ID, or part of a name"})
    before = fields.Integer(validate=validate.Range(min=1, max=limits.INT_MAX),
                            metadata={"description": "next_before of the previous page"})


RecordOut = CreditRecordOut  # one schema of a credit record, the delegations API's


class RecordPage(Schema):
    records = fields.List(fields.Nested(RecordOut))
    next_before = fields.Integer(allow_none=True)


class LiftIn(StrictSchema):
    reason = Text(required=True, min_length=1, max_length=credit_admin.REASON_MAX)


class AssistantIn(StrictSchema):
    assistant = fields.Boolean(required=True)


class AssistantOut(Schema):
    username = fields.String()
    display_name = fields.String()
    org_code = fields.String(attribute="org.code")
    assistant = fields.Boolean()


@blp.get("/records")
@blp.arguments(RecordQuery, location="query")
@blp.response(200, RecordPage)
def records(query):
    """The credit records of this node, newest first (city administrators)."""
    rows, more = credit_admin.records(current_actor(), kind=query.get("kind"), status=query.get("status"),
                                      q=query.get("q"), before_id=query.get("before"))
    return {"records": rows, "next_before": more}


@blp.post("/records/<int:record_id>/lift")
@blp.arguments(LiftIn)
@blp.response(200, RecordOut)
def lift(data, record_id):
    """撤销: the record no longer counts against the applicant (blocks no 容缺); who, when and why are kept."""
    actor = current_actor()
    credit_admin.lift(actor, record_id, data["reason"])
    db.session.commit()
    return credit_admin.record(actor, record_id)


@blp.get("/assistants")
@blp.response(200, AssistantOut(many=True))
def assistants():
    """The assistants (帮办人员) of the caller's own organisation: the `assisted_by` an intake may name."""
    return representation.assistants(current_actor().org_code)


@blp.put("/assistants/<username>")
@blp.arguments(AssistantIn)
@blp.response(200, AssistantOut)
def set_assistant(data, username):
    """Name a window clerk an assistant, or no longer (city administrators)."""
    user = representation.set_assistant(current_actor(), username, data["assistant"])
    db.session.commit()
    return user
