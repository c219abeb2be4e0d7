"""Tables of the electronic licences (电子证照, migration 0011): the licences this node issued and the number series
of each issuing authority. A licence lives on the node that decided the case: that node holds the authority's
signing key, serves its /verify page and is the one place where it can be revoked."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow


class LicenceSeries(db.Model):
    """The last number an issuing authority gave in a year. Advanced by one upsert in the approval's transaction:
    the row lock holds a concurrent approval until this one ends (no duplicate) and a rollback takes the number
    back with it (no gap)."""

    __tablename__ = "licence_series"
    issuer_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Licence(db.Model):
    """One licence as issued: what it states is frozen here at approval, so that it prints and verifies the same
    for ever. Only the revocation columns change afterwards."""

    __tablename__ = "licence"
    __table_args__ = (
        sa.CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="validity"),
        sa.CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revoked"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(sa.String(60), unique=True)
    case_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    title: Mapped[str] = mapped_column(sa.String(100))
    item_code: Mapped[str] = mapped_column(sa.String(40))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    holder_kind: Mapped[str] = mapped_column(sa.String(20))
    holder_name: Mapped[str] = mapped_column(sa.String(200))
    holder_id_code: Mapped[str] = mapped_column(sa.String(30))
    issuer_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    issuer_name: Mapped[str] = mapped_column(sa.String(100))
    fields: Mapped[list] = mapped_column(sa.JSON, default=list)  # the item's optional fields at issue
    extra: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # their values (legal basis, conditions)
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_until: Mapped[date | None] = mapped_column(sa.Date)  # None: 长期有效
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(sa.Text)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(100))
    finding_ref: Mapped[str | None] = mapped_column(sa.String(100))  # e.g. "spot-check-entry:12"
    # Set on the accepting county's node only: a copy of a licence another node issued, received with
    # case.decision — the signed PDF as issued, in the blob store. The issuing node alone verifies and revokes it.
    received_pdf_sha256: Mapped[str | None] = mapped_column(sa.String(64))
