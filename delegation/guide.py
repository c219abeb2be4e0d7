"""The public service guide (办事指南): which items of the catalogue an applicant can apply for at a county window
now, and where. What "delegated now" means is the grants service's (grants.in_effect), as for intake."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from delegation.grants import in_effect
from delegation.models import Delegation, Division, Item, Org
from persistence import db


def counties_in_effect(item_ids) -> dict[int, list[str]]:
    """Per item, the counties whose delegation is in effect now."""
    out: dict[int, list[str]] = {}
    if not item_ids:
        return out
    rows = db.session.execute(sa.select(Delegation.item_id, Delegation.division_code, Delegation.granted,
                                        Delegation.effective_at).where(Delegation.item_id.in_(item_ids))).all()
    for row in rows:
        if in_effect(row):
            out.setdefault(row.item_id, []).append(row.division_code)
    return out


def delegated_items(q: str = "") -> tuple[list[Item], dict[int, list[str]]]:
    """The active items delegated to at least one county now (by code), whose name or code holds `q`, and per
    item the counties it is delegated to."""
    query = (sa.select(Item).options(joinedload(Item.department))
             .where(Item.active.is_(True), sa.exists().where(Delegation.item_id == Item.id)))
    if q:
        query = query.where(sa.or_(Item.name.contains(q, autoescape=True), Item.code.icontains(q, autoescape=True)))
    items = db.session.execute(query.order_by(Item.code)).unique().scalars().all()
    counties = counties_in_effect([i.id for i in items])
    return [i for i in items if counties.get(i.id)], counties


def active_item(item_code: str) -> Item | None:
    """An active item of the catalogue with its department and materials, or None."""
    return db.session.execute(
        sa.select(Item).options(joinedload(Item.department), selectinload(Item.materials))
        .where(Item.code == item_code, Item.active.is_(True))).unique().scalar_one_or_none()


def places(item: Item) -> list[dict]:
    """Where the item can be applied for now: each county (by code) it is delegated to and its window's name."""
    codes = sorted(counties_in_effect([item.id]).get(item.id, []))
    if not codes:
        return []
    divisions = {d.code: d.name for d in db.session.execute(
        sa.select(Division).where(Division.code.in_(codes))).scalars()}
    windows: dict[str, str] = {}
    for org in db.session.execute(sa.select(Org).where(Org.kind == "window", Org.division_code.in_(codes))
                                  .order_by(Org.id)).scalars():
        windows.setdefault(org.division_code, org.name)
    return [{"county": divisions.get(c, c), "window": windows.get(c, "")} for c in codes]
