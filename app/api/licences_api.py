"""电子证照 / electronic licences, for the city administrator: read a licence this node issued (with its
revocation), revoke it with a reason, or revoke the licence of a spot-check entry found illegal_approval. The
public check is the page /verify/<licence no> (app/web/verify.py)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.schemas import Instant, StrictSchema, Text
from app.auth import current_actor
from app.extensions import db
from delegation import licences
from delegation.errors import NotFound
from supervision.licence_revocation import revoke_for_finding

blp = Blueprint("licences", __name__, description="电子证照 / electronic licences (核验、撤销)")


class RevokeIn(StrictSchema):
    reason = Text(required=True, min_length=1, max_length=licences.REASON_MAX)
    finding_ref = Text(max_length=100, allow_none=True, metadata={"description": "e.g. spot-check-entry:12"})


class FindingRevokeIn(StrictSchema):
    check_id = fields.Integer(required=True)
    entry_id = fields.Integer(required=True)
    reason = Text(max_length=licences.REASON_MAX, allow_none=True,
                  metadata={"description": "default: the finding's note"})


class LicenceOut(Schema):
    licence_no = fields.String()
    case_no = fields.String()
    title = fields.String()
    item_code = fields.String()
    item_name = fields.String()
    holder_name = fields.String()
    issuer_code = fields.String()
    issuer_name = fields.String()
    valid_from = fields.Date()
    valid_until = fields.Date(allow_none=True)
    issued_at = Instant()
    status = fields.String(metadata={"description": "valid, expired, revoked or not_yet_valid"})
    revoked_at = Instant(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    revoked_by = fields.String(allow_none=True)
    finding_ref = fields.String(allow_none=True)


def _view(licence) -> dict:
    return {**{k: getattr(licence, k) for k in LicenceOut._declared_fields if k != "status"},
            "status": licences.status(licence, licences.today_local())}


@blp.get("/<licence_no>")
@blp.response(200, LicenceOut)
def get_licence(licence_no):
    """A licence this node issued, with its revocation (reason included)."""
    licences.require_city_admin(current_actor())
    licence = licences.find(licence_no)
    if licence is None:
        raise NotFound("licence_not_found", f"本节点未签发证照 {licence_no}", f"this node issued no licence {licence_no}",
                       field="licence_no")
    return _view(licence)


@blp.post("/<licence_no>/revoke")
@blp.arguments(RevokeIn)
@blp.response(200, LicenceOut)
def revoke(data, licence_no):
    """撤销: the licence's /verify page then says 已撤销 with the date."""
    licence = licences.revoke(current_actor(), licence_no, data["reason"], data.get("finding_ref"))
    db.session.commit()
    return _view(licence)


@blp.post("/revoke-for-finding")
@blp.arguments(FindingRevokeIn)
@blp.response(200, LicenceOut)
def revoke_for_spot_check(data):
    """Revoke the licence of a spot-check entry whose finding is illegal_approval, citing the entry."""
    licence = revoke_for_finding(current_actor(), data["check_id"], data["entry_id"], data.get("reason"))
    db.session.commit()
    return _view(licence)
