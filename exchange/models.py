"""The bus's own tables: the outbox (what we must deliver), the inbound log (what we applied) and sequences."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, db, utcnow

OUT_STATES = ("queued", "sending", "awaiting_receipt", "retry", "acknowledged", "rejected", "dead", "sent")
IN_STATES = ("received", "applied", "held", "quarantined")


class OutboxMessage(db.Model):
    """A signed message we owe a peer. Written in the transaction of the change that caused it."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in OUT_STATES)})", name="state"),
        sa.Index("ix_outbox_message_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    type: Mapped[str] = mapped_column(sa.String(30))
    to_node: Mapped[str] = mapped_column(sa.String(30))
    to_org: Mapped[str] = mapped_column(sa.String(40))
    case_no: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    sequence: Mapped[int | None]
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(36))
    fmt: Mapped[str] = mapped_column(sa.String(4), default="xml")
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    attachments: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{sha256, size}] stored in the blob store
    state: Mapped[str] = mapped_column(sa.String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt_status: Mapped[str | None] = mapped_column(sa.String(10))
    receipt_reason: Mapped[str | None] = mapped_column(sa.Text)


class InboundMessage(db.Model):
    """Every message we received, with its exact bytes: the log that makes application exactly-once."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.CheckConstraint(f"state IN ({', '.join(repr(s) for s in IN_STATES)})", name="state"),
        sa.Index("ix_inbound_message_held", "state", "case_no"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(80), unique=True)
    type: Mapped[str | None] = mapped_column(sa.String(30))
    from_node: Mapped[str | None] = mapped_column(sa.String(30))
    from_org: Mapped[str | None] = mapped_column(sa.String(40))
    case_no: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    sequence: Mapped[int | None]
    fmt: Mapped[str] = mapped_column(sa.String(4), default="xml")
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(20))
    reason_code: Mapped[str | None] = mapped_column(sa.String(40))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    receipt_message_id: Mapped[str | None] = mapped_column(sa.String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboundSequence(db.Model):
    """Next Sequence per case, per sender, per receiving node (a receiver sees a gapless run)."""

    __tablename__ = "outbound_sequence"
    case_no: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    from_node: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    to_node: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class InboundSequence(db.Model):
    """The last Sequence applied per case and sender."""

    __tablename__ = "inbound_sequence"
    case_no: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    from_node: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class ExchangePeer(db.Model):
    """How to reach another node: its transport (local directory or SFTP store) and its wire format."""

    __tablename__ = "exchange_peer"
    __table_args__ = (
        sa.CheckConstraint("transport IN ('local', 'sftp')", name="transport"),
        sa.CheckConstraint("fmt IN ('xml', 'json')", name="fmt"),
        sa.CheckConstraint("sig_alg IN ('ecdsa-p256', 'sm2-sm3')", name="sig_alg"),
        sa.CheckConstraint("transport <> 'sftp' OR (sftp_host IS NOT NULL AND sftp_user IS NOT NULL "
                           "AND sftp_key_path IS NOT NULL AND sftp_known_hosts IS NOT NULL)", name="sftp"),
    )
    node_id: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    transport: Mapped[str] = mapped_column(sa.String(10), default="local")
    fmt: Mapped[str] = mapped_column(sa.String(4), default="xml")
    # Chosen per peer, never by the message: a verifier accepts only this algorithm from this peer.
    sig_alg: Mapped[str] = mapped_column(sa.String(12), default="ecdsa-p256", server_default="ecdsa-p256")
    sftp_host: Mapped[str | None] = mapped_column(sa.String(255))
    sftp_port: Mapped[int] = mapped_column(default=22)
    sftp_user: Mapped[str | None] = mapped_column(sa.String(100))
    sftp_key_path: Mapped[str | None] = mapped_column(sa.String(500))
    sftp_known_hosts: Mapped[str | None] = mapped_column(sa.String(500))
    sftp_root: Mapped[str] = mapped_column(sa.String(500), default="/exchange")
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
