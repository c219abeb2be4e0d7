"""Attempt budgets kept in the database: every gunicorn worker and every host counts against the same rows, so a
budget holds however many processes serve (no Redis needed). Fixed windows: `hit` adds one attempt to the
current window of (scope, subject) and returns how many that window now holds, in one statement."""
from __future__ import annotations

import ipaddress
import time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class RateCounter(db.Model):
    __tablename__ = "rate_counter"
    scope: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)  # epoch seconds
    hits: Mapped[int] = mapped_column(default=0)


_HIT = sa.text(
    "INSERT INTO rate_counter (scope, subject, window_start, hits) VALUES (:scope, :subject, :window_start, 1) "
    "ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = rate_counter.hits + 1 RETURNING hits")
_RELEASE = sa.text("UPDATE rate_counter SET hits = hits - 1 WHERE scope = :scope AND subject = :subject "
                   "AND window_start = :window_start AND hits > 0")
_PRUNE = sa.text("DELETE FROM rate_counter WHERE window_start < :before")


def _window(seconds: int, now: float | None) -> int:
    now = time.time() if now is None else now
    return int(now) // seconds * seconds


def hit(scope: str, subject: str, window_seconds: int, now: float | None = None) -> int:
    """One more attempt in the current window; the window's count after it. Runs in the caller's transaction:
    the caller commits (an attempt refused by its budget still counts)."""
    params = {"scope": scope, "subject": subject[:128], "window_start": _window(window_seconds, now)}
    return db.session.execute(_HIT, params).scalar_one()


def release(scope: str, subject: str, window_seconds: int, now: float | None = None) -> None:
    """Give back one attempt of the current window (an attempt reserved before a check that then succeeded)."""
    params = {"scope": scope, "subject": subject[:128], "window_start": _window(window_seconds, now)}
    db.session.execute(_RELEASE, params)


def seconds_left(window_seconds: int, now: float | None = None) -> int:
    """Seconds until the current window ends (a Retry-After value: at least 1)."""
    now = time.time() if now is None else now
    return max(1, _window(window_seconds, now) + window_seconds - int(now))


def prune(older_than_seconds: int = 86400, now: float | None = None) -> int:
    """Forget windows older than a day (run by the jobs)."""
    now = time.time() if now is None else now
    return db.session.execute(_PRUNE, {"before": int(now) - older_than_seconds}).rowcount


def client_key(address: str | None) -> str:
    """The address a budget counts against: an IPv4 address as it is, an IPv6 address by its /64 (one subscriber
    is handed a whole /64 and can change the rest at will)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
