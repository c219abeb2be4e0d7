"""The version of each kind of reference data in force on this node (migration 0028, delegation/reference_publish.py).

On the city node: the last version it published of the kind; on a county node: the last version it applied from the
city. One row per kind."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db


class ReferenceVersion(db.Model):
    __tablename__ = "reference_version"
    __table_args__ = (sa.CheckConstraint("version >= 1", name="version"),)
    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    version: Mapped[int] = mapped_column()
    source_node: Mapped[str] = mapped_column(sa.String(30))  # the node that published it (this one, at the city)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
