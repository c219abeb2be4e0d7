"""Assignment over the API (issue 15): who in the holding organisation works a case. POST claims it (no body) or
assigns it to a colleague (`assignee`), DELETE releases it to the unit, GET says who has it; the rules are
delegation.assignment's."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.schemas import StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import assignment
from delegation.cases import get_case

blp = Blueprint("assignment", __name__, description="领取 / 分派 / assignment")


class AssignIn(StrictSchema):
    assignee = Text(max_length=60, load_default="",
                    metadata={"description": "a colleague's username; empty: claim the case yourself"})


class AssignmentOut(Schema):
    org = fields.String(metadata={"description": "the organisation holding the case"})
    assignee = fields.String(allow_none=True, metadata={"description": "the assignee's username (None: unassigned)"})
    worker = fields.String(allow_none=True, metadata={"description": "who works it today (a stand-in while away)"})


@blp.route("/<case_no>/assignment", methods=["GET"])
@blp.response(200, AssignmentOut)
def show(case_no):
    return assignment.describe(get_case(current_actor(), case_no))


@blp.route("/<case_no>/assignment", methods=["POST"])
@blp.arguments(AssignIn)
@blp.response(201, AssignmentOut)
def assign(data, case_no):
    actor = current_actor()
    if data["assignee"]:
        assignment.assign(actor, case_no, data["assignee"])
    else:
        assignment.claim(actor, case_no)
    db.session.commit()
    return assignment.describe(get_case(actor, case_no))


@blp.route("/<case_no>/assignment", methods=["DELETE"])
@blp.response(204)
def release(case_no):
    assignment.release(current_actor(), case_no)
    db.session.commit()
