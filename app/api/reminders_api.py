"""催办 over the API (issue 15): POST presses the holder of a case, GET lists the case's reminders."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.schemas import StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import reminders
from delegation.cases import get_case

blp = Blueprint("reminders", __name__, description="催办 / reminders")


class ReminderIn(StrictSchema):
    comment = Text(max_length=reminders.COMMENT_MAX, load_default="", metadata={"description": "催办说明"})


class ReminderOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "manual | automatic"})
    at = fields.DateTime()
    by_username = fields.String(allow_none=True)
    by_org = fields.String()
    to_org = fields.String(metadata={"description": "the organisation that held the case when reminded"})
    comment = fields.String()
    escalated_to = fields.String(allow_none=True)


@blp.route("/<case_no>/reminders", methods=["POST"])
@blp.arguments(ReminderIn)
@blp.response(201, ReminderOut)
def create(data, case_no):
    reminder = reminders.remind(current_actor(), case_no, data["comment"])
    db.session.commit()
    return reminder


@blp.route("/<case_no>/reminders", methods=["GET"])
@blp.response(200, ReminderOut(many=True))
def list_reminders(case_no):
    return reminders.reminders_of(get_case(current_actor(), case_no))
