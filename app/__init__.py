"""The Flask shell: create_app() wires settings, the database, the bus, the API and the CLI."""
from __future__ import annotations

from flask import Flask

from config import Settings, load_settings


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    from app.logging_setup import configure_logging
    from app.ops import engine_options, init_ops

    settings = settings or load_settings(**overrides)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(
        TONGQUAN=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 64 * 1024,  # room for the multipart envelope
        TESTING=settings.env == "testing",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
    )
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only as many X-Forwarded-* values as there are proxies of ours are believed: a client cannot choose the
        # IP its rate limit counts against by sending the header itself.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops,
                                x_host=settings.proxy_hops)
    app.json.ensure_ascii = False  # Chinese stays readable in API responses
    configure_logging(settings)  # text lines, or one JSON object per line in production / LOG_FORMAT=json

    from app.extensions import db, migrate
    from app import ratelimit_store as _store  # noqa: F401  registers database:// with `limits`
    from app import throttle as _throttle  # noqa: F401  its table is part of the schema (migration 0008)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    _register_sqlite_pragmas(app)

    from exchange.bus import init_bus, set_locator

    init_bus(app, settings)
    set_locator(_current_bus)  # the domain finds this app's bus (and through it the settings) in its app context
    init_ops(app)  # request ids and logs, /healthz, /readyz, /metrics (before the other request hooks)
    from app.security_headers import init_security_headers

    init_security_headers(app)  # CSP, no framing, nosniff, referrer policy, HSTS in production, no version banner

    import delegation.messaging  # noqa: F401  registers the handlers of the case messages
    import supervision  # noqa: F401  subscribes to the workflow's events and registers its message handlers
    from supervision import credit

    credit.configure(settings.credit_expiry_days)  # how long each kind of credit record counts (issue 17)

    from app.api import init_api
    from app.cli import register_cli
    from app.errors import register_error_handlers, register_input_guard
    from app.home import bp as home_bp
    from app.public import bp as public_bp

    init_api(app)
    register_error_handlers(app)
    register_input_guard(app)  # control characters and oversized values refused before any view (issue 12)
    app.register_blueprint(home_bp)
    app.register_blueprint(public_bp)
    from app.web import init_web

    init_web(app)  # staff pages: Flask-Login sessions, CSRF on HTML forms (not /api), login and dashboard
    from app.web import archives

    app.register_blueprint(archives.bp)  # 档案管理: the archive catalogue and disposal (issue 19)
    from app.web import notifications, reminders

    app.register_blueprint(notifications.bp)  # the inbox and the header's unread count (issue 15)
    app.register_blueprint(reminders.bp)  # 催办 from the case page (issue 15)
    from app.web import regulator_cases

    app.register_blueprint(regulator_cases.bp)  # the regulator's open cases to press (issue 15)
    from app.web import assignment

    app.register_blueprint(assignment.bp)  # 领取/分派 and 委托代办 (issue 15)
    from app.web import transfer

    app.register_blueprint(transfer.bp)  # 转办 from the case page (issue 15)
    from app.web import consultation  # (its service registers the consultation.* message handlers)

    app.register_blueprint(consultation.bp)  # 会商 (issue 15)
    from app.web import follow_up

    app.register_blueprint(follow_up.bp)  # 差评整改 (issue 15)
    from app.web import window_decisions

    app.register_blueprint(window_decisions.bp)  # 告知承诺, 即办件, 备案 decided at the window (issue 17)
    from app.web import credit_admin, representation

    app.register_blueprint(credit_admin.bp)  # 信用记录 and their lifting (issue 17)
    app.register_blueprint(representation.bp)  # 帮办人员 (issue 17)
    from app.web import inspections

    app.register_blueprint(inspections.bp)  # 现场踏勘 records on the case page (issue 17)
    from app.web import citywide

    app.register_blueprint(citywide.bp)  # 全市通办: the intake's county choice and the figures (issue 17)
    from app.web import accountability

    app.register_blueprint(accountability.bp)  # 问责 records for the city administrator (issue 17)
    from app.web import baseline_overrides

    app.register_blueprint(baseline_overrides.bp)  # 只减不增 overrides of the catalogue (issue 18)
    from app.web import reference_data

    app.register_blueprint(reference_data.bp)  # 参考数据: the versions in force (issue 18)
    register_cli(app)

    if settings.run_jobs:
        from app.scheduler import start_scheduler

        start_scheduler(app)
    return app


def _current_bus():
    from flask import current_app

    from exchange.bus import EXTENSION_KEY

    return current_app.extensions[EXTENSION_KEY]


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _register_sqlite_pragmas(app: Flask) -> None:
    import sqlalchemy as sa

    from app.extensions import db

    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "sqlite":
            return

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
