"""The county window desk (县级窗口): intake, notices, hand-out."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors, requires
from app.web.common import _

bp = Blueprint("web_window", __name__)
register_page_errors(bp)


@bp.get("/window")
@requires(lambda u: u.user.role == "window")
def desk():
    return render_template("desk_placeholder.html", title=_("窗口受理"))
