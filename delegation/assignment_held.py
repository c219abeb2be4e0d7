"""Keeps case_assignment.held (migration 0031) true exactly for the assignment of the organisation holding a case:
after every step of the engine (delegation.engine.apply), the one place a case changes state or holder (a 转办 is a
step too). A concluded case is held by nobody."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.assignment_models import CaseAssignment
from delegation.models import Case
from delegation.workflow import FINAL_STATES
from persistence import db


def mark(case: Case) -> None:
    from delegation.worklist import holder_code  # worklist reads the case queries, which run the engine

    holder = None if case.state in FINAL_STATES else holder_code(case)
    held = CaseAssignment.org_code == holder if holder else sa.false()
    db.session.execute(sa.update(CaseAssignment).where(CaseAssignment.case_id == case.id, CaseAssignment.held != held)
                       .values(held=held).execution_options(synchronize_session=False))
