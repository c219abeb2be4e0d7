"""Writing messages to the outbox and delivering them.

`enqueue` is called inside the transaction of the change that causes the message; it signs at once, so every retry
sends exactly the same bytes. `send_due` is the job step that publishes what is due, one commit per batch.

Attempts (EXCHANGE_MAX_ATTEMPTS) count deliveries: a publish that reached the store, or one that failed for this
message (a store error on its files, its attachment missing here). A store that cannot be reached at all
(`StoreUnreachable`: the exchange host or the peer is down) delivers nothing, so it uses up no attempt however long
it lasts: the message waits, retried with a backoff that grows with the length of the outage (at most
TRANSPORT_BACKOFF_CAP_SECONDS), and everything waiting for that peer is due again as soon as one message gets through.
Likewise a peer node that is down while the store is up: a message whose receipt is overdue but whose copy still
waits unread in the peer's inbox is not sent again and uses no attempt; it waits another receipt timeout.
"""
from __future__ import annotations

import hashlib
import logging
import random
import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from exchange.bus import get_bus
from exchange.envelope import Attachment, Envelope
from exchange.models import ExchangePeer, OutboundSequence, OutboxMessage
from exchange.transport import StoreUnreachable, TransportError
from persistence import db, utcnow

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 3600
TRANSPORT_BACKOFF_CAP_SECONDS = 300  # an unreachable store is tried again at least this often
NO_RECEIPT = "no receipt in time"
SEND_BATCH = 50  # messages published per transaction


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
            sequenced: bool = True, flush: bool = True) -> OutboxMessage:
    """`flush=False`: the row is only added to the session (its id comes with the caller's next flush)."""
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
    if flush:
        db.session.flush()
    return row


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter, so that peers coming back after an outage are not hit in step."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


def outage_backoff(since: datetime | None, now: datetime, rng: random.Random | None = None) -> timedelta:
    """The wait before trying an unreachable store again: a quarter of the outage so far, between
    BACKOFF_BASE_SECONDS and TRANSPORT_BACKOFF_CAP_SECONDS, with jitter."""
    outage = (now - since).total_seconds() if since is not None else 0.0
    ceiling = min(TRANSPORT_BACKOFF_CAP_SECONDS, max(BACKOFF_BASE_SECONDS, outage / 4))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


def _claim_due(now: datetime, skip_nodes: set[str], limit: int) -> list[OutboxMessage]:
    """Due messages, locked until this unit of work commits: several workers on PostgreSQL each take different
    rows (SKIP LOCKED), and none sends what another is sending."""
    query = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.state.in_(("queued", "retry")), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if skip_nodes:
        query = query.where(OutboxMessage.to_node.not_in(skip_nodes))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(db.session.execute(query).scalars())


def send_due(now: datetime | None = None, limit: int = 1000, batch: int = SEND_BATCH) -> int:
    """Publish every due message (at most `limit`), one commit per batch; returns how many were published.

    A crash before a batch commits leaves its messages due: they are published again, with the same bytes, and
    the receiver answers a copy it has already applied with its original receipt."""
    bus = get_bus()
    now = now or utcnow()
    sent = handled = 0
    unreachable: set[str] = set()  # one failure per peer and run: the others to it wait for the next run
    transports: dict = {}
    started = time.monotonic()
    while handled < limit:
        rows = _claim_due(now, unreachable, min(batch, limit - handled))
        if not rows:
            break
        published = []
        outcome: dict[str, str | None] = {}  # peer -> its last error in this batch (None: reached)
        for row in rows:
            handled += 1
            if row.to_node in unreachable:
                continue  # stays due, untouched
            try:
                transport = transports.get(row.to_node)
                if transport is None:
                    transport = transports[row.to_node] = bus.transport_for(row.to_node)
                if row.last_error == NO_RECEIPT and _still_waiting(transport, row):
                    # The peer has not read it yet (its node is down, or behind): nothing was lost, so nothing
                    # is sent again and no attempt is used; its receipt is awaited for another while.
                    outcome.setdefault(row.to_node, None)
                    row.state = "awaiting_receipt"
                    row.next_attempt_at = now + timedelta(seconds=bus.receipt_timeout_seconds)
                    continue
                files = [(a["sha256"], bus.blobs.get(a["sha256"])) for a in row.attachments or []]
                transport.publish(row.to_node, row.message_id, row.fmt, row.raw, files)
            except StoreUnreachable as exc:
                unreachable.add(row.to_node)
                outcome[row.to_node] = str(exc)
                row.last_error = str(exc)
                row.state = "retry"
                peer = db.session.get(ExchangePeer, row.to_node)
                since = peer.last_success_at if peer is not None and peer.last_success_at else row.created_at
                row.next_attempt_at = now + outage_backoff(since, now)
                log.warning("message %s to %s not sent, the store is unreachable (no attempt used): %s",
                            row.message_id, row.to_node, exc)
            except (TransportError, OSError) as exc:
                row.attempts += 1
                unreachable.add(row.to_node)
                outcome[row.to_node] = str(exc)
                row.last_error = str(exc)
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
                row.attempts += 1
                outcome.setdefault(row.to_node, None)
                row.last_error = None
                # A receipt is not itself acknowledged; everything else waits for one.
                row.state = "sent" if row.type == "receipt" else "awaiting_receipt"
                published.append(row)
        # The receipt timeout runs from the end of this batch's publishing, not from the start of the run: a long
        # backlog must not use up the timeout of its later messages before they are even on the store (`now`
        # may be a compressed clock: the time spent is added to it).
        done_at = now + timedelta(seconds=time.monotonic() - started)
        for row in published:
            row.sent_at = done_at
            row.next_attempt_at = done_at + timedelta(seconds=bus.receipt_timeout_seconds)
        for node_id, error in outcome.items():
            _peer_status(node_id, now, error)
        db.session.commit()
    return sent


def _still_waiting(transport, row: OutboxMessage) -> bool:
    """Whether the copy published last is still unread in the peer's inbox (a store that cannot tell: no)."""
    exists = getattr(transport, "exists", None)
    return bool(exists is not None and row.sent_at is not None
                and exists(row.to_node, f"{row.message_id}.{row.fmt}"))


def _peer_status(node_id: str, now: datetime, error: str | None) -> None:
    peer = db.session.get(ExchangePeer, node_id)
    if error is None:
        if peer is None or peer.last_error is not None:
            # Reached again after failures: what was put off meanwhile is due now, not at the end of its backoff.
            db.session.execute(sa.update(OutboxMessage).where(
                OutboxMessage.to_node == node_id, OutboxMessage.state == "retry",
                OutboxMessage.next_attempt_at > now).values(next_attempt_at=now))
        if peer is not None:
            peer.last_success_at, peer.last_error = now, None
    elif peer is not None:
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
            row.last_error = NO_RECEIPT  # send_due first looks whether the peer has read it at all
    db.session.commit()
    return len(rows)
