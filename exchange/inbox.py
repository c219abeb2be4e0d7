"""Receiving: verify, check, apply exactly once, answer with a receipt, then remove from the inbox.

The order matters for crash safety: the application, the message log row and the receipt (in the outbox) commit
together; the inbox file is removed only after that commit. A crash before the commit leaves the file to be
processed again; a crash after it leaves a file whose MessageId is already logged, which is answered with the
original receipt and removed, so nothing is lost and nothing is applied twice.

Messages are committed in batches (RECEIVE_BATCH): each one is handled in a SAVEPOINT of the batch's transaction,
so a message that fails or is quarantined undoes only its own work, and the files of a batch are removed only
once the whole batch has committed. The same argument holds for a batch as for one message.
"""
from __future__ import annotations

import hashlib
import logging
import re

import sqlalchemy as sa
from lxml import etree

from exchange.bus import Bus, get_bus
from exchange.envelope import Envelope
from exchange.errors import ExchangeRejected, InvalidEnvelope
from exchange.handlers import AttachmentSource, handler_for, receipt_hook_for
from exchange.models import InboundMessage, InboundSequence, OutboxMessage
from exchange.outbox import enqueue
from exchange.transport import MessageGone, TransportError
from persistence import db, utcnow

log = logging.getLogger(__name__)
NS = "urn:tongquan:exchange:1"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_peek_parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
RECEIVE_BATCH = 50  # messages applied per transaction


class _Run:
    """One receive pass: the messages handled since the last commit, whose inbox files go once it commits."""

    def __init__(self, bus: Bus, batch: int):
        self.bus, self.batch = bus, max(1, batch)
        self.done: list[tuple[str, list[str] | None]] = []  # (file name, its attachments' SHA-256)
        self.savepoint = None
        self.any_held = False  # whether held messages may wait for one applied in this pass
        self.release: set[tuple[str, str]] = set()

    def begin(self) -> None:
        """The SAVEPOINT of the next message."""
        if not self.done and db.session.get_bind().dialect.name == "sqlite":
            # pysqlite opens its transaction only before a write; a SAVEPOINT before it would be SQLite's
            # outermost transaction, and releasing it would commit each message alone.
            db.session.execute(sa.text("DELETE FROM inbound_sequence WHERE 0"))
        self.savepoint = db.session.begin_nested()

    def handled(self, name: str, shas: list[str] | None) -> None:
        """This message's work is done: it commits with the batch; its file goes after that."""
        if self.savepoint is not None:
            self.savepoint.commit()
        self.savepoint = None
        self.done.append((name, shas))

    def discard_current(self) -> None:
        """Undo this message's uncommitted work, and only its (also after a failed flush, which leaves the
        SAVEPOINT inactive but not yet rolled back)."""
        if self.savepoint is not None:
            self.savepoint.rollback()
        self.savepoint = None

    def failed(self) -> None:
        """After an error: undo the current message; if the error came outside it (a commit, a removal), roll back
        whatever is uncommitted, and forget the files of this batch, which are found and answered again."""
        if self.savepoint is not None:
            self.discard_current()
        else:
            db.session.rollback()
            self.done = []

    def commit(self) -> None:
        """Commit the batch, then remove its files (a crash in between leaves files whose MessageId is logged)."""
        db.session.commit()
        done, self.done = self.done, []
        if done:
            transport = self.bus.transport
            remove_many = getattr(transport, "remove_many", None)
            if remove_many is not None:
                remove_many(self.bus.node_id, done)
            else:
                for name, _ in done:
                    transport.remove(self.bus.node_id, name)
        release, self.release = self.release, set()
        for case_no, from_node in sorted(release):
            _release_held(self.bus, case_no, from_node)


def receive(limit: int = 2000, batch: int = RECEIVE_BATCH) -> int:
    """Process what waits in this node's inbox; returns the number of files handled."""
    bus = get_bus()
    handled = 0
    run = _Run(bus, batch)
    run.any_held = _release_all_held(bus)
    try:
        names = bus.transport.list_inbox(bus.node_id)[:limit]
    except TransportError as exc:  # the store is unreachable: try again on the next run, nothing is lost
        log.warning("inbox of %s not reachable: %s", bus.node_id, exc)
        return 0
    for name in names:
        try:
            run.begin()
            _receive_one(run, name)
            if len(run.done) >= run.batch:
                run.commit()
        except MessageGone as exc:
            run.failed()
            log.debug("inbox file %s: %s", name, exc)  # another worker took it: normal, no warning
            continue
        except TransportError as exc:
            run.failed()
            log.warning("inbox file %s not processed: %s", name, exc)
            continue
        except sa.exc.IntegrityError:
            # Another worker logged the same MessageId first; the next pass answers this file as a duplicate.
            run.failed()
            log.info("inbox file %s was taken by another worker", name)
            continue
        except Exception:  # a bug in a handler must not stop the other messages; the file stays for a retry
            run.failed()
            log.exception("inbox file %s failed; it stays in the inbox", name)
            continue
        handled += 1
    try:
        run.commit()
    except TransportError as exc:
        log.warning("inbox files not removed (they are answered as duplicates next time): %s", exc)
    if run.any_held:
        _release_all_held(bus)
    return handled


def _release_all_held(bus: Bus) -> bool:
    """Held messages whose predecessor has been applied (or finally rejected) go now, whatever interrupted the
    release that should have followed it. Returns whether any message was held."""
    pairs = db.session.execute(
        sa.select(InboundMessage.case_no, InboundMessage.from_node).where(InboundMessage.state == "held").distinct()
    ).all()
    db.session.commit()  # (ends the read: the batch's transaction starts with its first message)
    for case_no, from_node in pairs:
        try:
            _release_held(bus, case_no, from_node)
        except Exception:
            db.session.rollback()
            log.exception("held messages of case %s from %s not released", case_no, from_node)
    return bool(pairs)


def _gone(bus: Bus, name: str) -> bool:
    exists = getattr(bus.transport, "exists", None)
    try:
        return exists is not None and not exists(bus.node_id, name)
    except TransportError:
        return False


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_attachments(bus: Bus, name: str, env: Envelope) -> list[bytes]:
    read_many = getattr(bus.transport, "read_attachments", None)
    if read_many is not None:
        return read_many(bus.node_id, name, [(att.sha256, att.size) for att in env.attachments])
    return [bus.transport.read_attachment(bus.node_id, name, att.sha256) for att in env.attachments]


def _receive_one(run: _Run, name: str) -> None:
    bus = run.bus
    raw = bus.transport.read(bus.node_id, name)
    digest = _sha(raw)
    fmt = name.rsplit(".", 1)[-1]
    try:
        env, _signed = bus.verify(raw, fmt)
    except ExchangeRejected as exc:
        _quarantine(run, name, raw, digest, fmt, exc)
        return
    shas = [att.sha256 for att in env.attachments]

    existing = db.session.execute(
        sa.select(InboundMessage).filter_by(message_id=env.message_id)
    ).scalar_one_or_none()
    if existing is not None:
        if existing.sha256 != digest:
            _quarantine(run, name, raw, digest, fmt, ExchangeRejected(
                "replay_mismatch", f"message {env.message_id} was already received with different bytes"), env)
            return
        _answer_duplicate(existing)
        run.handled(name, shas)
        return

    try:
        contents = _read_attachments(bus, name, env) if env.attachments else []
        for att, data in zip(env.attachments, contents):
            if len(data) != att.size or _sha(data) != att.sha256:
                raise ExchangeRejected("digest_mismatch", f"attachment {att.name} does not match its size or SHA-256")
            bus.blobs.put(data, att.sha256)  # (just checked against these bytes)
    except TransportError as exc:
        if _gone(bus, name):  # another worker applied it and removed its files meanwhile: not a damaged message
            raise MessageGone(f"{name} was removed while its attachments were read") from exc
        _quarantine(run, name, raw, digest, fmt, ExchangeRejected("digest_mismatch", str(exc)), env)
        return
    except ExchangeRejected as exc:
        _quarantine(run, name, raw, digest, fmt, exc, env)
        return

    record = InboundMessage(
        message_id=env.message_id, type=env.type, from_node=env.from_node, from_org=env.from_org,
        case_no=env.case_no, sequence=env.sequence, fmt=fmt, raw=raw, sha256=digest, state="received",
    )
    if env.type == "receipt":
        _apply_receipt(env)
        record.state, record.applied_at = "applied", utcnow()
        db.session.add(record)  # flushed by the SAVEPOINT's release (a MessageId taken meanwhile fails it there)
        run.handled(name, shas)
        return

    seq = _UNKNOWN
    if env.case_no and env.sequence:
        seq = _sequence_row(env.case_no, env.from_node)  # passed on to _advance_sequence: no second look-up
        last = seq.last if seq is not None else 0
        if env.sequence <= last:
            _quarantine(run, name, raw, digest, fmt, ExchangeRejected(
                "out_of_order", f"sequence {env.sequence} of case {env.case_no} was already used"), env)
            return
        if env.sequence > last + 1:
            record.state = "held"  # early: waits for the messages before it
            db.session.add(record)
            db.session.flush()
            run.handled(name, shas)
            run.any_held = True
            log.info("message %s held: sequence %d, expecting %d", env.message_id, env.sequence, last + 1)
            return

    db.session.add(record)
    db.session.flush()  # claims the MessageId: a second worker on the same file stops here (unique key)
    if not _apply(bus, env, record, isolated=False, seq=seq):
        rejection = record._rejection
        run.discard_current()
        _quarantine(run, name, raw, digest, fmt, rejection, env, final_for_sequence=True)
        return
    run.handled(name, shas)
    if env.case_no and run.any_held:
        run.release.add((env.case_no, env.from_node))


_UNKNOWN = object()  # "not read yet", beside None ("read: there is no row")


def _apply(bus: Bus, env: Envelope, record: InboundMessage, isolated: bool = True, seq=_UNKNOWN) -> bool:
    """Apply and answer; False (with record._rejection) when the handler rejects the message. `isolated`: the
    handler runs in a SAVEPOINT of its own, so that a rejection undoes only its changes; a caller that undoes the
    whole message on a rejection (the receive pass: a SAVEPOINT per message) needs none. `seq`: as for
    _advance_sequence."""
    handler = handler_for(env.type)
    try:
        if handler is None:
            raise ExchangeRejected("unsupported_type", f"this node does not apply {env.type} messages")
        if isolated:
            with db.session.begin_nested():
                handler(env, AttachmentSource(bus.blobs))
        else:
            handler(env, AttachmentSource(bus.blobs))
    except ExchangeRejected as exc:
        record._rejection = exc
        return False
    record.state, record.applied_at = "applied", utcnow()
    _advance_sequence(env, seq)
    # Not flushed here: the receipt, the log row's changes and the handler's work go in one flush (the message's
    # SAVEPOINT release, or the caller's commit).
    receipt = _send_receipt(env, record.sha256, "accepted", flush=False)
    record.receipt_message_id = receipt.message_id
    return True


def _advance_sequence(env: Envelope, seq=_UNKNOWN) -> None:
    """The number is used up, applied or finally rejected: the messages after it may go. `seq`: the
    InboundSequence row (or None: there is none) when the caller has just read it in this SAVEPOINT."""
    if not (env.case_no and env.sequence):
        return
    if seq is _UNKNOWN:
        seq = _sequence_row(env.case_no, env.from_node)
    if seq is None:
        seq = InboundSequence(case_no=env.case_no, from_node=env.from_node, last=0)
        db.session.add(seq)
    seq.last = max(seq.last, env.sequence)


def _send_receipt(env_or_header, received_sha256: str, status: str, exc: ExchangeRejected | None = None,
                  flush: bool = True):
    body = {"status": status, "received_sha256": received_sha256}
    if exc is not None:
        body["reason_code"] = exc.code
        body["reason"] = exc.reason[:1000]
    return enqueue(
        "receipt", from_org=env_or_header.to_org, to_node=env_or_header.from_node, to_org=env_or_header.from_org,
        body=body, case_no=env_or_header.case_no, in_reply_to=env_or_header.message_id, sequenced=False,
        flush=flush,
    )


def _answer_duplicate(existing: InboundMessage) -> None:
    """A message we already applied came again: its sender missed our receipt, so send that receipt again."""
    if existing.receipt_message_id:
        receipt = db.session.execute(
            sa.select(OutboxMessage).filter_by(message_id=existing.receipt_message_id)
        ).scalar_one_or_none()
        if receipt is not None and receipt.state not in ("queued", "retry"):
            receipt.state = "queued"
            receipt.next_attempt_at = utcnow()
    log.info("duplicate message %s answered with its original receipt", existing.message_id)


def _sequence_row(case_no: str, from_node: str) -> InboundSequence | None:
    return db.session.get(InboundSequence, (case_no, from_node))


def _last_sequence(case_no: str, from_node: str) -> int:
    seq = _sequence_row(case_no, from_node)
    return seq.last if seq else 0


def _release_held(bus: Bus, case_no: str, from_node: str) -> None:
    while True:
        nxt = _last_sequence(case_no, from_node) + 1
        record = db.session.execute(
            sa.select(InboundMessage).filter_by(state="held", case_no=case_no, from_node=from_node, sequence=nxt)
        ).scalar_one_or_none()
        if record is None:
            return
        env, _ = bus.verify(record.raw, record.fmt)
        if _apply(bus, env, record):
            db.session.commit()
        else:
            exc = record._rejection
            db.session.rollback()
            record = db.session.get(InboundMessage, record.id)
            record.state, record.reason_code, record.reason = "quarantined", exc.code, exc.reason
            _advance_sequence(env)
            _send_receipt(env, record.sha256, "rejected", exc)
            db.session.commit()


def _apply_receipt(env: Envelope) -> None:
    row = db.session.execute(
        # (the signed bytes we sent are not needed to take their receipt)
        sa.select(OutboxMessage).filter_by(message_id=env.in_reply_to).options(sa.orm.defer(OutboxMessage.raw))
    ).scalar_one_or_none()
    if row is None or row.to_node != env.from_node:
        log.warning("receipt %s answers no message of ours sent to %s", env.message_id, env.from_node)
        return
    if row.state in ("acknowledged", "rejected"):
        return  # a repeated receipt
    status = env.body.get("status")
    reason = env.body.get("reason")
    if env.body.get("received_sha256") != row.sha256 or env.body.get("reason_code") == "digest_mismatch":
        # The peer judged other bytes than ours (the envelope or an attachment), damaged or replaced on the way.
        # Ours are still good: send again.
        row.state, row.next_attempt_at = "retry", utcnow()
        row.last_error = f"peer received different bytes ({env.body.get('reason_code') or status})"
        log.warning("peer %s got a damaged copy of %s; sending it again", env.from_node, row.message_id)
        return
    row.state = "acknowledged" if status == "accepted" else "rejected"
    row.acked_at = utcnow()
    row.receipt_status = status
    row.receipt_reason = reason if status != "accepted" else None
    if row.state == "rejected":
        log.error("peer %s rejected message %s (%s): %s", env.from_node, row.message_id, row.type, reason)
    hook = receipt_hook_for(row.type)
    if hook is not None:
        with db.session.no_autoflush:  # the row's changes go with the hook's, in the SAVEPOINT's one flush
            hook(row, status)


def _peek_json_header(raw: bytes) -> dict | None:
    import base64
    import json

    try:
        jws = json.loads(raw[:1_048_576])
        payload = jws["payload"]
        env = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return {"message_id": str(env["message_id"]), "from_node": str(env["from"]["node"]),
                "from_org": str(env["from"]["org"]), "to_org": str(env["to"]["org"]),
                "case_no": env.get("case_no"), "type": str(env.get("type"))}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _peek_header(raw: bytes, fmt: str = "xml") -> dict | None:
    """Who a message claims to come from: only used to address a rejection receipt, never trusted."""
    if fmt == "json":
        return _peek_json_header(raw)
    try:
        root = etree.fromstring(raw, _peek_parser)
    except etree.XMLSyntaxError:
        return None
    if root.getroottree().docinfo.doctype:
        return None
    header = root.find(f"{{{NS}}}Header")
    if header is None:
        return None
    sender = header.find(f"{{{NS}}}From")
    to = header.find(f"{{{NS}}}To")
    mid = header.findtext(f"{{{NS}}}MessageId")
    if sender is None or to is None or not mid:
        return None
    return {"message_id": mid.strip(), "from_node": sender.get("node"), "from_org": sender.get("org"),
            "to_org": to.get("org"), "case_no": header.findtext(f"{{{NS}}}CaseNo"),
            "type": header.findtext(f"{{{NS}}}Type")}


class _Header:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def _clip(value, size):
    return value[:size] if isinstance(value, str) else None


def _quarantine(run: _Run, name: str, raw: bytes, digest: str, fmt: str, exc: ExchangeRejected,
                env: Envelope | None = None, final_for_sequence: bool = False) -> None:
    # This message's work is undone; the batch before it commits (and its files go) first, on its own.
    run.discard_current()
    run.commit()
    bus = run.bus
    header = env if env is not None else (_Header(**h) if (h := _peek_header(raw, fmt)) else None)
    key = f"q:{digest}"
    record = db.session.execute(sa.select(InboundMessage).filter_by(message_id=key)).scalar_one_or_none()
    if record is None:
        record = InboundMessage(message_id=key, fmt=fmt, raw=raw, sha256=digest, state="quarantined")
        db.session.add(record)
    record.reason_code, record.reason = exc.code[:40], exc.reason
    if header is not None:
        # What a rejected message claims about itself is unverified: stored clipped, for the operator only.
        record.type, record.from_node = _clip(header.type, 30), _clip(header.from_node, 30)
        record.from_org, record.case_no = _clip(header.from_org, 40), _clip(header.case_no, 40)
    if final_for_sequence and env is not None:
        _advance_sequence(env)
    # Answer only a sender we know, at an id that could be a message of theirs, and never a receipt (two nodes
    # that cannot verify each other would otherwise reject each other's rejections for ever).
    if (header is not None and header.type != "receipt" and header.from_node and header.from_org
            and header.to_org and UUID_RE.match(header.message_id or "") and bus.trust.knows(header.from_node)):
        try:
            with db.session.begin_nested():
                receipt = _send_receipt(header, digest, "rejected", exc)
            record.receipt_message_id = receipt.message_id
        except (InvalidEnvelope, ValueError) as why:  # the claimed header does not even make a valid reply
            log.warning("no rejection receipt for %s: %s", name, why)
    db.session.commit()
    bus.transport.quarantine(bus.node_id, name, f"{exc.code}: {exc.reason}")
    log.warning("message %s quarantined: %s: %s", name, exc.code, exc.reason)
