"""参考数据 (issue 18): the version of each kind of reference data in force on this node — published here (the city
node) or received from the city (a county node) — for the administrators. Read-only: a version changes with the
data it carries (delegation/reference_publish.py)."""
from __future__ import annotations

from flask import Blueprint

from app.web import register_page_errors, requires
from app.web.admin import _admin, _render
from delegation import reference_publish

bp = Blueprint("web_reference_data", __name__)
register_page_errors(bp)


@bp.get("/admin/reference-data")
@requires(_admin)
def versions():
    return _render("reference_data/index.html", rows=reference_publish.versions(),
                   node=reference_publish._bus().node_id, publisher=reference_publish.publisher_org())
