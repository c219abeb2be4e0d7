"""The bus's job steps. Each commits its own work; the scheduler and the CLI call the same functions."""
from __future__ import annotations

import logging

from exchange.inbox import receive
from exchange.outbox import expire_receipts, send_due

log = logging.getLogger(__name__)


def run_once(rounds: int = 2) -> dict:
    """One send-and-receive cycle. Two rounds by default so that, between co-located organisations, a message
    and its receipt both complete in one call."""
    totals = {"sent": 0, "received": 0, "expired": 0}
    for _ in range(rounds):
        totals["expired"] += expire_receipts()
        totals["sent"] += send_due()
        totals["received"] += receive()
    totals["sent"] += send_due()
    return totals
