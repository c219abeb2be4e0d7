"""gunicorn settings for the production profile: `gunicorn -c gunicorn.conf.py wsgi:app` (see `make serve-prod`).

Environment: WEB_CONCURRENCY (workers, default cores + 1, at most 12), GUNICORN_BIND (default
127.0.0.1:8000; nginx in front), GUNICORN_THREADS (threads per worker, default 1 = sync workers),
GUNICORN_TIMEOUT (seconds, default 60), PROMETHEUS_MULTIPROC_DIR (metrics added up over the workers).
The application's own settings are validated here, in the master, before any worker starts: a missing
SECRET_KEY or DATABASE_URL stops gunicorn with one line naming the variable.
"""
import multiprocessing
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from config.settings import CONFIG_EXIT_STATUS, ConfigError, check_web_workers, load_settings  # noqa: E402


def _fail(message: str) -> None:
    print(f"tongquan: configuration error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(CONFIG_EXIT_STATUS)


def _positive_int(name: str, default: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        _fail(f"{name} must be a whole number from 1 to {maximum}, got {raw!r}")
    return int(raw)


try:
    _settings = load_settings()
except ConfigError as exc:
    _fail(str(exc))

MAX_WORKERS = 12
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# cores + 1 sync workers: a request is CPU work with short loopback waits (PostgreSQL on the same host or near it),
# so workers beyond that only take turns on the cores. Measured (bench/intake_bench.py, 2 cores, 8 clients): 3
# workers 52-57 cases/s with P95 98-105 ms, 5 workers (2 x cores + 1) 39-44 cases/s with P95 137-146 ms and more
# CPU per case (context switches). With a remote database and slower queries, raise WEB_CONCURRENCY.
workers = _positive_int("WEB_CONCURRENCY", min(multiprocessing.cpu_count() + 1, MAX_WORKERS), 64)
try:
    check_web_workers(_settings, workers)  # per-process rate-limit counters and several workers: refused here
except ConfigError as exc:
    _fail(str(exc))
threads = _positive_int("GUNICORN_THREADS", 1, 32)
worker_class = "gthread" if threads > 1 else "sync"  # nginx buffers slow clients, so sync workers suffice
timeout = _positive_int("GUNICORN_TIMEOUT", 60, 3600)  # a worker silent this long is killed and replaced
graceful_timeout = 30  # on SIGTERM / HUP, requests in progress get this long to finish
keepalive = 5
preload_app = False  # each worker imports the app (and opens its own database pool) after the fork
max_requests = 5000  # replace workers now and then: a slow leak never grows into an outage
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")  # nginx on this host
proc_name = f"tongquan-{_settings.node_id}"
accesslog = None  # the app writes one line per request itself (with the request id); see app/ops.py
errorlog = "-"
loglevel = _settings.log_level.lower()
capture_output = False

if _settings.log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logging_setup.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        # The root logger is the application's: each worker gives it the JSON handler (app/logging_setup.py).
        "root": {"level": _settings.log_level, "handlers": []},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": _settings.log_level, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def on_starting(server):
    """With PROMETHEUS_MULTIPROC_DIR, start from an empty directory: files of an earlier run would be added in."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for child in path.glob("*.db"):
            child.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
