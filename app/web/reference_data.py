"""参考数据 (issue 18): the version of each kind of reference data in force on this node — published here (the city
node) or received from the city (a county node) — for the administrators, and read-only for a county administrator
(its top bar links here), who sees the page without the city administrator's tabs. A version changes with the data
it carries (delegation/reference_publish.py); republication stays the city administrator's (`flask reference
republish`)."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from app.web import register_page_errors, requires
from app.web.admin import TABS, _active_tab, _admin
from delegation import reference_publish
from delegation.workflow import Role

bp = Blueprint("web_reference_data", __name__)
register_page_errors(bp)


def _reader(user) -> bool:
    return _admin(user) or user.user.role == Role.COUNTY_ADMIN.value


@bp.get("/admin/reference-data")
@requires(_reader)
def versions():
    tabs = TABS if _admin(current_user) else ()
    return render_template("reference_data/index.html", tabs=tabs, active_tab=_active_tab(),
                           rows=reference_publish.versions(), node=reference_publish._bus().node_id,
                           publisher=reference_publish.publisher_org())
