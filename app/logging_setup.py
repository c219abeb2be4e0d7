"""Process logging: human-readable lines in development, one JSON object per line in production.

JSON mode (TONGQUAN_ENV=production or LOG_FORMAT=json) writes to stderr every record as
`{"time", "level", "logger", "message", "request_id", ...}`; the request log line adds `method`, `path`, `route`,
`status` and `duration_ms` (app/ops.py), an exception adds `exc_info` (the traceback, inside the one line).
gunicorn's own loggers use the same formatter (gunicorn.conf.py).
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OWN_LOGGERS = ("tongquan", "app", "delegation", "exchange", "supervision", "config")

# LogRecord attributes that are not "extra" fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def current_request_id() -> str | None:
    """The id of the request being served, if any (set by app/ops.py)."""
    try:
        from flask import g, has_app_context, has_request_context
    except ImportError:  # pragma: no cover
        return None
    if has_request_context() and has_app_context():
        return g.get("request_id")
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; extra fields passed with `extra=` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (so that a test capturing stderr sees the lines)."""

    _tongquan = True

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _our_handler(root: logging.Logger) -> logging.Handler | None:
    return next((h for h in root.handlers if getattr(h, "_tongquan", False)), None)


def configure_logging(settings) -> None:
    """Set up the root logger once per process (calling it again switches the format, never adds a handler)."""
    root = logging.getLogger()
    level = getattr(logging, getattr(settings, "log_level", "INFO"), logging.INFO)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin, every command
    if getattr(settings, "log_format", "text") != "json":
        handler = _our_handler(root)
        if handler is not None:
            handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        else:
            logging.basicConfig(level=level, format=TEXT_FORMAT)
        root.setLevel(level)
        return
    handler = _our_handler(root)
    if handler is None:
        handler = _StderrHandler()
        # Plain-text handlers a previous basicConfig() left behind would print every record a second time.
        for old in list(root.handlers):
            if type(old) is logging.StreamHandler and getattr(old.formatter, "_fmt", None) == TEXT_FORMAT:
                root.removeHandler(old)
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter())
    root.setLevel(level)
    # logging.config.fileConfig() (Alembic's env.py, run in-process by `db upgrade`) disables every logger that
    # existed before it; the application's own must keep writing.
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".")[0] in OWN_LOGGERS:
            logger.disabled = False
    # The request line comes from app/ops.py; the development server's own would repeat it as text.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
