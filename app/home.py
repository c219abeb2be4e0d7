"""The landing page. Anonymous visitors (applicants, the public) find the service guides, the case lookup, the
published spot checks, the staff login and the API documentation; a logged-in member of staff goes to their desk."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_login import current_user

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        from app.web.common import landing_page

        target = landing_page(current_user)
        if target != url_for("home.index"):  # a role without a desk stays here, rather than loop
            return redirect(target)
    settings = current_app.config["TONGQUAN"]
    return render_template("home.html", node=settings.node_id, env=settings.env)
