"""公众服务 / public: what an applicant may do without logging in — rate a concluded case (好差评)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.extensions import db
from app.public import query_code_limits, spend_case_check
from delegation import ratings

blp = Blueprint("public_api", __name__, description="公众服务 / public services (no login)")


class RatingIn(StrictSchema):
    query_code = fields.String(required=True, validate=validate.Length(min=1, max=12),
                               metadata={"description": "办件查询码（受理时告知申请人）"})
    score = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=5, error="应为 1 至 5：5 非常满意、4 满意、3 基本满意、2 不满意、1 非常不满意"),
        metadata={"description": "5 非常满意、4 满意、3 基本满意、2 不满意、1 非常不满意"})
    comment = Text(max_length=ratings.COMMENT_MAX, load_default="")


class RatingOut(Schema):
    case_no = fields.String()
    score = fields.Integer()
    score_label = fields.String()
    satisfied = fields.Boolean()
    comment = fields.String()
    created_at = Instant()


@blp.post("/cases/<case_no>/rating")
@query_code_limits  # shared with the lookup and rating pages: 10 wrong codes per 10 minutes per client address
@blp.arguments(RatingIn)
@blp.response(201, RatingOut)
@blp.doc(security=[])
def rate_case(data, case_no):
    """Rate a concluded case once (好差评). The case number and query code must match; otherwise the answer is 404,
    as for a case that does not exist. Wrong codes are limited per client address, and checks of a code per case
    number whatever the address (429 when exceeded)."""
    spend_case_check(case_no)
    rating = ratings.rate(case_no, data["query_code"], data["score"], data.get("comment") or "")
    db.session.commit()
    return ratings.view(case_no, rating)
