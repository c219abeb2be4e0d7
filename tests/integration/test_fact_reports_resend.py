"""Case facts a county node reports to the city over a real SFTP server (issue 18), when nothing else carries them:
a batch the city refused is sent again once the city can take it, and a case that goes overdue on a quiet county
node (only the deadline job touched it) reaches the city's overdue count."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from persistence import utcnow
from tests.integration.support import Node
from tests.integration.test_fact_reports_nodes import Scenario, _stats_messages, _trust_all, figures, pump, refresh
from tests.integration.test_two_nodes import build_node, sftp  # noqa: F401  (the SFTP server fixture)

A, CITY = "360730", "360700"


@pytest.fixture
def nodes(tmp_path, sftp):  # noqa: F811
    apps = {A: build_node(tmp_path, A, sftp), CITY: build_node(tmp_path, CITY, sftp, remote=[A])}
    _trust_all(tmp_path, apps)
    yield {code: Node(app) for code, app in apps.items()}
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()


def _city_cases(city: Node) -> int:
    return figures(city)["summary"]["total_cases"]


def _time_passes(county: Node) -> None:
    from supervision.fact_report_models import StatsFactSent

    with county.ctx():
        db.session.execute(sa.update(StatsFactSent).where(StatsFactSent.rejected_at.is_not(None))
                           .values(rejected_at=utcnow() - timedelta(minutes=16)))
        db.session.commit()


def _states(county: Node) -> list[str]:
    return [state for *_, state, _, _ in _stats_messages(county)]


def test_a_batch_the_city_refused_is_sent_again_once_it_can_take_it(nodes):
    from delegation.models import Item

    county, city = nodes[A], nodes[CITY]
    code = county.get("/api/v1/items?mode=direct", f"window-{A}")[0]["code"]
    with city.ctx():  # the city's catalogue lacks one item for now (a catalogue not yet published, say)
        db.session.execute(sa.update(Item).where(Item.code == code).values(code="WITHHELD"))
        db.session.commit()
    scenario = Scenario({A: county}, city, [county, city])
    scenario.new(A, "direct", 0)  # of the withheld item
    scenario.new(A, "direct", 1)  # of another, in the same batch
    pump(county, city)
    assert _states(county) == ["rejected"] and _city_cases(city) == 0
    pump(county, city)  # not at every refresh: the refused facts wait a while
    assert len(_states(county)) == 1

    _time_passes(county)  # sent again apart: the fact the city can take arrives, the other is refused alone
    pump(county, city)
    assert sorted(_states(county)[1:]) == ["acknowledged", "rejected"] and _city_cases(city) == 1

    with city.ctx():
        db.session.execute(sa.update(Item).where(Item.code == "WITHHELD").values(code=code))
        db.session.commit()
    _time_passes(county)
    pump(county, city)
    assert _states(county)[3:] == ["acknowledged"] and _city_cases(city) == 2
    pump(county, city)
    assert len(_states(county)) == 4  # taken: not sent again


def test_a_quiet_countys_case_going_overdue_reaches_the_citys_overdue_count(nodes):
    county, city = nodes[A], nodes[CITY]
    scenario = Scenario({A: county}, city, [county, city])
    case_no = scenario.new(A, "direct")
    scenario.act(A, case_no, "window", "accept")
    pump(county, city)
    assert figures(city)["summary"]["overdue_now"] == 0 and _city_cases(city) == 1

    with county.ctx():  # the deadline job runs after the deadline; nothing else happens on the county node
        from delegation import cases
        from delegation.models import Case

        due = db.session.execute(sa.select(Case.due_at).filter_by(case_no=case_no)).scalar_one()
        assert cases.sweep(due + timedelta(hours=1))["flags_changed"] == 1
    assert refresh(county)["cases"] == 1
    pump(county, city)
    now = figures(city)["summary"]
    assert (now["overdue_now"], now["total_cases"]) == (1, 1)
