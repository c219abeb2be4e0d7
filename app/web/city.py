"""The city desk (市级审批): forwarded cases by department."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors, requires
from app.web.common import _

bp = Blueprint("web_city", __name__)
register_page_errors(bp)


@bp.get("/city")
@requires(lambda u: u.user.role == "city_approver")
def desk():
    return render_template("desk_placeholder.html", title=_("市级审批"))
