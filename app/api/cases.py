from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint
from marshmallow import INCLUDE

from app.api.schemas import (ActionRequest, BatchApproveOut, BatchApproveRequest, CaseCreate, CaseOut, CasePage,
                             CaseQuery, DecideRequest, FileOut, IntakeFields, IntakeFiles, UploadFile, UploadForm,
                             as_utc, case_out, intake_files)
from app.api.supervision_api import for_case
from app.auth import current_actor
from app.errors import lang
from app.extensions import db
from delegation import cases, decisions, intake, uploads
from delegation.clock import deadline_details
from delegation.responsibility import responsible_parties
from delegation.workflow import allowed_actions
from supervision import credit, push_queries

blp = Blueprint("cases", __name__, description="办件 / cases")


def _commit_and_keep() -> None:
    """Commit without expiring what the session holds: the response describes the case as this transaction wrote
    it (flushed, then committed), so reading it back from the database would cost a round trip per object and
    relationship for nothing."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _utc_iso(moment):
    return as_utc(moment).isoformat() if moment else None


def _view(case, actor, created=False):
    case.deadline = deadline_details(case)
    case.responsible = responsible_parties(case)
    case.allowed_actions = [a.value for a in allowed_actions(case.state, actor.role, case.mode)]
    case.commitment = ({"deadline": _utc_iso(case.commitment_deadline),
                        "met_at": _utc_iso(case.commitment_met_at),
                        "materials": [m.code for m in case.materials if m.committed]}
                       if case.commitment_deadline else None)
    case.credit_warnings = credit.warnings_for(case.applicant_id_code)  # the blacklist and other marks
    # What the regulators fed back, for the approvers (push_queries.sees_supervision, the rule of the supervision
    # view): pushes follow an approval, so a case registered in this request has none.
    case.supervision_shown = push_queries.sees_supervision(actor, case)
    case.supervision = for_case(case.case_no) if case.supervision_shown and not created else []
    # What the answer lists, read now: called before the commit, the view reads everything in the request's one
    # transaction (after it, each read would check a connection out again: a ping, BEGIN, the SELECTs, ROLLBACK).
    case.files, case.events  # noqa: B018  (a new case's are known without a query)
    return case


def _without_supervision_details(timeline: list[dict]) -> list[dict]:
    """The timeline for those who may not read the supervision: its lines stay (supervision happened), what it
    found (results, comments, decision numbers, amounts, who) goes."""
    hidden = push_queries.is_supervision_line
    return [{**e, "comment": "", "data": None} if hidden(e["action"]) else e for e in timeline]


def _answer(case, status: int):
    """The CaseOut body, built by schemas.case_out (what CaseOut().dump gives, without the schema walk); the
    decorators' CaseOut still documents it in the OpenAPI document."""
    body = case_out(case)
    if not case.supervision_shown:
        body["timeline"] = _without_supervision_details(body["timeline"])
    response = jsonify(body)
    response.status_code = status
    return response


@blp.post("")
@blp.arguments(CaseCreate())
@blp.response(201, CaseOut)
def create_case(data):
    """Register an application at the county window (state `submitted`)."""
    actor = current_actor()
    case = cases.create_case(actor, data["item_code"], data["applicant"], data["materials"],
                             data.get("id_check_override"))
    _view(case, actor, created=True)  # in the transaction: one checkout of a connection per request
    _commit_and_keep()
    return _answer(case, 201)


@blp.post("/intake")
@blp.arguments(IntakeFields, location="form")
@blp.arguments(IntakeFiles, location="files", unknown=INCLUDE)
@blp.response(201, CaseOut)
def intake_with_files(form, files):
    """Register an application and the files brought with it, as the window's intake page does: all or nothing
    (a refused file names its part, `files.<material code>`, and no case stays)."""
    actor = current_actor()
    applicant = {"kind": form["applicant_kind"], "name": form["applicant_name"],
                 "id_code": form["applicant_id_code"], "phone": form.get("applicant_phone"),
                 "address": form.get("applicant_address"),
                 "legal_representative": form.get("applicant_legal_representative"),
                 "agent": {"name": form.get("agent_name"), "id_code": form.get("agent_id_code"),
                           "phone": form.get("agent_phone")}, "assisted_by": form.get("assisted_by")}
    case = intake.register_with_files(actor, form["item_code"], applicant,
                                      [{"code": code, "present": True} for code in form["materials"]],
                                      intake_files(files), form.get("id_check_override"), accept=form["accept"])
    return _done(case, actor, 201)


@blp.post("/batch-approve")
@blp.arguments(BatchApproveRequest())
@blp.response(200, BatchApproveOut)
def batch_approve(data):
    """Approve with one opinion, as the city desk's confirmed batch does, each case the batch rule admits
    (delegated review, recommended by the county, materials complete, no credit mark); each is committed on its
    own, the others say why not."""
    results = decisions.approve_batch(current_actor(), data["case_nos"], data["opinion"], _credit_marked)
    return {"approved": sum(r.ok for r in results), "results": [_batch_result(r) for r in results]}


def _credit_marked(id_code) -> bool:
    return bool(credit.warnings_for(id_code))


def _batch_result(result) -> dict:
    error = result.error
    return {"case_no": result.case_no, "ok": result.ok, "blockers": result.blockers,
            "error": None if error is None else {"code": error.code, "field": error.field,
                                                 "detail": error.message(lang())}}


@blp.post("/<case_no>/decide")
@blp.arguments(DecideRequest())
@blp.response(200, CaseOut)
def review_and_decide(data, case_no):
    """The county's decision of a `direct` item, as the review page takes it: the opinion is recorded first when
    it is new, then approve or deny, in one transaction."""
    actor = current_actor()
    case = decisions.review_and_decide(actor, case_no, data["decision"], data["opinion"], data.get("certificate_no"),
                                       data["reasons"])
    return _done(case, actor, 200)


def _done(case, actor, status: int):
    _view(case, actor, created=status == 201)  # in the transaction: one checkout of a connection per request
    _commit_and_keep()
    return _answer(case, status)


@blp.get("")
@blp.arguments(CaseQuery(), location="query")
@blp.response(200, CasePage)
def list_cases(query):
    """Cases visible to the caller, newest first; pass `next_after` back as `after` for the next page."""
    actor = current_actor()
    rows, next_after = cases.list_cases(actor, state=query.get("state"), item=query.get("item"),
                                        county=query.get("county"), due=query.get("due"),
                                        after_id=query.get("after"), limit=query["limit"])
    return {"items": rows, "next_after": next_after}


@blp.get("/<case_no>")
@blp.response(200, CaseOut)
def get_case(case_no):
    actor = current_actor()
    return _answer(_view(cases.get_case(actor, case_no), actor), 200)


@blp.post("/<case_no>/actions")
@blp.arguments(ActionRequest())
@blp.response(200, CaseOut)
def act(data, case_no):
    """Take an action on the case; the state, role and organisation decide whether it is allowed."""
    actor = current_actor()
    case = cases.perform(actor, case_no, data.pop("action"), data)
    _view(case, actor)  # in the transaction: one checkout of a connection per request
    _commit_and_keep()
    return _answer(case, 200)


@blp.post("/<case_no>/files")
@blp.arguments(UploadForm, location="form")
@blp.arguments(UploadFile, location="files")
@blp.response(201, FileOut)
def upload(form, files, case_no):
    """Upload a file for one material (PDF, PNG or JPEG; size limited)."""
    actor = current_actor()
    f = files["file"]
    record = uploads.attach(actor, case_no, form["material_code"], f.filename or "", f.mimetype, f.stream)
    db.session.commit()
    return record
