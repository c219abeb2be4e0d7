"""问责 for the city administrator (issue 17): the accountability records spot-check findings of illegal approval
opened, one page per record with its handling form and the proposal to revoke the county's delegation of the item —
accepted only from a confirmation page that says what will be revoked (supervision.accountability, as
/api/v1/accountability does), or declined with a reason. A refusal is said on the form, naming the field."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length

from app.web import register_page_errors, requires
from app.web.admin import _admin, _render
from app.web.common import _, _l
from app.web.unit_of_work import page_unit
from supervision import accountability

bp = Blueprint("web_accountability", __name__)
register_page_errors(bp)

STATUS_LABEL = {"open": _l("待处理"), "handled": _l("已处理")}
PROPOSAL_LABEL = {"proposed": _l("建议收回审批权限（待决定）"), "accepted": _l("已采纳，审批权限已收回"),
                  "declined": _l("未采纳"), "withdrawn": _l("已撤回（检查结果已更正）")}


class HandleForm(FlaskForm):
    note = TextAreaField(_l("处理情况"), validators=[Length(max=accountability.NOTE_MAX)])


class DeclineForm(FlaskForm):
    reason = TextAreaField(_l("不予采纳的理由"), validators=[Length(max=accountability.NOTE_MAX)])


class AcceptForm(FlaskForm):
    confirm = BooleanField(_l("我已核实抽查结论，确认收回该县（市、区）此事项的审批权限"))
    reason = TextAreaField(_l("收回理由"), validators=[Length(max=accountability.NOTE_MAX)])


def _page(template: str, status: int = 200, **context):
    return _render(template, status, status_label=STATUS_LABEL, proposal_label=PROPOSAL_LABEL, **context)


def _view(record_id: int) -> dict:
    return accountability.view(accountability.get(current_user.actor, record_id))  # NotFound: the 404 page


@bp.get("/admin/accountability")
@requires(_admin)
def index():
    status = request.args.get("status") or None
    rows = [accountability.view(r) for r in accountability.records(current_user.actor, status)]
    return _page("accountability/index.html", rows=rows, status=status)


@bp.get("/admin/accountability/<int:record_id>")
@requires(_admin)
def show(record_id: int):
    return _page("accountability/show.html", record=_view(record_id), handle_form=HandleForm(),
                 decline_form=DeclineForm())


@bp.post("/admin/accountability/<int:record_id>/handle")
@requires(_admin)
def handle(record_id: int):
    form = HandleForm()
    if form.validate():
        with page_unit(form, page_level="form") as unit:
            accountability.handle(current_user.actor, record_id, form.note.data)
        if not unit.failed:
            return _done(record_id, _("问责记录已处理"))
    return _page("accountability/show.html", 422, record=_view(record_id), handle_form=form,
                 decline_form=DeclineForm())


@bp.post("/admin/accountability/<int:record_id>/decline")
@requires(_admin)
def decline(record_id: int):
    form = DeclineForm()
    if form.validate():
        with page_unit(form, page_level="form") as unit:
            accountability.decline(current_user.actor, record_id, form.reason.data)
        if not unit.failed:
            return _done(record_id, _("已不予采纳收回审批权限的建议"))
    return _page("accountability/show.html", 422, record=_view(record_id), handle_form=HandleForm(),
                 decline_form=form)


@bp.get("/admin/accountability/<int:record_id>/accept")
@requires(_admin)
def accept_confirm(record_id: int):
    return _page("accountability/accept.html", record=_view(record_id), form=AcceptForm())


@bp.post("/admin/accountability/<int:record_id>/accept")
@requires(_admin)
def accept(record_id: int):
    form = AcceptForm()
    if form.validate():
        with page_unit(form, page_level="form") as unit:
            accountability.accept(current_user.actor, record_id, form.confirm.data, form.reason.data)
        if not unit.failed:
            return _done(record_id, _("已收回该县（市、区）此事项的审批权限"))
    return _page("accountability/accept.html", 422, record=_view(record_id), form=form)


def _done(record_id: int, message: str):
    flash(message, "success")
    return redirect(url_for("web_accountability.show", record_id=record_id), 303)
