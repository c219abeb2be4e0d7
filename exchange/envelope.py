"""The exchange envelope: one model, two wire encodings (XML in `xmlform`, JSON/JWS elsewhere).

The body is a plain, JSON-native dict whose shape per message type is documented in `exchange.xmlform`
(dates and times are ISO 8601 strings, decimals are strings) so both encodings share it unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable

try:
    from zoneinfo import ZoneInfo

    SHANGHAI = ZoneInfo("Asia/Shanghai")
except Exception:  # pragma: no cover - only on hosts without tzdata
    # China has had no DST since 1991, so a fixed +08:00 offset is the same clock.
    from datetime import timedelta, timezone

    SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # type: ignore[assignment]

# Wire names of the message types (exchange-v1, "Message types"). Order is the spec table's.
MESSAGE_TYPES: tuple[str, ...] = (
    "case.forward",
    "case.supplement",
    "case.return",
    "case.decision",
    "case.originals_mailed",
    "case.originals_received",
    "case.transfer",
    "case.reminder",
    "case.closure",
    "case.suspension",
    "supervision.push",
    "supervision.claim",
    "supervision.feedback",
    "supervision.commitment_result",
    "delegation.change",
    "consultation.open",
    "consultation.message",
    "stats.case_facts",
    "reference.publish",
    "receipt",
)


@dataclass(frozen=True)
class Attachment:
    """A file travelling beside the envelope; `sha256` is lowercase hex of its exact bytes."""

    name: str
    media_type: str
    size: int
    sha256: str


@dataclass
class Envelope:
    message_id: str
    type: str
    from_node: str
    from_org: str
    to_node: str
    to_org: str
    created_at: datetime
    body: dict[str, Any]
    case_no: str | None = None
    sequence: int | None = None
    in_reply_to: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.type not in MESSAGE_TYPES:
            raise ValueError(f"unknown message type {self.type!r}")
        # A naive timestamp would be ambiguous across peers; the wire format requires an explicit offset.
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("created_at must be timezone-aware")
        if self.sequence is not None and self.sequence < 1:
            raise ValueError("sequence starts at 1")
        # Accept any iterable (e.g. a tuple) but store a list so equality does not depend on the container.
        self.attachments = list(self.attachments)

    @classmethod
    def new(
        cls,
        type: str,
        from_node: str,
        from_org: str,
        to_node: str,
        to_org: str,
        body: dict[str, Any],
        case_no: str | None = None,
        sequence: int | None = None,
        in_reply_to: str | None = None,
        attachments: Iterable[Attachment] = (),
    ) -> "Envelope":
        """A fresh envelope: random UUID4 id, created now in Asia/Shanghai time."""
        return cls(
            message_id=str(uuid.uuid4()),
            type=type,
            from_node=from_node,
            from_org=from_org,
            to_node=to_node,
            to_org=to_org,
            created_at=datetime.now(SHANGHAI),
            body=body,
            case_no=case_no,
            sequence=sequence,
            in_reply_to=in_reply_to,
            attachments=list(attachments),
        )


def wire_values(value: Any) -> Any:
    """A body by the encoding rules both forms share (xmlform's _text, jsonform): dates and datetimes as their ISO
    text, Decimals as their plain text, None as absent. The workflow builds bodies with datetime objects
    (acceptance.at, due_at); the compiled checks judge this, the text the wire will carry."""
    # Strings, most of a body, are passed over without a call (this runs at every sign).
    if isinstance(value, dict):
        return {k: v if type(v) is str else wire_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [v if type(v) is str else wire_values(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
