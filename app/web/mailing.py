"""材料邮寄 on the case page (issue 19): the window's 邮寄原件 form, the city's 原件签收 form, and what both sides
see of the originals — each mailing, its receipt with what is missing or damaged, and the overdue ones. The panel is
app/templates/mailing/_panel.html, included by the case page; its data comes from the template global
`originals_panel(case)`, so the case page's own route needs no change. A refused form re-renders the case page
with the input kept and the error beside its field (422)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectMultipleField, StringField, TextAreaField, widgets

from app.web import register_page_errors, requires
from app.web.common import _, _l
from app.web.unit_of_work import page_unit
from delegation import mailing
from delegation.workflow import Role

bp = Blueprint("web_mailing", __name__)
register_page_errors(bp)


class _Boxes(SelectMultipleField):
    """Check boxes; the domain names a code the item does not know (not WTForms' generic 'not a valid choice')."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form):
        pass


class MailForm(FlaskForm):
    courier = StringField(_l("快递公司"), render_kw={"maxlength": mailing.COURIER_MAX})
    tracking_no = StringField(_l("快递单号"), render_kw={"maxlength": 40})
    materials = _Boxes(_l("邮寄的原件"))


class ReceiptForm(FlaskForm):
    mailing_id = HiddenField()
    missing = _Boxes(_l("缺失的原件"))
    damaged = _Boxes(_l("破损的原件"))
    comment = TextAreaField(_l("签收说明"), render_kw={"maxlength": mailing.COMMENT_MAX})


def _role(role: Role):
    return lambda u: u.actor.role is role


@bp.app_template_global()
def originals_panel(case) -> dict | None:
    """The panel's data, or None for an item whose originals stay at the county."""
    view = mailing.view(case)
    if not view["required"] and not view["mailings"]:
        return None
    role = current_user.actor.role
    names = [(m.code, m.name) for m in view["required"]]
    mail_form = g.get("mail_form") or MailForm(formdata=None)
    mail_form.materials.choices = names
    receipt_forms = []
    for row in view["mailings"]:
        m = row["mailing"]
        failed = g.get("receipt_form")
        form = failed if failed is not None and failed.mailing_id.data == m.mailing_uid else ReceiptForm(
            formdata=None, mailing_id=m.mailing_uid)
        form.missing.choices = form.damaged.choices = row["materials"]
        receipt_forms.append(form)
    return {**view, "mail_form": mail_form if role is Role.WINDOW and view["can_mail"] else None,
            "receipt_forms": receipt_forms if role is Role.CITY_APPROVER else None}


def _case_page(case_no: str, status: int):
    from app.web.case_page import show

    return show(case_no), status


def _back(case_no: str, done: str):
    flash(done, "info")
    return redirect(url_for("web_case.show", case_no=case_no, _anchor="originals"), 303)


@bp.post("/cases/<case_no>/originals")
@requires(_role(Role.WINDOW))
def mail(case_no: str):
    from app.web.case_page import actor, load_case

    form = g.mail_form = MailForm()
    with page_unit(form) as unit:
        mailing.record_mailing(actor(), load_case(case_no), form.courier.data, form.tracking_no.data,
                               form.materials.data)
    mailed = _("已登记邮寄原件，等待市级签收")
    return _case_page(case_no, unit.status) if unit.failed else _back(case_no, mailed)


@bp.post("/cases/<case_no>/originals/receipt")
@requires(_role(Role.CITY_APPROVER))
def sign_for(case_no: str):
    from app.web.case_page import actor, load_case

    form = g.receipt_form = ReceiptForm()
    with page_unit(form) as unit:
        mailing.record_receipt(actor(), load_case(case_no), form.mailing_id.data, form.missing.data, form.damaged.data,
                               form.comment.data)
    signed = _("原件签收已登记，结果已发送窗口")
    return _case_page(case_no, unit.status) if unit.failed else _back(case_no, signed)
