"""Shared fixtures: the two database backends (SQLite and a real PostgreSQL on loopback), each migrated with
Alembic and seeded once into a template that every test copies, so that tests are isolated and fast."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.pgserver import PgServer, wait_ready

NODE_ID = "360700"


def make_app(database_url: str, instance: Path, **extra):
    from app import create_app
    from config import load_settings

    env = {"TONGQUAN_ENV": "testing", "DATABASE_URL": database_url, "INSTANCE_PATH": str(instance),
           "NODE_ID": NODE_ID, "SECRET_KEY": "test-secret-key-0123456789", **extra}
    return create_app(load_settings(env))


def build_template(database_url: str, instance: Path, seed: bool = True) -> None:
    import flask_migrate

    from app.extensions import db

    app = make_app(database_url, instance)
    with app.app_context():
        flask_migrate.upgrade()
        if seed:
            from delegation.seed import seed_demo

            seed_demo(NODE_ID)
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def pg_url():
    """The admin URL of a PostgreSQL server: TEST_DATABASE_URL, or one this suite starts on 127.0.0.1."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given.replace("postgresql://", "postgresql+psycopg://", 1)
        return
    server = PgServer().start()
    try:
        wait_ready(server.url())
        yield server.url()
    finally:
        server.stop()


def _with_database(admin_url: str, name: str) -> str:
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(pg_url, tmp_path_factory):
    name = f"tq_template_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    build_template(_with_database(pg_url, name), tmp_path_factory.mktemp("pg-template-instance"))
    yield admin, name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    build_template(f"sqlite:///{path}", folder / "instance")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request, tmp_path):
    """A fresh, migrated and seeded database for one test, on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    admin, template = request.getfixturevalue("pg_template")
    name = f"tq_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _with_database(admin.url.render_as_string(hide_password=False), name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def app(database_url, tmp_path):
    from app.extensions import db

    application = make_app(database_url, tmp_path / "instance")
    ctx = application.app_context()
    ctx.push()
    yield application
    db.session.remove()
    db.engine.dispose()
    ctx.pop()


@pytest.fixture
def client(app):
    return app.test_client()
