"""Who answers for what, derived from the delegation mode (never typed in by hand)."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.workflow import Mode

CITY = "360700"


def county_org(division_code: str, kind: str) -> str:
    return f"{division_code}-{kind}"


def city_division(division_code: str) -> str:
    # Development zones carry the city code with a suffix; every other unit's parent is the city as well.
    return CITY


def responsible_parties(case) -> dict:
    mode = Mode(case.mode)
    county = case.county_code
    window = case.window_org.code if case.window_org else county_org(county, "window")
    from delegation.citywide_models import deciding_county

    decider_county = deciding_county(case)  # 全市通办: the competent county reviews, decides, supervises
    county_bureau = county_org(decider_county, "bureau")
    department = case.department_code
    if mode is Mode.DIRECT:
        reviewer, decider, supervisor = county_bureau, county_bureau, county_org(decider_county, "industry")
    elif mode is Mode.DELEGATED_REVIEW:
        reviewer, decider, supervisor = county_bureau, department, f"{CITY}-industry"
    else:
        reviewer, decider, supervisor = department, department, f"{CITY}-industry"
    return {
        "accepting": window,  # 首问负责: the window owns the case towards the applicant until it concludes
        "reviewing": reviewer,
        "deciding": decider,
        "answers_for_result": decider,
        "answers_for_review": reviewer,
        "supervising": supervisor,
        "hands_out": window,
    }


def supervising_clause(case_table, org_code: str):
    """responsible_parties' "supervising" as a query condition: the cases `org_code` will supervise (a county's
    industry regulator its county's direct cases, the city's every delegated_review and forward_only case)."""
    if org_code == f"{CITY}-industry":
        return case_table.mode.in_([Mode.DELEGATED_REVIEW, Mode.FORWARD_ONLY])
    county, _, kind = org_code.rpartition("-")
    if kind != "industry" or not county:
        return sa.false()
    from delegation.citywide_models import decided_by_clause  # 全市通办: the competent county's, wherever accepted

    return sa.and_(case_table.mode == Mode.DIRECT, decided_by_clause(case_table, county))
