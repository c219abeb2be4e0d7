"""The landing page. Anonymous visitors (applicants, the public) find the service guides, the case lookup, the
published spot checks and the staff login; a logged-in member of staff goes to their desk. The developer pages
(Swagger UI, the OpenAPI description, the node's status) are not the public's business: they keep their own
addresses, linked from the README, not from here (issue 14)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        from app.web.common import landing_page

        target = landing_page(current_user)
        if target != url_for("home.index"):  # a role without a desk stays here, rather than loop
            return redirect(target)
    return render_template("home.html")
