"""Tables of 会商 (issue 15, migration 0019): a county's consultation thread with a city department, its messages and
their files. A thread lives on both nodes under the same number (`thread_no`, the exchange header's CaseNo of its
messages); a message under the MessageId of the envelope that carried it, so the node that wrote it finds it again
when the bus delivers it on that very node, and adds nothing."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from persistence import UTCDateTime, db, utcnow

# waiting: the city has to answer (by reply_due_at); answered: the last word is the city's; closed: by the opener
STATES = ("waiting", "answered", "closed")
MESSAGE_KINDS = ("open", "reply", "follow_up", "close")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ConsultationThread(db.Model):
    __tablename__ = "consultation_thread"
    __table_args__ = (
        sa.CheckConstraint(_in("state", STATES), name="state"),
        sa.CheckConstraint("(state = 'waiting') = (reply_due_at IS NOT NULL)", name="due"),
        # the desks' lists: a department's threads, a county's threads, and the reminder job's overdue ones
        sa.Index("ix_consultation_thread_to", "to_org", "state"),
        sa.Index("ix_consultation_thread_county", "county_code", "state"),
        sa.Index("ix_consultation_thread_due", "state", "reply_due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    item_code: Mapped[str] = mapped_column(sa.String(40))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    case_no: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    county_code: Mapped[str] = mapped_column(sa.String(20))
    from_org: Mapped[str] = mapped_column(sa.String(40))
    from_node: Mapped[str] = mapped_column(sa.String(30))
    to_org: Mapped[str] = mapped_column(sa.String(40))
    to_node: Mapped[str] = mapped_column(sa.String(30))
    opened_by: Mapped[str] = mapped_column(sa.String(200))
    # the opener's account on the opener's node (told of each reply); not on the wire
    opener_username: Mapped[str | None] = mapped_column(sa.String(60))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(sa.String(10), default="waiting")
    reply_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # for the present reply_due_at
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rejected_reason: Mapped[str | None] = mapped_column(sa.String(500))  # the peer refused the opening

    messages: Mapped[list["ConsultationMessage"]] = relationship(
        back_populates="thread", order_by="ConsultationMessage.id", cascade="all, delete-orphan")


class ConsultationMessage(db.Model):
    __tablename__ = "consultation_message"
    __table_args__ = (sa.CheckConstraint(_in("kind", MESSAGE_KINDS), name="kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("consultation_thread.id"), index=True)
    message_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    text: Mapped[str] = mapped_column(sa.Text)
    by_label: Mapped[str] = mapped_column(sa.String(200))
    by_org: Mapped[str] = mapped_column(sa.String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    thread: Mapped[ConsultationThread] = relationship(back_populates="messages")
    files: Mapped[list["ConsultationFile"]] = relationship(order_by="ConsultationFile.id", lazy="selectin",
                                                           cascade="all, delete-orphan")


class ConsultationFile(db.Model):
    """A file of a message: its bytes are in the blob store under their SHA-256 (0600), never under this name."""

    __tablename__ = "consultation_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("consultation_message.id"), index=True)
    original_name: Mapped[str] = mapped_column(sa.String(200))
    media_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
