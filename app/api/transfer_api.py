"""转办 over the API (issue 15): POST /api/v1/cases/<no>/transfer {to_org, reason} passes the case to another
organisation of its level; the answer is the case as GET /api/v1/cases/<no> shows it. The rules are
delegation/transfer.py's; bad input names its field (422), a holder that is not the caller's organisation 403, a
concluded case 409."""
from __future__ import annotations

from flask_smorest import Blueprint

from app.api.cases import _answer, _commit_and_keep, _view
from app.api.schemas import CaseOut, StrictSchema, Text
from app.auth import current_actor
from delegation import transfer

blp = Blueprint("transfer", __name__, description="转办 / transfer")


class TransferIn(StrictSchema):
    to_org = Text(load_default="", max_length=40,
                  metadata={"description": "the receiving organisation's code, e.g. 360700-sec-trade"})
    reason = Text(load_default="", metadata={"description": f"转办理由 (required, at most {transfer.REASON_MAX})"})


@blp.route("/<case_no>/transfer", methods=["POST"])
@blp.arguments(TransferIn)
@blp.response(200, CaseOut)
def create(data, case_no):
    actor = current_actor()
    case = _view(transfer.transfer(actor, case_no, data["to_org"], data["reason"]), actor)
    _commit_and_keep()
    return _answer(case, 200)
