"""Writing messages to the outbox and delivering them.

`enqueue` is called inside the transaction of the change that causes the message; it signs at once, so every retry
sends exactly the same bytes. `send_due` is the job step that publishes what is due, one commit per message.
"""
from __future__ import annotations

import hashlib
import logging
import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db, utcnow
from exchange.bus import get_bus
from exchange.envelope import Attachment, Envelope
from exchange.models import ExchangePeer, OutboundSequence, OutboxMessage
from exchange.transport import TransportError

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 3600


def next_sequence(case_no: str, from_node: str, to_node: str) -> int:
    row = db.session.execute(
        sa.select(OutboundSequence).filter_by(case_no=case_no, from_node=from_node, to_node=to_node)
        .with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = OutboundSequence(case_no=case_no, from_node=from_node, to_node=to_node, last=0)
        db.session.add(row)
    row.last += 1
    db.session.flush()
    return row.last


def enqueue(message_type: str, *, from_org: str, to_node: str, to_org: str, body: dict,
            case_no: str | None = None, attachments: list[Attachment] = (), in_reply_to: str | None = None,
            sequenced: bool = True) -> OutboxMessage:
    bus = get_bus()
    sequence = next_sequence(case_no, bus.node_id, to_node) if case_no and sequenced else None
    env = Envelope.new(message_type, bus.node_id, from_org, to_node, to_org, body, case_no=case_no,
                       sequence=sequence, in_reply_to=in_reply_to, attachments=list(attachments))
    fmt = bus.format_for(to_node)
    raw = bus.sign(env, fmt)
    row = OutboxMessage(
        message_id=env.message_id, type=message_type, to_node=to_node, to_org=to_org, case_no=case_no,
        sequence=sequence, in_reply_to=in_reply_to, fmt=fmt, raw=raw, sha256=hashlib.sha256(raw).hexdigest(),
        attachments=[{"sha256": a.sha256, "size": a.size} for a in attachments], state="queued",
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter, so that peers coming back after an outage are not hit in step."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


def _claim_next(now: datetime, skip_nodes: set[str]) -> OutboxMessage | None:
    """One due message, locked until this unit of work commits. Claiming one row at a time keeps the lock for
    exactly as long as the message is being sent: several workers on PostgreSQL each take a different row
    (SKIP LOCKED), and none sends what another is sending."""
    query = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.state.in_(("queued", "retry")), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    if skip_nodes:
        query = query.where(OutboxMessage.to_node.not_in(skip_nodes))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query).scalar_one_or_none()


def send_due(now: datetime | None = None, limit: int = 200) -> int:
    """Publish every due message, one commit each; returns how many were published."""
    bus = get_bus()
    now = now or utcnow()
    sent = 0
    unreachable: set[str] = set()  # one failure per peer and run: the others to it wait for the next run
    for _ in range(limit):
        row = _claim_next(now, unreachable)
        if row is None:
            break
        row.attempts += 1
        try:
            files = [(a["sha256"], bus.blobs.get(a["sha256"])) for a in row.attachments or []]
            bus.transport_for(row.to_node).publish(row.to_node, row.message_id, row.fmt, row.raw, files)
        except (TransportError, OSError) as exc:
            unreachable.add(row.to_node)
            row.last_error = str(exc)
            _peer_status(row.to_node, now, str(exc))
            if row.attempts >= bus.max_attempts:
                row.state = "dead"
                log.error("message %s (%s to %s) is dead after %d tries: %s", row.message_id, row.type,
                          row.to_node, row.attempts, exc)
            else:
                row.state = "retry"
                row.next_attempt_at = now + backoff(row.attempts)
                log.warning("message %s to %s not sent (try %d): %s", row.message_id, row.to_node,
                            row.attempts, exc)
        else:
            sent += 1
            _peer_status(row.to_node, now, None)
            row.sent_at = now
            row.last_error = None
            # A receipt is not itself acknowledged; everything else waits for one.
            row.state = "sent" if row.type == "receipt" else "awaiting_receipt"
            row.next_attempt_at = now + timedelta(seconds=bus.receipt_timeout_seconds)
        db.session.commit()
    return sent


def _peer_status(node_id: str, now: datetime, error: str | None) -> None:
    peer = db.session.get(ExchangePeer, node_id)
    if peer is None:
        return
    if error is None:
        peer.last_success_at, peer.last_error = now, None
    else:
        peer.last_error = error[:2000]


def expire_receipts(now: datetime | None = None) -> int:
    """Messages whose receipt is overdue go back to the queue: the receiver may have lost them."""
    now = now or utcnow()
    query = sa.select(OutboxMessage).where(OutboxMessage.state == "awaiting_receipt",
                                           OutboxMessage.next_attempt_at <= now)
    if db.session.get_bind().dialect.name == "postgresql":
        # Another worker may be expiring (and re-sending) the same rows: lock them, skip what it holds, so that a
        # message it has already sent again is not put back in the queue by a stale read here.
        query = query.with_for_update(skip_locked=True)
    rows = db.session.execute(query).scalars().all()
    bus = get_bus()
    for row in rows:
        if row.attempts >= bus.max_attempts:
            row.state = "dead"
            row.last_error = "no receipt"
            log.error("message %s to %s is dead: no receipt after %d tries", row.message_id, row.to_node,
                      row.attempts)
        else:
            row.state = "retry"
            row.next_attempt_at = now
    db.session.commit()
    return len(rows)
