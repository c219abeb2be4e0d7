"""The case clock: starting, pausing and resuming a case's time limit, and the flags the deadline job keeps.

The arithmetic lives in `delegation.deadlines`; this module binds it to the stored holiday table and the cases.
"""
from __future__ import annotations

import functools
from datetime import datetime
from typing import Callable

import sqlalchemy as sa

from delegation import deadlines
from delegation.calendar import OfficeHours, WorkCalendar, weakest_basis
from delegation.models import CLOCK_RUNNING_SQL, OPEN_CLOCK_STATES, Case, HolidayDay, HolidayYear
from exchange.bus import get_bus
from persistence import db


def office_hours() -> OfficeHours:
    """This node's OFFICE_HOURS, from the settings its bus holds (validated at start-up)."""
    return _parsed_office_hours(get_bus().settings.office_hours)


@functools.lru_cache(maxsize=8)
def _parsed_office_hours(spec: str) -> OfficeHours:  # a list page asks once per hour-limited row
    return OfficeHours.parse(spec)


_calendars: dict[tuple, WorkCalendar] = {}
_SESSION_KEY = "tongquan.calendar"


def load_calendar() -> WorkCalendar:
    """The working-day calendar with the admin's holiday table. Building one costs a year of chinese-calendar
    look-ups, so it is kept while the (small) table is unchanged. The table is read once per transaction (one
    statement), not at every deadline computed: an action computes several (acceptance, step, flag)."""
    session = db.session()
    cal = session.info.get(_SESSION_KEY)
    if cal is not None:
        return cal
    table = sa.union_all(
        sa.select(HolidayDay.day, HolidayDay.is_workday, sa.null().label("year")),
        sa.select(sa.null(), sa.null(), HolidayYear.year),
    )
    rows, years = [], []
    for day, is_workday, year in session.execute(table).all():
        if year is None:
            rows.append((day, bool(is_workday)))
        else:
            years.append(year)
    key = (tuple(sorted(rows)), tuple(sorted(years)))
    cal = _calendars.get(key)
    if cal is None:
        if len(_calendars) > 32:
            _calendars.clear()
        cal = _calendars[key] = WorkCalendar(holiday_table=dict(key[0]), table_years=key[1])
    session.info[_SESSION_KEY] = cal
    return cal


def _forget_calendar(session, *_args) -> None:
    session.info.pop(_SESSION_KEY, None)


def _transaction_committed(session) -> None:
    # SQLAlchemy calls after_commit for a SAVEPOINT released too (a receive batch releases one per message): the
    # calendar read in this transaction is still this transaction's, so only the outermost commit ends it.
    if not session.in_nested_transaction():
        _forget_calendar(session)


# The transaction's calendar ends with it (another transaction may have changed the table since), and at once when
# this session writes the holiday table. Any rollback forgets it, a SAVEPOINT's too (it may have undone a write of
# the table that the calendar was read after).
sa.event.listen(sa.orm.Session, "after_commit", _transaction_committed)
sa.event.listen(sa.orm.Session, "after_rollback", _forget_calendar)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _holiday_table_written(session, _flush_context) -> None:
    if any(isinstance(obj, (HolidayDay, HolidayYear)) for obj in (*session.new, *session.dirty, *session.deleted)):
        _forget_calendar(session)


def add_limit(cal: WorkCalendar, start: datetime, unit: str, amount: int) -> datetime:
    if unit == deadlines.HOURS:
        return deadlines.add_office_hours(cal, start, amount, office_hours())
    return deadlines.add_working_days(cal, start, amount, office_hours())


def start(case: Case, now: datetime, step_limit: int | None, step_name: str) -> None:
    cal = load_calendar()
    case.accepted_at = now
    case.due_at = add_limit(cal, now, case.limit_unit, case.promised_limit)
    case.due_basis = deadlines.deadline_basis(cal, now, case.due_at)
    start_step(case, now, step_limit, step_name, cal)
    refresh_flag(case, now, cal)


def start_step(case: Case, now: datetime, step_limit: int | None, step_name: str,
               cal: WorkCalendar | None = None) -> None:
    """A per-step limit (e.g. the city decides within 3 working days of receiving the case)."""
    if step_limit is None:
        case.step_name = case.step_due_at = None
        return
    cal = cal or load_calendar()
    case.step_name = step_name
    case.step_due_at = add_limit(cal, now, case.limit_unit, step_limit)


def pause(case: Case, now: datetime) -> None:
    if case.due_at is None or case.paused_at is not None:
        return
    case.clock_remaining = deadlines.suspend_remainder(load_calendar(), case.limit_unit, now, case.due_at,
                                                       office_hours())
    case.paused_at = now


def resume(case: Case, now: datetime) -> None:
    if case.paused_at is None:
        return
    cal = load_calendar()
    # The working days the clock stood still: after the pause day, up to and including the resume day — the days
    # by which a working-day deadline moves. Statistics subtract them from the processing time.
    case.paused_days = (case.paused_days or 0) + cal.count_workdays(deadlines.to_local(case.paused_at).date(),
                                                                    deadlines.to_local(now).date())
    old_due = case.due_at
    case.due_at = deadlines.resume_due(cal, case.limit_unit, case.clock_remaining or 0, now, office_hours())
    if case.step_due_at is not None:  # the step's limit was paused too
        case.step_due_at += case.due_at - old_due
    case.due_basis = weakest_basis([case.due_basis or "official",
                                              deadlines.deadline_basis(cal, now, case.due_at)])
    case.paused_at = None
    case.clock_remaining = None
    refresh_flag(case, now, cal)


def refresh_flag(case: Case, now: datetime, cal: WorkCalendar | None = None) -> None:
    if case.due_at is None or case.paused_at is not None or case.state not in OPEN_CLOCK_STATES:
        return
    case.due_flag = deadlines.due_flag(cal or load_calendar(), now, case.due_at, case.limit_unit, office_hours())


def deadline_details(case: Case) -> dict | None:
    if case.accepted_at is None:
        return None
    return {
        "unit": case.limit_unit,
        "limit": case.promised_limit,
        "statutory_limit": case.item.statutory_limit,
        "due_at": case.due_at,
        "flag": case.due_flag,
        "basis": case.due_basis,
        "provisional": case.due_basis == "weekends_only",
        "paused_since": case.paused_at,
        "remaining_when_paused": case.clock_remaining,
        "step": ({"name": case.step_name, "due_at": case.step_due_at} if case.step_due_at else None),
    }


def sweep_flags(now: datetime) -> int:
    """Set-based: one UPDATE marks every running case ok / warning / overdue.

    Only the cases whose flag may have changed are visited, through the partial index ix_case_file_clock
    (due_flag, due_at) over the running clocks: "ok" ones whose deadline is within the warning threshold, every
    "warning" (a day's worth of cases at most), and "overdue" ones whose deadline moved into the future again. Those
    three index ranges hold a few thousand of a million open cases; nothing else is read.
    """
    cal = load_calendar()
    hours = office_hours()
    # Warning when at most one working day (day limits) or one office hour (hour limits) remains: the same rule
    # as deadlines.due_flag, expressed as two thresholds on due_at.
    day_threshold = deadlines.add_working_days(cal, now, 1, hours)
    hour_threshold = deadlines.add_office_hours(cal, now, 1, hours)
    flag = sa.case(
        (Case.due_at < now, "overdue"),
        (sa.and_(Case.limit_unit == "working_days", Case.due_at <= day_threshold), "warning"),
        (sa.and_(Case.limit_unit == "hours", Case.due_at <= hour_threshold), "warning"),
        else_="ok",
    )
    may_change = sa.or_(
        sa.and_(Case.due_flag == "ok", Case.due_at <= max(day_threshold, hour_threshold)),
        Case.due_flag == "warning",
        sa.and_(Case.due_flag == "overdue", Case.due_at >= now),
    )
    changed = db.session.execute(
        sa.update(Case)
        # the index's predicate word for word (a text clause), so that the planner proves the index applies
        .where(sa.text(CLOCK_RUNNING_SQL), Case.due_at.is_not(None), may_change, Case.due_flag != flag)
        .values(due_flag=flag)
        .returning(Case.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    for listener in _flags_swept:  # past the ORM: what watches case changes (the statistics) is told here
        listener(changed)
    return len(changed)


_flags_swept: list[Callable[[list[int]], None]] = []


def on_flags_swept(listener: Callable[[list[int]], None]) -> Callable[[list[int]], None]:
    """Register a function called, in the sweep's transaction, with the ids of the cases whose flag it changed
    (supervision.rollup marks them dirty, so a county node reports an overdue case to the city)."""
    _flags_swept.append(listener)
    return listener
