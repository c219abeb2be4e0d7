"""Finding 11 of issue 12: `/readyz` answers anyone, so it says only which check failed; what went wrong (the
driver's message, the host, the path) goes to the log for the operators."""
from __future__ import annotations

import logging
import socket

import sqlalchemy as sa

from app.extensions import db
from tests.conftest import make_app

# what the failures' own messages contain, and must not reach an anonymous caller
LEAKS = ("Error:", "OperationalError", "NotADirectoryError", "Errno", "psycopg", "sqlite", "connect", "127.0.0.1",
         "no-such-folder", "a-file", "directory", "refused")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readiness_log(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "tongquan.ops")


def test_an_unreachable_database_is_named_and_its_error_logged(database_url, tmp_path, caplog):
    if database_url.startswith("sqlite"):
        unreachable, detail = f"sqlite:///{tmp_path / 'no-such-folder' / 'tongquan.db'}", "unable to open"
    else:
        port = _free_port()
        unreachable = sa.engine.make_url(database_url).set(port=port).render_as_string(hide_password=False)
        detail = str(port)
    app = make_app(unreachable, tmp_path / "instance")
    with caplog.at_level(logging.WARNING, logger="tongquan.ops"):
        r = app.test_client().get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["failed"] == ["database"] and body["checks"]["database"]["status"] == "error"
    assert body["checks"]["exchange"]["status"] == "ok"
    assert not [word for word in LEAKS if word in r.get_data(as_text=True)], body
    logged = _readiness_log(caplog)
    assert "database" in logged and detail in logged, logged


def test_an_unwritable_exchange_store_is_named_and_its_error_logged(database_url, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = make_app(database_url, tmp_path / "instance", EXCHANGE_ROOT=str(blocker / "exchange"))
    with app.app_context(), caplog.at_level(logging.WARNING, logger="tongquan.ops"):
        r = app.test_client().get("/readyz")
        db.engine.dispose()
    assert r.status_code == 503
    body = r.get_json()
    assert body["failed"] == ["exchange"] and body["checks"]["exchange"]["status"] == "error"
    assert not [word for word in LEAKS if word in r.get_data(as_text=True)], body
    logged = _readiness_log(caplog)
    assert "exchange" in logged and str(blocker) in logged, logged
