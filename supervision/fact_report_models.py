"""Tables of the case facts a county node reports to the city (issue 18, `stats.case_facts`, migration 0029).

At the city: ``stats_reported_fact`` holds the last reported facts of each case accepted on a county node (no
personal data: the rollup key, the application date, the case number and the additive figures), and two rollups of
them by the statistics' rollup key, kept exact as facts arrive, so that a report reads a few thousand rows however
many cases the counties report. At a county node: ``stats_fact_sent`` remembers, per case, the version and digest of
the facts last sent, so that a refresh sends only what changed, each time with a higher version.

The figure columns are the rollup's own mixins (supervision.rollup._CaseSums, _PushSums): a figure added there is a
column here too (and in the migration that adds it)."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow
from supervision.rollup import _CaseSums, _PushSums, _RollupKey


class StatsReportedFact(_CaseSums, _PushSums, db.Model):
    """The facts of one case as its accepting county's node last reported them (the highest version wins)."""

    __tablename__ = "stats_reported_fact"
    __table_args__ = (
        sa.Index("ix_stats_reported_fact_key", "month", "county_code", "item_id", "mode", "state"),
        sa.Index("ix_stats_reported_fact_applied_on", "applied_on"),
        # the few facts the figures of the moment read (migration 0032)
        sa.Index("ix_stats_reported_fact_due_flag", "due_flag", postgresql_where=sa.text("due_flag IS NOT NULL"),
                 sqlite_where=sa.text("due_flag IS NOT NULL")),
        sa.Index("ix_stats_reported_fact_commitment", "commitment_deadline",
                 postgresql_where=sa.text("commitment_deadline IS NOT NULL"),
                 sqlite_where=sa.text("commitment_deadline IS NOT NULL")),
        # the few facts with a 差评整改 task open or a 告知承诺 approval (migration 0039)
        sa.Index("ix_stats_reported_fact_follow_up", "follow_up_due",
                 postgresql_where=sa.text("follow_up_due IS NOT NULL"),
                 sqlite_where=sa.text("follow_up_due IS NOT NULL")),
        sa.Index("ix_stats_reported_fact_check", "check_state", postgresql_where=sa.text("check_state IS NOT NULL"),
                 sqlite_where=sa.text("check_state IS NOT NULL")),
    )
    case_no: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    from_node: Mapped[str] = mapped_column(sa.String(30))
    version: Mapped[int]
    applied_on: Mapped[date] = mapped_column(sa.Date)  # the application date, Asia/Shanghai
    month: Mapped[str] = mapped_column(sa.String(7))
    county_code: Mapped[str] = mapped_column(sa.String(12))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id"))  # this node's id of the reported item code
    mode: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(30))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the figures of the moment (migration 0032), counted live as the city's own cases are: the deadline job's
    # flag while the clock runs ('warning' | 'overdue', else NULL), the deadline of a 容缺 commitment not yet met
    due_flag: Mapped[str | None] = mapped_column(sa.String(10))
    commitment_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # what lives at the accepting county beside the figures (migration 0039): the due moment of a 差评整改 task not
    # yet answered; a 告知承诺 approval's verification ('open' | 'verified' | 'false', else NULL) and, while open,
    # its due moment
    follow_up_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_state: Mapped[str | None] = mapped_column(sa.String(10))
    check_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatsReportedRollup(_RollupKey, _CaseSums, _PushSums, db.Model):
    """The reported facts summed per rollup key."""

    __tablename__ = "stats_reported_rollup"


class StatsReportedDays(_RollupKey, db.Model):
    """How many reported decided cases of one key took each whole number of working days."""

    __tablename__ = "stats_reported_days"
    days: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    cases: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class StatsFactSent(db.Model):
    """What this county node last reported of one of its cases."""

    __tablename__ = "stats_fact_sent"
    __table_args__ = (
        sa.Index("ix_stats_fact_sent_message", "message_id"),
        sa.Index("ix_stats_fact_sent_rejected", "rejected_at", postgresql_where=sa.text("rejected_at IS NOT NULL"),
                 sqlite_where=sa.text("rejected_at IS NOT NULL")),
    )
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    version: Mapped[int]
    digest: Mapped[str] = mapped_column(sa.String(64))
    due_flag: Mapped[str | None] = mapped_column(sa.String(10))  # the flag last sent (migration 0032)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the message that carried them, and when the city refused it (migration 0036): a refused batch is sent again
    message_id: Mapped[str | None] = mapped_column(sa.String(36))
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
