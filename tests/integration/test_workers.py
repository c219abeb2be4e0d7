"""Several worker processes on PostgreSQL: each outbox row is claimed by one worker (FOR UPDATE SKIP LOCKED),
so no message is sent twice; and two workers receiving the same inbox apply each message once."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.conftest import _with_database, make_app

pytestmark = pytest.mark.postgresql


@pytest.fixture
def pg_app(pg_template, tmp_path):
    admin, template = pg_template
    name = f"tq_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    app = make_app(_with_database(admin.url.render_as_string(hide_password=False), name), tmp_path / "instance")
    yield app
    with app.app_context():
        db.engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _forward_cases(app, n: int) -> list[str]:
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Item, User
    from tests.integration.support import COUNTY, ENTERPRISE

    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
        actor = Actor.for_user(user)
        item = db.session.execute(sa.select(Item).filter_by(mode="forward_only")).unique().scalars().first()
        numbers = []
        for _ in range(n):
            case = cases.create_case(actor, item.code, dict(ENTERPRISE),
                                     [{"code": m.code, "present": True} for m in item.materials])
            cases.perform(actor, case.case_no, "accept")
            numbers.append(case.case_no)
        db.session.commit()
        return numbers


def _run_in_threads(app, fn, workers=2):
    errors = []

    def work():
        try:
            with app.app_context():
                fn()
                db.session.remove()
        except Exception as exc:  # surfaced below: a worker's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_two_workers_never_send_the_same_message(pg_app):
    from exchange.bus import get_bus
    from exchange.models import OutboxMessage
    from exchange.outbox import send_due

    _forward_cases(pg_app, 30)
    published: list[str] = []
    lock = threading.Lock()
    with pg_app.app_context():
        transport = get_bus().transport
        original = transport.publish

        def slow_publish(to_node, message_id, fmt, data, attachments):
            time.sleep(0.01)  # long enough for the other worker to try the same rows
            original(to_node, message_id, fmt, data, attachments)
            with lock:
                published.append(message_id)

        transport.publish = slow_publish
    _run_in_threads(pg_app, send_due)
    with pg_app.app_context():
        rows = db.session.execute(sa.select(OutboxMessage)).scalars().all()
    assert len(published) == len(set(published)) == 30
    assert {r.state for r in rows} == {"awaiting_receipt"} and {r.attempts for r in rows} == {1}


def test_two_workers_receiving_apply_each_message_once(pg_app):
    from delegation.models import Case, CaseEvent
    from exchange.inbox import receive
    from exchange.models import InboundMessage
    from exchange.outbox import send_due

    numbers = _forward_cases(pg_app, 20)
    with pg_app.app_context():
        send_due()
    _run_in_threads(pg_app, receive)
    with pg_app.app_context():
        receive()  # whatever a worker left for the next pass
        applied = db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                                     .filter_by(type="case.forward", state="applied")).scalar_one()
        quarantined = db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                                         .filter_by(state="quarantined")).scalar_one()
        receives = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)
                                      .filter_by(action="receive")).scalar_one()
        states = set(db.session.execute(sa.select(Case.state).where(Case.case_no.in_(numbers))).scalars())
    assert applied == 20 and receives == 20 and quarantined == 0 and states == {"city_review"}
