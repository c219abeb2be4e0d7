"""Working-day calendar (office hours, its companion, are in config.office_hours).

Working days follow the State Council holiday notice (via the ``chinese-calendar``
package) for the years that package knows. For other years the city admin may
maintain a holiday table; failing that, weekends are the only days off and the
result is flagged as provisional through :meth:`WorkCalendar.basis`.

Pure Python: no Flask, no database.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Mapping

import chinese_calendar

# Office hours are a setting's value type, at home in config/ (which validates OFFICE_HOURS); re-exported here for
# the deadline arithmetic and its tests.
from config.office_hours import DEFAULT_OFFICE_HOURS, DEFAULT_OFFICE_HOURS_SPEC, OfficeHours  # noqa: F401

OFFICIAL = "official"
HOLIDAY_TABLE = "holiday_table"
WEEKENDS_ONLY = "weekends_only"

# Weakest first: a deadline is only as trustworthy as its least certain day.
BASIS_STRENGTH: dict[str, int] = {WEEKENDS_ONLY: 0, HOLIDAY_TABLE: 1, OFFICIAL: 2}


def weakest_basis(bases: Iterable[str]) -> str:
    """Return the least reliable of the given bases (``official`` if none)."""
    return min(bases, key=BASIS_STRENGTH.__getitem__, default=OFFICIAL)


@dataclass(frozen=True, slots=True)
class _Year:
    basis: str
    first_ordinal: int
    flags: bytes  # flags[i] == 1 when day i of the year is a working day
    # cum[i] = number of working days among days [0, i) of the year, so range
    # counts and "n-th working day" lookups are O(1) / O(log n) instead of walks.
    cum: array

    @property
    def total(self) -> int:
        return self.cum[-1]


class WorkCalendar:
    """Decides which dates are working days, and on what authority.

    ``holiday_table`` maps a date to True (working day, e.g. a 调休 make-up
    Saturday) or False (holiday). It is consulted only for ``table_years`` the
    admin declared covered and that chinese-calendar does not know: entries for
    undeclared years are ignored, because an unfinished table must not pass
    for a complete one. In a covered year, days absent from the table follow
    the weekday rule (Mon–Fri work).
    """

    def __init__(
        self,
        holiday_table: Mapping[date, bool] | None = None,
        table_years: Iterable[int] = (),
    ) -> None:
        table: dict[date, bool] = {}
        for day, working in (holiday_table or {}).items():
            # datetime is a subclass of date; it would never match a date key.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"holiday table key {day!r} must be a datetime.date")
            if not isinstance(working, bool):
                raise TypeError(f"holiday table value for {day} must be a bool, got {working!r}")
            table[day] = working
        self._table = table
        self._table_years = frozenset(int(y) for y in table_years)
        self._years: dict[int, _Year] = {}

    # -- per-year cache -------------------------------------------------

    def _year(self, year: int) -> _Year:
        info = self._years.get(year)
        if info is None:
            info = self._build_year(year)
            # A race only computes the same value twice; no lock needed.
            self._years[year] = info
        return info

    def _build_year(self, year: int) -> _Year:
        first = date(year, 1, 1)
        days = [first + timedelta(i) for i in range(date(year + 1, 1, 1).toordinal() - first.toordinal())]
        flags = self._official_flags(days)
        if flags is not None:
            basis = OFFICIAL
        elif year in self._table_years:
            basis = HOLIDAY_TABLE
            flags = [self._table.get(d, d.weekday() < 5) for d in days]
        else:
            basis = WEEKENDS_ONLY
            flags = [d.weekday() < 5 for d in days]
        cum = array("l", [0])
        for working in flags:
            cum.append(cum[-1] + working)
        return _Year(basis, first.toordinal(), bytes(flags), cum)

    @staticmethod
    def _official_flags(days: list[date]) -> list[bool] | None:
        # Ask the package rather than hard-coding its range: upgrading it must
        # extend coverage without a code change. chinese-calendar raises
        # NotImplementedError for a year it has no State Council notice for;
        # None tells the caller to use the admin's table or weekends only.
        try:
            return [chinese_calendar.is_workday(d) for d in days]
        except NotImplementedError:
            return None

    # -- single days ----------------------------------------------------

    def is_workday(self, d: date) -> bool:
        info = self._year(d.year)
        return bool(info.flags[d.toordinal() - info.first_ordinal])

    def basis(self, d: date) -> str:
        """``official``, ``holiday_table`` or ``weekends_only`` for the year of ``d``."""
        return self._year(d.year).basis

    def year_basis(self, year: int) -> str:
        return self._year(year).basis

    def span_basis(self, first: date, last: date) -> str:
        """Weakest basis of any day in ``[first, last]``."""
        if last < first:
            first, last = last, first
        return weakest_basis(self.year_basis(y) for y in range(first.year, last.year + 1))

    # -- ranges ---------------------------------------------------------

    def count_workdays(self, after: date, through: date) -> int:
        """Working days in the half-open range ``(after, through]``; 0 if empty."""
        if through <= after:
            return 0
        total = 0
        for year in range(after.year, through.year + 1):
            info = self._year(year)
            lo = after.toordinal() - info.first_ordinal + 1 if year == after.year else 0
            hi = through.toordinal() - info.first_ordinal + 1 if year == through.year else len(info.flags)
            total += info.cum[hi] - info.cum[lo]
        return total

    def nth_workday_after(self, d: date, n: int) -> date:
        """The ``n``-th working day strictly after ``d`` (``n >= 1``)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        year = d.year
        start = d.toordinal() - self._year(year).first_ordinal + 1  # first candidate index
        while True:
            info = self._year(year)
            available = info.total - info.cum[start]
            if n <= available:
                # Smallest index j with cum[j + 1] == cum[start] + n.
                j = bisect_left(info.cum, info.cum[start] + n) - 1
                return date.fromordinal(info.first_ordinal + j)
            n -= available
            year += 1
            start = 0

    def first_workday_from(self, d: date) -> date:
        """``d`` itself if it is a working day, else the next working day."""
        return d if self.is_workday(d) else self.nth_workday_after(d, 1)


# -- the admin's holiday table (service functions) -----------------------------------------------------------
#
# For years chinese-calendar does not cover, the city administrator keeps a table of holidays and make-up working
# days (HolidayDay) and declares a year complete (HolidayYear); only complete years are used by WorkCalendar.
# These functions check, change and flush (the caller commits). The database is imported inside them, so this
# module stays importable without Flask or a database.

HOLIDAY_NAME_MAX = 60
# Told of every change of a year's table, in the same transaction (holiday_publish sends the city's to the counties).
_year_listeners: list = []


def on_year_change(listener) -> None:
    _year_listeners.append(listener)


def _year_changed(year: int) -> None:
    for listener in _year_listeners:
        listener(year)


def official_year(year: int) -> bool:
    """Whether chinese-calendar carries the State Council's notice for ``year``."""
    return WorkCalendar._official_flags([date(year, 6, 1)]) is not None


def _table_year(year: int, field: str):
    from delegation.errors import Invalid

    if not 1900 < year < 2200:
        raise Invalid("invalid_year", "年份无效", f"year {year} is out of range", field=field)
    if official_year(year):
        raise Invalid("year_official", f"{year}年的节假日安排已由国务院通知（chinese-calendar）提供，无需在节假日表中维护",
                      f"{year} is covered by chinese-calendar; the holiday table is not used for it", field=field)


def _admin(actor) -> None:
    from delegation.errors import Forbidden
    from delegation.workflow import Role

    if actor.role is not Role.ADMIN or actor.org_level != "city":
        raise Forbidden("role_forbidden", "只有市行政审批局管理员可以维护节假日表",
                        "only the city administrator maintains the holiday table")


def holiday_table(year: int) -> dict:
    """The table of one year: its days (date order) and whether the year is declared complete."""
    import sqlalchemy as sa

    from persistence import db
    from delegation.models import HolidayDay, HolidayYear

    days = db.session.execute(sa.select(HolidayDay).where(
        HolidayDay.day >= date(year, 1, 1), HolidayDay.day <= date(year, 12, 31)).order_by(HolidayDay.day)
    ).scalars().all()
    complete = db.session.get(HolidayYear, year) is not None
    return {"year": year, "official": official_year(year), "complete": complete, "days": days}


def set_holiday_day(actor, day: date | None, is_workday: bool, name: str):
    """Add (or rewrite) one day: a holiday (is_workday False) or a make-up working day (调休, True)."""
    from persistence import db
    from delegation.errors import Invalid
    from delegation.models import HolidayDay

    _admin(actor)
    if not isinstance(day, date) or isinstance(day, datetime):
        raise Invalid("required", "请填写日期（YYYY-MM-DD）", "day is required (YYYY-MM-DD)", field="day")
    _table_year(day.year, "day")
    name = (name or "").strip()
    if not name:
        raise Invalid("required", "请填写名称（如“春节”“春节调休上班”）", "name is required", field="name")
    if len(name) > HOLIDAY_NAME_MAX:
        raise Invalid("too_long", f"名称不能超过{HOLIDAY_NAME_MAX}字", f"name is longer than {HOLIDAY_NAME_MAX}",
                      field="name")
    is_workday = bool(is_workday)
    if is_workday and day.weekday() < 5:
        raise Invalid("workday_on_weekday", f"{day.isoformat()}是周一至周五，本来就是工作日；调休上班日应为周六或周日",
                      "a make-up working day must be a Saturday or Sunday", field="day")
    row = db.session.get(HolidayDay, day)
    if row is None:
        row = HolidayDay(day=day)
        db.session.add(row)
    row.is_workday, row.name = is_workday, name
    db.session.flush()
    _year_changed(day.year)
    return row


def remove_holiday_day(actor, day: date | None) -> None:
    from persistence import db
    from delegation.errors import Invalid, NotFound
    from delegation.models import HolidayDay

    _admin(actor)
    if not isinstance(day, date):
        raise Invalid("required", "请填写日期（YYYY-MM-DD）", "day is required (YYYY-MM-DD)", field="day")
    row = db.session.get(HolidayDay, day)
    if row is None:
        raise NotFound("holiday_not_found", f"节假日表中没有 {day.isoformat()}", f"{day} is not in the holiday table",
                       field="day")
    db.session.delete(row)
    db.session.flush()
    _year_changed(day.year)


def set_year_complete(actor, year: int, complete: bool = True) -> None:
    """Declare a year's table complete (the calendar then uses it instead of weekends only), or reopen it."""
    from persistence import db
    from delegation.models import HolidayYear

    _admin(actor)
    _table_year(year, "year")
    row = db.session.get(HolidayYear, year)
    if complete and row is None:
        db.session.add(HolidayYear(year=year))
    elif not complete and row is not None:
        db.session.delete(row)
    db.session.flush()
    _year_changed(year)
