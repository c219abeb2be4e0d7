"""Runtime configuration.

Every setting comes from an environment variable so that the same code runs as the embedded demo (SQLite, local
exchange directory) and in production. Validation happens here, at start-up, so a bad value stops the process with
one clear line instead of failing later inside a request.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from config.office_hours import OfficeHours

ENVIRONMENTS = ("development", "testing", "production")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
# The exit status of a process stopped by a configuration error. 4 is gunicorn's "app failed to load": a worker
# that exits with it stops the whole server instead of being restarted for ever.
CONFIG_EXIT_STATUS = 4
NODE_ID_RE = re.compile(r"^\d{6}(-[a-z0-9]{1,16})?$")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    exchange_root: Path
    node_id: str
    secret_key: str
    instance_path: Path
    office_hours: str = "09:00-12:00,13:00-17:00"
    max_upload_bytes: int = 20 * 1024 * 1024
    exchange_max_attempts: int = 8
    # How long a sent message waits for its receipt before it is looked at again (sent again if the peer has
    # read it and not answered; left waiting, with no attempt used, while its copy is still unread).
    exchange_receipt_timeout_seconds: int = 600
    exchange_interval_seconds: int = 5
    run_jobs: bool = False
    exchange_transport: str = "local"  # where this node's own inbox is: the local directory or the SFTP store
    exchange_format: str = "xml"  # the default wire format towards peers without their own setting
    sftp: dict = field(default_factory=dict)  # host, port, user, key, known_hosts, root (EXCHANGE_SFTP_*)
    # PostgreSQL connection pool (SQLAlchemy QueuePool), per process: DB_POOL_SIZE + DB_MAX_OVERFLOW connections
    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_timeout: int = 10  # seconds a request waits for a free connection
    db_pool_recycle: int = 1800  # seconds before a connection is replaced (firewalls drop idle ones)
    db_connect_timeout: int = 5  # seconds to establish a connection
    log_format: str = "text"  # "json" (one object per line) by default in production
    log_level: str = "INFO"
    metrics_token: str = ""  # bearer token for /metrics; without it only loopback may scrape
    # Where the public pages' per-address limits count (Flask-Limiter / `limits` storage URI). memory:// counts per
    # process: several gunicorn workers would each count alone, so they refuse to start with it
    # (check_web_workers). database:// (the default in production) counts in the platform's own database, shared
    # by every worker and host (app/ratelimit_store.py); redis:// and the other `limits` stores work too. The
    # per-case budget of query codes is in the database whatever this says.
    ratelimit_storage_uri: str = "memory://"
    # Reverse proxies in front that append to X-Forwarded-For / set X-Forwarded-Proto (nginx: 1). 0 trusts no
    # forwarded header: behind nginx every client would then look like 127.0.0.1 and share one limit.
    proxy_hops: int = 0
    supervision_claim_days: int = 3  # working days a regulator has to claim a push (1 – 60)
    # The passphrase of an encrypted node key (EXCHANGE_KEY_PASSPHRASE), handed to the bus that loads the key;
    # kept out of the repr so that no log or traceback of the settings shows it.
    exchange_key_passphrase: str = field(default="", repr=False)
    # The public address the licences' QR codes lead to (PUBLIC_BASE_URL, e.g. https://zw.ganzhou.gov.cn); empty:
    # the address the licence was printed from.
    public_base_url: str = ""
    # Notification e-mail (issue 15): off without SMTP_HOST. host, port, from, tls (none|starttls|ssl), user;
    # the password is kept out of the repr like the key passphrase.
    smtp: dict = field(default_factory=dict, repr=False)
    sms_sender: str = "log"  # SMS_SENDER: "log" writes each SMS to the log (no gateway is wired in yet)
    reminder_escalate_after: int = 3  # REMINDER_ESCALATE_AFTER: automatic reminders before the supervisor hears
    consultation_reply_hours: int = 8  # CONSULTATION_REPLY_HOURS: office hours the city has to answer a 会商 (1 – 80)
    # SUPERVISION_FEEDBACK_DAYS: working days after a claim before a push still without feedback is escalated
    supervision_feedback_days: int = 10
    rating_follow_up_days: int = 5  # RATING_FOLLOW_UP_DAYS: working days to verify, rectify and reply to a bad rating
    # CREDIT_EXPIRY_DAYS, e.g. "broken_commitment=365,false_commitment=1095,penalty=1095": days a credit record
    # counts against the applicant, per kind (those not named keep supervision.credit.EXPIRY_DAYS)
    credit_expiry_days: dict = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.instance_path / "keys"

    @property
    def trust_dir(self) -> Path:
        return self.instance_path / "trust"

    @property
    def upload_dir(self) -> Path:
        return self.instance_path / "uploads"


CLAIM_DAYS_MAX = 60  # twelve working weeks: longer, and an approval would go unsupervised for a season
RECEIPT_TIMEOUT_MAX_SECONDS = 7 * 24 * 3600  # a week: longer, and a lost message would go unnoticed for too long


def _int(environ, name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _flag(environ, name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), got {environ[name]!r}")


def _local_secret(instance_path: Path) -> str:
    """Development without SECRET_KEY: a random key kept in the instance folder (0600), never a public constant."""
    import secrets

    path = instance_path / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_settings(environ=None, **overrides) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    environ.update({k.upper(): v for k, v in overrides.items() if v is not None})

    env = environ.get("TONGQUAN_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"TONGQUAN_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")

    instance_path = Path(environ.get("INSTANCE_PATH") or PROJECT_ROOT / "instance").resolve()

    database_url = environ.get("DATABASE_URL", "")
    if not database_url:
        if env == "production":
            raise ConfigError("DATABASE_URL is required in production")
        database_url = f"sqlite:///{instance_path / 'tongquan.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    if not (database_url.startswith("sqlite:") or database_url.startswith("postgresql+psycopg://")):
        raise ConfigError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
    if env == "production" and not database_url.startswith("postgresql"):
        raise ConfigError("DATABASE_URL must be a postgresql:// URL in production (SQLite is for one process)")

    secret_key = environ.get("SECRET_KEY", "")
    if not secret_key:
        if env != "development" and env != "testing":
            raise ConfigError("SECRET_KEY is required outside development")
        secret_key = _local_secret(instance_path)
    elif env == "production" and len(secret_key) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters in production")

    node_id = environ.get("NODE_ID", "360700")
    if not NODE_ID_RE.match(node_id):
        raise ConfigError(f"NODE_ID must be a 6-digit division code with an optional suffix, got {node_id!r}")

    exchange_root = Path(environ.get("EXCHANGE_ROOT") or instance_path / "exchange").resolve()

    office_hours = environ.get("OFFICE_HOURS", Settings.office_hours)
    try:
        OfficeHours.parse(office_hours)
    except ValueError as exc:
        raise ConfigError(f"OFFICE_HOURS is invalid: {exc}") from None

    exchange_transport = environ.get("EXCHANGE_TRANSPORT", "local")
    if exchange_transport not in ("local", "sftp"):
        raise ConfigError(f"EXCHANGE_TRANSPORT must be local or sftp, got {exchange_transport!r}")
    exchange_format = environ.get("EXCHANGE_FORMAT", "xml")
    if exchange_format not in ("xml", "json"):
        raise ConfigError(f"EXCHANGE_FORMAT must be xml or json, got {exchange_format!r}")
    sftp = {}
    if exchange_transport == "sftp":
        for key in ("HOST", "USER", "KEY", "KNOWN_HOSTS"):
            if not environ.get(f"EXCHANGE_SFTP_{key}"):
                raise ConfigError(f"EXCHANGE_SFTP_{key} is required when EXCHANGE_TRANSPORT=sftp")
        for key in ("KEY", "KNOWN_HOSTS"):
            if not Path(environ[f"EXCHANGE_SFTP_{key}"]).is_file():
                raise ConfigError(f"EXCHANGE_SFTP_{key} names no file: {environ[f'EXCHANGE_SFTP_{key}']}")
        sftp = {"host": environ["EXCHANGE_SFTP_HOST"], "port": _int(environ, "EXCHANGE_SFTP_PORT", 22),
                "user": environ["EXCHANGE_SFTP_USER"], "key": environ["EXCHANGE_SFTP_KEY"],
                "known_hosts": environ["EXCHANGE_SFTP_KNOWN_HOSTS"],
                "root": environ.get("EXCHANGE_SFTP_ROOT", "/exchange")}

    log_format = environ.get("LOG_FORMAT", "").strip().lower() or ("json" if env == "production" else "text")
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be text or json, got {environ['LOG_FORMAT']!r}")
    log_level = environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {environ['LOG_LEVEL']!r}")
    metrics_token = environ.get("METRICS_TOKEN", "")
    if metrics_token and not TOKEN_RE.match(metrics_token):
        raise ConfigError("METRICS_TOKEN must be 16-256 characters of letters, digits and ._~+/=-")

    ratelimit_storage_uri = (environ.get("RATELIMIT_STORAGE_URI", "").strip()
                             or (DATABASE_RATELIMIT_STORE if env == "production" else Settings.ratelimit_storage_uri))
    _check_ratelimit_storage(ratelimit_storage_uri)

    return Settings(
        env=env,
        database_url=database_url,
        exchange_root=exchange_root,
        node_id=node_id,
        secret_key=secret_key,
        instance_path=instance_path,
        office_hours=office_hours,
        max_upload_bytes=_int(environ, "MAX_UPLOAD_BYTES", Settings.max_upload_bytes, 1024),
        exchange_max_attempts=_int(environ, "EXCHANGE_MAX_ATTEMPTS", Settings.exchange_max_attempts),
        exchange_receipt_timeout_seconds=_int(environ, "EXCHANGE_RECEIPT_TIMEOUT_SECONDS",
                                              Settings.exchange_receipt_timeout_seconds, 30,
                                              RECEIPT_TIMEOUT_MAX_SECONDS),
        exchange_interval_seconds=_int(environ, "EXCHANGE_INTERVAL_SECONDS", Settings.exchange_interval_seconds),
        # Off by default: in production the jobs run in `flask --app wsgi worker`, not in the web processes.
        run_jobs=_flag(environ, "TONGQUAN_RUN_JOBS", False),
        exchange_transport=exchange_transport,
        exchange_format=exchange_format,
        sftp=sftp,
        db_pool_size=_int(environ, "DB_POOL_SIZE", Settings.db_pool_size),
        db_max_overflow=_int(environ, "DB_MAX_OVERFLOW", Settings.db_max_overflow, 0),
        db_pool_timeout=_int(environ, "DB_POOL_TIMEOUT", Settings.db_pool_timeout),
        db_pool_recycle=_int(environ, "DB_POOL_RECYCLE", Settings.db_pool_recycle, 30),
        db_connect_timeout=_int(environ, "DB_CONNECT_TIMEOUT", Settings.db_connect_timeout, 2),
        log_format=log_format,
        log_level=log_level,
        metrics_token=metrics_token,
        ratelimit_storage_uri=ratelimit_storage_uri,
        proxy_hops=_int(environ, "PROXY_HOPS", Settings.proxy_hops, 0, 5),
        supervision_claim_days=_int(environ, "SUPERVISION_CLAIM_DAYS", Settings.supervision_claim_days, 1,
                                    CLAIM_DAYS_MAX),
        exchange_key_passphrase=environ.get("EXCHANGE_KEY_PASSPHRASE", ""),
        public_base_url=_public_base_url(environ.get("PUBLIC_BASE_URL", "")),
        smtp=_smtp(environ),
        sms_sender=_choice(environ, "SMS_SENDER", ("log",), "log"),
        reminder_escalate_after=_int(environ, "REMINDER_ESCALATE_AFTER", Settings.reminder_escalate_after, 1, 30),
        consultation_reply_hours=_int(environ, "CONSULTATION_REPLY_HOURS", Settings.consultation_reply_hours, 1, 80),
        supervision_feedback_days=_int(environ, "SUPERVISION_FEEDBACK_DAYS", Settings.supervision_feedback_days, 1,
                                       CLAIM_DAYS_MAX),
        rating_follow_up_days=_int(environ, "RATING_FOLLOW_UP_DAYS", Settings.rating_follow_up_days, 1, 30),
        credit_expiry_days=_credit_expiry(environ.get("CREDIT_EXPIRY_DAYS", "")),
    )


CREDIT_KINDS = ("broken_commitment", "false_commitment", "penalty")


def _credit_expiry(raw: str) -> dict:
    """kind=days pairs, comma separated; each kind once, 1 – 36500 days."""
    out: dict = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kind, _, days = part.partition("=")
        kind = kind.strip()
        if kind not in CREDIT_KINDS or kind in out:
            raise ConfigError(f"CREDIT_EXPIRY_DAYS: {kind!r} is not one of {', '.join(CREDIT_KINDS)} (or is given "
                              "twice)")
        if not days.strip().isdigit() or not 1 <= int(days) <= 36500:
            raise ConfigError(f"CREDIT_EXPIRY_DAYS: the days of {kind} must be 1 – 36500, got {days.strip()!r}")
        out[kind] = int(days)
    return out


SMTP_TLS = ("none", "starttls", "ssl")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")


def _choice(environ, name: str, values: tuple, default: str) -> str:
    value = environ.get(name, "").strip().lower() or default
    if value not in values:
        raise ConfigError(f"{name} must be one of {', '.join(values)}, got {value!r}")
    return value


def _smtp(environ) -> dict:
    """The notification mail server (SMTP_*): none without SMTP_HOST; then SMTP_FROM is required."""
    host = environ.get("SMTP_HOST", "").strip()
    if not host:
        return {}
    if not re.match(r"^[A-Za-z0-9.:-]{1,253}$", host):
        raise ConfigError(f"SMTP_HOST must be a host name or address, got {host!r}")
    sender = environ.get("SMTP_FROM", "").strip()
    if not EMAIL_RE.match(sender):
        raise ConfigError(f"SMTP_FROM must be an e-mail address when SMTP_HOST is set, got {sender!r}")
    tls = _choice(environ, "SMTP_TLS", SMTP_TLS, "none")
    user = environ.get("SMTP_USER", "")
    password = environ.get("SMTP_PASSWORD", "")
    if bool(user) != bool(password):
        raise ConfigError("SMTP_USER and SMTP_PASSWORD go together: set both or neither")
    return {"host": host, "port": _int(environ, "SMTP_PORT", 465 if tls == "ssl" else 25, 1, 65535),
            "from": sender, "tls": tls, "user": user, "password": password,
            "timeout": _int(environ, "SMTP_TIMEOUT_SECONDS", 10, 1, 120)}


def _public_base_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not re.match(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$", value):
        raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) address such as https://zw.example.gov.cn, "
                          f"got {value!r}")
    return value


def check_web_workers(settings: Settings, workers: int) -> None:
    """Several web workers need a shared store for the per-address limits: with memory:// each worker counts
    alone, and one address gets the budget once per worker (3 workers: 30 wrong codes instead of 10)."""
    if workers > 1 and settings.ratelimit_storage_uri.startswith("memory://"):
        raise ConfigError(f"RATELIMIT_STORAGE_URI is memory://, which {workers} web workers (WEB_CONCURRENCY) "
                          f"would each count alone: name a shared store (database:// or redis://host:6379), "
                          f"or run one worker (WEB_CONCURRENCY=1)")


DATABASE_RATELIMIT_STORE = "database://"


def _check_ratelimit_storage(uri: str) -> None:
    """A scheme the `limits` library knows, and its driver installed: found now, not at the first public request."""
    from importlib.util import find_spec

    from limits.storage import SCHEMES

    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if uri == DATABASE_RATELIMIT_STORE:
        return  # the platform's own store (registered with `limits` by app/ratelimit_store.py)
    if scheme not in SCHEMES or scheme.startswith("async+"):
        raise ConfigError(f"RATELIMIT_STORAGE_URI must be memory:// or a shared store (database://, or e.g. "
                          f"redis://host:6379), got {uri.split('@')[-1]!r}")  # never echo a password in the URI
    drivers = list(SCHEMES[scheme].DEPENDENCIES)  # e.g. redis or valkey; read, not instantiated (no socket)
    if drivers and not any(find_spec(name) for name in drivers):
        raise ConfigError(f"RATELIMIT_STORAGE_URI {scheme}:// needs the Python package {' or '.join(drivers)} "
                          f"(for Redis: pip install '.[redis]')")
