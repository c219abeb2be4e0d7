"""Rejection of an incoming exchange message.

Every check on the receiving side (signature, trust, schema, routing, attachments, ordering) fails with one
exception type so the transport layer can quarantine the message and answer with a `receipt` whose
`reason_code` is the stable `code` below. The `reason` is for operators and may change wording freely.
"""

from __future__ import annotations

# Stable reason codes. They travel on the wire (Receipt/ReasonCode), so never rename one.
SIGNATURE_INVALID = "signature_invalid"
UNSIGNED = "unsigned"
UNKNOWN_SENDER = "unknown_sender"
SCHEMA_INVALID = "schema_invalid"
MALFORMED = "malformed"
WRONG_RECIPIENT = "wrong_recipient"
DIGEST_MISMATCH = "digest_mismatch"
REPLAY_MISMATCH = "replay_mismatch"
OUT_OF_ORDER = "out_of_order"

REASON_CODES: frozenset[str] = frozenset(
    {
        SIGNATURE_INVALID,
        UNSIGNED,
        UNKNOWN_SENDER,
        SCHEMA_INVALID,
        MALFORMED,
        WRONG_RECIPIENT,
        DIGEST_MISMATCH,
        REPLAY_MISMATCH,
        OUT_OF_ORDER,
    }
)


class ExchangeRejected(Exception):
    """A message failed a check and must be quarantined, never applied.

    `code` is machine-readable and stable (the constants above; other modules may add codes of their own,
    e.g. for attachments, so the set is deliberately not enforced here); `reason` is human text and must never
    contain key material.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class InvalidEnvelope(ValueError):
    """An outgoing envelope does not fit the wire format (schema, body shape, header co-constraints).

    Raised on the sending side: it is a bug or bad input in this node, not a rejection by a peer.
    """
