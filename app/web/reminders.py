"""催办 from the case page (issue 15): the form under the case (templates/reminders/_panel.html, included by the
case page and the window's own case page) and its POST route. The service (delegation.reminders.remind) decides who
may press whom. `back=window` returns to the window's case page, where the accepting window pressed it."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import Length

from app.web import register_page_errors
from app.web.unit_of_work import page_unit
from delegation import reminders
from delegation.errors import Forbidden, NotFound

bp = Blueprint("web_reminders", __name__)
register_page_errors(bp)


class ReminderForm(FlaskForm):
    comment = TextAreaField(_l("催办说明"), validators=[Length(max=reminders.COMMENT_MAX)])
    back = HiddenField()  # "window": the window's case page; "regulator": the regulator's; else the case page


BACK_PAGES = {"window": "web_window.case", "regulator": "web_regulator_cases.case"}


@bp.app_context_processor
def _panel():
    def reminder_panel(case):
        return {"may": reminders.may_remind(current_user.actor, case), "rows": _named(reminders.reminders_of(case)),
                "form": ReminderForm()}
    return {"reminder_panel": reminder_panel}


def _named(rows) -> list[dict]:
    """Each reminder with who pressed it and whom, by name: a person of this node by their name, one pressed on
    another node by the name its label carries, each organisation by its name (two queries a panel)."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.web.case_page import org_names
    from app.web.common import staff_name
    from delegation.models import User

    orgs = org_names({r.to_org for r in rows} | {r.by_org for r in rows})
    people = dict(db.session.execute(sa.select(User.username, User.display_name).where(
        User.username.in_({r.by_username for r in rows if r.by_username}))).all()) if rows else {}
    return [{"row": r, "by": people.get(r.by_username) or staff_name(r.by_username),
             "by_org": orgs.get(r.by_org, ""), "to_org": orgs.get(r.to_org) or _l("对方单位")} for r in rows]


@bp.route("/cases/<case_no>/remind", methods=["POST"])
@login_required
def remind(case_no):
    form = ReminderForm()
    if not form.validate():
        return _back(case_no, form.back.data, *(("error", str(errors[0])) for errors in form.errors.values()))
    with page_unit(form, page_level="flash") as unit:
        reminders.remind(current_user.actor, case_no, form.comment.data)
    if isinstance(unit.error, (Forbidden, NotFound)):  # not theirs to press: as any page answers it
        abort(unit.status)
    return _back(case_no, form.back.data, *(() if unit.failed else [("success", str(_l("已催办")))]))


def _back(case_no: str, back: str | None, *messages: tuple[str, str]):
    """Back to the page the form was on (post/redirect/get), with what to say there."""
    for category, text in messages:
        flash(text, category)
    return redirect(url_for(BACK_PAGES.get(back, "web_case.show"), case_no=case_no), 303)
