"""The indexes of the desks' assignment queues (migration 0025), declared beside the models so that the schema test
sees them: delegation/assignment.py reads a unit's open cases and a clerk's assignments from these alone and joins
them by hash (most of a clerk's assignments are history; most cases are closed)."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.assignment_models import CaseAssignment
from delegation.models import Case

OPEN_CASE_SQL = ("state IN ('submitted', 'correction_requested', 'accepted', 'county_review', 'forwarded', "
                 "'city_review', 'returned', 'decided', 'suspended')")

# the open cases (a partial index) by state and county, with what decides their holder, the city's view and the
# deadline (PostgreSQL INCLUDE; SQLite has the key columns)
sa.Index("ix_case_file_open", Case.state, Case.county_code, Case.id,
         postgresql_include=["mode", "resume_state", "holder_org", "department_code", "forwarded_at", "due_at"],
         postgresql_where=sa.text(OPEN_CASE_SQL), sqlite_where=sa.text(OPEN_CASE_SQL))
# a user's assignments in one organisation
sa.Index("ix_case_assignment_user_org", CaseAssignment.user_id, CaseAssignment.org_code, CaseAssignment.case_id)
