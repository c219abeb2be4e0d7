"""The record of 只减不增 overrides (issue 18, migration 0027): an administrator let an item whose required materials
or promised limit exceed its pre-reform baseline into the catalogue, and said why. Insert-only (database triggers)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from delegation.models import User
from persistence import UTCDateTime, db, utcnow

RULES = ("materials", "days")
MAX_REASON = 500


class BaselineOverride(db.Model):
    __tablename__ = "baseline_override"
    __table_args__ = (sa.CheckConstraint("rule IN ('materials', 'days')", name="rule"),
                      sa.Index("ix_baseline_override_created_at", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(sa.String(40))
    rule: Mapped[str] = mapped_column(sa.String(20))  # materials: required materials; days: the promised limit
    value: Mapped[float] = mapped_column(sa.Float)  # the item's figure, in working days for a limit
    baseline: Mapped[float] = mapped_column(sa.Float)
    reason: Mapped[str] = mapped_column(sa.String(MAX_REASON))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
