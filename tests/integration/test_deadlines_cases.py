"""Case deadlines on real dates: the 2026 Spring Festival and its make-up Saturday, a suspension, office hours,
a limit that runs into 2027 (which the calendar package does not know), flags, and broken 容缺 commitments.
Expected dates are worked out by hand from the State Council's 2026 holiday notice."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import cases
from delegation.actors import Actor
from delegation.models import Case, HolidayDay, HolidayYear, Item, User
from tests.integration.support import COUNTY, ENTERPRISE, Api

CST = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.usefixtures("app")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def new_case(mode="direct", unit="working_days", limit=5, now=None, commitment=False) -> Case:
    query = sa.select(Item).filter_by(mode=mode, limit_unit="working_days")
    if commitment:
        query = query.filter_by(allows_commitment=True)
    item = next(i for i in db.session.execute(query).unique().scalars()
                if not commitment or any(not m.core for m in i.materials))
    item.limit_unit, item.promised_limit, item.statutory_limit = unit, limit, max(limit, item.statutory_limit)
    item.county_step_limit = item.city_step_limit = None
    present = [m.code for m in item.materials if m.core or not commitment]
    case = cases.create_case(actor(f"window-{COUNTY}"), item.code, dict(ENTERPRISE),
                             [{"code": c, "present": True} for c in present], now=now)
    db.session.commit()
    return case


def local(dt: datetime) -> datetime:
    return dt.astimezone(CST)


def test_spring_festival_and_its_make_up_saturday():
    case = new_case(limit=5, now=at(2026, 2, 13, 10))
    cases.perform(actor(f"window-{COUNTY}"), case.case_no, "accept", now=at(2026, 2, 13, 10))
    # Sat 14 Feb is a working day (调休); 15–23 Feb are the holiday; then 24, 25, 26, 27 Feb
    assert local(case.due_at) == at(2026, 2, 27, 17)
    assert case.due_basis == "official"


def test_national_day_holiday():
    case = new_case(limit=3, now=at(2026, 9, 30, 15))
    cases.perform(actor(f"window-{COUNTY}"), case.case_no, "accept", now=at(2026, 9, 30, 15))
    # 1–7 Oct holiday; 8 Oct (Thu), 9 Oct (Fri), Sat 10 Oct is a make-up working day
    assert local(case.due_at) == at(2026, 10, 10, 17)


def test_suspension_moves_the_deadline_by_the_paused_working_days():
    window, reviewer = actor(f"window-{COUNTY}"), actor(f"review-{COUNTY}")
    case = new_case(limit=5, now=at(2026, 3, 2, 10))
    cases.perform(window, case.case_no, "accept", now=at(2026, 3, 2, 10))
    assert local(case.due_at) == at(2026, 3, 9, 17)  # Mon 2 Mar + 5 working days
    cases.perform(reviewer, case.case_no, "suspend", {"kind": "expert_review", "expected_end": "2026-03-05"},
                  now=at(2026, 3, 3, 11))
    assert case.state == "suspended" and case.clock_remaining == 4  # 4, 5, 6, 9 March were left
    cases.perform(reviewer, case.case_no, "resume", now=at(2026, 3, 5, 9, 30))
    assert case.state == "county_review"
    assert local(case.due_at) == at(2026, 3, 11, 17)  # 6, 9, 10, 11 March


def test_hour_limit_counts_office_hours_across_a_weekend():
    case = new_case(unit="hours", limit=4, now=at(2026, 3, 6, 16))
    cases.perform(actor(f"window-{COUNTY}"), case.case_no, "accept", now=at(2026, 3, 6, 16))
    # Fri 16:00–17:00 is one office hour; Mon 9:00–12:00 the other three
    assert local(case.due_at) == at(2026, 3, 9, 12)


def test_limit_running_into_2027_is_provisional_without_a_holiday_table(client):
    case = new_case(limit=10, now=at(2026, 12, 23, 10))
    cases.perform(actor(f"window-{COUNTY}"), case.case_no, "accept", now=at(2026, 12, 23, 10))
    db.session.commit()
    # 24, 25, 28, 29, 30, 31 Dec, then 2027 on weekends alone: 1 (a Friday), 4, 5, 6 Jan
    assert local(case.due_at) == at(2027, 1, 6, 17)
    details = Api(client).case(case.case_no)["deadline"]
    assert details["basis"] == "weekends_only" and details["provisional"] is True


def test_limit_running_into_2027_uses_the_admin_holiday_table():
    db.session.add_all([HolidayYear(year=2027), HolidayDay(day=date(2027, 1, 1), is_workday=False, name="元旦")])
    db.session.commit()
    case = new_case(limit=10, now=at(2026, 12, 23, 10))
    cases.perform(actor(f"window-{COUNTY}"), case.case_no, "accept", now=at(2026, 12, 23, 10))
    assert local(case.due_at) == at(2027, 1, 7, 17)
    assert case.due_basis == "holiday_table"


def test_sweep_flags_warning_and_overdue_and_the_api_filters_on_them(client):
    window = actor(f"window-{COUNTY}")
    late = new_case(limit=1, now=at(2026, 3, 2, 10))
    cases.perform(window, late.case_no, "accept", now=at(2026, 3, 2, 10))  # due Tue 3 Mar 17:00
    soon = new_case(limit=5, now=at(2026, 3, 2, 10))
    cases.perform(window, soon.case_no, "accept", now=at(2026, 3, 2, 10))  # due Mon 9 Mar 17:00
    db.session.commit()
    cases.sweep(now=at(2026, 3, 6, 10))  # Friday: late is overdue, soon has one working day left
    api = Api(client)
    overdue = [c["case_no"] for c in api.get("/api/v1/cases?due=overdue", user=f"window-{COUNTY}").get_json()["items"]]
    warning = [c["case_no"] for c in api.get("/api/v1/cases?due=warning", user=f"window-{COUNTY}").get_json()["items"]]
    assert overdue == [late.case_no] and warning == [soon.case_no]


@pytest.mark.parametrize("supplied", [False, True])
def test_broken_commitment_terminates_the_case(supplied):
    window = actor(f"window-{COUNTY}")
    case = new_case(mode="delegated_review", limit=20, now=at(2026, 3, 2, 10), commitment=True)
    cases.perform(window, case.case_no, "accept_with_commitment", {"commitment_days": 5}, now=at(2026, 3, 2, 10))
    assert local(case.commitment_deadline) == at(2026, 3, 9, 17)
    missing = [m.code for m in case.materials if m.committed]
    assert missing
    if supplied:
        cases.perform(window, case.case_no, "supply_materials", {"materials": missing}, now=at(2026, 3, 5, 10))
        assert case.commitment_met_at is not None
    db.session.commit()
    result = cases.sweep(now=at(2026, 3, 10, 9))
    db.session.expire_all()
    case = db.session.execute(sa.select(Case).filter_by(case_no=case.case_no)).unique().scalar_one()
    if supplied:
        assert case.state == "county_review" and result["terminated"] == 0
    else:
        assert case.state == "terminated" and result["terminated"] == 1
        assert case.events[-1].action == "terminate" and case.events[-1].data["missing"] == missing
