"""The regulator desk (监管): pushes to claim, feedback."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors, requires
from app.web.common import _

bp = Blueprint("web_regulator", __name__)
register_page_errors(bp)


@bp.get("/regulator")
@requires(lambda u: u.user.role == "regulator")
def desk():
    return render_template("desk_placeholder.html", title=_("监管"))
