"""API of delegations (收回 / 恢复审批权限, with their history) and of applicants' credit records (信用记录)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import grants
from delegation.deadlines import SHANGHAI
from supervision import credit

blp = Blueprint("delegations", __name__, description="审批权限下放、收回与恢复；申请人信用记录 / delegations and credit")


# -- schemas ---------------------------------------------------------------------------------------------------

class DelegationQuery(StrictSchema):
    item = fields.String(metadata={"description": "item code"})
    county = fields.String(metadata={"description": "division code of the county"})
    state = fields.String(validate=validate.OneOf(["granted", "revoked", "pending"]),
                          metadata={"description": "only delegations in this state now (or with a change pending)"})


class HistoryQuery(StrictSchema):
    item = fields.String()
    county = fields.String()


class DelegationChangeIn(StrictSchema):
    item_code = Text(required=True, min_length=1, max_length=40)
    county = Text(required=True, min_length=1, max_length=20, metadata={"description": "division code"})
    reason = Text(required=True, min_length=1, max_length=grants.REASON_MAX)
    effective_at = fields.AwareDateTime(default_timezone=SHANGHAI, allow_none=True,
                                        metadata={"description": "when it takes effect (default: at once); "
                                                                 "a time without offset is Beijing time"})
    finding_ref = Text(max_length=100, allow_none=True,
                       metadata={"description": "the finding behind it, e.g. spot-check-entry:12"})


class PendingOut(Schema):
    action = fields.String()
    effective_at = Instant()


class DelegationOut(Schema):
    item_code = fields.String()
    item_name = fields.String()
    mode = fields.String()
    county = fields.String()
    county_name = fields.String()
    granted = fields.Boolean(metadata={"description": "whether the county may accept the item now"})
    pending = fields.Nested(PendingOut, allow_none=True)
    changed_at = Instant(allow_none=True)
    reason = fields.String()
    effective_at = Instant(allow_none=True)


class DelegationEventOut(Schema):
    id = fields.Integer()
    item_code = fields.String()
    item_name = fields.String()
    county = fields.String()
    action = fields.String(metadata={"description": "grant | revoke"})
    reason = fields.String()
    effective_at = Instant()
    finding_ref = fields.String(allow_none=True)
    by = fields.String()
    at = Instant()


class CreditQuery(StrictSchema):
    id_code = Text(required=True, min_length=1, max_length=30)


class FalseCommitmentIn(StrictSchema):
    id_code = Text(required=True, min_length=1, max_length=30)
    name = Text(required=True, min_length=1, max_length=200)
    case_no = Text(max_length=40, allow_none=True)
    detail = Text(required=True, min_length=1, max_length=credit.DETAIL_MAX)


class CreditRecordOut(Schema):
    id = fields.Integer()
    id_code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "broken_commitment | false_commitment | penalty"})
    kind_zh = fields.String()
    case_no = fields.String(allow_none=True)
    detail = fields.String()
    blacklisted = fields.Boolean()
    recorded_by = fields.String()
    at = Instant()
    expires_at = Instant(metadata={"description": "when it stops counting (CREDIT_EXPIRY_DAYS of its kind)"})
    status = fields.String(metadata={"description": "in_force | expired | lifted (only in_force counts)"})
    lifted_at = Instant(allow_none=True)
    lifted_by = fields.String(allow_none=True)
    lift_reason = fields.String(allow_none=True)


class CreditOut(Schema):
    id_code = fields.String()
    blacklisted = fields.Boolean()
    records = fields.List(fields.Nested(CreditRecordOut))


# -- delegations -----------------------------------------------------------------------------------------------

@blp.get("")
@blp.arguments(DelegationQuery, location="query")
@blp.response(200, DelegationOut(many=True))
def list_delegations(query):
    """Whether each county may accept each item now, with any change scheduled. Give `item`, `county`, or both
    (or `state=revoked|pending` alone)."""
    current_actor()
    return grants.states(query.get("item"), query.get("county"), query.get("state"))


@blp.get("/history")
@blp.arguments(HistoryQuery, location="query")
@blp.response(200, DelegationEventOut(many=True))
def delegation_history(query):
    """Grants and revocations, oldest first, of an item, a county, or an item at a county."""
    current_actor()
    return grants.history(query.get("item"), query.get("county"))


def _change(fn, data):
    actor = current_actor()
    fn(actor, data["item_code"], data["county"], data["reason"], data.get("effective_at"), data.get("finding_ref"))
    db.session.commit()
    return grants.state(grants.find_item(data["item_code"]), grants.find_county(data["county"]))


@blp.post("/revoke")
@blp.arguments(DelegationChangeIn)
@blp.response(200, DelegationOut)
def revoke(data):
    """收回: the county stops accepting the item as delegated (at once, or from `effective_at`); cases it has
    already accepted finish under their rules. City administrators only."""
    return _change(grants.revoke, data)


@blp.post("/restore")
@blp.arguments(DelegationChangeIn)
@blp.response(200, DelegationOut)
def restore(data):
    """恢复: the county accepts the item again (or a revocation not yet in effect is called off)."""
    return _change(grants.restore, data)


# -- credit records --------------------------------------------------------------------------------------------

@blp.get("/credit-records")
@blp.arguments(CreditQuery, location="query")
@blp.response(200, CreditOut)
def credit_records(query):
    """The marks against an applicant (unified social credit code or resident ID); a regulator sees those of the
    cases pushed to its organisation and those it recorded."""
    id_code = credit.normalise(query["id_code"])
    records = credit.lookup(id_code, current_actor())
    # on the blacklist now: an expired or lifted blacklisting no longer counts (issue 17)
    blacklisted = any(r["blacklisted"] and r["status"] == "in_force" for r in records)
    return {"id_code": id_code, "blacklisted": blacklisted, "records": records}


@blp.post("/credit-records")
@blp.arguments(FalseCommitmentIn)
@blp.response(201, CreditRecordOut)
def record_false_commitment(data):
    """A 告知承诺 found false: the applicant goes on the blacklist. A regulator records against a case pushed to its
    organisation (`case_no` and the applicant's `id_code` must go together); only the city administrators record
    against any case of this node, or without one."""
    actor = current_actor()
    record = credit.record_false_commitment(actor, data["id_code"], data["name"], data.get("case_no"),
                                            data["detail"])
    db.session.commit()
    return next(r for r in credit.lookup(record.id_code) if r["id"] == record.id)
