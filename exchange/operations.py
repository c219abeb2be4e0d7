"""What operators see and do on the bus: the message log, the outbox, dead letters, the quarantine."""
from __future__ import annotations

import sqlalchemy as sa

from exchange.models import InboundMessage, OutboxMessage
from persistence import db, utcnow

# States as an operator reads them (the AS4 gateways' vocabulary).
OUT_LABELS = {
    "queued": "queued", "sending": "sending", "awaiting_receipt": "awaiting receipt", "retry": "waiting for retry",
    "acknowledged": "acknowledged", "rejected": "rejected by peer", "dead": "dead", "sent": "sent (receipt)",
}
IN_LABELS = {"received": "received", "applied": "applied", "held": "held (early in sequence)",
             "quarantined": "quarantined"}


class NotResendable(Exception):
    pass


def _search(model, peer_column, to_dict, *, case_no, type_, peer, state, after_id, limit) -> list[dict]:
    q = sa.select(model)
    for column, value in ((model.case_no, case_no), (model.type, type_), (peer_column, peer),
                          (model.state, state)):
        if value:
            q = q.where(column == value)
    if after_id:
        q = q.where(model.id < after_id)
    return [to_dict(r) for r in db.session.execute(q.order_by(model.id.desc()).limit(limit + 1)).scalars()]


def message_log(*, direction: str | None = None, case_no=None, type_=None, peer=None, state=None,
                after_id: int | None = None, limit: int = 50) -> tuple[list[dict], int | None]:
    """Sent and received messages, newest first. Keyset pages per direction: `after` is the last id seen."""
    criteria = {"case_no": case_no, "type_": type_, "peer": peer, "state": state, "limit": limit,
                "after_id": after_id if direction else None}
    rows: list[dict] = []
    if direction in (None, "out"):
        rows += _search(OutboxMessage, OutboxMessage.to_node, _out, **criteria)
    if direction in (None, "in"):
        rows += _search(InboundMessage, InboundMessage.from_node, _in, **criteria)
    if direction is None:
        rows.sort(key=lambda r: r["at"], reverse=True)
        return rows[:limit], None  # the mixed view is for search; page one direction to walk everything
    return rows[:limit], (rows[limit - 1]["id"] if len(rows) > limit else None)


def _out(r: OutboxMessage) -> dict:
    return {"direction": "out", "id": r.id, "message_id": r.message_id, "type": r.type, "peer": r.to_node,
            "org": r.to_org, "case_no": r.case_no, "sequence": r.sequence, "format": r.fmt, "state": r.state,
            "state_label": OUT_LABELS.get(r.state, r.state), "attempts": r.attempts,
            "next_attempt_at": r.next_attempt_at if r.state in ("queued", "retry", "awaiting_receipt") else None,
            "last_error": r.last_error, "reason": r.receipt_reason, "sha256": r.sha256, "size": len(r.raw),
            "at": r.created_at}


def _in(r: InboundMessage) -> dict:
    return {"direction": "in", "id": r.id, "message_id": r.message_id, "type": r.type, "peer": r.from_node,
            "org": r.from_org, "case_no": r.case_no, "sequence": r.sequence, "format": r.fmt, "state": r.state,
            "state_label": IN_LABELS.get(r.state, r.state), "attempts": None, "next_attempt_at": None,
            "last_error": None, "reason": (f"{r.reason_code}: {r.reason}" if r.reason_code else None),
            "sha256": r.sha256, "size": len(r.raw), "at": r.received_at}


def raw_message(direction: str, row_id: int) -> tuple[bytes, str] | None:
    model = OutboxMessage if direction == "out" else InboundMessage
    row = db.session.get(model, row_id)
    return (row.raw, row.fmt) if row is not None else None


def resend(message_id: str) -> OutboxMessage:
    """A dead letter (or a message the peer rejected) goes out again from the start of its retry schedule."""
    row = db.session.execute(sa.select(OutboxMessage).filter_by(message_id=message_id)).scalar_one_or_none()
    if row is None:
        raise LookupError(message_id)
    if row.state not in ("dead", "rejected"):
        raise NotResendable(row.state)
    row.state, row.attempts, row.next_attempt_at, row.last_error = "queued", 0, utcnow(), None
    row.receipt_status = row.receipt_reason = None
    db.session.flush()
    return row


def backlog() -> dict:
    counts = dict(db.session.execute(
        sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state)).all())
    held = db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                              .where(InboundMessage.state.in_(("held", "quarantined")))
                              .group_by(InboundMessage.state)).all()
    return {"outbox": counts, "inbound_held_or_quarantined": [c for (c,) in held]}
