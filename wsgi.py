"""Entry point for `flask --app wsgi` and for WSGI servers (gunicorn wsgi:app).

A configuration error (a missing or invalid environment variable) stops the process with one line on stderr that
names the variable, and a non-zero exit status, under flask, gunicorn and the worker alike."""
import sys

from config.settings import CONFIG_EXIT_STATUS, ConfigError

try:
    from app import create_app

    app = create_app()
except ConfigError as exc:
    print(f"tongquan: configuration error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(CONFIG_EXIT_STATUS) from None
