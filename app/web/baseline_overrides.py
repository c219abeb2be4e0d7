"""只减不增 overrides on the administrator's pages (issue 18): the record of every catalogue item an administrator
let in over its pre-reform baseline, with who, when, which rule and why (delegation.baseline_rule)."""
from __future__ import annotations

from flask import Blueprint

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.admin import _admin, _render
from app.web.common import _l
from delegation import baseline_rule

bp = Blueprint("web_baseline", __name__)
register_page_errors(bp)

RULE_LABEL = {baseline_rule.MATERIALS: _l("必交材料数多于改革前材料数"),
              baseline_rule.DAYS: _l("承诺时限长于改革前办理天数")}


def _item_names(rows) -> dict[str, str]:
    """The items' names by code, as the catalogue calls them now (an override records the code only)."""
    import sqlalchemy as sa

    from delegation.models import Item

    codes = {r.item_code for r in rows}
    return dict(db.session.execute(sa.select(Item.code, Item.name).where(Item.code.in_(codes))).all()) if codes else {}


@bp.get("/admin/catalog/overrides")
@requires(_admin)
def overrides():
    rows = baseline_rule.recent_overrides(db.session)
    return _render("baseline/overrides.html", rows=rows, names=_item_names(rows), rule_label=RULE_LABEL)
