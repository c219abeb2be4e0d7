"""The city's refresh of reported facts at the scale of a real city (issue 18): more reported cases with pushes, and
more dirty cases, than one SQL statement may name (PostgreSQL takes at most 65,535 bound parameters). The refresh
completes and every reported fact carries the city's pushes of its case."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Item, Org

COUNTY = "360730"
N = 66_000  # just over PostgreSQL's 65,535 bound parameters in one statement


@pytest.fixture
def city(app):
    db.session.execute(sa.update(Org).where(Org.division_code == COUNTY).values(node_id=COUNTY))
    db.session.commit()
    return app


def _bulk(model, rows) -> None:
    for lo in range(0, len(rows), 5000):
        db.session.execute(sa.insert(model), rows[lo:lo + 5000])


def test_a_refresh_at_the_city_over_more_cases_than_a_statement_can_name(city):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the bound-parameter limit is PostgreSQL's (66,000 rows on SQLite prove nothing more)")
    from supervision import rollup
    from supervision.fact_report_models import StatsReportedFact
    from supervision.models import SupervisionPush

    item_id = db.session.execute(sa.select(Item.id).where(Item.mode == "forward_only").limit(1)).scalar_one()
    applied = date.today()
    case_nos = [f"{COUNTY}-2026-{i:07d}" for i in range(N)]
    _bulk(StatsReportedFact, [{"case_no": no, "from_node": COUNTY, "version": 1, "applied_on": applied,
                               "month": applied.strftime("%Y-%m"), "county_code": COUNTY, "item_id": item_id,
                               "mode": "forward_only", "state": "decided", "total_cases": 1, "decided": 1}
                              for no in case_nos])
    decided = datetime.now(timezone.utc)
    _bulk(SupervisionPush, [{"case_no": no, "item_code": "X", "item_name": "X", "mode": "forward_only",
                             "county_code": COUNTY, "applicant_name": "-", "applicant_id_code": "-",
                             "decision": "approve", "accepting_org": f"{COUNTY}-window",
                             "deciding_org": "360700-bureau", "deciding_node": "360700",
                             "supervising_org": "360700-regulator", "supervising_node": "360700",
                             "responsible": [], "decided_at": decided} for no in case_nos])
    db.session.commit()

    assert rollup.refresh(full=True)["full"]  # every reported fact takes the city's pushes of its case
    db.session.commit()
    pushed = db.session.execute(sa.select(sa.func.count()).where(StatsReportedFact.pushes == 1)).scalar_one()
    assert pushed == N

    # a refresh of more dirty cases than a statement can name (a bulk change at the city)
    db.session.execute(sa.insert(rollup.StatsDirty), [{"case_id": 10_000_000 + i} for i in range(N)])
    db.session.commit()
    assert rollup.refresh() == {"cases": N, "full": False}
    db.session.commit()
    assert db.session.execute(sa.select(sa.func.count()).select_from(rollup.StatsDirty)).scalar_one() == 0
