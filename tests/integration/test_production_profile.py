"""The production profile: start-up checks, request ids and JSON logs, /healthz, /readyz, /metrics, the worker
process and gunicorn, the last two for real, as subprocesses against the test PostgreSQL server."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.conftest import NODE_ID, _with_database, make_app

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "production-secret-key-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **values) -> dict:
    """A clean environment: nothing of the developer's or the test runner's TONGQUAN settings leaks in."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "INSTANCE_PATH": str(tmp_path / "instance"), "NODE_ID": NODE_ID}
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def _forward_case(app) -> str:
    """A forward_only case accepted at the county window: one case.forward message queued in the outbox."""
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Item, User
    from tests.integration.support import COUNTY, ENTERPRISE

    user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
    actor = Actor.for_user(user)
    item = db.session.execute(sa.select(Item).filter_by(mode="forward_only")).unique().scalars().first()
    case = cases.create_case(actor, item.code, dict(ENTERPRISE),
                             [{"code": m.code, "present": True} for m in item.materials])
    cases.perform(actor, case.case_no, "accept")
    db.session.commit()
    return case.case_no


@pytest.fixture
def pg_database(pg_template):
    admin, template = pg_template
    name = f"tq_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _with_database(admin.url.render_as_string(hide_password=False), name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def json_logs():
    """Leave the root logger as it was: the JSON handler a test installs must not outlive it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.NOTSET)


# -- start-up checks ------------------------------------------------------------------------------------------

FLASK_ROUTES = [str(BIN / "flask"), "--app", "wsgi", "routes"]
WORKER_ONCE = [str(BIN / "flask"), "--app", "wsgi", "worker", "--once"]
GUNICORN = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]


@pytest.mark.parametrize("command,settings,variable", [
    (FLASK_ROUTES, {"DATABASE_URL": "postgresql://u@127.0.0.1/tq"}, "SECRET_KEY"),
    (FLASK_ROUTES, {"SECRET_KEY": SECRET}, "DATABASE_URL"),
    (FLASK_ROUTES, {"SECRET_KEY": SECRET, "DATABASE_URL": "sqlite:////tmp/tq.db"}, "DATABASE_URL"),
    (FLASK_ROUTES, {"SECRET_KEY": SECRET, "DATABASE_URL": "postgresql://u@127.0.0.1/tq", "DB_POOL_SIZE": "many"},
     "DB_POOL_SIZE"),
    (WORKER_ONCE, {"DATABASE_URL": "postgresql://u@127.0.0.1/tq"}, "SECRET_KEY"),
    (GUNICORN, {"SECRET_KEY": SECRET}, "DATABASE_URL"),
    (GUNICORN, {"SECRET_KEY": SECRET, "DATABASE_URL": "postgresql://u@127.0.0.1/tq", "WEB_CONCURRENCY": "0"},
     "WEB_CONCURRENCY"),
], ids=["flask-secret", "flask-db", "flask-sqlite", "flask-pool", "worker-secret", "gunicorn-db", "gunicorn-workers"])
def test_production_start_up_stops_with_one_line_naming_the_variable(tmp_path, command, settings, variable):
    env = _env(tmp_path, TONGQUAN_ENV="production", **settings)
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert len(lines) == 1, proc.stderr
    assert variable in lines[0] and lines[0].startswith("tongquan: configuration error:"), lines[0]


def test_run_jobs_is_off_unless_asked_and_a_bad_flag_is_refused(tmp_path):
    from config import ConfigError, load_settings

    base = {"INSTANCE_PATH": str(tmp_path), "TONGQUAN_ENV": "production", "SECRET_KEY": SECRET,
            "DATABASE_URL": "postgresql://u@127.0.0.1/tq"}
    s = load_settings(base)
    assert s.run_jobs is False and s.log_format == "json"
    assert load_settings({**base, "TONGQUAN_RUN_JOBS": "1"}).run_jobs is True
    with pytest.raises(ConfigError, match="TONGQUAN_RUN_JOBS"):
        load_settings({**base, "TONGQUAN_RUN_JOBS": "sometimes"})


def test_postgres_engine_uses_a_bounded_pool_from_the_settings(tmp_path):
    from app.ops import engine_options
    from config import load_settings

    s = load_settings({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql://u@127.0.0.1/tq",
                       "DB_POOL_SIZE": "7", "DB_MAX_OVERFLOW": "3", "DB_POOL_RECYCLE": "600",
                       "DB_CONNECT_TIMEOUT": "4"})
    options = engine_options(s)
    assert options["poolclass"] is sa.pool.QueuePool and options["pool_pre_ping"] is True
    assert (options["pool_size"], options["max_overflow"], options["pool_recycle"]) == (7, 3, 600)
    assert options["connect_args"]["connect_timeout"] == 4
    engine = sa.create_engine(s.database_url, **options)
    assert isinstance(engine.pool, sa.pool.QueuePool) and engine.pool.size() == 7
    engine.dispose()


# -- health and readiness -------------------------------------------------------------------------------------

def test_healthz_and_readyz_on_a_good_setup(client):
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok" and body["checks"]["exchange"]["status"] == "ok"
    assert "Set-Cookie" not in health.headers and "Set-Cookie" not in ready.headers


def test_readyz_names_the_database_when_it_is_unreachable(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        unreachable = f"sqlite:///{tmp_path / 'no-such-folder' / 'tongquan.db'}"
    else:
        unreachable = sa.engine.make_url(database_url).set(port=_free_port()).render_as_string(hide_password=False)
    app = make_app(unreachable, tmp_path / "instance")
    client = app.test_client()
    started = time.monotonic()
    ready = client.get("/readyz")
    assert time.monotonic() - started < 10
    body = ready.get_json()
    assert ready.status_code == 503, body
    assert body["failed"] == ["database"] and body["checks"]["database"]["status"] == "error"
    assert body["checks"]["exchange"]["status"] == "ok"
    assert client.get("/healthz").status_code == 200  # the process itself is up


def test_readyz_names_the_exchange_store_when_it_is_not_writable(database_url, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    app = make_app(database_url, tmp_path / "instance", EXCHANGE_ROOT=str(blocker / "exchange"))
    with app.app_context():
        ready = app.test_client().get("/readyz")
        db.engine.dispose()
    assert ready.status_code == 503 and ready.get_json()["failed"] == ["exchange"]


# -- request ids and JSON logs --------------------------------------------------------------------------------

def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_request_id_is_echoed_and_on_the_json_log_line(database_url, tmp_path, capsys, json_logs):
    app = make_app(database_url, tmp_path / "instance", LOG_FORMAT="json")
    client = app.test_client()
    capsys.readouterr()
    with app.app_context():
        response = client.get("/api/v1/items?mode=direct", headers={"X-Request-ID": "req-42.abc_DEF"})
        forged = client.get("/healthz", headers={"X-Request-ID": "bad id {\"level\":\"x\"} <script>"})
        plain = client.get("/healthz")
        db.engine.dispose()
    assert response.headers["X-Request-ID"] == "req-42.abc_DEF"
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", plain.headers["X-Request-ID"])
    assert plain.headers["X-Request-ID"] != forged.headers["X-Request-ID"]
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    records = _json_lines(err)
    assert records and len(records) == len(lines), err  # every line is one JSON object
    mine = [r for r in records if r.get("request_id") == "req-42.abc_DEF"]
    assert mine, err
    line = next(r for r in mine if r["logger"] == "tongquan.request")
    assert line["method"] == "GET" and line["path"] == "/api/v1/items" and line["status"] == response.status_code
    assert line["route"] == "/api/v1/items" and isinstance(line["duration_ms"], float)
    assert {"time", "level", "logger", "message"} <= set(line)
    assert any(r.get("request_id") == forged.headers["X-Request-ID"] for r in records)


# -- metrics --------------------------------------------------------------------------------------------------

def _sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_by_route_and_show_the_backlog(app, client):
    from tests.integration.support import Api

    api = Api(client)
    case_no = _forward_case(app)
    assert api.get(f"/api/v1/cases/{case_no}", user="admin").status_code == 200
    client.get("/healthz")
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert _sample(text, "tongquan_http_requests_total", route="/healthz", method="GET", status="200") == 2
    # The URL rule, not the raw path: one series for every case.
    assert _sample(text, "tongquan_http_requests_total", route="/api/v1/cases/<case_no>", status="200") == 1
    assert case_no not in text
    assert _sample(text, "tongquan_http_request_duration_seconds_count", route="/healthz") == 2
    assert _sample(text, "tongquan_outbox_backlog", state="queued") == 1
    assert _sample(text, "tongquan_outbox_dead_letters") == 0
    assert _sample(text, "tongquan_cases_overdue") == 0
    assert _sample(text, "tongquan_metrics_database_up") == 1


def test_metrics_are_for_loopback_or_the_token_only(database_url, tmp_path):
    app = make_app(database_url, tmp_path / "instance")
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    token = "metrics-token-0123456789abcdef"
    app = make_app(database_url, tmp_path / "instance2", METRICS_TOKEN=token)
    client = app.test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 403
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"},
                    environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert ok.status_code == 200 and "tongquan_outbox_backlog" in ok.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


# -- the worker process ---------------------------------------------------------------------------------------

def _outbox_states(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT state FROM outbox_message WHERE type = 'case.forward'"))
                        .scalars())
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_worker_delivers_an_outbox_message_and_stops_on_sigterm(pg_database, tmp_path):
    app = make_app(pg_database, tmp_path / "instance")  # the same instance folder (key, trust) as the worker's
    with app.app_context():
        case_no = _forward_case(app)
        db.session.remove()
        db.engine.dispose()
    assert _outbox_states(pg_database) == ["queued"]
    env = _env(tmp_path, TONGQUAN_ENV="production", SECRET_KEY=SECRET, DATABASE_URL=pg_database)
    proc = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "worker", "--exchange-interval", "0.5"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _outbox_states(pg_database) != ["acknowledged"]:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.3)
        assert _outbox_states(pg_database) == ["acknowledged"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    records = _json_lines(err)
    assert any(r["message"].startswith("worker started") for r in records), err
    assert any("SIGTERM" in r["message"] for r in records) and records[-1]["message"] == "worker stopped"
    engine = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT state FROM case_file WHERE case_no = :n"), {"n": case_no}).scalar_one()
    engine.dispose()
    assert state == "city_review"  # received and applied on the city side (same node), then acknowledged


# -- gunicorn -------------------------------------------------------------------------------------------------

def _get(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.mark.postgresql
def test_gunicorn_serves_the_app_in_production(pg_database, tmp_path):
    # `make serve-prod` runs `flask db upgrade` first, which also makes the node key; so does this app.
    with make_app(pg_database, tmp_path / "instance").app_context():
        db.engine.dispose()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, TONGQUAN_ENV="production", SECRET_KEY=SECRET, DATABASE_URL=pg_database,
               GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1",
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    # One worker: several need a shared rate-limit store (RATELIMIT_STORAGE_URI, e.g. Redis), which the tests
    # do not run; gunicorn refuses to start several workers on memory:// (tests/security/test_query_code_budget.py).
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            try:
                status, headers, body = _get(f"{base}/healthz", {"X-Request-ID": "gunicorn-probe-1"})
                break
            except OSError:
                time.sleep(0.3)
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert headers["X-Request-ID"] == "gunicorn-probe-1"
        # No version banner (issue 12): gunicorn names itself only; HSTS and the policy come from the app.
        assert headers["Server"] == "gunicorn", headers
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        # The start-up probes above may have been counted too (one that timed out on a busy machine still reached
        # the app), so count from a first reading of the metrics.
        _, _, metrics = _get(f"{base}/metrics")
        served = _sample(metrics, "tongquan_http_requests_total", route="/healthz", status="200")
        for _ in range(3):
            _get(f"{base}/healthz")
        status, _, body = _get(f"{base}/readyz")
        assert status == 200, body
        status, _, metrics = _get(f"{base}/metrics")
        assert status == 200
        # Added up over the workers (multiprocess mode): every /healthz request is counted once.
        assert served >= 1
        assert _sample(metrics, "tongquan_http_requests_total", route="/healthz", status="200") == served + 3
        assert _sample(metrics, "tongquan_outbox_backlog", state="queued") == 0
        assert _get(f"{base}/metrics", {"X-Forwarded-For": "198.51.100.7"})[0] == 403
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    records = _json_lines(err)
    assert len(records) == len(lines), err  # gunicorn's own lines are JSON too
    assert any(r.get("request_id") == "gunicorn-probe-1" and r["logger"] == "tongquan.request" for r in records)


# -- several workers at once ----------------------------------------------------------------------------------

@pytest.mark.postgresql
def test_two_workers_sweeping_at_once_terminate_each_broken_case_once(pg_database, tmp_path):
    import threading

    from delegation import cases
    from delegation.models import Case, CaseEvent
    from tests.integration.test_deadlines_cases import actor, at, new_case
    from tests.integration.support import COUNTY

    app = make_app(pg_database, tmp_path / "instance")
    with app.app_context():
        numbers = []
        for _ in range(12):
            case = new_case(mode="delegated_review", limit=20, now=at(2026, 3, 2, 10), commitment=True)
            cases.perform(actor(f"window-{COUNTY}"), case.case_no, "accept_with_commitment",
                          {"commitment_days": 5}, now=at(2026, 3, 2, 10))
            numbers.append(case.case_no)
        db.session.commit()
        db.session.remove()
    results, errors = [], []
    barrier = threading.Barrier(3)

    def sweep():
        try:
            with app.app_context():
                barrier.wait(10)
                results.append(cases.sweep(now=at(2026, 3, 10, 9)))
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with app.app_context():
        terminations = db.session.execute(
            sa.select(Case.case_no, sa.func.count()).join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(Case.case_no.in_(numbers), CaseEvent.action == "terminate").group_by(Case.case_no)).all()
        states = set(db.session.execute(sa.select(Case.state).where(Case.case_no.in_(numbers))).scalars())
        db.session.remove()
        db.engine.dispose()
    assert states == {"terminated"}
    assert dict(terminations) == {n: 1 for n in numbers}
    assert sum(r["terminated"] for r in results) == len(numbers)


def test_worker_once_runs_every_job_in_process(app):
    from app.worker import worker_cmd

    case_no = _forward_case(app)
    result = app.test_cli_runner().invoke(worker_cmd, ["--once"])
    assert result.exit_code == 0, result.output
    from delegation.models import Case

    db.session.expire_all()
    state = db.session.execute(sa.select(Case.state).filter_by(case_no=case_no)).scalar_one()
    assert state == "city_review"
