"""The figures the city reports, checked against values worked out by hand on a small fixed data set; the API, the
XLSX and the CSV give the same numbers; who may see them; bad filters.

The data set (times Asia/Shanghai, working days from the State Council's 2026 notice; A = 宁都县 360730,
B = 于都县 360731). Items, with the baselines (materials, steps, days) the test sets and the required materials on
their list: D 林木采伐 direct (8, 5, 10; 4 required), D0 人力资源服务 direct (no baseline), R 特种设备（电梯）
delegated_review (10, 5, 20; 6 required), F 特种设备（起重机械） forward_only (10, 5, 15; 5 required).

 #  county item applied      accepted     decided      due          processing (working days)        end
 1  A      D    Mon 2 Mar    2 Mar 10:00  Thu 5 Mar    Mon 9 Mar    3, 4, 5 → 3                       concluded, ★5
 2  A      R    Tue 3 Mar    3 Mar 09:00  Wed 18 Mar   Tue 17 Mar   4 … 18 Mar → 11 (late)           concluded, ★2
 3  B      F    Mon 9 Mar    9 Mar 10:00  Fri 13 Mar   Mon 23 Mar   10, 11, 12, 13 → 4               decided
 4  B      D0   Tue 10 Mar   10 Mar       Wed 11 Mar   Tue 17 Mar   1 (no baseline: excluded)        concluded, ★3
 5  A      D    Wed 11 Feb   11 Feb 09:00 Fri 27 Feb   Mon 2 Mar    see below → 3                    concluded, ★4
 6  B      R    Tue 7 Apr    容缺, supplied 9 Apr       Tue 21 Apr   —                                 county review
 7  A      F    Mon 20 Apr   limit 4                   Fri 24 Apr   —                                 city review
 8  A      D    Mon 13 Apr   容缺 due 16 Apr, unmet     Mon 20 Apr   —                                 county review
 9  B      R    Wed 22 Apr   容缺 due 29 Apr            —            —                                 county review
10  B      D0   Wed 1 Apr 07:30 (31 Mar 23:30 UTC): refused                                           refused

Case 5 crosses the Spring Festival: accepted Wed 11 Feb, suspended (expert review) Thu 12 Feb, resumed Wed 25 Feb,
decided Fri 27 Feb. Working days after 11 Feb up to 27 Feb: 12, 13, 14 (make-up Saturday), 24, 25, 26, 27 = 7; the
clock stood still for the working days after 12 Feb up to 25 Feb: 13, 14, 24, 25 = 4 (the days its deadline moved:
Wed 25 Feb → Mon 2 Mar); processing time 7 − 4 = 3 working days (16 calendar days).

Pushes (every approval): 1 → claimed 2 h after arrival, fed back; 2 → claimed after 26 h; 3 → not claimed;
4 → claimed after 4 h, fed back; 5 → not claimed. The figures are taken at Thu 23 Apr 2026 10:00 after the deadline
job: 6 and 8 are overdue, 7 has one working day left (warning).
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import cases, clock, ratings
from delegation.actors import Actor
from delegation.models import CalendarDay, Case, Item, User
from supervision import pushes, statistics
from supervision.models import SupervisionPush
from supervision.statistics import FIGURE_KEYS, FIGURE_ZH, Filters
from tests.integration.support import COUNTY as A, ENTERPRISE, OTHER_COUNTY as B, Api, run_bus

CST = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 23, 10, tzinfo=CST)
ITEMS = {  # name: (code, baseline materials, steps, days)
    "D": ("GZ-LMCF-001", 8, 5, 10),
    "D0": ("GZ-RLZY-001", 0, 0, 0),
    "R": ("GZ-TZSB-001", 10, 5, 20),
    "F": ("GZ-TZSB-002", 10, 5, 15),
}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def item(name: str) -> Item:
    return db.session.execute(sa.select(Item).filter_by(code=ITEMS[name][0])).unique().scalar_one()


def prepare_items() -> None:
    for name, (code, materials, steps, days) in ITEMS.items():
        it = item(name)
        it.baseline_materials, it.baseline_steps, it.baseline_days = materials, steps, days
        it.limit_unit, it.county_step_limit, it.city_step_limit = "working_days", None, None
    db.session.commit()


def create(name: str, county: str, when: datetime, limit: int, commitment: bool = False) -> Case:
    it = item(name)
    it.promised_limit, it.statutory_limit = limit, max(limit, it.statutory_limit)
    present = [m.code for m in it.materials if m.core or not commitment]
    case = cases.create_case(actor(f"window-{county}"), it.code, dict(ENTERPRISE),
                             [{"code": c, "present": True} for c in present], now=when)
    db.session.commit()
    return case


def do(case: Case, user: str, action: str, when: datetime, **payload) -> None:
    cases.perform(actor(user), case.case_no, action, payload, now=when)
    db.session.commit()


def direct(case: Case, county: str, accepted: datetime, decided: datetime, suspend=None) -> None:
    do(case, f"window-{county}", "accept", accepted)
    do(case, f"review-{county}", "review", accepted + timedelta(minutes=30), opinion="材料齐全，符合条件")
    if suspend:
        paused, resumed = suspend
        do(case, f"review-{county}", "suspend", paused, kind="expert_review",
           expected_end=resumed.date().isoformat())
        do(case, f"review-{county}", "resume", resumed)
    do(case, f"review-{county}", "approve", decided)
    run_bus()


def via_city(case: Case, county: str, accepted: datetime, decided: datetime | None) -> None:
    do(case, f"window-{county}", "accept", accepted)
    if case.mode == "delegated_review":
        do(case, f"review-{county}", "review", accepted + timedelta(hours=1), opinion="经审核，符合条件",
           recommendation="approve")
    run_bus()
    if decided:
        do(case, "city-approver", "approve", decided)
        run_bus()


def hand_out(case: Case, county: str, when: datetime) -> None:
    do(case, f"window-{county}", "hand_out", when, method="pickup")


def claim(case: Case, regulator: str, hours: float, feedback: bool) -> None:
    push = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=case.case_no)).scalar_one()
    push.received_at = case.decided_at  # the bus stamps the real time of arrival: pin it
    db.session.commit()
    claimed = case.decided_at + timedelta(hours=hours)
    pushes.claim(actor(regulator), push.id, now=claimed)
    if feedback:
        pushes.add_feedback(actor(regulator), push.id, {"kind": "inspection", "date": claimed.date().isoformat(),
                                                        "result": "现场检查，符合许可条件"},
                            now=claimed + timedelta(days=1))
    db.session.commit()


def rate(case: Case, score: int) -> None:
    ratings.rate(case.case_no, case.query_code, score, "办理太慢" if score < 3 else "",  # a bad one gives its reason
                 now=case.concluded_at + timedelta(days=1))
    db.session.commit()


def build() -> dict[int, Case]:
    prepare_items()
    c = {}
    c[1] = create("D", A, at(2026, 3, 2, 10), 5)
    direct(c[1], A, at(2026, 3, 2, 10), at(2026, 3, 5, 15))
    hand_out(c[1], A, at(2026, 3, 6, 10))
    c[2] = create("R", A, at(2026, 3, 3, 9), 10)
    via_city(c[2], A, at(2026, 3, 3, 9), at(2026, 3, 18, 10))
    hand_out(c[2], A, at(2026, 3, 19, 10))
    c[3] = create("F", B, at(2026, 3, 9, 10), 10)
    via_city(c[3], B, at(2026, 3, 9, 10), at(2026, 3, 13, 11))
    c[4] = create("D0", B, at(2026, 3, 10, 10), 5)
    direct(c[4], B, at(2026, 3, 10, 10), at(2026, 3, 11, 10))
    hand_out(c[4], B, at(2026, 3, 12, 10))
    c[5] = create("D", A, at(2026, 2, 11, 9), 5)
    direct(c[5], A, at(2026, 2, 11, 9), at(2026, 2, 27, 10), suspend=(at(2026, 2, 12, 10), at(2026, 2, 25, 9)))
    hand_out(c[5], A, at(2026, 3, 2, 10))
    c[6] = create("R", B, at(2026, 4, 7, 10), 10, commitment=True)
    do(c[6], f"window-{B}", "accept_with_commitment", at(2026, 4, 7, 10), commitment_days=5)
    do(c[6], f"window-{B}", "supply_materials", at(2026, 4, 9, 10),
       materials=[m.code for m in c[6].materials if m.committed])
    c[7] = create("F", A, at(2026, 4, 20, 10), 4)
    via_city(c[7], A, at(2026, 4, 20, 10), None)
    c[8] = create("D", A, at(2026, 4, 13, 10), 5, commitment=True)
    do(c[8], f"window-{A}", "accept_with_commitment", at(2026, 4, 13, 10), commitment_days=3)
    c[9] = create("R", B, at(2026, 4, 22, 10), 10, commitment=True)
    do(c[9], f"window-{B}", "accept_with_commitment", at(2026, 4, 22, 10), commitment_days=5)
    c[10] = create("D0", B, at(2026, 4, 1, 7, 30), 5)
    do(c[10], f"window-{B}", "refuse", at(2026, 4, 1, 9), reason="不属于本事项受理范围", redirect="县人社局窗口")
    claim(c[1], f"reg-{A}", 2, feedback=True)
    claim(c[2], "reg-city", 26, feedback=False)
    claim(c[4], f"reg-{B}", 4, feedback=True)
    for n, score in ((1, 5), (2, 2), (4, 3), (5, 4)):
        rate(c[n], score)
    clock.sweep_flags(NOW)
    db.session.commit()
    return c


@pytest.fixture
def dataset(app):
    return build()


def test_the_data_set_is_what_the_table_says(dataset):
    c = dataset
    assert [c[n].state for n in range(1, 11)] == ["concluded", "concluded", "decided", "concluded", "concluded",
                                                   "county_review", "city_review", "county_review", "county_review",
                                                   "refused"]
    assert c[5].paused_days == 4 and c[1].paused_days == 0
    assert c[5].due_at.astimezone(CST) == at(2026, 3, 2, 17)
    assert c[2].due_at.astimezone(CST) == at(2026, 3, 17, 17) and c[2].decided_at > c[2].due_at
    assert [c[n].due_flag for n in (6, 7, 8, 9)] == ["overdue", "warning", "overdue", "ok"]
    assert c[6].commitment_met_at is not None and c[8].commitment_met_at is None
    assert sum(m.required for m in c[1].materials) == 4 and sum(m.required for m in c[2].materials) == 6
    assert sum(m.required for m in c[3].materials) == 5


EXPECTED_ALL = {
    "total_cases": 10, "accepted": 9, "decided": 5, "approved": 5, "concluded": 4,
    "on_time_base": 5, "on_time": 4, "on_time_rate": 0.8,
    # processing times 3, 11, 4, 1, 3 → sorted 1, 3, 3, 4, 11
    "processing_cases": 5, "processing_days_mean": 4.4, "processing_days_median": 3.0,
    "processing_days_p90": 8.2,  # rank 0.9 × 4 = 3.6: 4 + 0.6 × (11 − 4)
    # measured on the cases (issue 18): materials required on each case's list (8−4)/8, (10−6)/10, (10−5)/10,
    # (8−4)/8; steps on each timeline (5−3)/5 受理 审核 决定, (5−4)/5 受理 审核 转报 批准, (5−3)/5 受理 转报 决定
    # (forward_only: the city examines and decides in one action; the catalogue's constant counted 4), (5−3)/5 (a
    # special procedure is no step); time (10−3)/10, (20−11)/20, (15−4)/15, (10−3)/10 — case 4 has no baseline
    "materials_reduction": 0.475, "steps_reduction": 0.35, "time_reduction": 0.6458,
    "materials_cases": 4, "steps_cases": 4, "time_cases": 4, "excluded_no_baseline": 1,
    # every material on the lists was brought, the optional authorisation letter too: 5, 7, 6, 5
    "materials_baseline_mean": 9.0, "materials_required_mean": 4.75, "materials_received_mean": 5.75,
    "steps_baseline_mean": 5.0, "steps_taken_mean": 3.25, "time_baseline_mean": 13.75, "time_used_mean": 5.25,
    "pushes": 5, "claimed": 3, "claim_rate": 0.6, "feedback_rate": 0.4, "mean_hours_to_claim": 10.67,
    "ratings": 4, "satisfied": 3, "satisfaction": 0.75,
    "overdue_now": 2, "warning_now": 1,
    "commitment_cases": 3, "commitment_due": 2, "commitment_met": 1, "commitment_completion_rate": 0.5,
}


def test_summary_matches_the_hand_computed_figures(dataset):
    assert statistics.summary(Filters(), now=NOW) == EXPECTED_ALL


def test_county_breakdown_and_the_satisfaction_flag(dataset):
    rows = {r["key"]: r for r in statistics.breakdown("county", Filters(), now=NOW)}
    assert list(rows) == [A, B]
    a, b = rows[A], rows[B]
    assert a["label"] == "宁都县" and b["label"] == "于都县"
    assert {k: a[k] for k in ("total_cases", "accepted", "decided", "concluded", "on_time_rate",
                              "processing_days_mean", "processing_days_median", "processing_days_p90",
                              "materials_reduction", "steps_reduction", "time_reduction", "excluded_no_baseline",
                              "pushes", "claim_rate", "feedback_rate", "mean_hours_to_claim", "ratings",
                              "satisfaction", "satisfaction_flag", "overdue_now", "warning_now",
                              "commitment_cases", "commitment_due", "commitment_completion_rate")} == {
        "total_cases": 5, "accepted": 5, "decided": 3, "concluded": 3, "on_time_rate": 0.6667,
        "processing_days_mean": 5.67, "processing_days_median": 3.0, "processing_days_p90": 9.4,  # 3, 3, 11
        "materials_reduction": 0.4667, "steps_reduction": 0.3333, "time_reduction": 0.6167,
        "excluded_no_baseline": 0, "pushes": 3, "claim_rate": 0.6667, "feedback_rate": 0.3333,
        "mean_hours_to_claim": 14.0, "ratings": 3, "satisfaction": 0.6667, "satisfaction_flag": True,
        "overdue_now": 1, "warning_now": 1, "commitment_cases": 1, "commitment_due": 1,
        "commitment_completion_rate": 0.0,
    }
    assert {k: b[k] for k in ("total_cases", "accepted", "decided", "concluded", "on_time_rate",
                              "processing_days_mean", "processing_days_median", "processing_days_p90",
                              "materials_reduction", "steps_reduction", "time_reduction", "excluded_no_baseline",
                              "pushes", "claim_rate", "feedback_rate", "mean_hours_to_claim", "ratings",
                              "satisfaction", "satisfaction_flag", "overdue_now", "warning_now",
                              "commitment_cases", "commitment_due", "commitment_completion_rate")} == {
        "total_cases": 5, "accepted": 4, "decided": 2, "concluded": 1, "on_time_rate": 1.0,
        "processing_days_mean": 2.5, "processing_days_median": 2.5, "processing_days_p90": 3.7,  # 1, 4
        "materials_reduction": 0.5, "steps_reduction": 0.4, "time_reduction": 0.7333,  # case 3: 3 steps
        "excluded_no_baseline": 1, "pushes": 2, "claim_rate": 0.5, "feedback_rate": 0.5,
        "mean_hours_to_claim": 4.0, "ratings": 1, "satisfaction": 1.0, "satisfaction_flag": False,
        "overdue_now": 1, "warning_now": 0, "commitment_cases": 2, "commitment_due": 1,
        "commitment_completion_rate": 1.0,
    }


def test_mode_month_state_and_item_breakdowns(dataset):
    modes = statistics.breakdown("mode", Filters(), now=NOW)
    assert [(r["key"], r["label"], r["total_cases"], r["decided"], r["processing_days_mean"]) for r in modes] == [
        ("direct", "直接下放", 5, 3, 2.33), ("delegated_review", "下放实质性审核权", 3, 1, 11.0),
        ("forward_only", "服务窗口前移", 2, 1, 4.0)]
    assert [r["steps_reduction"] for r in modes] == [0.4, 0.2, 0.4]  # forward_only: 3 steps measured
    # case 10 was applied for at 07:30 on 1 April in Beijing (still 31 March in UTC): April
    months = statistics.breakdown("month", Filters(), now=NOW)
    assert [(r["key"], r["label"], r["total_cases"]) for r in months] == [
        ("2026-02", "2026-02", 1), ("2026-03", "2026-03", 4), ("2026-04", "2026-04", 5)]
    states = statistics.breakdown("state", Filters(), now=NOW)
    assert [(r["key"], r["label"], r["total_cases"]) for r in states] == [
        ("refused", "不予受理", 1), ("county_review", "县级审核中", 3), ("city_review", "市级审批中", 1),
        ("decided", "已决定", 1), ("concluded", "已办结", 4)]
    items = {r["key"]: r for r in statistics.breakdown("item", Filters(), now=NOW)}
    assert {k: (r["label"], r["total_cases"]) for k, r in items.items()} == {
        "GZ-LMCF-001": ("林木采伐许可证核发", 3), "GZ-RLZY-001": ("人力资源服务许可（职业中介活动）", 2),
        "GZ-TZSB-001": ("特种设备使用登记（电梯）", 3), "GZ-TZSB-002": ("特种设备使用登记（起重机械）", 2)}
    no_baseline = items["GZ-RLZY-001"]
    assert no_baseline["decided"] == 1 and no_baseline["excluded_no_baseline"] == 1
    assert no_baseline["materials_reduction"] is None and no_baseline["materials_cases"] == 0
    assert "satisfaction_flag" not in no_baseline


def test_filters_period_county_item_mode(dataset):
    march = statistics.summary(Filters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)), now=NOW)
    assert (march["total_cases"], march["decided"], march["processing_days_mean"], march["processing_days_median"],
            march["processing_days_p90"]) == (4, 4, 4.75, 3.5, 8.9)  # 1, 3, 4, 11
    assert march["excluded_no_baseline"] == 1 and march["pushes"] == 4
    april_only = statistics.summary(Filters(date_from=date(2026, 4, 1)), now=NOW)
    assert april_only["total_cases"] == 5 and april_only["decided"] == 0
    assert april_only["on_time_rate"] is None and april_only["processing_days_median"] is None
    assert april_only["claim_rate"] is None and april_only["satisfaction"] is None
    one = statistics.summary(Filters(county=B, mode="direct"), now=NOW)
    assert (one["total_cases"], one["accepted"], one["decided"], one["excluded_no_baseline"],
            one["materials_reduction"], one["satisfaction"]) == (2, 1, 1, 1, None, 1.0)
    r = statistics.summary(Filters(item="GZ-TZSB-001"), now=NOW)
    assert (r["total_cases"], r["decided"], r["on_time_rate"], r["time_reduction"], r["commitment_cases"]) == \
        (3, 1, 0.0, 0.45, 2)
    nothing = statistics.summary(Filters(date_to=date(2020, 1, 1)), now=NOW)
    assert nothing["total_cases"] == 0 and nothing["processing_days_mean"] is None
    assert statistics.breakdown("county", Filters(date_to=date(2020, 1, 1)), now=NOW) == []


def test_one_report_gives_the_summary_and_every_breakdown(dataset):
    filters = Filters(date_from=date(2026, 3, 1))
    everything = statistics.report(filters, statistics.DIMENSIONS, now=NOW)
    assert everything["summary"] == statistics.summary(filters, now=NOW)
    assert set(everything["by"]) == set(statistics.DIMENSIONS)
    for by in statistics.DIMENSIONS:
        assert everything["by"][by] == statistics.breakdown(by, filters, now=NOW), by


def test_the_calendar_table_counts_like_the_calendar(app):
    statistics.refresh_calendar(2026, 2026)
    statistics.refresh_calendar(2026, 2027)  # idempotent, and extends the range in one piece
    seq = dict(db.session.execute(sa.select(CalendarDay.day, CalendarDay.workday_seq)).all())
    assert min(seq) == date(2026, 1, 1) and max(seq) == date(2027, 12, 31) and len(seq) == 730
    cal = clock.load_calendar()
    for a, b in ((date(2026, 2, 11), date(2026, 2, 27)), (date(2026, 9, 30), date(2026, 10, 10)),
                 (date(2026, 12, 23), date(2027, 1, 6))):
        assert seq[b] - seq[a] == cal.count_workdays(a, b)
    assert seq[date(2026, 2, 27)] - seq[date(2026, 2, 11)] == 7  # 12, 13, 14 (Saturday), 24, 25, 26, 27
    weekend = db.session.execute(sa.select(CalendarDay.is_workday).filter_by(day=date(2026, 2, 14))).scalar_one()
    assert weekend is True


def test_the_statistics_fill_a_missing_calendar_themselves(dataset):
    db.session.execute(sa.delete(CalendarDay))
    db.session.commit()
    assert statistics.summary(Filters(), now=NOW)["processing_days_mean"] == 4.4
    years = db.session.execute(sa.select(sa.func.min(CalendarDay.day), sa.func.max(CalendarDay.day))).one()
    assert years == (date(2026, 1, 1), date(2027, 12, 31))


def test_a_constant_number_of_statements(dataset):
    statements = []

    def count(*_args):
        statements.append(1)

    engine = db.engine
    statistics.summary(Filters(), now=NOW)  # the calendar is filled once
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        statistics.summary(Filters(), now=NOW)
        few = len(statements)
        statements.clear()
        statistics.breakdown("item", Filters(), now=NOW)
        # calendar check, (PostgreSQL: jit off,) dirty months, cases, pushes, figures of the moment, processing times
        assert len(statements) == few <= 7
        statements.clear()
        statistics.report(Filters(), statistics.DIMENSIONS, now=NOW)  # every dimension at once
        assert len(statements) == few
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


# -- the API and the files ------------------------------------------------------------------------------------

@pytest.fixture
def api(client):
    return Api(client)


def _as_of_now(figures: dict) -> dict:
    """The API judges 容缺 deadlines at the real now, after every deadline of the data set."""
    return {**figures, "commitment_due": 3, "commitment_completion_rate": 0.3333}


def test_api_summary_and_breakdowns(dataset, api):
    r = api.get("/api/v1/stats/summary", user="admin")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert {k: body[k] for k in FIGURE_KEYS} == _as_of_now(EXPECTED_ALL)
    assert body["filters"] == {"date_from": None, "date_to": None, "county": None, "item": None, "mode": None}
    r = api.get(f"/api/v1/stats/summary?from=2026-03-01&to=2026-03-31&county={A}&mode=", user="city-approver")
    assert r.status_code == 200 and r.get_json()["total_cases"] == 2  # cases 1 and 2
    assert r.get_json()["filters"]["date_from"] == "2026-03-01"
    r = api.get("/api/v1/stats/by/county", user="reg-city")
    assert r.status_code == 200
    rows = r.get_json()["rows"]
    assert [(x["key"], x["satisfaction"], x["satisfaction_flag"]) for x in rows[:2]] == [(A, 0.6667, True),
                                                                                          (B, 1.0, False)]
    # then every other county with zeros, as the dashboard's ranking lists them (issue 18's trial)
    assert len(rows) == len(statistics.counties()) and {x["total_cases"] for x in rows[2:]} == {0}
    for by in statistics.DIMENSIONS:
        assert api.get(f"/api/v1/stats/by/{by}", user="admin").status_code == 200


@pytest.mark.parametrize("user, status", [("admin", 200), ("city-approver", 200), ("reg-city", 200),
                                          (f"window-{A}", 403), (f"review-{A}", 403), (f"reg-{A}", 403),
                                          (None, 401)])
def test_who_may_see_the_statistics(app, api, user, status):
    for path in ("/api/v1/stats/summary", "/api/v1/stats/by/county", "/api/v1/stats/export.xlsx",
                 "/api/v1/stats/export.csv"):
        assert api.get(path, user=user).status_code == status, path


@pytest.mark.parametrize("query, field, words", [
    ("from=2026-02-30", "from", "开始日期"),
    ("to=yesterday", "to", "结束日期"),
    ("from=2026-04-01&to=2026-03-01", "to", "早于开始日期"),
    ("county=999999", "county", "县（市、区）"),
    ("county=360700", "county", "县（市、区）"),  # the city itself is not a county
    ("item=GZ-NOPE-001", "item", "事项"),
    ("mode=sideways", "mode", "下放方式"),
    ("colour=red", "colour", "未知字段"),
])
def test_bad_filters_are_named_in_chinese(app, api, query, field, words):
    for path in ("/api/v1/stats/summary", "/api/v1/stats/by/month", "/api/v1/stats/export.xlsx",
                 "/api/v1/stats/export.csv"):
        r = api.get(f"{path}?{query}", user="admin")
        assert r.status_code == 422, (path, r.get_json())
        problem = r.get_json()
        assert problem["field"] == field and words in problem["detail"], problem


def test_an_unknown_dimension_is_named(app, api):
    r = api.get("/api/v1/stats/by/weather", user="admin")
    assert r.status_code == 404
    assert r.get_json()["code"] == "dimension_unknown" and "weather" in r.get_json()["detail"]
    r = api.get("/api/v1/stats/export.csv?by=weather", user="admin")
    assert r.status_code == 422 and r.get_json()["field"] == "by"


def test_the_xlsx_holds_the_numbers_of_the_api(dataset, api):
    from openpyxl import load_workbook

    query = f"from=2026-02-01&to=2026-04-30&county={A}"
    figures = api.get(f"/api/v1/stats/summary?{query}", user="admin").get_json()
    r = api.get(f"/api/v1/stats/export.xlsx?{query}", user="admin")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in r.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["概览", "按县区", "按事项", "按下放方式", "按月份", "按办件状态"]
    overview = [[c for c in row] for row in wb["概览"].iter_rows(values_only=True)]
    stated = {row[0]: row[1] for row in overview if row and row[0]}
    assert stated["申请日期"] == "2026-02-01 至 2026-04-30"
    assert stated["县（市、区）"] == f"宁都县（{A}）"
    assert stated["事项"] == "全部" and stated["下放方式"] == "全部"
    by_code = {row[2]: row[1] for row in overview if len(row) > 2 and row[2] in FIGURE_ZH}
    assert by_code == {k: figures[k] for k in FIGURE_KEYS}
    assert {row[0]: row[1] for row in overview if len(row) > 2 and row[2] in FIGURE_ZH} == \
        {FIGURE_ZH[k]: figures[k] for k in FIGURE_KEYS}
    for by, sheet in (("county", "按县区"), ("item", "按事项"), ("mode", "按下放方式"), ("month", "按月份"),
                      ("state", "按办件状态")):
        rows = api.get(f"/api/v1/stats/by/{by}?{query}", user="admin").get_json()["rows"]
        values = list(wb[sheet].iter_rows(values_only=True))
        header, data = values[0], values[1:]
        assert len(data) == len(rows)
        for got, want in zip(data, rows):
            got = dict(zip(header, got))
            assert got[header[0]] == want["key"]
            assert {k: got[FIGURE_ZH[k]] for k in FIGURE_KEYS} == {k: want[k] for k in FIGURE_KEYS}
            if by == "county":
                assert got["满意率低于95%需整改"] == ("是" if want["satisfaction_flag"] else "否")


def _csv(data: bytes) -> list[dict]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _number(text: str):
    if text == "":
        return None
    return float(text) if "." in text else int(text)


def test_the_csv_holds_the_numbers_of_the_api(dataset, api):
    r = api.get("/api/v1/stats/export.csv", user="admin")
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.mimetype_params.get("charset") == "utf-8"
    (row,) = _csv(r.data)
    figures = api.get("/api/v1/stats/summary", user="admin").get_json()
    assert {k: _number(row[FIGURE_ZH[k]]) for k in FIGURE_KEYS} == {k: figures[k] for k in FIGURE_KEYS}
    r = api.get("/api/v1/stats/export.csv?by=county&mode=direct", user="admin")
    rows = _csv(r.data)
    want = api.get("/api/v1/stats/by/county?mode=direct", user="admin").get_json()["rows"]
    assert [x["县（市、区）代码"] for x in rows] == [w["key"] for w in want]
    assert [w["key"] for w in want][:2] == [A, B] and len(want) == len(statistics.counties())  # then the zeros
    assert [x["县（市、区）"] for x in rows][:2] == ["宁都县", "于都县"]
    for got, w in zip(rows, want):
        assert {k: _number(got[FIGURE_ZH[k]]) for k in FIGURE_KEYS} == {k: w[k] for k in FIGURE_KEYS}


def test_an_empty_database_answers_with_zeros(app, api):
    body = api.get("/api/v1/stats/summary", user="admin").get_json()
    assert body["total_cases"] == 0 and body["on_time_rate"] is None and body["satisfaction"] is None
    rows = api.get("/api/v1/stats/by/county", user="admin").get_json()["rows"]
    assert len(rows) == len(statistics.counties()) and {x["total_cases"] for x in rows} == {0}  # every county
    assert len(_csv(api.get("/api/v1/stats/export.csv", user="admin").data)) == 1


def test_the_cli_refreshes_the_calendar(app):
    from app.cli_stats import register

    if "stats" not in app.cli.commands:  # until app.cli wires it
        register(app.cli)
    result = app.test_cli_runner().invoke(args=["stats", "refresh-calendar", "--from-year", "2025", "--to-year", "2026"])
    assert result.exit_code == 0, result.output
    assert '"first_year": 2025' in result.output and '"days": 730' in result.output
    assert db.session.execute(sa.select(sa.func.count()).select_from(CalendarDay)).scalar_one() == 730
    bad = app.test_cli_runner().invoke(args=["stats", "refresh-calendar", "--from-year", "2027", "--to-year", "2026"])
    assert bad.exit_code != 0


def test_the_openapi_document_lists_the_statistics_and_the_rating(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/stats/summary", "/api/v1/stats/by/{dimension}", "/api/v1/stats/export.xlsx",
                 "/api/v1/stats/export.csv", "/api/v1/public/cases/{case_no}/rating"):
        assert path in paths, path
    assert paths["/api/v1/public/cases/{case_no}/rating"]["post"]["security"] == []


# -- the monthly rollups ---------------------------------------------------------------------------------------

ROLLUP_FILTERS = [
    Filters(),
    Filters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)),  # one whole month: all from the rollup
    Filters(date_from=date(2026, 2, 15), date_to=date(2026, 4, 10)),  # cut months at both ends: read live
    Filters(county=A), Filters(item=ITEMS["R"][0]), Filters(mode="forward_only"),
    Filters(date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)),
]


def _everything(filters):
    return statistics.report(filters, statistics.DIMENSIONS, now=NOW)


def _dirty() -> tuple[bool, set[int]]:
    from supervision import rollup

    ids = set(db.session.execute(rollup.dirty_case_ids()).scalars())
    return rollup.every_case_dirty(), ids


def test_the_rollups_give_the_figures_the_cases_give(dataset):
    from supervision import rollup

    live = [_everything(f) for f in ROLLUP_FILTERS]
    assert _dirty()[0]  # the data set changed the catalogue: every case is read live
    assert rollup.refresh()["full"] is True
    db.session.commit()
    assert _dirty() == (False, set())
    assert db.session.execute(sa.select(sa.func.sum(rollup.StatsCaseRollup.total_cases))).scalar_one() == 10
    assert db.session.execute(sa.select(sa.func.count()).select_from(rollup.StatsCaseFact)).scalar_one() == 10
    assert [_everything(f) for f in ROLLUP_FILTERS] == live
    assert statistics.summary(Filters(), now=NOW) == EXPECTED_ALL


def test_a_change_after_the_refresh_shows_at_once_and_the_refresh_catches_up(dataset):
    from supervision import rollup

    rollup.refresh()
    db.session.commit()
    before = [_everything(f) for f in ROLLUP_FILTERS]
    hand_out(dataset[3], B, at(2026, 4, 23, 11))  # case 3 (applied in March) is concluded now
    assert _dirty() == (False, {dataset[3].id})
    after = [_everything(f) for f in ROLLUP_FILTERS]
    assert after[0]["summary"]["concluded"] == before[0]["summary"]["concluded"] + 1 == 5
    states = {r["key"]: r["total_cases"] for r in after[0]["by"]["state"]}
    assert states["concluded"] == 5 and "decided" not in states  # case 3 moved from one state row to the other
    assert rollup.refresh() == {"cases": 1, "full": False}
    db.session.commit()
    assert _dirty() == (False, set())
    assert [_everything(f) for f in ROLLUP_FILTERS] == after


def test_a_rating_and_a_claim_mark_their_case(dataset):
    from supervision import rollup

    rollup.refresh()
    db.session.commit()
    claim(dataset[5], f"reg-{A}", 3, feedback=False)  # case 5: applied in February
    assert _dirty() == (False, {dataset[5].id})
    figures = statistics.summary(Filters(), now=NOW)
    assert (figures["claimed"], figures["claim_rate"]) == (4, 0.8)
    rollup.refresh()
    db.session.commit()
    assert statistics.summary(Filters(), now=NOW) == figures
