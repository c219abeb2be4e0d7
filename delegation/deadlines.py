"""Deadline arithmetic for case time limits (办件时限).

Every datetime going in or out is timezone-aware. Calendar reasoning (which day
it is, when the office closes) happens in Asia/Shanghai local time, whatever
zone the caller used, and results are returned in Asia/Shanghai.

Rules (domain spec, "Time limits"):
- Working-day limits: the day of acceptance is not counted; a limit of N
  working days ends at the close of office on the N-th working day after it.
- Hour limits: office hours of working days are counted from the moment of
  acceptance.
- Pausing: at suspension the remainder is stored (working days, or office
  minutes); at resumption a new due date is computed from the resume moment.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from delegation.calendar import OfficeHours, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")

WORKING_DAYS = "working_days"
HOURS = "hours"
UNITS = (WORKING_DAYS, HOURS)

OK = "ok"
WARNING = "warning"
OVERDUE = "overdue"


def to_local(moment: datetime, name: str = "datetime") -> datetime:
    """``moment`` in Asia/Shanghai; naive datetimes are refused, not guessed."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(SHANGHAI)


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, SHANGHAI)


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(f"unknown time-limit unit {unit!r}; expected one of {UNITS}")


# -- computing a due moment ---------------------------------------------


def add_working_days(cal: WorkCalendar, start: datetime, n: int, hours: OfficeHours) -> datetime:
    """Close of office on the ``n``-th working day after ``start``'s local date.

    ``n == 0`` gives the close of office on start's day if it is a working day
    and the office has not closed yet, else on the next working day (an instant
    item accepted on a holiday or late in the evening is due on the next day the
    office is open, not overdue the moment it is accepted).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    local = to_local(start, "start")
    day = local.date()
    if n == 0 and local.timetz().replace(tzinfo=None) >= hours.close:
        day += timedelta(days=1)
    due_day = cal.first_workday_from(day) if n == 0 else cal.nth_workday_after(day, n)
    return _at(due_day, hours.close)


def add_office_hours(cal: WorkCalendar, start: datetime, n_hours: float, hours: OfficeHours) -> datetime:
    """The moment ``n_hours`` of office time after ``start``.

    Outside office time the count begins at the next office period. A count
    that ends exactly at the end of a period ends there (12:00, not 13:00).
    """
    if n_hours < 0:
        raise ValueError(f"n_hours must be >= 0, got {n_hours}")
    return _add_office_time(cal, to_local(start, "start"), timedelta(hours=n_hours), hours)


def _add_office_time(cal: WorkCalendar, cursor: datetime, left: timedelta, hours: OfficeHours) -> datetime:
    day = cursor.date()
    full_day = timedelta(minutes=hours.minutes_per_day)
    while True:
        if cal.is_workday(day):
            if cursor <= _at(day, hours.open) and left > full_day:
                # Jump over whole office days at once (long limits such as 256 h),
                # keeping the last, possibly partial, day for the period walk.
                whole_days = -(-left // full_day) - 1
                left -= whole_days * full_day
                day = cal.nth_workday_after(day, whole_days)
                cursor = _at(day, time.min)
                continue
            for open_, close in hours.periods:
                period_end = _at(day, close)
                begin = max(_at(day, open_), cursor)
                if begin >= period_end:
                    continue
                if left <= period_end - begin:
                    return begin + left
                left -= period_end - begin
        day = cal.nth_workday_after(day, 1)
        cursor = _at(day, time.min)


# -- remainders (for pausing the clock) ----------------------------------


def remaining_working_days(cal: WorkCalendar, at: datetime, due: datetime) -> int:
    """Working days strictly after ``at``'s local date, up to and including ``due``'s."""
    return cal.count_workdays(to_local(at, "at").date(), to_local(due, "due").date())


def _office_seconds_within_day(cal: WorkCalendar, day: date, lo: datetime, hi: datetime, hours: OfficeHours) -> float:
    if not cal.is_workday(day):
        return 0.0
    total = 0.0
    for open_, close in hours.periods:
        begin, end = max(_at(day, open_), lo), min(_at(day, close), hi)
        if end > begin:
            total += (end - begin).total_seconds()
    return total


def remaining_office_minutes(cal: WorkCalendar, at: datetime, due: datetime, hours: OfficeHours) -> int:
    """Whole office minutes between ``at`` and ``due`` (0 if due is not later).

    Rounded down: a stored remainder must never exceed the real one.
    """
    at_l, due_l = to_local(at, "at"), to_local(due, "due")
    if due_l <= at_l:
        return 0
    first, last = at_l.date(), due_l.date()
    if first == last:
        seconds = _office_seconds_within_day(cal, first, at_l, due_l, hours)
    else:
        seconds = _office_seconds_within_day(cal, first, at_l, _at(first, time.max), hours)
        seconds += _office_seconds_within_day(cal, last, _at(last, time.min), due_l, hours)
        middle_days = cal.count_workdays(first, last - timedelta(days=1))
        seconds += middle_days * hours.minutes_per_day * 60
    return int(seconds // 60)


def suspend_remainder(cal: WorkCalendar, unit: str, at: datetime, due: datetime, hours: OfficeHours) -> int:
    """What to store when the clock stops: working days, or office minutes for hour limits."""
    _check_unit(unit)
    if unit == WORKING_DAYS:
        return remaining_working_days(cal, at, due)
    return remaining_office_minutes(cal, at, due, hours)


def resume_due(cal: WorkCalendar, unit: str, remainder: int, resumed_at: datetime, hours: OfficeHours) -> datetime:
    """New due moment when the clock restarts at ``resumed_at``.

    ``remainder`` is in working days for ``WORKING_DAYS`` and in office minutes
    for ``HOURS`` (as returned by :func:`suspend_remainder`).
    """
    _check_unit(unit)
    if remainder < 0:
        raise ValueError(f"remainder must be >= 0, got {remainder}")
    if unit == WORKING_DAYS:
        return add_working_days(cal, resumed_at, remainder, hours)
    return _add_office_time(cal, to_local(resumed_at, "resumed_at"), timedelta(minutes=remainder), hours)


# -- reporting ------------------------------------------------------------


def deadline_basis(cal: WorkCalendar, start: datetime, due: datetime) -> str:
    """Weakest calendar basis of any day from ``start`` to ``due`` (local dates).

    ``weekends_only`` means the deadline is provisional; ``holiday_table``
    means it rests on the city admin's table rather than the official notice.
    """
    return cal.span_basis(to_local(start, "start").date(), to_local(due, "due").date())


def due_flag(
    cal: WorkCalendar,
    now: datetime,
    due: datetime,
    unit: str,
    hours: OfficeHours,
    warn_days: int = 1,
    warn_share: float | None = None,
    *,
    limit: float | None = None,
    warn_hours: float = 1.0,
) -> str:
    """``"overdue"`` when ``now > due``; ``"warning"`` when little time is left; else ``"ok"``.

    Warning thresholds (remaining time ``<=`` threshold warns):
    - ``warn_share`` given: ``warn_share * limit`` in the limit's own unit
      (``limit`` is then required: working days, or hours).
    - otherwise, working-day limits: ``warn_days`` remaining working days
      (see :func:`remaining_working_days`; 1 = the day before the due day and
      the due day itself);
    - otherwise, hour limits: ``warn_hours`` of remaining office time (default
      one office hour). Hour limits are mostly short (4 h, 1 office day), where
      "one working day left" would flag a case yellow from acceptance; long
      hour limits (e.g. 256 h) should be configured with ``warn_share``.
    """
    _check_unit(unit)
    now_l, due_l = to_local(now, "now"), to_local(due, "due")
    if now_l > due_l:
        return OVERDUE
    if warn_share is not None:
        if not 0 < warn_share <= 1:
            raise ValueError(f"warn_share must be in (0, 1], got {warn_share}")
        if limit is None or limit <= 0:
            raise ValueError("warn_share needs the case's limit (a positive number in the limit's unit)")
        # Rounded so that e.g. 0.3 * 10 compares as exactly 3 working days.
        threshold = round(warn_share * limit, 9)
    else:
        threshold = warn_days if unit == WORKING_DAYS else warn_hours

    if unit == WORKING_DAYS:
        left = remaining_working_days(cal, now_l, due_l)
        return WARNING if left <= threshold else OK
    left_minutes = remaining_office_minutes(cal, now_l, due_l, hours)
    return WARNING if left_minutes <= threshold * 60 else OK
