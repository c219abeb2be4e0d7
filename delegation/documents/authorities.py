"""Who issues what the applicant takes home, and what it says about that authority: its name, the prefix of its
document numbers, its contact lines and the remedies against its decisions (行政复议 and 行政诉讼).

The deciding level issues the decision: the county bureau for a direct item, the city for the other two modes —
the city bureau (市行政审批局) in the name of which its section (科室) decides, the section named as 承办."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from delegation.citywide_models import deciding_county
from delegation.models import Case, Org
from delegation.orgs import get_org
from delegation.workflow import Mode
from persistence import db

COURT_FALLBACK = "有管辖权的人民法院"


@dataclass(frozen=True)
class Authority:
    code: str
    name: str
    undertaker: str | None  # the city section that handles the case, when the bureau decides in its name
    prefix: str
    review_authority: str
    court: str


def _short(division_name: str) -> str:
    """章贡区 → 章贡, 于都县 → 于都, 赣州市 → 赣州 (a two-character name stays whole)."""
    return division_name[:-1] if len(division_name) > 2 and division_name[-1] in "区县市" else division_name


def doc_prefix(org: Org) -> str:
    return org.doc_prefix or f"{_short(org.division.name)}行审许"


def review_authority(org: Org) -> str:
    """The administrative review authority: the people's government of the organisation's level (行政复议法
    第二十四条: a county or city government hears the cases against its own departments)."""
    return org.review_authority or f"{org.division.name}人民政府"


def court(org: Org) -> str:
    return org.court or COURT_FALLBACK


def county_bureau(case: Case) -> Org:
    """The bureau of the county that reviews the case (citywide_models.deciding_county)."""
    return db.session.execute(sa.select(Org).filter_by(division_code=deciding_county(case), kind="approval_bureau")
                              ).scalar_one()


def deciding_org(case: Case) -> tuple[Org, Org | None]:
    """The organisation in whose name the case is decided, and the section that handles it (or None)."""
    if case.mode is Mode.DIRECT:
        return county_bureau(case), None
    department = get_org(case.department_code)
    if department.kind == "city_section" and department.parent is not None:
        return department.parent, department
    return department, None


def issuer_of(case: Case) -> Authority:
    org, section = deciding_org(case)
    return Authority(code=org.code, name=org.name, undertaker=section.name if section else None,
                     prefix=doc_prefix(org), review_authority=review_authority(org), court=court(org))


def contact_lines(org: Org) -> list[tuple[str, str]]:
    """(label, value) of the contact lines the organisation has set, in print order."""
    lines = (("窗口地址", org.address), ("咨询电话", org.phone), ("办公时间", org.office_hours))
    return [(label, value) for label, value in lines if value]
