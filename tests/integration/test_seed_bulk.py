"""seed-bulk (issue 6): generated cases on both backends are valid, numbered consistently and add up in the
statistics."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from delegation.calendar import WorkCalendar
from tests.integration.support import Api

N = 500
OPEN_CLOCK = ("accepted", "county_review", "forwarded", "city_review", "returned")


def _count(sql: str, **params) -> int:
    return db.session.execute(sa.text(sql), params).scalar()


def test_seed_bulk_valid_numbered_and_counted(app, client):
    from delegation.bulk import seed_bulk
    from delegation.models import Case, CaseNoCounter

    first = seed_bulk(N, seed=7)  # every CHECK constraint of every table holds: the insert itself proves it
    assert first["cases"] == N
    assert _count("SELECT COUNT(*) FROM case_file") == N
    assert _count("SELECT COUNT(*) FROM case_material") == first["materials"] > N
    assert _count("SELECT COUNT(*) FROM supervision_push") == first["pushes"] == \
        _count("SELECT COUNT(*) FROM case_file WHERE decision = 'approve'")
    assert _count("SELECT COUNT(*) FROM supervision_feedback") == first["feedback"] > 0
    assert _count("SELECT COUNT(*) FROM case_rating") == first["ratings"] > 0

    # spread over states, counties, items and modes, mostly concluded and approved
    states = dict(db.session.execute(sa.text("SELECT state, COUNT(*) FROM case_file GROUP BY state")).all())
    assert states["concluded"] > N * 0.6 and {"decided", "refused", "withdrawn", "county_review"} <= set(states)
    assert _count("SELECT COUNT(DISTINCT county_code) FROM case_file") >= 10
    assert _count("SELECT COUNT(DISTINCT item_id) FROM case_file") >= 20
    assert _count("SELECT COUNT(DISTINCT mode) FROM case_file") == 3
    assert _count("SELECT COUNT(*) FROM case_file WHERE decision = 'deny'") < \
        _count("SELECT COUNT(*) FROM case_file WHERE decision = 'approve'") * 0.2
    assert _count("SELECT COUNT(*) FROM case_file WHERE commitment_deadline IS NOT NULL") > 0
    # required materials present, except what a 容缺 commitment still owes and a correction notice names
    assert _count("SELECT COUNT(*) FROM case_material m JOIN case_file c ON c.id = m.case_id "
                  "WHERE m.required AND NOT m.present AND NOT m.committed AND c.state <> 'correction_requested'") == 0

    cal = WorkCalendar()
    cases = db.session.execute(sa.select(Case).limit(200)).unique().scalars().all()
    for case in cases:  # office hours on working days, Asia/Shanghai; timestamps in order
        local = case.created_at + timedelta(hours=8)
        assert cal.is_workday(local.date()) and 9 <= local.hour < 17, (case.case_no, local)
        if case.decided_at:
            assert case.accepted_at <= case.decided_at
        if case.concluded_at:
            assert case.decided_at <= case.concluded_at

    # run twice: 2N cases, unique numbers, counters at the highest number of each county-year
    seed_bulk(N, seed=7)
    assert _count("SELECT COUNT(*) FROM case_file") == 2 * N
    assert _count("SELECT COUNT(DISTINCT case_no) FROM case_file") == 2 * N
    counters = {(c.division_code, c.year): c.last for c in db.session.execute(sa.select(CaseNoCounter)).scalars()}
    highest: dict[tuple, int] = {}
    for case_no in db.session.execute(sa.select(Case.case_no)).scalars():
        county, year, seq = case_no.rsplit("-", 2)
        highest[(county, int(year))] = max(highest.get((county, int(year)), 0), int(seq))
    assert highest == counters

    # a real case created afterwards gets a fresh number
    api = Api(client)
    created = api.create(api.item("direct"))
    county, year, seq = created["case_no"].rsplit("-", 2)
    assert int(seq) == counters.get((county, int(year)), 0) + 1
    assert _count("SELECT COUNT(*) FROM case_file WHERE case_no = :no", no=created["case_no"]) == 1


def test_statistics_add_up_on_bulk_cases(app):
    from delegation.bulk import seed_bulk
    from supervision.statistics import Filters, breakdown, summary

    seed_bulk(N, seed=11)
    total = summary(Filters())
    assert total["total_cases"] == _count("SELECT COUNT(*) FROM case_file") == N
    assert total["concluded"] == _count("SELECT COUNT(*) FROM case_file WHERE state = 'concluded'")
    assert total["pushes"] == _count("SELECT COUNT(*) FROM supervision_push")
    assert total["ratings"] == _count("SELECT COUNT(*) FROM case_rating")
    open_clock = ", ".join(f"'{s}'" for s in OPEN_CLOCK)
    assert total["overdue_now"] == _count(f"SELECT COUNT(*) FROM case_file WHERE due_flag = 'overdue' "
                                          f"AND state IN ({open_clock})")
    assert 0.5 < total["on_time_rate"] <= 1 and 0.5 < total["claim_rate"] <= 1 and total["satisfaction"] > 0.8
    for by in ("county", "mode", "month"):
        rows = breakdown(by, Filters())
        assert sum(r["total_cases"] for r in rows) == N, by
