"""open-case indexes for the desks' assignment queues (issue 14, "fast at scale")

我的待办 and 本单位未分配 (delegation/assignment.py) cross two large sets: the open cases a unit holds and a clerk's
assignments, most of which are history (every case the window ever took stays assigned to whoever took it). Both
sides are now read from an index alone and joined by hash:
- ix_case_file_open: the open cases only (a partial index, ~12 % of case_file) by (state, county_code, id), with the
  columns that decide who holds a case (assignment.holder_expr), whether the city sees it and its deadline, so that
  a unit's held states are index ranges that never touch the table;
- ix_case_assignment_user_org: a user's assignments in one organisation by case.
On PostgreSQL the first carries its other columns as INCLUDE; SQLite gets the key columns (it has no INCLUDE).
On a large table, run it when the desks are quiet (CREATE INDEX locks writes while it builds, a few seconds per
million cases).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 18:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# the open states when this migration was written (the models' OPEN_CASE_SQL may grow; this stays as it was)
OPEN_SQL = ("state IN ('submitted', 'correction_requested', 'accepted', 'county_review', 'forwarded', "
            "'city_review', 'returned', 'decided', 'suspended')")
HOLDER_COLUMNS = ["mode", "resume_state", "holder_org", "department_code", "forwarded_at", "due_at"]


def upgrade():
    op.create_index("ix_case_file_open", "case_file", ["state", "county_code", "id"],
                    postgresql_include=HOLDER_COLUMNS, postgresql_where=sa.text(OPEN_SQL),
                    sqlite_where=sa.text(OPEN_SQL))
    op.create_index("ix_case_assignment_user_org", "case_assignment", ["user_id", "org_code", "case_id"])


def downgrade():
    op.drop_index("ix_case_assignment_user_org", table_name="case_assignment")
    op.execute("DROP INDEX IF EXISTS ix_case_file_open")
