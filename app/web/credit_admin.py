"""信用记录 for the city administrators (issue 17): the records of this node with filters (kind, status, an
applicant's ID or name), and lifting one (撤销) after a confirmation page that shows the record and asks the reason.
The service is supervision.credit_admin (as /api/v1/credit does); a refusal is said on the confirmation page."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from app.web import register_page_errors, requires
from app.web.admin import _admin, _render
from app.web.common import _, _l, int_arg
from app.web.unit_of_work import page_unit
from delegation import limits
from supervision import credit, credit_admin

bp = Blueprint("web_credit_admin", __name__)
register_page_errors(bp)

STATUS_LABEL = {"in_force": _l("有效"), "expired": _l("已过期"), "lifted": _l("已撤销")}


class LiftForm(FlaskForm):
    reason = TextAreaField(_l("撤销理由"), validators=[Length(max=credit_admin.REASON_MAX)])


def _page(template: str, status: int = 200, **context):
    return _render(template, status, status_label=STATUS_LABEL, kind_label=credit.KIND_ZH,
                   active_credit=True, **context)


@bp.get("/admin/credit")
@requires(_admin)
def records():
    args = {k: (request.args.get(k) or "").strip() or None for k in ("kind", "status", "q")}
    rows, more = credit_admin.records(current_user.actor, **args,
                                      before_id=int_arg(request.args, "before", 1, limits.INT_MAX))
    return _page("representation/credit_records.html", rows=rows, more=more, args=args)


def _one(record_id: int) -> dict:
    return credit_admin.record(current_user.actor, record_id)  # NotFound: the 404 page


@bp.get("/admin/credit/<int:record_id>/lift")
@requires(_admin)
def lift_confirm(record_id: int):
    return _page("representation/credit_lift.html", record=_one(record_id), form=LiftForm())


@bp.post("/admin/credit/<int:record_id>/lift")
@requires(_admin)
def lift(record_id: int):
    form = LiftForm()
    if form.validate():
        with page_unit(form, page_level="form") as unit:
            credit_admin.lift(current_user.actor, record_id, form.reason.data)
        if not unit.failed:
            flash(_("已撤销该信用记录，不再影响申请人办理容缺受理"), "success")
            return redirect(url_for("web_credit_admin.records"), 303)
        return _page("representation/credit_lift.html", unit.status, record=_one(record_id), form=form)
    return _page("representation/credit_lift.html", 422, record=_one(record_id), form=form)
