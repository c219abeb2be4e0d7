"""The app shell's extension objects: `migrate` lives here; `db` and the column types live in persistence/ (below
the domain packages, which may not import app/) and are re-exported for app/ code, the tests and the benchmarks."""
from __future__ import annotations

from flask_migrate import Migrate

from persistence import NAMING_CONVENTION, Base, UTCDateTime, db, utcnow

migrate = Migrate()

__all__ = ["NAMING_CONVENTION", "Base", "UTCDateTime", "db", "migrate", "utcnow"]
