"""Tables of 全市通办 (city-wide acceptance, issue 17, migration 0022): the catalogue flag and the competent county
of a case accepted for another county. Kept apart from the shared item and case tables."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from delegation.models import FINAL_STATE_VALUES, Case
from persistence import db


class CitywideItem(db.Model):
    """An item any county window of the city may accept for another county (the row is the flag)."""

    __tablename__ = "citywide_item"
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)


class CitywideCase(db.Model):
    """A case accepted at case_file.county_code's window for `competent_code`, whose bureau reviews and decides it.
    Written where the case is registered and where its copy is received, so both ends count it."""

    __tablename__ = "citywide_case"
    __table_args__ = (sa.Index("ix_citywide_case_competent", "competent_code", "case_id"),)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    competent_code: Mapped[str] = mapped_column(sa.String(20), sa.ForeignKey("division.code"))


_COMPETENT = sa.select(CitywideCase.competent_code).where(CitywideCase.case_id == sa.bindparam("case_id"))


def competent_county(case: Case) -> str | None:
    """The competent county of a case accepted for another county, or None (an ordinary case). Read once per case
    object: the engine asks at every step."""
    cached = case.__dict__.get("_citywide_competent", False)
    if cached is not False:
        return cached
    if case.id is None:  # not written yet: assign() remembers it when it records one
        return None
    value = db.session.execute(_COMPETENT, {"case_id": case.id}).scalar_one_or_none()
    case.__dict__["_citywide_competent"] = value
    return value


def deciding_county(case: Case) -> str:
    """The county whose bureau reviews and decides the case: the competent county of a case accepted for another
    county (全市通办), else the case's own."""
    return competent_county(case) or case.county_code


def remember(case: Case, competent_code: str | None) -> None:
    case.__dict__["_citywide_competent"] = competent_code


def decided_by_clause(case_table, division, bound: bool = False):
    """The cases `division`'s bureau (and regulators) answer for: its own county's, less those its window accepted for
    another county, plus those other windows accepted for it (全市通办). For lists the few city-wide cases are read
    first and named by id, so that a county with none keeps the plain `county_code = …` its indexes serve (the
    subqueries made PostgreSQL scan every county's queue); a statement built once with bound parameters (a lookup by
    case number) keeps the subqueries."""
    own = case_table.county_code == division
    if bound:
        elsewhere = sa.select(CitywideCase.case_id).where(CitywideCase.competent_code != division)
        here = sa.select(CitywideCase.case_id).where(CitywideCase.competent_code == division)
        return sa.or_(sa.and_(own, case_table.id.not_in(elsewhere)), case_table.id.in_(here))
    here, elsewhere = citywide_ids(division)
    return _decided_by(case_table, own, here or None, elsewhere or None)


def citywide_ids(division: str, open_only: bool = False) -> tuple[list[int], list[int]]:
    """The ids of the city-wide cases `division` decides though another window accepted them, and of those its own
    window accepted for another county; `open_only`: of the cases not yet closed (the queues read no other, and the
    lists would otherwise grow with every city-wide case the county ever had)."""
    rows = db.session.execute(
        sa.select(CitywideCase.case_id, CitywideCase.competent_code == division)
        .join(Case, Case.id == CitywideCase.case_id)
        .where(sa.or_(CitywideCase.competent_code == division, Case.county_code == division),
               *([Case.state.not_in(FINAL_STATE_VALUES)] if open_only else []))).all()
    return [i for i, is_here in rows if is_here], [i for i, is_here in rows if not is_here]


def decided_by_parameters(case_table, here: bool, elsewhere: bool):
    """decided_by_clause for a statement built once and run for any county: the division and the city-wide ids as
    the parameters division_code, citywide_here and citywide_elsewhere (expanding), each id list only in the shape
    that has some, so that a county with none keeps the plain `county_code = …` its indexes serve."""
    return _decided_by(case_table, case_table.county_code == sa.bindparam("division_code"),
                       sa.bindparam("citywide_here", expanding=True) if here else None,
                       sa.bindparam("citywide_elsewhere", expanding=True) if elsewhere else None)


def _decided_by(case_table, own, here, elsewhere):
    clause = sa.and_(own, case_table.id.not_in(elsewhere)) if elsewhere is not None else own
    return sa.or_(clause, case_table.id.in_(here)) if here is not None else clause
