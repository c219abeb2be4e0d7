"""问责 over the API (issue 17): the accountability records spot-check findings of illegal approval open, for the city
administrator. GET /api/v1/accountability?status=, GET …/<id>; POST …/<id>/handle {note}; POST …/<id>/proposal
{decision: accept | decline, confirm, reason}: accepting revokes the county's delegation of the item (confirm must
be true), declining needs a reason. The rules are supervision/accountability.py's; bad input names its field (422),
anyone but the city administrator 403, a proposal already decided 409."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from supervision import accountability

blp = Blueprint("accountability", __name__, description="问责 / accountability")


class AccountabilityOut(Schema):
    id = fields.Integer()
    spot_check_entry_id = fields.Integer()
    case_no = fields.String()
    item_code = fields.String()
    item_name = fields.String()
    county = fields.String()
    county_name = fields.String()
    deciding_org = fields.String()
    deciding_org_name = fields.String(allow_none=True)
    deciding_person = fields.String()
    finding = fields.String()
    status = fields.String(metadata={"description": "open | handled"})
    handling_note = fields.String(allow_none=True)
    handled_by = fields.String(allow_none=True)
    handled_at = Instant(allow_none=True)
    proposal = fields.String(metadata={"description": "proposed | accepted | declined | withdrawn"})
    proposal_reason = fields.String(allow_none=True)
    proposal_by = fields.String(allow_none=True)
    proposal_at = Instant(allow_none=True)
    created_at = Instant()


class AccountabilityQuery(StrictSchema):
    status = Text(load_default=None, max_length=10)


class AccountabilityHandleIn(StrictSchema):
    note = Text(load_default="", max_length=accountability.NOTE_MAX + 100)


class AccountabilityProposalIn(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["accept", "decline"]))
    confirm = fields.Boolean(load_default=False, metadata={"description": "must be true to accept (the revocation)"})
    reason = Text(load_default="", max_length=accountability.NOTE_MAX + 100)


@blp.get("")
@blp.arguments(AccountabilityQuery, location="query")
@blp.response(200, AccountabilityOut(many=True))
def index(query):
    return [accountability.view(r) for r in accountability.records(current_actor(), query.get("status"))]


@blp.get("/<int:record_id>")
@blp.response(200, AccountabilityOut)
def show(record_id):
    return accountability.view(accountability.get(current_actor(), record_id))


@blp.post("/<int:record_id>/handle")
@blp.arguments(AccountabilityHandleIn)
@blp.response(200, AccountabilityOut)
def handle(data, record_id):
    record = accountability.handle(current_actor(), record_id, data["note"])
    db.session.commit()
    return accountability.view(record)


@blp.post("/<int:record_id>/proposal")
@blp.arguments(AccountabilityProposalIn)
@blp.response(200, AccountabilityOut)
def decide(data, record_id):
    actor = current_actor()
    if data["decision"] == "accept":
        record = accountability.accept(actor, record_id, data["confirm"], data["reason"])
    else:
        record = accountability.decline(actor, record_id, data["reason"])
    db.session.commit()
    return accountability.view(record)
