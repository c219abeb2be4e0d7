"""The schema comes only from Alembic: an empty database migrates to head, the models match it, and the
database itself holds the workflow's invariants."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from tests.conftest import make_app


@pytest.fixture
def empty_database_url(request, tmp_path):
    """An empty database (no template) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    import uuid

    pg_url = request.getfixturevalue("pg_url")
    name = f"tq_empty_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    request.addfinalizer(lambda: _drop(admin, name))
    return sa.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def _drop(admin, name):
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("empty_database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
                         indirect=True)
def test_migrations_build_the_schema_the_models_describe(empty_database_url, tmp_path):
    import flask_migrate

    app = make_app(empty_database_url, tmp_path / "instance")
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, db.metadata)
        assert diff == [], f"models and migrations drift: {diff}"
        flask_migrate.downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def _a_case_id():
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Item, User
    from tests.integration.support import COUNTY, ENTERPRISE

    user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
    item = db.session.execute(sa.select(Item).filter_by(mode="direct")).unique().scalars().first()
    case = cases.create_case(Actor.for_user(user), item.code, dict(ENTERPRISE),
                             [{"code": m.code, "present": True} for m in item.materials])
    db.session.commit()
    return case.id


@pytest.mark.parametrize("column_values", [
    {"state": "concluded"},  # concluded without a decision or hand-out
    {"state": "refused"},  # refused without a reason
    {"state": "suspended"},  # suspended without a kind
    {"state": "county_review"},  # past acceptance without accepted_at
    {"state": "no_such_state"},
    {"handout_method": "mail"},  # mail without a tracking number
])
def test_database_refuses_a_state_without_its_columns(app, column_values):
    case_id = _a_case_id()
    sets = ", ".join(f"{k} = :{k}" for k in column_values)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text(f"UPDATE case_file SET {sets} WHERE id = :id"), {**column_values, "id": case_id})
        db.session.flush()
    db.session.rollback()


def test_timeline_events_are_never_updated_or_deleted(app):
    case_id = _a_case_id()
    for statement in ("UPDATE case_event SET comment = 'rewritten' WHERE case_id = :id",
                      "DELETE FROM case_event WHERE case_id = :id"):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement), {"id": case_id})
        db.session.rollback()
    assert db.session.execute(sa.text("SELECT count(*) FROM case_event WHERE case_id = :id"),
                              {"id": case_id}).scalar_one() == 1
