"""Registry through which the domain packages tell the bus how to apply what it carries.

The bus knows nothing of cases: `delegation` and `supervision` register an apply function per message type and,
optionally, a function to run when a peer acknowledges one of our messages.
"""
from __future__ import annotations

from typing import Callable

from exchange.envelope import Envelope

Apply = Callable[[Envelope, "AttachmentSource"], None]
OnReceipt = Callable[[object, str], None]  # (our OutboxMessage row, "accepted" | "rejected")

_apply: dict[str, Apply] = {}
_on_receipt: dict[str, OnReceipt] = {}


class AttachmentSource:
    """Gives a handler the verified bytes of an attachment, already stored under its SHA-256."""

    def __init__(self, blobs):
        self._blobs = blobs

    def path(self, sha256: str):
        return self._blobs.path(sha256)


def applies(message_type: str):
    def register(fn: Apply) -> Apply:
        _apply[message_type] = fn
        return fn
    return register


def on_receipt(message_type: str):
    def register(fn: OnReceipt) -> OnReceipt:
        _on_receipt[message_type] = fn
        return fn
    return register


def handler_for(message_type: str) -> Apply | None:
    return _apply.get(message_type)


def receipt_hook_for(message_type: str) -> OnReceipt | None:
    return _on_receipt.get(message_type)
