"""会商 pages (issue 15): the list of a desk's threads with the form to open one (county window and reviewers), a
thread's page with its messages, files and the reply / follow-up form, and a file's download. The desks and the case
pages show the threads through the template globals `consultation_desk()` and `consultation_panel(case)`. The service
(delegation.consultation) decides who may see and write what; a refused form re-renders its page with the input
kept and the error beside its field (422)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, MultipleFileField, SelectField, StringField, TextAreaField

from app.web import register_page_errors, requires
from app.web.case_page import _blob_path, _file_response, org_names
from app.web.common import _l
from app.web.unit_of_work import page_unit
from delegation import consultation
from delegation.errors import NotFound
from delegation.workflow import Role

bp = Blueprint("web_consultation", __name__)
register_page_errors(bp)
_STAFF = (Role.WINDOW, Role.REVIEWER, Role.CITY_APPROVER)


def _staff(user) -> bool:
    return user.actor.role in _STAFF


class OpenForm(FlaskForm):
    item_code = SelectField(_l("事项"), validate_choice=False)
    case_no = StringField(_l("办件编号（可不填）"), render_kw={"maxlength": 40})
    to_org = SelectField(_l("市级部门（默认事项主管部门）"), validate_choice=False)
    subject = StringField(_l("会商主题"), render_kw={"maxlength": consultation.SUBJECT_MAX})
    text = TextAreaField(_l("会商内容"), render_kw={"maxlength": consultation.TEXT_MAX})
    files = MultipleFileField(_l("附件（PDF、PNG、JPEG）"))


class MessageForm(FlaskForm):
    kind = HiddenField()
    text = TextAreaField(_l("消息内容"), render_kw={"maxlength": consultation.TEXT_MAX})
    files = MultipleFileField(_l("附件（PDF、PNG、JPEG）"))


@bp.app_template_global()
def consultation_desk() -> dict:
    actor = current_user.actor
    return {"unanswered": consultation.unanswered_count(actor), "may_open": consultation.may_open(actor)}


@bp.app_template_global()
def consultation_panel(case) -> dict:
    actor = current_user.actor
    return {"threads": consultation.threads(actor, case_no=case.case_no), "may_open": consultation.may_open(actor),
            "overdue": consultation.overdue}


@bp.get("/consultations")
@requires(_staff)
def index():
    form = g.get("open_form") or OpenForm(formdata=None, case_no=request.args.get("case_no", "")[:40],
                                          item_code=request.args.get("item_code", "")[:40])
    actor = current_user.actor
    _offer(form, consultation.open_choices(actor))
    return render_template("consultation/index.html", threads=consultation.threads(actor), form=form,
                           may_open=consultation.may_open(actor), overdue=consultation.overdue)


def _offer(form, choices: dict) -> None:
    form.item_code.choices = [("", "—"), *choices["items"]]
    form.to_org.choices = [("", _l("事项主管部门")), *choices["departments"]]


@bp.post("/consultations")
@requires(_staff)
def open_thread():
    form = g.open_form = OpenForm()
    with page_unit(form) as unit:
        thread = consultation.open_thread(current_user.actor, **_fields(form, "item_code", "case_no", "to_org",
                                                                        "subject", "text", "files"))
    if unit.failed:
        return index(), unit.status
    return _done(thread.thread_no, _l("会商已发出，等待市级部门答复"))


@bp.get("/consultations/<thread_no>")
@requires(_staff)
def show(thread_no: str):
    thread = _thread(thread_no)
    form = g.get("message_form") or MessageForm(formdata=None)
    return render_template("consultation/show.html", thread=thread, form=form, **_thread_view(thread))


@bp.post("/consultations/<thread_no>/messages")
@requires(_staff)
def post(thread_no: str):
    form = g.message_form = MessageForm()
    with page_unit(form) as unit:
        consultation.post(current_user.actor, thread_no, **_fields(form, "kind", "text", "files"))
    if isinstance(unit.error, NotFound):
        abort(404)
    return (show(thread_no), unit.status) if unit.failed else _done(thread_no, _l("消息已发出"))


@bp.get("/consultations/<thread_no>/files/<int:file_id>")
@requires(_staff)
def file(thread_no: str, file_id: int):
    try:
        record = consultation.file_of(current_user.actor, thread_no, file_id)
    except NotFound:
        abort(404)
    return _file_response(record, _blob_path(record))


def _thread(thread_no: str):
    try:
        return consultation.get_thread(current_user.actor, thread_no)
    except NotFound:
        abort(404)


def _thread_view(thread) -> dict:
    """What the thread page shows beside the thread: organisations by name, whether it is late, what may be written."""
    actor = current_user.actor
    return {"names": org_names([thread.from_org, thread.to_org, *(m.by_org for m in thread.messages)]),
            "overdue": consultation.overdue(thread), "may_reply": consultation.may_reply(actor, thread),
            "may_follow_up": consultation.may_follow_up(actor, thread)}


def _fields(form, *names) -> dict:
    return {name: form[name].data for name in names}


def _done(thread_no: str, message):
    flash(str(message), "success")
    return redirect(url_for("web_consultation.show", thread_no=thread_no), 303)
