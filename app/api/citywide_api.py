"""全市通办 over the API (issue 17 part D): register an application at this window for another county's competent
unit, the counties an item may be accepted for, the catalogue flag (administrator) and the figures counted at both
ends. The rules are delegation/citywide.py's; bad input names its field (422 / 409), nothing is kept."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields

from app.api.cases import _answer, _commit_and_keep, _view
from app.api.schemas import CaseCreate, CaseOut, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import citywide
from delegation.errors import Forbidden
from delegation.workflow import Role

blp = Blueprint("citywide", __name__, description="全市通办 / city-wide acceptance")


class CitywideCaseIn(CaseCreate):
    competent_county = Text(required=True, max_length=20,
                            metadata={"description": "the competent county's division code (GET …/counties lists them)"})


class CountyOut(StrictSchema):
    code = fields.String()
    name = fields.String()


class CountiesOut(StrictSchema):
    item_code = fields.String()
    citywide = fields.Boolean()
    counties = fields.List(fields.Nested(CountyOut))


class FlagIn(StrictSchema):
    citywide = fields.Boolean(required=True)


class StatRow(StrictSchema):
    county = fields.String()
    county_name = fields.String()
    accepted_for_others = fields.Integer()
    accepted_decided = fields.Integer()
    accepted_concluded = fields.Integer()
    handled_for_others = fields.Integer()
    handled_decided = fields.Integer()
    handled_concluded = fields.Integer()


@blp.post("/cases")
@blp.arguments(CitywideCaseIn)
@blp.response(201, CaseOut)
def create_case(data):
    """Register an application for the competent county (state `submitted`); accepted, it travels there."""
    actor = current_actor()
    case = citywide.register(actor, data["item_code"], data["applicant"], data["materials"],
                             data["competent_county"], data.get("id_check_override"))
    _view(case, actor, created=True)
    _commit_and_keep()
    return _answer(case, 201)


@blp.get("/items/<item_code>/counties")
@blp.response(200, CountiesOut)
def counties(item_code):
    """The counties this window may accept the item for (hosted by a node, holding its delegation)."""
    item, choices = citywide.counties_for(current_actor(), item_code)
    return {"item_code": item.code, "citywide": citywide.is_citywide(item),
            "counties": [{"code": c, "name": n} for c, n in choices]}


@blp.put("/items/<item_code>")
@blp.arguments(FlagIn)
@blp.response(200, CountiesOut)
def set_flag(data, item_code):
    """Mark an item 全市通办 or not (city administrator; direct items only)."""
    item = citywide.set_item_flag(current_actor(), item_code, data["citywide"])
    db.session.commit()
    return {"item_code": item.code, "citywide": data["citywide"], "counties": []}


@blp.get("/statistics")
@blp.response(200, StatRow(many=True))
def statistics():
    """Per county: accepted for other counties, handled for other counties' windows (this node's copies)."""
    actor = current_actor()
    if actor.role is Role.REGULATOR:
        raise Forbidden("role_forbidden", "全市通办统计仅供窗口、审批人员和管理员查看", "not for regulators")
    return citywide.statistics(None if actor.role is Role.ADMIN or actor.org_level == "city" else actor.division_code)
