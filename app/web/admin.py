"""Administration: catalogue, delegations, holidays, users, exchange."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors, requires
from app.web.common import _

bp = Blueprint("web_admin", __name__)
register_page_errors(bp)


@bp.get("/admin")
@requires(lambda u: u.user.role == "admin")
def index():
    return render_template("desk_placeholder.html", title=_("系统管理"))
