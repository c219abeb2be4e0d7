"""Operations side of the web processes: the database pool, request ids and request logs, `/healthz`,
`/readyz` and Prometheus `/metrics`.

- Every request gets an id: the caller's `X-Request-ID` when it is a short token (letters, digits, `.`, `_`, `-`;
  nginx's `$request_id` is one), otherwise a new one; it is returned in the `X-Request-ID` response header and
  appears on every log line written while the request is served.
- `/healthz` says the process is up (no database); `/readyz` checks the database (`SELECT 1`) and the exchange
  store (the local directory is writable, or the SFTP host answers) with a 2-second timeout and answers 503
  naming the failed check (and nothing of why: that is logged). Neither needs a login; both are GET only, so
  CSRF does not apply.
- `/metrics` (Prometheus text format): requests by route (the URL rule, not the raw path), method and status,
  a latency histogram, and gauges computed at scrape time from indexed queries: outbox backlog by state, dead
  letters, inbound messages held, overdue open cases. Only loopback callers (not proxied) may scrape it, or anyone
  with `Authorization: Bearer $METRICS_TOKEN` when that is set. With several gunicorn workers set
  `PROMETHEUS_MULTIPROC_DIR` so that the counters of every worker are added up (gunicorn.conf.py clears it at
  start and tells prometheus_client when a worker exits).
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import tempfile
import time
import uuid

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

log = logging.getLogger("tongquan.ops")
request_log = logging.getLogger("tongquan.request")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
READY_TIMEOUT_SECONDS = 2
EXTENSION_KEY = "tongquan.ops"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

bp = Blueprint("ops", __name__)


# -- the database pool ----------------------------------------------------------------------------------------

def engine_options(settings) -> dict:
    """SQLAlchemy engine options. SQLite (one process, the embedded demo): wait for a lock instead of failing.
    PostgreSQL (psycopg 3): a QueuePool per process sized by DB_POOL_SIZE / DB_MAX_OVERFLOW, connections checked
    before use (a restarted server or a dropped idle connection costs no request) and recycled, and a connect
    timeout so that an unreachable server fails a request in seconds, not minutes."""
    if settings.database_url.startswith("sqlite"):
        # Jobs and requests share the file; wait for a lock instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    return {
        "poolclass": sa.pool.QueuePool,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": settings.db_connect_timeout,
                         "application_name": f"tongquan-{settings.node_id}"[:63]},
    }


# -- wiring ---------------------------------------------------------------------------------------------------

class _State:
    """Per application: its metrics and the probes' own connections."""

    def __init__(self, app: Flask):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("tongquan_http_requests", "HTTP requests served, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("tongquan_http_request_duration_seconds", "Time to serve a request, by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_DatabaseCollector(app))
        self.probe_engine: sa.Engine | None = None
        self.sftp_probe = None


def init_ops(app: Flask) -> None:
    settings = app.config["TONGQUAN"]
    app.extensions[EXTENSION_KEY] = _State(app)
    app.before_request(_begin_request)
    app.after_request(_end_request)
    app.register_blueprint(bp)
    app.config["TONGQUAN_JSON_LOGS"] = settings.log_format == "json"


def _state() -> _State:
    return current_app.extensions[EXTENSION_KEY]


def _begin_request():
    g.request_started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex


def _end_request(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    elapsed = time.perf_counter() - started if started is not None else 0.0
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    try:
        state = _state()
        state.requests.labels(route, request.method, str(response.status_code)).inc()
        state.latency.labels(route, request.method).observe(elapsed)
    except Exception:  # metrics must never fail a request
        log.exception("request metrics not recorded")
    if current_app.config.get("TONGQUAN_JSON_LOGS"):
        status = response.status_code
        request_log.log(logging.WARNING if status >= 500 else logging.INFO,
                        "%s %s %s", request.method, request.path, status,
                        extra={"method": request.method, "path": request.path, "route": route, "status": status,
                               "duration_ms": round(elapsed * 1000, 2), "remote_addr": request.remote_addr})
    return response


# -- health and readiness -------------------------------------------------------------------------------------

@bp.get("/healthz")
def healthz():
    """The process is up and serving. Touches nothing else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready for traffic: the database answers and the exchange store is reachable. Anyone may ask, so the answer
    names the failed check only; the driver's message (hosts, ports, paths, versions) goes to the log."""
    checks, failed = {}, []
    for name, probe in (("database", _check_database), ("exchange", _check_exchange)):
        started = time.perf_counter()
        try:
            probe()
        except Exception as exc:
            failed.append(name)
            checks[name] = {"status": "error"}
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, str(exc).strip())
        else:
            checks[name] = {"status": "ok"}
        checks[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    body = {"status": "unavailable" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    return jsonify(body), 503 if failed else 200


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _probe_engine() -> sa.Engine:
    """A connection of its own for each probe (no pool): a full pool or a stale pooled connection does not make
    the probe wait, and the timeouts are the probe's: 2 s to connect, 2 s per statement."""
    state = _state()
    if state.probe_engine is None:
        url = sa.engine.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
        if url.get_backend_name() == "sqlite":
            import sqlite3

            path = url.database

            def creator():  # mode=rw: a missing database file is an error, not a new empty database
                return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=READY_TIMEOUT_SECONDS)

            state.probe_engine = sa.create_engine("sqlite://", creator=creator, poolclass=sa.pool.NullPool)
        else:
            state.probe_engine = sa.create_engine(
                url, poolclass=sa.pool.NullPool,
                connect_args={"connect_timeout": READY_TIMEOUT_SECONDS,
                              "options": f"-c statement_timeout={READY_TIMEOUT_SECONDS * 1000}",
                              "application_name": "tongquan-readyz"})
    return state.probe_engine


def _check_database() -> None:
    with _probe_engine().connect() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


def _check_exchange() -> None:
    settings = current_app.config["TONGQUAN"]
    if settings.exchange_transport == "sftp":
        state = _state()
        if state.sftp_probe is None:
            from exchange.sftp import SftpTransport

            s = settings.sftp
            state.sftp_probe = SftpTransport(s["host"], s["port"], s["user"], s["key"], s["known_hosts"], s["root"],
                                             local_quarantine_root=settings.exchange_root,
                                             timeout=READY_TIMEOUT_SECONDS)
        state.sftp_probe.check()
        return
    root = settings.exchange_root
    root.mkdir(parents=True, exist_ok=True)
    # A real write: a read-only mount or a full disk fails here, not at the next publish.
    with tempfile.NamedTemporaryFile(dir=root, prefix=".readyz-", delete=True) as fh:
        fh.write(b"ok")
        fh.flush()


# -- metrics --------------------------------------------------------------------------------------------------

class _DatabaseCollector:
    """Gauges computed when Prometheus scrapes, from index-backed counts (outbox_message (state, …),
    inbound_message (state, case_no), case_file (due_flag, state)): never a COUNT over a whole table."""

    def __init__(self, app: Flask):
        self.app = app

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from app.extensions import db
        from delegation.clock import OPEN_CLOCK_STATES
        from delegation.models import Case
        from exchange.models import InboundMessage, OutboxMessage

        up = GaugeMetricFamily("tongquan_metrics_database_up", "1 if the scrape-time queries succeeded")
        try:
            with self.app.app_context(), db.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text(f"SET LOCAL statement_timeout = {READY_TIMEOUT_SECONDS * 1000}"))
                backlog = dict(conn.execute(
                    sa.select(OutboxMessage.state, sa.func.count())
                    .where(OutboxMessage.state.in_(("queued", "retry", "awaiting_receipt")))
                    .group_by(OutboxMessage.state)).all())
                dead = conn.execute(sa.select(sa.func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.state == "dead")).scalar_one()
                held = conn.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                                    .where(InboundMessage.state == "held")).scalar_one()
                overdue = conn.execute(sa.select(sa.func.count()).select_from(Case)
                                       .where(Case.due_flag == "overdue",
                                              Case.state.in_(OPEN_CLOCK_STATES))).scalar_one()
        except Exception as exc:
            log.warning("metrics: database gauges not available: %s", _describe(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        g_backlog = GaugeMetricFamily("tongquan_outbox_backlog",
                                      "Outbound messages not yet acknowledged, by state", labels=["state"])
        for state in ("queued", "retry", "awaiting_receipt"):
            g_backlog.add_metric([state], backlog.get(state, 0))
        yield g_backlog
        yield GaugeMetricFamily("tongquan_outbox_dead_letters", "Outbound messages given up (dead letters)",
                                value=dead)
        yield GaugeMetricFamily("tongquan_inbox_held", "Inbound messages held for an earlier one of their case",
                                value=held)
        yield GaugeMetricFamily("tongquan_cases_overdue", "Open cases past their deadline (running clock)",
                                value=overdue)


def _metrics_allowed() -> bool:
    token = current_app.config["TONGQUAN"].metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())
    # Behind a proxy on the same host every request comes from loopback: a proxied one is not a local scrape.
    if any(request.headers.get(h) for h in ("X-Forwarded-For", "X-Real-IP", "Forwarded")):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics():
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if not _metrics_allowed():
        return jsonify(status="forbidden",
                       detail="metrics are served to loopback or with the METRICS_TOKEN bearer token"), 403
    state = _state()
    registry = state.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # every worker's counters and histograms, added up
        registry.register(_DatabaseCollector(current_app._get_current_object()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
