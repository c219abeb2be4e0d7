"""材料邮寄 (issue 19): the window records the paper originals it mails to the city, the city signs for them, and
both read where the originals are. The rules are delegation/mailing.py's; bad input names its field (422)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import cases, mailing

blp = Blueprint("mailing", __name__, description="材料邮寄 / mailing of paper originals")

_CODES = fields.List(Text(max_length=40), load_default=list, validate=validate.Length(max=mailing.MATERIALS_MAX))


class MailIn(StrictSchema):
    courier = Text(required=True, max_length=mailing.COURIER_MAX)
    tracking_no = Text(required=True, max_length=40)
    materials = fields.List(Text(max_length=40), required=True, validate=validate.Length(max=mailing.MATERIALS_MAX))


class ReceiptIn(StrictSchema):
    missing = _CODES
    damaged = fields.List(Text(max_length=40), load_default=list, validate=validate.Length(max=mailing.MATERIALS_MAX))
    comment = Text(max_length=mailing.COMMENT_MAX, allow_none=True)


class ReceiptOut(Schema):
    complete = fields.Boolean()
    missing = fields.List(fields.String())
    damaged = fields.List(fields.String())
    comment = fields.String(allow_none=True)
    received_at = Instant()
    received_by = fields.String()


class MailingOut(Schema):
    mailing_id = fields.String(attribute="mailing_uid")
    courier = fields.String()
    tracking_no = fields.String()
    materials = fields.List(fields.String())
    mailed_at = Instant()
    mailed_by = fields.String()
    due_at = Instant()
    overdue = fields.Boolean()
    receipt = fields.Nested(ReceiptOut, allow_none=True)


class OriginalsOut(Schema):
    required = fields.List(fields.String(), metadata={"description": "materials whose originals go to the city"})
    before_decision = fields.Boolean(metadata={"description": "the city decides only once they arrived intact"})
    lacking = fields.List(fields.String(), metadata={"description": "not yet signed for intact"})
    mailings = fields.List(fields.Nested(MailingOut))


def _out(case) -> dict:
    v = mailing.view(case)
    return {"required": [m.code for m in v["required"]], "before_decision": v["blocks_decision"],
            "lacking": [m.code for m in v["lacking"]],
            "mailings": [{**{k: getattr(r["mailing"], k) for k in ("mailing_uid", "courier", "tracking_no",
                                                                    "materials", "mailed_at", "mailed_by", "due_at")},
                          "overdue": r["overdue"], "receipt": r["mailing"].receipt} for r in v["mailings"]]}


@blp.get("/<case_no>/originals")
@blp.response(200, OriginalsOut)
def originals(case_no):
    """The originals the item asks for, each mailing with its receipt, and the overdue ones."""
    return _out(cases.get_case(current_actor(), case_no))


@blp.post("/<case_no>/originals")
@blp.arguments(MailIn)
@blp.response(201, OriginalsOut)
def mail(data, case_no):
    """邮寄原件 (the accepting window): courier, waybill number, the materials sent."""
    actor = current_actor()
    case = cases.get_case(actor, case_no, for_update=True)
    mailing.record_mailing(actor, case, data["courier"], data["tracking_no"], data["materials"])
    db.session.commit()
    return _out(case)


@blp.post("/<case_no>/originals/<mailing_id>/receipt")
@blp.arguments(ReceiptIn)
@blp.response(201, OriginalsOut)
def sign_for(data, case_no, mailing_id):
    """原件签收 (the city): complete when nothing is listed missing or damaged."""
    actor = current_actor()
    case = cases.get_case(actor, case_no, for_update=True)
    mailing.record_receipt(actor, case, mailing_id, data["missing"], data["damaged"], data.get("comment"))
    db.session.commit()
    return _out(case)
