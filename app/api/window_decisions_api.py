"""The approval kinds decided at the window over the API (issue 17, part A). The decisions themselves are case
actions (POST /api/v1/cases/<no>/actions: approve_on_commitment with commitment_signed and signer_name,
decide_instant, file); here: the items they apply to, the authorities an administrator grants, the regulator's
verification of commitments and the figures. Rules: delegation/window_decisions.py, supervision/commitment_checks.py."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import RAISE, fields, validate

from app.api.schemas import Instant, StrictSchema, Text
from app.api.stats_api import StatsQuery, _allowed, _filters
from app.auth import current_actor
from app.extensions import db
from delegation import window_decisions
from delegation.models import Item
from delegation.window_decision_models import Authority
from persistence import utcnow
from supervision import commitment_checks, statistics

blp = Blueprint("window_decisions", __name__, description="告知承诺、即办件、备案 / decided at the window")


class ApprovalItemOut(StrictSchema):
    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "instant | promised"})
    approval_kind = fields.String(metadata={"description": "commitment (告知承诺制) | filing (备案) | standard"})
    commitment_text = fields.String(allow_none=True)
    verification_days = fields.Integer(allow_none=True)


@blp.get("/items")
@blp.response(200, ApprovalItemOut(many=True))
def items():
    """The active items decided at the window: 告知承诺 and exempt (备案) items, and the instant items."""
    current_actor()
    rows = db.session.execute(sa.select(Item).where(Item.active.is_(True)).order_by(Item.code)).unique().scalars()
    rows = list(rows)
    kinds = window_decisions.kinds_by_item(i.id for i in rows)
    return [{"code": i.code, "name": i.name, "kind": i.kind,
             "approval_kind": kinds[i.id].kind if i.id in kinds else "standard",
             "commitment_text": kinds[i.id].commitment_text if i.id in kinds else None,
             "verification_days": kinds[i.id].verification_days if i.id in kinds else None}
            for i in rows if i.id in kinds or i.kind == "instant"]


class AuthoritiesIn(StrictSchema):
    authorities = fields.List(fields.String(validate=validate.OneOf([a.value for a in Authority])),
                              required=True, validate=validate.Length(max=len(Authority)))


class AuthoritiesOut(StrictSchema):
    username = fields.String()
    authorities = fields.List(fields.String())


@blp.put("/staff/<username>")
@blp.arguments(AuthoritiesIn)
@blp.response(200, AuthoritiesOut)
def set_authorities(data, username):
    """The administrator sets the on-the-spot authorities a window clerk holds (commitment_decision,
    instant_decision); those not listed are withdrawn."""
    held = window_decisions.set_authorities(current_actor(), username, data["authorities"])
    db.session.commit()
    return {"username": username, "authorities": sorted(held)}


class CheckOut(StrictSchema):
    case_no = fields.String()
    commitment_text = fields.String()
    signer_name = fields.String()
    signed_by = fields.String()
    signed_at = Instant()
    verify_due_at = Instant()
    overdue = fields.Boolean()
    result = fields.String(allow_none=True)
    result_note = fields.String(allow_none=True)
    result_by = fields.String(allow_none=True)
    result_at = Instant(allow_none=True)


def _check(record, now) -> dict:
    return {**{k: getattr(record, k) for k in CheckOut().fields if k != "overdue"},
            "overdue": commitment_checks.is_overdue(record, now)}


@blp.get("/commitment-checks")
@blp.response(200, CheckOut(many=True))
def open_checks():
    """The regulator organisation's 告知承诺 still to verify, soonest due first."""
    now = utcnow()
    return [_check(r, now) for r in commitment_checks.open_tasks(current_actor())]


class CheckIn(StrictSchema):
    result = fields.String(required=True, metadata={"description": "verified | false"})
    note = Text(load_default="", max_length=commitment_checks.NOTE_MAX)


@blp.post("/commitment-checks/<case_no>")
@blp.arguments(CheckIn)
@blp.response(200, CheckOut)
def record_check(data, case_no):
    """承诺属实 or 承诺不实 (with what was found): a false commitment revokes the licence and blacklists the
    applicant."""
    record = commitment_checks.record_result(current_actor(), case_no, data["result"], data["note"])
    db.session.commit()
    return _check(record, utcnow())


StatsOut = StrictSchema.from_dict({k: fields.Integer() for k in ("approvals", "verified", "false", "open",
                                                                    "overdue")}, name="CommitmentFigures")


@blp.get("/stats")
@blp.arguments(StatsQuery, location="query", unknown=RAISE)
@blp.response(200, StatsOut)
def stats(query):
    """告知承诺 approvals, verified, found false, open and open past due (the statistics' filters)."""
    _allowed()
    return statistics.window_commitments(_filters(query), utcnow())
