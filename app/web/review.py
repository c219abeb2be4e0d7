"""The county review desk (县级审批): cases to review or decide."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors, requires
from app.web.common import _

bp = Blueprint("web_review", __name__)
register_page_errors(bp)


@bp.get("/review")
@requires(lambda u: u.user.role == "reviewer")
def desk():
    return render_template("desk_placeholder.html", title=_("县级审批"))
