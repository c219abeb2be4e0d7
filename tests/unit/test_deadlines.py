"""Deadline arithmetic. Every expected moment is worked out by hand from the
2026 holiday notice; office hours are the default 09:00-12:00, 13:00-17:00
(7 office hours a day)."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from delegation.calendar import HOLIDAY_TABLE, OFFICIAL, WEEKENDS_ONLY, OfficeHours, WorkCalendar
from delegation.deadlines import (
    HOURS,
    OK,
    OVERDUE,
    WARNING,
    WORKING_DAYS,
    add_office_hours,
    add_working_days,
    deadline_basis,
    due_flag,
    remaining_office_minutes,
    remaining_working_days,
    resume_due,
    suspend_remainder,
)

SH = ZoneInfo("Asia/Shanghai")
HOURS_DEFAULT = OfficeHours()


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# -- working-day limits --------------------------------------------------------

def test_ordinary_week(cal: WorkCalendar) -> None:
    # Mon 2 Mar 2026; 10 working days: 3,4,5,6,9,10,11,12,13,16 Mar.
    assert add_working_days(cal, sh(2026, 3, 2, 10), 10, HOURS_DEFAULT) == sh(2026, 3, 16, 17)


def test_spanning_spring_festival(cal: WorkCalendar) -> None:
    # Fri 13 Feb: 1 = Sat 14 (make-up), holiday 15-23, 2 = Tue 24, 3 = Wed 25.
    assert add_working_days(cal, sh(2026, 2, 13, 10), 3, HOURS_DEFAULT) == sh(2026, 2, 25, 17)


def test_acceptance_on_holiday(cal: WorkCalendar) -> None:
    # Tue 17 Feb is a holiday: counting starts on Tue 24 Feb.
    assert add_working_days(cal, sh(2026, 2, 17, 10), 1, HOURS_DEFAULT) == sh(2026, 2, 24, 17)
    # 24, 25, 26, 27, then Sat 28 Feb (make-up) is the 5th.
    assert add_working_days(cal, sh(2026, 2, 17, 10), 5, HOURS_DEFAULT) == sh(2026, 2, 28, 17)


def test_acceptance_on_make_up_saturday(cal: WorkCalendar) -> None:
    # Sat 14 Feb is a working day but, as the acceptance day, is not counted.
    assert add_working_days(cal, sh(2026, 2, 14, 11), 2, HOURS_DEFAULT) == sh(2026, 2, 25, 17)


def test_zero_days_is_close_of_office(cal: WorkCalendar) -> None:
    assert add_working_days(cal, sh(2026, 2, 14, 11), 0, HOURS_DEFAULT) == sh(2026, 2, 14, 17)
    assert add_working_days(cal, sh(2026, 2, 17, 11), 0, HOURS_DEFAULT) == sh(2026, 2, 24, 17)


def test_instant_item_accepted_after_close_is_due_the_next_working_day(cal: WorkCalendar) -> None:
    # accepted at 23:11 on Monday 2 March: not overdue the moment it is accepted
    assert add_working_days(cal, sh(2026, 3, 2, 23), 0, HOURS_DEFAULT) == sh(2026, 3, 3, 17)
    # Friday 6 March after close: the next working day is Monday 9 March
    assert add_working_days(cal, sh(2026, 3, 6, 18), 0, HOURS_DEFAULT) == sh(2026, 3, 9, 17)
    # a promised limit still counts from the acceptance day (spec: the day of acceptance is not counted)
    assert add_working_days(cal, sh(2026, 3, 2, 23), 1, HOURS_DEFAULT) == sh(2026, 3, 3, 17)


def test_spanning_national_day(cal: WorkCalendar) -> None:
    # Wed 30 Sep: holiday 1-7 Oct, 1 = Thu 8, 2 = Fri 9, 3 = Sat 10 (make-up).
    assert add_working_days(cal, sh(2026, 9, 30, 15), 3, HOURS_DEFAULT) == sh(2026, 10, 10, 17)
    # Fri 18 Sep: Sat 19 off, 1 = Sun 20 (make-up), 2 = Mon 21, 3 = Tue 22.
    assert add_working_days(cal, sh(2026, 9, 18, 15), 3, HOURS_DEFAULT) == sh(2026, 9, 22, 17)


def test_local_date_decides_the_day(cal: WorkCalendar) -> None:
    # 17:00 UTC on Mon 2 Mar is 01:00 on Tue 3 Mar in Shanghai: Tue is the acceptance day.
    due = add_working_days(cal, datetime(2026, 3, 2, 17, tzinfo=timezone.utc), 1, HOURS_DEFAULT)
    assert due == sh(2026, 3, 4, 17)
    assert due.tzinfo == SH
    assert due.utcoffset().total_seconds() == 8 * 3600


def test_custom_close(cal: WorkCalendar) -> None:
    hours = OfficeHours.parse("08:30-12:00,14:30-17:30")
    assert add_working_days(cal, sh(2026, 3, 2, 10), 1, hours) == sh(2026, 3, 3, 17, 30)


def test_naive_and_negative_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_days(cal, datetime(2026, 3, 2, 10), 1, HOURS_DEFAULT)
    with pytest.raises(ValueError):
        add_working_days(cal, sh(2026, 3, 2, 10), -1, HOURS_DEFAULT)
    with pytest.raises(ValueError):
        add_office_hours(cal, sh(2026, 3, 2, 10), -1, HOURS_DEFAULT)


# -- into 2027, which chinese-calendar 1.11 does not cover ----------------------

def test_december_case_into_2027_without_table(cal: WorkCalendar) -> None:
    # Thu 24 Dec 2026, 10 working days: 25, 28, 29, 30, 31 Dec, then weekends-only
    # 2027: Fri 1, Mon 4, 5, 6, Thu 7 Jan.
    start = sh(2026, 12, 24, 10)
    due = add_working_days(cal, start, 10, HOURS_DEFAULT)
    assert due == sh(2027, 1, 7, 17)
    assert deadline_basis(cal, start, due) == WEEKENDS_ONLY


def test_december_case_into_2027_with_table() -> None:
    cal = WorkCalendar({date(2027, 1, 1): False}, table_years=[2027])
    # 1 Jan 2027 is a holiday per the admin table: 4, 5, 6, 7, Fri 8 Jan are 6-10.
    start = sh(2026, 12, 24, 10)
    due = add_working_days(cal, start, 10, HOURS_DEFAULT)
    assert due == sh(2027, 1, 8, 17)
    assert deadline_basis(cal, start, due) == HOLIDAY_TABLE


def test_deadline_basis_official_within_2026(cal: WorkCalendar) -> None:
    assert deadline_basis(cal, sh(2026, 2, 13, 10), sh(2026, 2, 25, 17)) == OFFICIAL


# -- hour limits ---------------------------------------------------------------

@pytest.mark.parametrize(
    "start, n_hours, expected",
    [
        (sh(2026, 3, 3, 9), 3, sh(2026, 3, 3, 12)),        # ends at the end of a period, not 13:00
        (sh(2026, 3, 3, 9), 7, sh(2026, 3, 3, 17)),        # one full office day
        (sh(2026, 3, 3, 10), 8, sh(2026, 3, 4, 11)),       # 2 h + 4 h Tue, 2 h Wed
        (sh(2026, 3, 3, 16), 2, sh(2026, 3, 4, 10)),       # overnight: 1 h Tue, 1 h Wed
        (sh(2026, 3, 3, 20), 1, sh(2026, 3, 4, 10)),       # accepted after close
        (sh(2026, 3, 3, 7), 1, sh(2026, 3, 3, 10)),        # accepted before opening
        (sh(2026, 3, 3, 12, 30), 1, sh(2026, 3, 3, 14)),   # accepted at lunch
        (sh(2026, 3, 3, 11, 30), 1, sh(2026, 3, 3, 13, 30)),  # straddles lunch
        (sh(2026, 3, 6, 15, 30), 4, sh(2026, 3, 9, 11, 30)),  # Fri 1.5 h, weekend, Mon 2.5 h
        (sh(2026, 3, 7, 10), 2, sh(2026, 3, 9, 11)),       # accepted on Saturday
        (sh(2026, 3, 3, 9), 1.5, sh(2026, 3, 3, 10, 30)),  # fractional hours
        (sh(2026, 3, 3, 9), 21, sh(2026, 3, 5, 17)),       # three whole office days
        # Fri 13 Feb 16:00: 1 h Fri, 7 h Sat 14 (make-up), holiday, 7 h Tue 24, 1 h Wed 25.
        (sh(2026, 2, 13, 16), 16, sh(2026, 2, 25, 10)),
    ],
)
def test_add_office_hours(cal: WorkCalendar, start: datetime, n_hours: float, expected: datetime) -> None:
    assert add_office_hours(cal, start, n_hours, HOURS_DEFAULT) == expected


def test_add_office_hours_from_utc(cal: WorkCalendar) -> None:
    # 08:00 UTC = 16:00 Shanghai on Tue 3 Mar.
    due = add_office_hours(cal, datetime(2026, 3, 3, 8, tzinfo=timezone.utc), 2, HOURS_DEFAULT)
    assert due == sh(2026, 3, 4, 10)
    assert due.tzinfo == SH


# -- remainders and pause/resume ----------------------------------------------

def test_remaining_working_days(cal: WorkCalendar) -> None:
    due = sh(2026, 3, 16, 17)
    assert remaining_working_days(cal, sh(2026, 3, 4, 10), due) == 8  # 5,6,9,10,11,12,13,16
    assert remaining_working_days(cal, sh(2026, 3, 13, 10), due) == 1
    assert remaining_working_days(cal, sh(2026, 3, 16, 10), due) == 0
    assert remaining_working_days(cal, sh(2026, 3, 17, 10), due) == 0


def test_remaining_office_minutes(cal: WorkCalendar) -> None:
    assert remaining_office_minutes(cal, sh(2026, 3, 3, 16), sh(2026, 3, 4, 10), HOURS_DEFAULT) == 120
    # 14-17 Tue (180) + Wed (420) + 9-11 Thu (120)
    assert remaining_office_minutes(cal, sh(2026, 3, 3, 14), sh(2026, 3, 5, 11), HOURS_DEFAULT) == 720
    # Fri 16:00 to Mon 10:00: 60 + 60, the weekend counts nothing.
    assert remaining_office_minutes(cal, sh(2026, 3, 6, 16), sh(2026, 3, 9, 10), HOURS_DEFAULT) == 120
    # 10:00:30 to 12:00 is 119.5 minutes: rounded down.
    at = datetime(2026, 3, 3, 10, 0, 30, tzinfo=SH)
    assert remaining_office_minutes(cal, at, sh(2026, 3, 3, 12), HOURS_DEFAULT) == 119
    assert remaining_office_minutes(cal, sh(2026, 3, 5, 12), sh(2026, 3, 5, 11), HOURS_DEFAULT) == 0


def test_pause_resume_working_days(cal: WorkCalendar) -> None:
    # Accepted Mon 2 Mar, 10 working days, due Mon 16 Mar.
    due = add_working_days(cal, sh(2026, 3, 2, 10), 10, HOURS_DEFAULT)
    assert due == sh(2026, 3, 16, 17)
    # Suspended Wed 4 Mar for a site inspection: 8 working days remain.
    remainder = suspend_remainder(cal, WORKING_DAYS, sh(2026, 3, 4, 10), due, HOURS_DEFAULT)
    assert remainder == 8
    # Resumed Wed 11 Mar: 12, 13, 16, 17, 18, 19, 20, Mon 23 Mar. The due date moves
    # by the five paused working days (5, 6, 9, 10, 11 Mar).
    assert resume_due(cal, WORKING_DAYS, remainder, sh(2026, 3, 11, 9, 30), HOURS_DEFAULT) == sh(2026, 3, 23, 17)


def test_pause_across_spring_festival(cal: WorkCalendar) -> None:
    # Suspended Thu 12 Feb with due Fri 27 Feb: 13, 14 (make-up), 24, 25, 26, 27 remain.
    remainder = remaining_working_days(cal, sh(2026, 2, 12, 15), sh(2026, 2, 27, 17))
    assert remainder == 6
    # Resumed Wed 25 Feb: 26, 27, Sat 28 (make-up), Mon 2, 3, Wed 4 Mar.
    assert resume_due(cal, WORKING_DAYS, remainder, sh(2026, 2, 25, 9), HOURS_DEFAULT) == sh(2026, 3, 4, 17)


def test_pause_resume_hours(cal: WorkCalendar) -> None:
    # Accepted Tue 3 Mar 09:00, 16 office hours: 7 Tue, 7 Wed, 9-11 Thu.
    due = add_office_hours(cal, sh(2026, 3, 3, 9), 16, HOURS_DEFAULT)
    assert due == sh(2026, 3, 5, 11)
    remainder = suspend_remainder(cal, HOURS, sh(2026, 3, 3, 14), due, HOURS_DEFAULT)
    assert remainder == 720
    # Resumed Mon 9 Mar 16:30: 0.5 h Mon, 7 h Tue, 3 h + 1.5 h Wed -> 14:30.
    assert resume_due(cal, HOURS, remainder, sh(2026, 3, 9, 16, 30), HOURS_DEFAULT) == sh(2026, 3, 11, 14, 30)


def test_unknown_unit(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="unit"):
        resume_due(cal, "days", 1, sh(2026, 3, 2, 9), HOURS_DEFAULT)


# -- due flags -------------------------------------------------------------------

@pytest.mark.parametrize(
    "now, expected",
    [
        (sh(2026, 3, 12, 10), OK),          # 13 and 16 Mar remain
        (sh(2026, 3, 13, 10), WARNING),     # only Mon 16 remains
        (sh(2026, 3, 14, 10), WARNING),     # Saturday, still only Mon 16
        (sh(2026, 3, 16, 16, 59), WARNING),
        (sh(2026, 3, 16, 17), WARNING),     # exactly at the limit is not late
        (sh(2026, 3, 16, 17, 1), OVERDUE),
    ],
)
def test_due_flag_working_days(cal: WorkCalendar, now: datetime, expected: str) -> None:
    assert due_flag(cal, now, sh(2026, 3, 16, 17), WORKING_DAYS, HOURS_DEFAULT) == expected


@pytest.mark.parametrize(
    "now, expected",
    [
        (sh(2026, 3, 10, 10), OK),       # 11, 12, 13, 16: four remain
        (sh(2026, 3, 11, 10), WARNING),  # 12, 13, 16: three = 0.3 x 10
    ],
)
def test_due_flag_working_days_share(cal: WorkCalendar, now: datetime, expected: str) -> None:
    flag = due_flag(cal, now, sh(2026, 3, 16, 17), WORKING_DAYS, HOURS_DEFAULT, warn_share=0.3, limit=10)
    assert flag == expected


def test_due_flag_working_days_over_spring_festival(cal: WorkCalendar) -> None:
    # Due Tue 24 Feb; on Fri 13 Feb, Sat 14 and Tue 24 remain (2): ok, on Sat 14 one remains.
    due = sh(2026, 2, 24, 17)
    assert due_flag(cal, sh(2026, 2, 13, 10), due, WORKING_DAYS, HOURS_DEFAULT) == OK
    assert due_flag(cal, sh(2026, 2, 14, 10), due, WORKING_DAYS, HOURS_DEFAULT) == WARNING


@pytest.mark.parametrize(
    "now, expected",
    [
        (sh(2026, 3, 4, 16, 30), OK),       # 30 + 120 = 150 min
        (sh(2026, 3, 4, 20), OK),           # overnight: 120 min (9-11 Thu)
        (sh(2026, 3, 5, 9, 59), OK),        # 61 min
        (sh(2026, 3, 5, 10), WARNING),      # 60 min: one office hour
        (sh(2026, 3, 5, 11), WARNING),
        (sh(2026, 3, 5, 11, 1), OVERDUE),
    ],
)
def test_due_flag_hours_default(cal: WorkCalendar, now: datetime, expected: str) -> None:
    assert due_flag(cal, now, sh(2026, 3, 5, 11), HOURS, HOURS_DEFAULT) == expected


@pytest.mark.parametrize(
    "now, expected",
    [
        (sh(2026, 3, 4, 13), OK),        # 240 + 120 = 360 min
        (sh(2026, 3, 4, 15), WARNING),   # 120 + 120 = 240 min = 0.25 x 16 h
    ],
)
def test_due_flag_hours_share(cal: WorkCalendar, now: datetime, expected: str) -> None:
    flag = due_flag(cal, now, sh(2026, 3, 5, 11), HOURS, HOURS_DEFAULT, warn_share=0.25, limit=16)
    assert flag == expected


def test_due_flag_hours_over_weekend(cal: WorkCalendar) -> None:
    # Due Mon 9 Mar 10:00; Fri 16:30 leaves 30 + 60 = 90 min: ok; Fri 17:00 leaves 60: warning.
    due = sh(2026, 3, 9, 10)
    assert due_flag(cal, sh(2026, 3, 6, 16, 30), due, HOURS, HOURS_DEFAULT) == OK
    assert due_flag(cal, sh(2026, 3, 6, 17), due, HOURS, HOURS_DEFAULT) == WARNING


def test_due_flag_share_needs_limit(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="limit"):
        due_flag(cal, sh(2026, 3, 4, 10), sh(2026, 3, 5, 11), HOURS, HOURS_DEFAULT, warn_share=0.25)
    with pytest.raises(ValueError, match="warn_share"):
        due_flag(cal, sh(2026, 3, 4, 10), sh(2026, 3, 5, 11), HOURS, HOURS_DEFAULT, warn_share=1.5, limit=16)
