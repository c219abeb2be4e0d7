"""WorkCalendar and OfficeHours. Expected values are read off the 2026 State
Council holiday notice (as carried by chinese-calendar 1.11), not computed."""

from datetime import date, datetime, time

import chinese_calendar
import pytest

from delegation.calendar import (
    HOLIDAY_TABLE,
    OFFICIAL,
    WEEKENDS_ONLY,
    OfficeHours,
    WorkCalendar,
    weakest_basis,
)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# -- 2026 Spring Festival: holiday Sun 15 – Mon 23 Feb, make-up Sat 14 and Sat 28 Feb.

@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2026, 2, 13), True),   # Fri, ordinary working day
        (date(2026, 2, 14), True),   # Sat, make-up working day (调休)
        (date(2026, 2, 15), False),  # Sun, first day of the holiday
        (date(2026, 2, 16), False),  # Mon, holiday
        (date(2026, 2, 20), False),  # Fri, holiday
        (date(2026, 2, 23), False),  # Mon, last day of the holiday
        (date(2026, 2, 24), True),   # Tue, back to work
        (date(2026, 2, 28), True),   # Sat, make-up working day
        (date(2026, 3, 1), False),   # Sun, ordinary weekend
    ],
)
def test_spring_festival_2026(cal: WorkCalendar, day: date, expected: bool) -> None:
    assert cal.is_workday(day) is expected
    assert cal.basis(day) == OFFICIAL


# -- 2026 National Day: holiday Thu 1 – Wed 7 Oct, make-up Sun 20 Sep and Sat 10 Oct;
#    Mid-Autumn holiday Fri 25 – Sun 27 Sep.

@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2026, 9, 19), False),  # Sat, ordinary weekend
        (date(2026, 9, 20), True),   # Sun, make-up working day
        (date(2026, 9, 25), False),  # Fri, Mid-Autumn
        (date(2026, 9, 30), True),   # Wed
        (date(2026, 10, 1), False),  # Thu, National Day
        (date(2026, 10, 5), False),  # Mon, holiday
        (date(2026, 10, 7), False),  # Wed, last holiday day
        (date(2026, 10, 8), True),   # Thu
        (date(2026, 10, 10), True),  # Sat, make-up working day
        (date(2026, 10, 11), False), # Sun
    ],
)
def test_national_day_2026(cal: WorkCalendar, day: date, expected: bool) -> None:
    assert cal.is_workday(day) is expected


def test_year_unknown_to_package_falls_back_to_weekends(cal: WorkCalendar) -> None:
    # 2027 is not in chinese-calendar 1.11; nothing may leak NotImplementedError.
    assert cal.basis(date(2027, 1, 1)) == WEEKENDS_ONLY
    assert cal.is_workday(date(2027, 1, 1)) is True   # a Friday, no table
    assert cal.is_workday(date(2027, 1, 2)) is False  # Saturday
    assert cal.basis(date(1999, 10, 1)) == WEEKENDS_ONLY
    assert cal.is_workday(date(1999, 10, 1)) is True  # a Friday; weekends-only knows no holiday


def test_holiday_table_for_covered_year() -> None:
    table = {date(2027, 1, 1): False, date(2027, 1, 9): True}
    cal = WorkCalendar(table, table_years=[2027])
    assert cal.basis(date(2027, 6, 1)) == HOLIDAY_TABLE
    assert cal.is_workday(date(2027, 1, 1)) is False  # Fri, holiday per table
    assert cal.is_workday(date(2027, 1, 9)) is True   # Sat, make-up per table
    assert cal.is_workday(date(2027, 1, 5)) is True   # Tue, not in table: weekday rule
    assert cal.is_workday(date(2027, 1, 10)) is False # Sun, not in table: weekday rule


def test_table_entries_of_undeclared_year_are_ignored() -> None:
    cal = WorkCalendar({date(2027, 1, 1): False}, table_years=[])
    assert cal.basis(date(2027, 1, 1)) == WEEKENDS_ONLY
    assert cal.is_workday(date(2027, 1, 1)) is True


def test_official_calendar_wins_over_table() -> None:
    cal = WorkCalendar({date(2026, 2, 16): True}, table_years=[2026])
    assert cal.basis(date(2026, 2, 16)) == OFFICIAL
    assert cal.is_workday(date(2026, 2, 16)) is False


def test_table_rejects_datetime_keys() -> None:
    with pytest.raises(TypeError):
        WorkCalendar({datetime(2027, 1, 1): False}, table_years=[2027])


def test_results_cached_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[date] = []
    real = chinese_calendar.is_workday

    def counting(d: date) -> bool:
        calls.append(d)
        return real(d)

    monkeypatch.setattr(chinese_calendar, "is_workday", counting)
    cal = WorkCalendar()
    for _ in range(3):
        for day in range(1, 29):
            cal.is_workday(date(2026, 2, day))
    assert len(calls) == 365  # the year is built once, never asked again
    cal.basis(date(2026, 12, 31))
    assert len(calls) == 365


def test_count_workdays_across_spring_festival(cal: WorkCalendar) -> None:
    # (Fri 13 Feb, Fri 27 Feb]: Sat 14, Tue 24, Wed 25, Thu 26, Fri 27.
    assert cal.count_workdays(date(2026, 2, 13), date(2026, 2, 27)) == 5
    assert cal.count_workdays(date(2026, 2, 27), date(2026, 2, 13)) == 0
    assert cal.count_workdays(date(2026, 2, 13), date(2026, 2, 13)) == 0


def test_count_workdays_across_year_end(cal: WorkCalendar) -> None:
    # (Thu 24 Dec 2026, Thu 7 Jan 2027]: 25, 28, 29, 30, 31 Dec + 1, 4, 5, 6, 7 Jan (weekends only).
    assert cal.count_workdays(date(2026, 12, 24), date(2027, 1, 7)) == 10


def test_nth_workday_after(cal: WorkCalendar) -> None:
    assert cal.nth_workday_after(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert cal.nth_workday_after(date(2026, 2, 13), 2) == date(2026, 2, 24)
    assert cal.nth_workday_after(date(2026, 12, 31), 1) == date(2027, 1, 1)
    assert cal.first_workday_from(date(2026, 10, 1)) == date(2026, 10, 8)
    assert cal.first_workday_from(date(2026, 10, 8)) == date(2026, 10, 8)
    with pytest.raises(ValueError):
        cal.nth_workday_after(date(2026, 2, 13), 0)


def test_span_basis_and_weakest() -> None:
    cal = WorkCalendar({}, table_years=[2027])
    assert cal.span_basis(date(2026, 3, 1), date(2026, 3, 31)) == OFFICIAL
    assert cal.span_basis(date(2026, 12, 1), date(2027, 1, 31)) == HOLIDAY_TABLE
    assert cal.span_basis(date(2026, 12, 1), date(2028, 1, 31)) == WEEKENDS_ONLY
    assert weakest_basis([OFFICIAL, HOLIDAY_TABLE]) == HOLIDAY_TABLE


# -- office hours ------------------------------------------------------------

def test_office_hours_default() -> None:
    hours = OfficeHours.parse()
    assert hours == OfficeHours()
    assert hours.periods == ((time(9), time(12)), (time(13), time(17)))
    assert hours.open == time(9)
    assert hours.close == time(17)
    assert hours.minutes_per_day == 420  # 3 h + 4 h
    assert str(hours) == "09:00-12:00,13:00-17:00"


def test_office_hours_custom() -> None:
    hours = OfficeHours.parse(" 08:30-12:00 , 14:30-17:30 ")
    assert hours.close == time(17, 30)
    assert hours.minutes_per_day == 210 + 180


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty"),
        ("9-12", "HH:MM"),
        ("09:00", "expected HH:MM-HH:MM"),
        ("09:00-24:00", "HH:MM"),
        ("12:00-09:00", "start must be before end"),
        ("09:00-09:00", "start must be before end"),
        ("09:00-12:00,11:00-17:00", "overlaps"),
        ("13:00-17:00,09:00-12:00", "out of order"),
    ],
)
def test_office_hours_invalid(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfficeHours.parse(spec)
