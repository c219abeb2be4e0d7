"""The public verification of electronic licences, no login: /verify/<licence no> (where a licence's QR code
leads) says whether the licence is valid, expired or revoked (已撤销, with the date), with its holder, item, issuing
authority and validity — nothing else: no ID number, no phone, no revocation reason. A person holding a licence
is shown by the family name only. /verify/ca.pem is the node's licence CA, for PDF validators to chain the
signature to. The applicant downloads the licence from the case lookup (case number + query code, with the
lookup's budgets).

Budgets per client address (app.public's limiter): 60 look-ups and 20 unknown numbers per 10 minutes."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request

from app.public import limiter, query_code_limits, spend_case_check
from app.web import register_page_errors
from app.web.common import _l
from app.web.licence_pdf import pdf_response
from app.web.public_pages import LookupForm, _find_case
from delegation import licence_signing, licences

bp = Blueprint("web_verify", __name__)
register_page_errors(bp)

STATUS_LABEL = {"valid": _l("有效"), "expired": _l("已过期"), "revoked": _l("已撤销"), "not_yet_valid": _l("尚未生效")}
LOOKUPS = "60 per 10 minutes"
UNKNOWN = "20 per 10 minutes"


@bp.errorhandler(429)
def _too_many(_exc):
    return render_template("public/too_many.html"), 429, {"Retry-After": "600"}


@bp.get("/verify/ca.pem")
@limiter.shared_limit(LOOKUPS, scope="licence-verify")
def ca_certificate():
    settings = current_app.config["TONGQUAN"]
    return Response(licence_signing.ca_certificate_pem(settings.keys_dir, settings.node_id),
                    mimetype="application/x-pem-file")


@bp.get("/verify/<licence_no>")
@limiter.shared_limit(UNKNOWN, scope="licence-verify-unknown", deduct_when=lambda response: response.status_code == 404)
@limiter.shared_limit(LOOKUPS, scope="licence-verify")
def verify(licence_no):
    licence = licences.find(licence_no.strip()) if licences.LICENCE_NO_RE.match(licence_no) else None
    if licence is None:
        return render_template("public/verify.html", view=None, licence_no=licence_no[:60]), 404
    view = licences.public_view(licence, licences.today_local())
    return render_template("public/verify.html", view=view, status_label=STATUS_LABEL[view["status"]])


@bp.app_context_processor
def _licence_helpers():
    # the lookup result and the case page offer the licence only where this node issued one
    return {"has_licence": lambda case_no: licences.of_case(case_no) is not None}


def _applicant_licence(form):
    case = _find_case(form.case_no.data, form.query_code.data)
    return licences.of_case(case.case_no) if case is not None and case.decision == "approve" else None


@bp.post("/lookup/<case_no>/licence")
@query_code_limits
def applicant_download(case_no):
    """The applicant's own copy, from the lookup result (the query code comes along hidden)."""
    form = LookupForm(data={"case_no": case_no})
    if not form.validate():
        abort(404)
    spend_case_check(form.case_no.data)
    licence = _applicant_licence(form)
    if licence is None:
        abort(404)
    return pdf_response(licence)
