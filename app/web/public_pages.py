"""Public pages, no login: the service guides of delegated items, the case lookup, the applicant's rating."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors
from app.web.common import _

bp = Blueprint("web_public", __name__)
register_page_errors(bp)


@bp.get("/guide")
def guide():
    return render_template("desk_placeholder.html", title=_("办事指南"))


@bp.get("/lookup")
def lookup():
    return render_template("desk_placeholder.html", title=_("办件查询"))
