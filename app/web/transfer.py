"""转办 from the case page (issue 15): the form (templates/transfer/_panel.html, included by the case page) offers
the organisations the holder may pass the case to, and its POST route. The service (delegation.transfer.transfer,
through the engine's guard) decides who may pass what to whom; a refusal is said on the case page, naming the field."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from app.web import register_page_errors
from app.web.unit_of_work import page_unit
from delegation import transfer
from delegation.errors import Forbidden, NotFound

bp = Blueprint("web_transfer", __name__)
register_page_errors(bp)


class TransferForm(FlaskForm):
    to_org = StringField(_l("转办给"), validators=[Length(max=40)])
    reason = TextAreaField(_l("转办理由"), validators=[Length(max=transfer.REASON_MAX)])


@bp.app_context_processor
def _panel():
    def transfer_panel(case):
        may = transfer.may_transfer(current_user.actor, case)
        return {"may": may, "targets": transfer.targets(case) if may else [], "form": TransferForm()}
    return {"transfer_panel": transfer_panel}


@bp.route("/cases/<case_no>/transfer", methods=["POST"])
@login_required
def create(case_no):
    form = TransferForm()
    if not form.validate():
        return _back(case_no, *(str(errors[0]) for errors in form.errors.values()))
    with page_unit(None, page_level="flash") as unit:  # every refusal said on the page it redirects to
        transfer.transfer(current_user.actor, case_no, form.to_org.data, form.reason.data)
    if isinstance(unit.error, (Forbidden, NotFound)):  # not theirs to pass on: as any page answers it
        abort(unit.status)
    return _back(case_no, *(() if unit.failed else (None,)))


def _back(case_no: str, *errors: str | None):
    """Back to the case page (post/redirect/get): the errors said there, or (None) that it was done — then to the
    desk if the case has left the user's sight (a city section that passed it to another section)."""
    from app.web.common import landing_page
    from delegation.cases import get_case

    for error in errors:
        flash(error or str(_l("已转办")), "error" if error else "success")
    try:
        get_case(current_user.actor, case_no)
    except NotFound:
        return redirect(landing_page(current_user), 303)
    return redirect(url_for("web_case.show", case_no=case_no), 303)
