"""The database handle every layer's models share: `db`, its declarative `Base` with the constraint naming
convention the migrations rely on, the `UTCDateTime` column type and `utcnow`.

A package of its own at the bottom of the dependency rule (app -> supervision -> delegation -> exchange ->
persistence | config, .importlinter), because the domain's models need it and the domain may not import app/.
Not in config/: config/ holds the validated settings, and this is no setting but a shared object; keeping the two
apart lets config stay free of SQLAlchemy and lets this package import neither config nor anything above it.
app/extensions.py re-exports `db` (next to `migrate`) for the app shell, the tests and the benchmarks.
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores UTC without a zone (SQLite keeps none) and always hands back an aware UTC datetime."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """The moment in UTC; a naive value is UTC already (what the database and UTCDateTime keep)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


__all__ = ["NAMING_CONVENTION", "Base", "UTCDateTime", "as_utc", "db", "utcnow"]
