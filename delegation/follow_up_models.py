"""The rectification task a bad rating opens (差评整改, issue 15, migration 0020): one per rating of 不满意 or
非常不满意, owned by the unit that handled the case, due within RATING_FOLLOW_UP_DAYS working days, closed by the
unit's reply to the applicant (shown on the public lookup)."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow

STATES = ("open", "replied")


class RatingFollowUp(db.Model):
    __tablename__ = "rating_follow_up"
    __table_args__ = (
        sa.CheckConstraint("state IN ('open', 'replied')", name="state"),
        # a replied task carries what was found, what was put right and what the applicant was told
        sa.CheckConstraint("state <> 'replied' OR (replied_at IS NOT NULL AND finding IS NOT NULL AND "
                           "rectification IS NOT NULL AND reply IS NOT NULL)", name="replied"),
        # a unit's desk list (open first, by due) and the overdue job / dashboard (state, due_at)
        sa.Index("ix_rating_follow_up_org_state_due", "org_code", "state", "due_at"),
        sa.Index("ix_rating_follow_up_state_due", "state", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), unique=True)
    rating_id: Mapped[int] = mapped_column(sa.ForeignKey("case_rating.id", ondelete="CASCADE"), unique=True)
    case_no: Mapped[str] = mapped_column(sa.String(40))
    org_code: Mapped[str] = mapped_column(sa.String(40))  # the unit that handled the case
    score: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.Text)  # the applicant's reason (the rating's comment)
    state: Mapped[str] = mapped_column(sa.String(10), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_on: Mapped[date | None] = mapped_column(sa.Date)  # the last working day the overdue job reminded
    finding: Mapped[str | None] = mapped_column(sa.Text)  # 核实情况
    rectification: Mapped[str | None] = mapped_column(sa.Text)  # 整改措施
    reply: Mapped[str | None] = mapped_column(sa.Text)  # 答复申请人 (public)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by: Mapped[str | None] = mapped_column(sa.String(60))
