"""Which counties' cases under a dashboard's filters the city knows only from their nodes' reports (issue 18).

The case list behind a dashboard card shows the cases this node holds; the card also counts the cases a county node
reported (stats.case_facts, supervision.fact_reports), which stay on that node. The page names those counties so
that 9 on the card and 3 listed is explained, and says nothing more where no county reported."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.models import Division
from persistence import db
from supervision.fact_report_models import StatsReportedFact
from supervision.fact_reports import reported_filters


def reported_counties(filters) -> list[str]:
    """The names of the counties with reported facts under ``filters`` (by code)."""
    f = StatsReportedFact
    return list(db.session.execute(
        sa.select(Division.name).where(Division.code.in_(sa.select(f.county_code).where(*reported_filters(filters))))
        .order_by(Division.code)).scalars())
