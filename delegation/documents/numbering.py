"""Document numbers (文号) in the issuing authority's own series: 章贡行审许〔2026〕12号.

One counter row per organisation and year, advanced by one upsert (INSERT … ON CONFLICT DO UPDATE … RETURNING).
Its row lock holds a concurrent issue by the same authority until this transaction ends, so two decisions never
share a number; a decision rolled back takes its increment with it, so the series has no gap either. The same
statement as the case numbers' (delegation.cases.next_case_no), which PostgreSQL and SQLite 3.35+ both run."""
from __future__ import annotations

import secrets

import sqlalchemy as sa

from persistence import db

_UPSERT = sa.text(
    "INSERT INTO doc_no_counter (issuer_code, year, last) VALUES (:issuer_code, :year, 1) "
    "ON CONFLICT (issuer_code, year) DO UPDATE SET last = doc_no_counter.last + 1 RETURNING last"
).columns(last=sa.Integer)

# No 0/O, 1/I/L: a verification code is read off paper and typed again.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VERIFY_CODE_LENGTH = 8


def allocate(issuer_code: str, year: int) -> int:
    """The next number of the organisation's year (1, 2, …)."""
    return db.session.execute(_UPSERT, {"issuer_code": issuer_code, "year": year}).scalar_one()


def doc_no(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}〔{year}〕{seq}号"


def verify_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(VERIFY_CODE_LENGTH))
