from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from app.api.schemas import ItemOut, ItemQuery
from app.auth import current_actor
from app.extensions import db
from delegation.models import Item

blp = Blueprint("items", __name__, description="事项目录 / the catalogue of delegated items")


@blp.get("")
@blp.arguments(ItemQuery, location="query")
@blp.response(200, ItemOut(many=True))
def list_items(query):
    """The active delegated items, optionally of one mode."""
    current_actor()
    stmt = sa.select(Item).where(Item.active.is_(True)).order_by(Item.code)
    if query.get("mode"):
        stmt = stmt.where(Item.mode == query["mode"])
    return db.session.execute(stmt).unique().scalars().all()
