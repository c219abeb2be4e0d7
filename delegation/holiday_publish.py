"""The holiday table published from the city to every county node (issue 18, part 3), reference kind `holidays`.

The city administrator keeps the table for the years chinese-calendar does not cover (delegation/calendar.py). Each
change of a year (a day set or removed, the year declared complete or reopened) publishes that year's table whole,
in the same transaction, as the next version of `holidays` (delegation/reference_publish.py). A county node replaces
its table of that year with it, so the city's holidays and make-up working days govern the deadlines computed there
(delegation/clock.load_calendar reads the table in every transaction)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from delegation import calendar, reference_publish
from delegation.models import HolidayDay, HolidayYear
from delegation.titles import N_
from exchange.errors import ExchangeRejected
from persistence import db

KIND = "holidays"
# The years the administrator's table takes (delegation/calendar._table_year): the city publishes no other, and a
# receiver refuses any other (schema_invalid) instead of failing on a date that cannot be (year 0000).
YEARS = range(1901, 2200)


def snapshot(year: int) -> dict:
    table = calendar.holiday_table(year)
    return {"year": f"{year:04d}", "complete": table["complete"],
            "days": [{"date": d.day.isoformat(), "workday": bool(d.is_workday), "name": d.name} for d in table["days"]]}


def _publish(year: int) -> None:
    reference_publish.publish(KIND, {"holidays": snapshot(year)})


calendar.on_year_change(_publish)


def _apply(env, body: dict) -> None:
    table = body.get("holidays")
    if table is None:
        raise ExchangeRejected("schema_invalid", "a holidays publication carries the year's table (Holidays)")
    year = int(table["year"])
    if year not in YEARS:
        raise ExchangeRejected("schema_invalid", f"Holidays/Year {table['year']} is out of range "
                                                 f"({YEARS.start}..{YEARS.stop - 1})")
    days: dict[date, dict] = {}
    for item in table["days"]:
        try:
            day = date.fromisoformat(item["date"][:10])  # (xs:date may carry an offset; the day is the day)
        except ValueError:  # a year xs:date allows and Python does not (0000, five digits, a sign)
            day = None
        if day is None or day.year != year or day in days:
            raise ExchangeRejected("schema_invalid", f"day {item['date']} is not once in year {year}")
        days[day] = item
    # through the ORM, so that the transaction's calendar is forgotten (delegation/clock.py listens to the flush)
    for row in db.session.execute(sa.select(HolidayDay).where(
            HolidayDay.day >= date(year, 1, 1), HolidayDay.day <= date(year, 12, 31))).scalars():
        if row.day not in days:
            db.session.delete(row)
    for day, item in days.items():
        row = db.session.get(HolidayDay, day)
        if row is None:
            row = HolidayDay(day=day)
            db.session.add(row)
        row.is_workday, row.name = item["workday"], item["name"]
    complete = db.session.get(HolidayYear, year)
    if table["complete"] and complete is None:
        db.session.add(HolidayYear(year=year))
    elif not table["complete"] and complete is not None:
        db.session.delete(complete)
    db.session.flush()


def everything():
    """Every year of the table (a year declared complete without days too)."""
    years = {d.year for d in db.session.execute(sa.select(HolidayDay.day)).scalars()}
    years |= set(db.session.execute(sa.select(HolidayYear.year)).scalars())
    return [{"holidays": snapshot(year)} for year in sorted(years)]


reference_publish.register(KIND, N_("节假日表"), _apply, everything)
