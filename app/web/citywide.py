"""全市通办 on the desks (issue 17 part D): the competent county offered by name on the window's intake form
(citywide/_intake_county.html, included by window/intake.html; the choice goes to delegation.intake), the
administrator's catalogue flag (/admin/citywide) and the figures counted at both ends (/citywide/statistics). The
rules are delegation.citywide's."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.admin import _admin, _render
from app.web.common import _
from app.web.unit_of_work import page_unit
from delegation import citywide
from delegation.models import Item
from delegation.workflow import Mode, Role

bp = Blueprint("web_citywide", __name__)
register_page_errors(bp)
SEARCH_MAX = 60


@bp.app_context_processor
def _intake_counties():
    def intake_counties(item):
        """(code, name) of the counties the logged-in clerk may accept this item for; empty if not 全市通办."""
        if not current_user.is_authenticated or current_user.actor.role is not Role.WINDOW:
            return []
        return citywide.choices(item, current_user.actor.division_code)
    return {"intake_counties": intake_counties}


@bp.app_context_processor
def _citywide_of():
    def citywide_of(case):
        """The accepting and the competent county's names of a case accepted for another county, or None."""
        return citywide.described(case)
    return {"citywide_of": citywide_of}


@bp.get("/admin/citywide")
@requires(_admin)
def items():
    """The direct items (found by name or code) and whether each is accepted city-wide."""
    q = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    query = sa.select(Item).where(Item.mode == Mode.DIRECT.value).order_by(Item.code).limit(200)
    if q:
        query = query.where(sa.or_(Item.name.icontains(q, autoescape=True), Item.code.icontains(q, autoescape=True)))
    rows = db.session.execute(query).unique().scalars().all()
    return _render("citywide/items.html", rows=rows, flagged=citywide.citywide_item_ids(), q=q)


@bp.post("/admin/citywide/<item_code>")
@requires(_admin)
def set_flag(item_code: str):
    on = request.form.get("citywide") == "1"
    with page_unit(None, page_level="flash") as unit:
        citywide.set_item_flag(current_user.actor, item_code, on)
    if not unit.failed:
        flash(_("已开通全市通办") if on else _("已取消全市通办"), "success")
    return redirect(url_for("web_citywide.items", q=request.form.get("q") or None), 303)


def _staff(user) -> bool:
    # as /api/v1/citywide/statistics: a county administrator too, its own county's figures (county_scope.county_of)
    return user.user.role in (Role.WINDOW.value, Role.REVIEWER.value, Role.ADMIN.value, Role.CITY_APPROVER.value,
                              Role.COUNTY_ADMIN.value)


@bp.get("/citywide/statistics")
@requires(_staff)
def statistics():
    """代收 (accepted for other counties) and 代办 (handled for other counties' windows), per county."""
    actor = current_user.actor
    every = actor.role is Role.ADMIN or actor.org_level == "city"
    return render_template("citywide/statistics.html", rows=citywide.statistics(None if every else actor.division_code))
