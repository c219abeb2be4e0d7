"""The city applying stats.case_facts (issue 18), on SQLite and PostgreSQL: a reported case counts in every figure
and period, supersedes the city's own copy of the same case number, a lower version never replaces a higher one,
and a batch the city cannot trust or place is refused whole."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Item, Org
from delegation.workflow import Mode, State
from exchange.envelope import Envelope
from exchange.errors import ExchangeRejected
from tests.integration.factories import make_case

COUNTY, OTHER = "360730", "360702"


@pytest.fixture
def city(app):
    """The city node, with 宁都县 on a node of its own (as seed-reference --remote-county 360730 places it)."""
    db.session.execute(sa.update(Org).where(Org.division_code == COUNTY).values(node_id=COUNTY))
    db.session.commit()
    return app


def item_code(mode: str) -> str:
    return db.session.execute(sa.select(Item.code).where(Item.mode == mode).order_by(Item.id).limit(1)).scalar_one()


def fact(case_no: str, version: int, state: str, applied_on: date, mode="direct", county=COUNTY, **figures) -> dict:
    figures = {"total_cases": 1, **figures}
    return {"case_no": case_no, "version": str(version), "applied_on": applied_on.isoformat(), "county": county,
            "item_code": item_code(mode), "mode": mode, "state": state,
            "figures": [{"name": k, "value": str(v)} for k, v in figures.items()]}


def deliver(*facts, from_org=f"{COUNTY}-window", from_node=COUNTY) -> None:
    from supervision.fact_reports import apply_facts

    env = Envelope.new("stats.case_facts", from_node, from_org, "360700", "360700-bureau", {"facts": list(facts)})
    with db.session.begin_nested():
        apply_facts(env, None)
    db.session.commit()


def summary(**filters) -> dict:
    from supervision.statistics import Filters, report

    return report(Filters(**filters), ("state", "county"))


def refresh() -> None:
    from supervision import rollup

    rollup.refresh()
    db.session.commit()


TODAY = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=8))).date()


def test_a_report_counts_and_supersedes_the_citys_own_copy(city):
    local = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)  # forwarded to the city: the city's copy
    db.session.commit()
    refresh()
    before = summary()
    assert before["summary"]["total_cases"] == 1 and [r["key"] for r in before["by"]["state"]] == ["city_review"]

    deliver(fact(local.case_no, 1, "concluded", TODAY, mode="forward_only", accepted=1, decided=1, approved=1,
                 concluded=1, processing_cases=1, processing_sum=2.0),
            fact(f"{COUNTY}-2026-900001", 1, "decided", TODAY, accepted=1, decided=1, approved=1))
    for _ in range(2):  # read live at once, and the same after the refresh drops the city's copy from its rollup
        now = summary()
        assert now["summary"]["total_cases"] == 2, now["summary"]
        assert (now["summary"]["concluded"], now["summary"]["approved"]) == (1, 2)
        assert now["summary"]["processing_days_mean"] == 2.0 and now["summary"]["processing_days_median"] == 2.0
        assert {r["key"]: r["total_cases"] for r in now["by"]["state"]} == {"concluded": 1, "decided": 1}
        assert {r["key"]: r["total_cases"] for r in now["by"]["county"]} == {COUNTY: 2}
        refresh()

    # a period that cuts the month reads the reported facts by application date
    assert summary(date_from=TODAY, date_to=TODAY)["summary"]["total_cases"] == 2
    assert summary(date_from=TODAY + timedelta(days=1))["summary"]["total_cases"] == 0
    assert summary(county=OTHER)["summary"]["total_cases"] == 0


def test_a_lower_version_never_replaces_a_higher_one(city):
    from supervision.fact_report_models import StatsReportedFact

    case_no = f"{COUNTY}-2026-900002"
    deliver(fact(case_no, 2, "decided", TODAY, accepted=1, decided=1))
    deliver(fact(case_no, 1, "accepted", TODAY, accepted=1))
    stored = db.session.get(StatsReportedFact, case_no)
    assert (stored.version, stored.state, stored.decided) == (2, "decided", 1)
    deliver(fact(case_no, 3, "concluded", TODAY, accepted=1, decided=1, concluded=1))
    assert {r["key"]: r["total_cases"] for r in summary()["by"]["state"]} == {"concluded": 1}


@pytest.mark.parametrize("bad, code", [
    (lambda: [fact("X-1", 1, "decided", TODAY, county=OTHER)], "sender_not_allowed"),  # not the sender's county
    (lambda: [fact("X-1", 1, "decided", TODAY) | {"item_code": "NO-SUCH-ITEM"}], "unknown_item"),
    (lambda: [fact("X-1", 1, "flying", TODAY)], "unknown_state"),
    (lambda: [fact("X-1", 1, "decided", TODAY, secret_figure=1)], "unknown_figure"),
    (lambda: [fact("X-1", 1, "decided", TODAY, decided=0.5)], "schema_invalid"),
    (lambda: [fact("X-1", 1, "decided", TODAY), fact("X-1", 2, "decided", TODAY)], "duplicate_fact"),
    # past the stored columns (32-bit integers) or beyond any case: refused, not a crash retried forever
    (lambda: [fact("X-1", 10 ** 17, "decided", TODAY)], "schema_invalid"),
    (lambda: [fact("X-1", 1, "decided", TODAY, total_cases=3_000_000_000)], "schema_invalid"),
    (lambda: [fact("X-1", 1, "decided", TODAY, decided=-1)], "schema_invalid"),
    (lambda: [fact("X-1", 1, "decided", TODAY, processing_sum="1e300")], "schema_invalid"),
])
def test_a_batch_the_city_cannot_place_is_refused_whole(city, bad, code):
    from supervision.fact_report_models import StatsReportedFact

    good = fact(f"{COUNTY}-2026-900003", 1, "decided", TODAY, decided=1)
    with pytest.raises(ExchangeRejected) as refused:
        deliver(good, *bad())
    assert refused.value.code == code
    db.session.rollback()
    assert db.session.execute(sa.select(sa.func.count()).select_from(StatsReportedFact)).scalar_one() == 0
    assert summary()["summary"]["total_cases"] == 0


def test_only_a_county_organisation_of_the_sending_node(city):
    with pytest.raises(ExchangeRejected) as refused:  # 章贡区 is hosted here, not on node 360730
        deliver(fact("X-1", 1, "decided", TODAY, county=OTHER), from_org=f"{OTHER}-window")
    assert refused.value.code == "sender_not_allowed"


def test_the_figures_of_the_moment_count_reported_cases_once(city):
    local = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
    local.due_flag = "overdue"  # flagged at the city too: the county's report of it counts, not both
    db.session.commit()
    soon = datetime.now(timezone.utc) + timedelta(days=3)
    past = datetime.now(timezone.utc) - timedelta(days=1)
    deliver(fact(local.case_no, 1, "city_review", TODAY, mode="forward_only", accepted=1) | {"due_flag": "overdue"},
            fact(f"{COUNTY}-2026-900004", 1, "county_review", TODAY, accepted=1) | {"due_flag": "warning"},
            fact(f"{COUNTY}-2026-900005", 1, "county_review", TODAY, accepted=1, commitment_cases=1)
            | {"commitment_deadline": soon.isoformat()},
            fact(f"{COUNTY}-2026-900006", 1, "county_review", TODAY, accepted=1, commitment_cases=1)
            | {"commitment_deadline": past.isoformat()})
    now = summary()["summary"]
    assert (now["overdue_now"], now["warning_now"]) == (1, 1)
    assert (now["commitment_cases"], now["commitment_due"], now["commitment_met"]) == (2, 1, 0)
    assert summary(county=OTHER)["summary"]["overdue_now"] == 0


def test_reported_figures_stay_when_every_local_case_is_read_live(city):
    """A calendar change or a bulk load has this node read its own cases live until the next refresh; the reported
    cases count the same then, in whole months and in a period that cuts one."""
    from supervision import rollup

    earlier = (TODAY - timedelta(days=45)).replace(day=15)  # a month before this one
    deliver(fact(f"{COUNTY}-2026-900007", 1, "decided", TODAY, accepted=1, decided=1, processing_cases=1,
                 processing_sum=3.0),
            fact(f"{COUNTY}-2026-900008", 1, "concluded", earlier, accepted=1, decided=1, concluded=1,
                 processing_cases=1, processing_sum=5.0),
            fact(f"{COUNTY}-2026-900009", 1, "accepted", earlier.replace(day=1), accepted=1))
    periods = [{}, {"date_from": earlier.replace(day=1)}, {"date_from": earlier, "date_to": TODAY},
               {"date_from": earlier.replace(day=2)}, {"date_to": earlier}]
    refresh()
    clean = [summary(**p) for p in periods]
    assert clean[0]["summary"]["total_cases"] == 3 and clean[3]["summary"]["total_cases"] == 2
    rollup.mark_all_dirty()
    db.session.commit()
    assert [summary(**p) for p in periods] == clean


def test_a_flag_the_deadline_job_changes_is_looked_at_by_the_next_refresh(app):
    """The deadline job's one UPDATE bypasses the ORM's change tracking; its cases still reach the next refresh
    (which is what sends a county node's overdue case to the city)."""
    from delegation import cases
    from supervision import rollup

    case = make_case(State.COUNTY_REVIEW, Mode.DIRECT)
    db.session.commit()
    refresh()
    assert rollup.refresh()["cases"] == 0
    assert cases.sweep(case.due_at + timedelta(hours=1))["flags_changed"] == 1
    assert rollup.refresh()["cases"] == 1
    db.session.commit()
