"""Flask-Limiter's counters in the platform's own database (RATELIMIT_STORAGE_URI=database://), so that every
gunicorn worker and every host behind the balancer shares one per-address budget without a Redis server.

Fixed windows (the app switches Flask-Limiter to the fixed-window strategy for this store): a window is a row of
rate_counter under scope "limiter", its window_start column holding the epoch second the window expires. Each call
is a short transaction of its own on the engine, apart from the request's session: a refused request still counts,
and a rolled-back request does not take its attempt back."""
from __future__ import annotations

import time

import sqlalchemy as sa
from limits.storage import Storage

SCOPE = "limiter"

_CURRENT = sa.text("SELECT hits, window_start FROM rate_counter WHERE scope = :scope AND subject = :subject "
                   "AND window_start > :now ORDER BY window_start DESC LIMIT 1")
_ADD = sa.text("UPDATE rate_counter SET hits = hits + :amount WHERE scope = :scope AND subject = :subject "
               "AND window_start = :window_start RETURNING hits")
_OPEN = sa.text(
    "INSERT INTO rate_counter (scope, subject, window_start, hits) VALUES (:scope, :subject, :window_start, :amount) "
    "ON CONFLICT (scope, subject, window_start) DO UPDATE SET hits = rate_counter.hits + :amount RETURNING hits")
_CLEAR = sa.text("DELETE FROM rate_counter WHERE scope = :scope AND subject = :subject")
_RESET = sa.text("DELETE FROM rate_counter WHERE scope = :scope")


def _engine():
    from app.extensions import db

    return db.engine  # the engine of the app serving the request (Flask-Limiter calls inside a request)


class DatabaseStorage(Storage):
    STORAGE_SCHEME = ["database"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        subject, now = key[:128], int(time.time())
        with _engine().begin() as conn:
            current = conn.execute(_CURRENT, {"scope": SCOPE, "subject": subject, "now": now}).first()
            if current is not None:
                hits = conn.execute(_ADD, {"scope": SCOPE, "subject": subject, "window_start": current.window_start,
                                           "amount": amount}).scalar()
                if hits is not None:  # the row may have been pruned between the two statements
                    return hits
            return conn.execute(_OPEN, {"scope": SCOPE, "subject": subject, "window_start": now + max(int(expiry), 1),
                                        "amount": amount}).scalar_one()

    def get(self, key: str) -> int:
        with _engine().connect() as conn:
            row = conn.execute(_CURRENT, {"scope": SCOPE, "subject": key[:128], "now": int(time.time())}).first()
        return row.hits if row else 0

    def get_expiry(self, key: str) -> float:
        with _engine().connect() as conn:
            row = conn.execute(_CURRENT, {"scope": SCOPE, "subject": key[:128], "now": int(time.time())}).first()
        return float(row.window_start) if row else time.time()

    def check(self) -> bool:
        try:
            with _engine().connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with _engine().begin() as conn:
            return conn.execute(_RESET, {"scope": SCOPE}).rowcount

    def clear(self, key: str) -> None:
        with _engine().begin() as conn:
            conn.execute(_CLEAR, {"scope": SCOPE, "subject": key[:128]})
