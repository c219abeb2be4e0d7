"""Start-up configuration: a bad or missing setting stops the process with one line naming it."""
import pytest

from config import ConfigError, load_settings


def test_development_defaults_are_embedded(tmp_path):
    s = load_settings({"INSTANCE_PATH": str(tmp_path)})
    assert s.env == "development" and s.node_id == "360700"
    assert s.database_url == f"sqlite:///{tmp_path / 'tongquan.db'}"
    assert s.exchange_root == tmp_path / "exchange"


@pytest.mark.parametrize("env,message", [
    ({"TONGQUAN_ENV": "production", "DATABASE_URL": "postgresql://x/y"}, "SECRET_KEY"),
    ({"TONGQUAN_ENV": "production", "SECRET_KEY": "k" * 32}, "DATABASE_URL"),
    ({"TONGQUAN_ENV": "staging"}, "TONGQUAN_ENV"),
    ({"NODE_ID": "../etc"}, "NODE_ID"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ({"OFFICE_HOURS": "17:00-09:00"}, "OFFICE_HOURS"),
    ({"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
    ({"TONGQUAN_ENV": "production", "SECRET_KEY": "k" * 32, "DATABASE_URL": "sqlite:////tmp/x.db"}, "DATABASE_URL"),
    ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
    ({"DB_MAX_OVERFLOW": "-1"}, "DB_MAX_OVERFLOW"),
    ({"DB_CONNECT_TIMEOUT": "soon"}, "DB_CONNECT_TIMEOUT"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
    ({"TONGQUAN_RUN_JOBS": "maybe"}, "TONGQUAN_RUN_JOBS"),
    ({"EXCHANGE_RECEIPT_TIMEOUT_SECONDS": "10m"}, "EXCHANGE_RECEIPT_TIMEOUT_SECONDS"),
    ({"EXCHANGE_RECEIPT_TIMEOUT_SECONDS": "5"}, "EXCHANGE_RECEIPT_TIMEOUT_SECONDS must be at least 30"),
    ({"EXCHANGE_RECEIPT_TIMEOUT_SECONDS": "9999999"}, "EXCHANGE_RECEIPT_TIMEOUT_SECONDS must be at most"),
    ({"RATELIMIT_STORAGE_URI": "sqlite:///x"}, "RATELIMIT_STORAGE_URI must be memory:// or a shared store"),
    ({"RATELIMIT_STORAGE_URI": "mongodb://h:27017"}, "RATELIMIT_STORAGE_URI mongodb:// needs the Python package pymongo"),  # driver not installed
    ({"PROXY_HOPS": "-1"}, "PROXY_HOPS must be at least 0"),
    ({"PROXY_HOPS": "9"}, "PROXY_HOPS must be at most 5"),
    ({"SUPERVISION_CLAIM_DAYS": "three"}, "SUPERVISION_CLAIM_DAYS must be an integer"),
    ({"SUPERVISION_CLAIM_DAYS": "0"}, "SUPERVISION_CLAIM_DAYS must be at least 1"),
    ({"SUPERVISION_CLAIM_DAYS": "61"}, "SUPERVISION_CLAIM_DAYS must be at most 60"),
])
def test_bad_settings_are_refused_naming_the_variable(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"INSTANCE_PATH": str(tmp_path), **env})


def test_postgres_urls_use_psycopg3(tmp_path):
    s = load_settings({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "postgresql://u@127.0.0.1/db"})
    assert s.database_url == "postgresql+psycopg://u@127.0.0.1/db"


def test_production_defaults(tmp_path):
    s = load_settings({"INSTANCE_PATH": str(tmp_path), "TONGQUAN_ENV": "production", "SECRET_KEY": "k" * 32,
                       "DATABASE_URL": "postgresql://u@127.0.0.1/db"})
    assert s.log_format == "json" and s.run_jobs is False and s.metrics_token == ""
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_recycle, s.db_connect_timeout) == (5, 10, 1800, 5)
    assert load_settings({"INSTANCE_PATH": str(tmp_path)}).log_format == "text"


def test_receipt_timeout_from_the_environment(tmp_path):
    assert load_settings({"INSTANCE_PATH": str(tmp_path)}).exchange_receipt_timeout_seconds == 600
    s = load_settings({"INSTANCE_PATH": str(tmp_path), "EXCHANGE_RECEIPT_TIMEOUT_SECONDS": "120"})
    assert s.exchange_receipt_timeout_seconds == 120


def test_rate_limit_storage_and_proxy_hops(tmp_path):
    s = load_settings({"INSTANCE_PATH": str(tmp_path)})
    assert (s.ratelimit_storage_uri, s.proxy_hops) == ("memory://", 0)
    s = load_settings({"INSTANCE_PATH": str(tmp_path), "PROXY_HOPS": "1"})
    assert s.proxy_hops == 1


def test_a_bad_rate_limit_uri_is_named_without_its_password(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings({"INSTANCE_PATH": str(tmp_path), "RATELIMIT_STORAGE_URI": "nosuch://ops:s3cret@10.0.0.9/0"})
    assert "RATELIMIT_STORAGE_URI" in str(exc.value) and "s3cret" not in str(exc.value)


def test_several_web_workers_need_a_shared_rate_limit_store(tmp_path):
    """memory:// counts per process: with N workers one address would get N times its budget (issue 12)."""
    from dataclasses import replace

    from config.settings import check_web_workers

    s = load_settings({"INSTANCE_PATH": str(tmp_path)})
    check_web_workers(s, 1)  # make run and the tests: one process, memory:// is exact
    with pytest.raises(ConfigError) as exc:
        check_web_workers(s, 3)
    assert str(exc.value).startswith("RATELIMIT_STORAGE_URI is memory://") and "WEB_CONCURRENCY" in str(exc.value)
    check_web_workers(replace(s, ratelimit_storage_uri="redis://cache:6379"), 3)  # a shared store
    check_web_workers(replace(s, ratelimit_storage_uri="database://"), 3)


def test_production_counts_rate_limits_in_the_database_unless_told_otherwise(tmp_path):
    """Several gunicorn workers start in production without a Redis server: the default store is shared."""
    env = {"INSTANCE_PATH": str(tmp_path), "TONGQUAN_ENV": "production", "SECRET_KEY": "x" * 32,
           "DATABASE_URL": "postgresql://tq@db/tq"}
    assert load_settings(env).ratelimit_storage_uri == "database://"
    assert load_settings({**env, "RATELIMIT_STORAGE_URI": "memory://"}).ratelimit_storage_uri == "memory://"
    assert load_settings({"INSTANCE_PATH": str(tmp_path)}).ratelimit_storage_uri == "memory://"


def test_claim_days_and_key_passphrase_are_settings(tmp_path):
    """SUPERVISION_CLAIM_DAYS and EXCHANGE_KEY_PASSPHRASE are read and checked here with the others (issue 13): the
    domain takes them from the settings, never from the environment; the passphrase stays out of the repr."""
    s = load_settings({"INSTANCE_PATH": str(tmp_path)})
    assert (s.supervision_claim_days, s.exchange_key_passphrase) == (3, "")
    s = load_settings({"INSTANCE_PATH": str(tmp_path), "SUPERVISION_CLAIM_DAYS": "5",
                       "EXCHANGE_KEY_PASSPHRASE": "门禁口令-correct horse"})
    assert (s.supervision_claim_days, s.exchange_key_passphrase) == (5, "门禁口令-correct horse")
    assert "correct horse" not in repr(s)
