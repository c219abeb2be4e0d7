"""Tables of the applicant's documents (migration 0010)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from delegation.models import Case
from persistence import UTCDateTime, db

DOCUMENT_KINDS = ("grant", "denial")  # 准予行政许可决定书, 不予行政许可决定书
SERVICE_METHODS = ("pickup", "mail")


class DocNoCounter(db.Model):
    """The last number an organisation gave a document in a year: one upsert per document (numbering.allocate)."""

    __tablename__ = "doc_no_counter"
    issuer_code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int]


class CaseDocument(db.Model):
    """A case's decision document. `content` holds every fact it states as it stood when issued (the authority's
    name, its remedies, the reasons), so it prints the same later and on the county node that hands it out."""

    __tablename__ = "case_document"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('grant', 'denial')", name="kind"),
        sa.CheckConstraint("seq >= 1", name="seq"),
        sa.UniqueConstraint("issuer_code", "year", "seq", name="uq_case_document_number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    issuer_code: Mapped[str] = mapped_column(sa.String(40))
    year: Mapped[int]
    seq: Mapped[int]
    doc_no: Mapped[str] = mapped_column(sa.String(60))
    verify_code: Mapped[str] = mapped_column(sa.String(12))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content: Mapped[dict] = mapped_column(sa.JSON)

    case: Mapped[Case] = relationship()


class ServiceRecord(db.Model):
    """The proof of service (送达回证) of a hand-out: for a pickup who took the documents (name, ID number) and when;
    for mail to whom, where, their telephone and the waybill."""

    __tablename__ = "service_record"
    __table_args__ = (
        sa.CheckConstraint("method IN ('pickup', 'mail')", name="method"),
        sa.CheckConstraint("method <> 'pickup' OR recipient_id_code IS NOT NULL", name="pickup"),
        sa.CheckConstraint("method <> 'mail' OR (address IS NOT NULL AND recipient_phone IS NOT NULL "
                           "AND tracking_no IS NOT NULL)", name="mail"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), unique=True)
    method: Mapped[str] = mapped_column(sa.String(10))
    recipient_name: Mapped[str] = mapped_column(sa.String(100))
    recipient_id_code: Mapped[str | None] = mapped_column(sa.String(30))
    recipient_phone: Mapped[str | None] = mapped_column(sa.String(30))
    address: Mapped[str | None] = mapped_column(sa.String(200))
    tracking_no: Mapped[str | None] = mapped_column(sa.String(40))
    served_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(sa.String(100))
    verify_code: Mapped[str] = mapped_column(sa.String(12))

    case: Mapped[Case] = relationship()
