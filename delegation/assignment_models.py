"""Tables of case assignment (issue 15, migration 0017): who in the holding organisation works a case, and the
time-bounded stand-ins (委托) of staff on leave."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow


class CaseAssignment(db.Model):
    """The person of one organisation who works a case there. One row per case and organisation: the row stays
    when the case leaves the organisation (forwarded, returned) and is the case's assignment again when the case
    comes back, so the person who had it gets it back. It is current only while that organisation holds the case
    (delegation.worklist.holder_code; `held` says so); releasing deletes it (the timeline keeps the history)."""

    __tablename__ = "case_assignment"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "org_code", name="uq_case_assignment_case_org"),
        # 我的待办: a person's current cases (migration 0031)
        sa.Index("ix_case_assignment_held", "user_id", "case_id", postgresql_where=sa.text("held"),
                 sqlite_where=sa.text("held")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"))
    org_code: Mapped[str] = mapped_column(sa.String(40))
    # the assignee: during their stand-in period the stand-in works it (never recorded here, so it comes back)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    assigned_by: Mapped[str] = mapped_column(sa.String(60))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # False once the case has left `org_code` (delegation.assignment_held.mark, after every step of the engine), so
    # 我的待办 reads a clerk's current rows, not their history; true again when the case comes back. The queues
    # still check the holder: true only has to hold wherever the organisation holds the case.
    held: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())


class StandIn(db.Model):
    """A stand-in (委托): from `starts_on` to `ends_on` (local dates, both included) `stand_in_id` works the
    cases assigned to `user_id`. Cancelling sets `cancelled_at`; the row stays as the record."""

    __tablename__ = "stand_in"
    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="period"),
        sa.CheckConstraint("stand_in_id <> user_id", name="not_self"),
        sa.Index("ix_stand_in_user", "user_id", "ends_on"),
        sa.Index("ix_stand_in_stand_in", "stand_in_id", "ends_on"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    stand_in_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
