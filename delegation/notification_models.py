"""Tables of the notifications (issue 15, migration 0015): a staff user's inbox, the outbox of their e-mail and
SMS deliveries, and the reminders (催办) pressed on a case."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow

# assigned … follow_up: issue 15's assignment, transfer (转办), consultation (会商) and bad-rating follow-up
KINDS = ("returned", "decision", "warning", "overdue", "reminder", "escalation", "push", "assigned", "transfer",
         "consultation", "follow_up")
CHANNELS = ("email", "sms")
DELIVERY_STATES = ("pending", "sending", "sent", "dead")
REMINDER_KINDS = ("manual", "automatic")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Notification(db.Model):
    """One line of one user's inbox. Addressed to a user (never to an org): the inbox query is user_id = me."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind"),
        # the header's unread count and the inbox, newest first
        sa.Index("ix_notification_user_read", "user_id", "read_at", "id"),
        # "has this case already warned?" (the warning/overdue job)
        sa.Index("ix_notification_case_kind", "case_no", "kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    case_no: Mapped[str | None] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationDelivery(db.Model):
    """The outbox of e-mails and SMS: written with the notification, claimed, sent, marked sent (app/mailer.py)."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        sa.CheckConstraint(_in("channel", CHANNELS), name="channel"),
        sa.CheckConstraint(_in("state", DELIVERY_STATES), name="state"),
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_delivery_channel"),
        sa.Index("ix_notification_delivery_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notification.id"))
    channel: Mapped[str] = mapped_column(sa.String(10))
    address: Mapped[str] = mapped_column(sa.String(254))
    state: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseReminder(db.Model):
    """A 催办 pressed on a case. Attached to the case (not to a step): it outlives a return and a re-forward.
    An automatic one carries its working day, unique per case, so two workers remind once a day."""

    __tablename__ = "case_reminder"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", REMINDER_KINDS), name="kind"),
        sa.UniqueConstraint("case_id", "working_day", name="uq_case_reminder_day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_username: Mapped[str | None] = mapped_column(sa.String(60))
    by_org: Mapped[str] = mapped_column(sa.String(40))
    to_org: Mapped[str] = mapped_column(sa.String(40))
    comment: Mapped[str] = mapped_column(sa.String(500), default="")
    working_day: Mapped[date | None] = mapped_column(sa.Date)  # automatic reminders only
    escalated_to: Mapped[str | None] = mapped_column(sa.String(40))
