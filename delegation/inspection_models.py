"""The record of a site inspection (现场踏勘, issue 17, migration 0021): who went, when, where, what was found, the
conclusion and the photographs (stored by digest in the blob store, as material files are). `ref` names the record
on every node the case travels to, so a forward sent again adds no second copy."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from delegation.titles import N_, TitledStrEnum
from persistence import UTCDateTime, db, utcnow


class Conclusion(TitledStrEnum):
    CONFORMS = "conforms", N_("符合要求")
    RECTIFY = "rectify", N_("需整改后符合要求")
    NONCONFORMING = "nonconforming", N_("不符合要求")


CONCLUSIONS = tuple(c.value for c in Conclusion)


class SiteInspection(db.Model):
    __tablename__ = "site_inspection"
    __table_args__ = (
        sa.CheckConstraint(f"conclusion IN ({', '.join(repr(c) for c in CONCLUSIONS)})", name="conclusion"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(sa.String(36), unique=True)
    org_code: Mapped[str] = mapped_column(sa.String(40))  # the organisation that held the case and went
    inspectors: Mapped[list] = mapped_column(sa.JSON)  # staff names, as written on the record
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(sa.String(200))
    findings: Mapped[str] = mapped_column(sa.Text)
    conclusion: Mapped[str] = mapped_column(sa.String(20))
    recorded_by: Mapped[str] = mapped_column(sa.String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    photos: Mapped[list["SiteInspectionPhoto"]] = relationship(
        order_by="SiteInspectionPhoto.position", cascade="all, delete-orphan", lazy="selectin")


class SiteInspectionPhoto(db.Model):
    __tablename__ = "site_inspection_photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(sa.ForeignKey("site_inspection.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    original_name: Mapped[str] = mapped_column(sa.String(200))  # shown to staff only; the file is named by digest
    media_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
