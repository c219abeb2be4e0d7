"""The working-day calendar is read once per transaction: a SAVEPOINT released inside it (a receive batch releases
one per message) does not make the next deadline read the holiday table again; the transaction's end, a rollback
and a write of the table do."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import clock
from delegation.models import HolidayDay


@pytest.fixture
def statements(app):
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "holiday" in statement.lower():
            seen.append(statement)

    with app.app_context():
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            yield seen
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)


def test_savepoint_release_keeps_the_transactions_calendar(app, statements):
    with app.app_context():
        cal = clock.load_calendar()
        assert len(statements) == 1
        for _ in range(3):  # three messages of a batch, each in its SAVEPOINT
            with db.session.begin_nested():
                assert clock.load_calendar() is cal
        assert len(statements) == 1, "a released SAVEPOINT made the holiday table be read again"
        db.session.commit()
        clock.load_calendar()
        assert len(statements) == 2, "the next transaction must read the table again"
        db.session.remove()


def test_rollback_and_table_write_forget_the_calendar(app, statements):
    with app.app_context():
        clock.load_calendar()
        db.session.rollback()
        clock.load_calendar()
        assert len(statements) == 2
        savepoint = db.session.begin_nested()
        db.session.add(HolidayDay(day=date(2031, 10, 8), is_workday=False))
        db.session.flush()
        clock.load_calendar()  # read after the write, inside the SAVEPOINT
        savepoint.rollback()
        n = len(statements)
        clock.load_calendar()
        assert len(statements) == n + 1, "a rolled-back SAVEPOINT's calendar must not outlive it"
        db.session.rollback()
        db.session.remove()
