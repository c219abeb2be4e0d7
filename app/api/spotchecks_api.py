"""Spot checks (抽查监督, 双随机一公开): draw, list, show, verify the draw, record findings, publish."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from supervision import spotchecks
from supervision.models import FINDINGS

blp = Blueprint("spotchecks", __name__, description="抽查监督 / spot checks (双随机一公开)")


class PeriodIn(StrictSchema):
    start = fields.Date(data_key="from", allow_none=True, metadata={"description": "决定日期起（含），北京时间"})
    end = fields.Date(data_key="to", allow_none=True, metadata={"description": "决定日期止（含），北京时间"})


class SpotCheckCreate(StrictSchema):
    title = Text(max_length=200, allow_none=True)
    county = Text(max_length=20, allow_none=True, metadata={"description": "县区代码；不填为全部县区"})
    item = Text(max_length=40, allow_none=True, metadata={"description": "事项编码；不填为全部事项"})
    mode = Text(max_length=20, allow_none=True, metadata={"description": "direct | delegated_review | forward_only"})
    period = fields.Nested(PeriodIn, allow_none=True)
    # no range validators here: the service explains a bad rate or count in Chinese and names the field
    rate = fields.Float(allow_none=True, error_messages={"invalid": "应为数字，例如 0.1"},
                        metadata={"description": "抽取比例，0 < rate ≤ 1，向上取整"})
    count = fields.Integer(allow_none=True, strict=True, metadata={"description": "抽取件数（与 rate 二选一）"})
    seed = Text(min_length=1, max_length=64, allow_none=True,
                metadata={"description": "随机种子；不填则由系统生成"})
    inspector_pool = fields.List(Text(min_length=1, max_length=60), allow_none=True,
                                 metadata={"description": "检查人员用户名；不填为全部在岗监管人员"})


class SpotCheckQuery(StrictSchema):
    published = fields.Boolean()
    after = fields.Integer(validate=validate.Range(min=1), metadata={"description": "keyset cursor (next_after)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class FindingIn(StrictSchema):
    finding = fields.String(required=True, validate=validate.OneOf(
        FINDINGS, error="应为 compliant（合规）、defect_corrected（存在瑕疵已整改）或 illegal_approval（违法审批）"))
    note = Text(max_length=4000, load_default="")


class InspectorOut(Schema):
    username = fields.String()
    display_name = fields.String()


class EntryOut(Schema):
    id = fields.Integer()
    case_no = fields.String()
    item_code = fields.String()
    item_name = fields.String()
    county_code = fields.String()
    county_name = fields.String()
    mode = fields.String()
    decided_at = Instant(allow_none=True)
    inspectors = fields.List(fields.Nested(InspectorOut))
    finding = fields.String(allow_none=True)
    finding_note = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True)
    recorded_at = Instant(allow_none=True)


class SpotCheckSummary(Schema):
    id = fields.Integer()
    title = fields.String()
    seed = fields.String()
    criteria = fields.Raw()
    population = fields.Integer()
    sample_size = fields.Integer()
    findings = fields.Dict(keys=fields.String(), values=fields.Integer())
    created_by = fields.String()
    created_at = Instant()
    published_at = Instant(allow_none=True)


class SpotCheckOut(SpotCheckSummary):
    entries = fields.List(fields.Nested(EntryOut))


class SpotCheckPage(Schema):
    items = fields.List(fields.Nested(SpotCheckSummary))
    next_after = fields.Integer(allow_none=True)


class VerifyOut(Schema):
    id = fields.Integer()
    reproduced = fields.Boolean()
    seed = fields.String()
    algorithm = fields.String(allow_none=True)
    sample_matches = fields.Boolean()
    inspectors_match = fields.Boolean()
    error = fields.String(allow_none=True)
    population = fields.Raw()
    inspector_conflicts_now = fields.List(fields.String())
    redrawn = fields.Raw()
    stored = fields.Raw()


@blp.post("")
@blp.arguments(SpotCheckCreate)
@blp.response(201, SpotCheckOut)
def draw(data):
    """Draw a spot check (城市管理员): a random sample of approved cases and two random inspectors per case,
    never one who handled the case. The seed and every input are stored so the draw can be verified."""
    actor = current_actor()
    period = data.get("period") or {}
    check = spotchecks.create(actor, title=data.get("title"), county=data.get("county"), item=data.get("item"),
                              mode=data.get("mode"), period_from=period.get("start"), period_to=period.get("end"),
                              rate=data.get("rate"), count=data.get("count"), seed=data.get("seed"),
                              inspector_usernames=data.get("inspector_pool"))
    db.session.commit()
    return spotchecks.check_view(check)


@blp.get("")
@blp.arguments(SpotCheckQuery, location="query")
@blp.response(200, SpotCheckPage)
def list_checks(query):
    """Spot checks: all of them for an administrator, those the caller inspects for a regulator."""
    actor = current_actor()
    rows, next_after = spotchecks.list_checks(actor, published=query.get("published"), after_id=query.get("after"),
                                              limit=query["limit"])
    return {"items": [spotchecks.check_view(c, full=False) for c in rows], "next_after": next_after}


@blp.get("/<int:check_id>")
@blp.response(200, SpotCheckOut)
def get_check(check_id):
    actor = current_actor()
    return spotchecks.check_view(spotchecks.get(actor, check_id))


@blp.get("/<int:check_id>/verify")
@blp.response(200, VerifyOut)
def verify(check_id):
    """Draw again with the stored seed and inputs and compare with the stored sample and inspectors; also says
    whether today's query of the criteria still finds the same population."""
    actor = current_actor()
    spotchecks.get(actor, check_id)  # visibility
    return spotchecks.redraw(check_id)


@blp.post("/<int:check_id>/entries/<int:entry_id>/finding")
@blp.arguments(FindingIn)
@blp.response(200, EntryOut)
def record_finding(data, check_id, entry_id):
    """Record the finding of one sampled case (one of its inspectors, or an administrator)."""
    actor = current_actor()
    entry = spotchecks.record_finding(actor, check_id, entry_id, data["finding"], data.get("note"))
    db.session.commit()
    view = spotchecks.check_view(entry.spot_check)
    return next(e for e in view["entries"] if e["id"] == entry.id)


@blp.post("/<int:check_id>/publish")
@blp.response(200, SpotCheckOut)
def publish(check_id):
    """Publish the sample and its findings on the public page /public/spot-checks (staff names left out)."""
    actor = current_actor()
    check = spotchecks.publish(actor, check_id)
    db.session.commit()
    return spotchecks.check_view(check)
