"""帮办代办 on the desks (issue 17): the window's assistants (帮办人员) offered on the intake form
(representation/_intake_assistant.html, included by window/intake.html), and the city administrators' page that
names a window clerk an assistant or no longer (/admin/assistants). The rules are delegation.representation's."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from app.web import register_page_errors, requires
from app.web.admin import _admin, _render
from app.web.common import _
from app.web.unit_of_work import page_unit
from delegation import representation
from delegation.workflow import Role

bp = Blueprint("web_representation", __name__)
register_page_errors(bp)
SEARCH_MAX = 60


@bp.app_context_processor
def _intake_assistants():
    def intake_assistants():
        """The assistants of the logged-in clerk's window, for the intake form's choice."""
        if not current_user.is_authenticated or current_user.actor.role is not Role.WINDOW:
            return []
        return representation.assistants(current_user.actor.org_code)
    return {"intake_assistants": intake_assistants}


@bp.get("/admin/assistants")
@requires(_admin)
def assistants():
    """The window clerks (of one county, or found by name or username) and whether each is an assistant."""
    from delegation.window_decisions import window_staff

    q = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    rows = window_staff(q)
    return _render("representation/assistants.html", rows=rows, q=q, active_credit=False)


@bp.post("/admin/assistants/<username>")
@requires(_admin)
def set_assistant(username: str):
    on = request.form.get("assistant") == "1"
    with page_unit(None, page_level="flash") as unit:
        representation.set_assistant(current_user.actor, username, on)
    if not unit.failed:
        flash(_("已设为帮办人员") if on else _("已取消帮办人员"), "success")
    return redirect(url_for("web_representation.assistants", q=request.form.get("q") or None), 303)
