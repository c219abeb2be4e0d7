"""The accountability record (问责, issue 17, migration 0021) a spot-check finding of illegal approval opens: the case,
the deciding unit and person, the finding, its handling (open → handled with a note) and the proposal to revoke the
county's delegation of the item, which the city administrator accepts (the revocation) or declines with a reason."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow

STATUSES = ("open", "handled")
PROPOSALS = ("proposed", "accepted", "declined", "withdrawn")


class AccountabilityRecord(db.Model):
    __tablename__ = "accountability_record"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'handled')", name="status"),
        sa.CheckConstraint("status <> 'handled' OR (handling_note IS NOT NULL AND handled_at IS NOT NULL)",
                           name="handled"),
        sa.CheckConstraint("proposal IN ('proposed', 'accepted', 'declined', 'withdrawn')", name="proposal"),
        sa.CheckConstraint("proposal <> 'declined' OR proposal_reason IS NOT NULL", name="declined"),
        sa.Index("ix_accountability_record_status", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    spot_check_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("spot_check_entry.id", ondelete="CASCADE"),
                                                     unique=True)
    case_no: Mapped[str] = mapped_column(sa.String(40))
    item_code: Mapped[str] = mapped_column(sa.String(40))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    county_code: Mapped[str] = mapped_column(sa.String(20))  # whose delegation the proposal would revoke
    deciding_org: Mapped[str] = mapped_column(sa.String(40))
    deciding_person: Mapped[str] = mapped_column(sa.String(100))
    finding: Mapped[str] = mapped_column(sa.Text)  # the inspectors' note on the illegal approval
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    handling_note: Mapped[str | None] = mapped_column(sa.Text)
    handled_by: Mapped[str | None] = mapped_column(sa.String(100))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proposal: Mapped[str] = mapped_column(sa.String(10), default="proposed")
    proposal_reason: Mapped[str | None] = mapped_column(sa.Text)
    proposal_by: Mapped[str | None] = mapped_column(sa.String(100))
    proposal_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
