"""case_assignment.held made exact: true only for the assignment of the organisation holding an open case

Migration 0031 backfilled `held` as "the case is open" (a superset), so 我的待办's count still joined every open case
of the unit to check the holder (the join was a fifth of every staff page's time at 1,000,000 cases). The engine keeps
`held` exact after every step (delegation/assignment_held.py); this sets the rows 0031 left true on cases that had
moved on, so the count reads the clerk's held rows alone. The holder is delegation.assignment.holder_expr as it
stands when this migration was written.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04 03:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

_STATE = "(CASE WHEN c.state = 'suspended' THEN COALESCE(c.resume_state, c.state) ELSE c.state END)"
_HOLDER = (f"(CASE WHEN {_STATE} IN ('forwarded', 'city_review') THEN c.department_code"
           f" WHEN {_STATE} IN ('accepted', 'county_review') OR ({_STATE} = 'returned' AND c.mode = 'delegated_review')"
           " THEN COALESCE(c.holder_org, c.county_code || '-bureau')"
           " ELSE c.county_code || '-window' END)")
_FINAL = "('refused', 'concluded', 'withdrawn', 'terminated')"


def upgrade():
    op.execute("UPDATE case_assignment SET held = false WHERE held AND NOT EXISTS ("
               "SELECT 1 FROM case_file c WHERE c.id = case_assignment.case_id"
               f" AND c.state NOT IN {_FINAL} AND case_assignment.org_code = {_HOLDER})")


def downgrade():
    pass  # the exact flag is a subset of 0031's: nothing to undo
