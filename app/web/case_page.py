"""The case page: timeline, deadline and pauses, responsible parties, messages, supervision feedback."""
from __future__ import annotations

from flask import Blueprint, render_template

from app.web import register_page_errors, requires
from app.web.common import _

bp = Blueprint("web_case", __name__)
register_page_errors(bp)


@bp.get("/cases/<case_no>")
@requires(lambda u: True)
def show(case_no: str):
    return render_template("desk_placeholder.html", title=_("办件详情"))
