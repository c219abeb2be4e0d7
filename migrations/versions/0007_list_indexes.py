"""list indexes: every case list an index range scan in its own order; the deadline sweep's running clocks and
open 容缺 commitments as partial indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 02:30:00.000000

The predicates are the models' (delegation/models.py), written out here so that the migration does not change
when the models do. On a large existing table, run it when the desks are quiet (CREATE INDEX locks writes while
it builds: about 10 s per index at 1,000,000 cases).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CLOCK_RUNNING = ("state IN ('accepted', 'county_review', 'forwarded', 'city_review', 'returned') "
                 "AND paused_at IS NULL")
COMMITMENT_OPEN = ("commitment_met_at IS NULL AND NOT (state IN ('concluded', 'refused', 'terminated', "
                   "'withdrawn'))")
CITY_QUEUE = "state IN ('forwarded', 'city_review') OR (state = 'suspended' AND resume_state = 'city_review')"


def upgrade():
    op.create_index("ix_case_file_county_id", "case_file", ["county_code", "id"])
    op.create_index("ix_case_file_state_id", "case_file", ["state", "id"])
    op.create_index("ix_case_file_department_state", "case_file", ["department_code", "state", "id"])
    op.create_index("ix_case_file_clock", "case_file", ["due_flag", "due_at"],
                    postgresql_where=sa.text(CLOCK_RUNNING), sqlite_where=sa.text(CLOCK_RUNNING))
    op.create_index("ix_case_file_commitment_open", "case_file", ["commitment_deadline"],
                    postgresql_where=sa.text(COMMITMENT_OPEN), sqlite_where=sa.text(COMMITMENT_OPEN))
    op.create_index("ix_case_file_city_queue", "case_file", [sa.text("(due_at IS NULL)"), "due_at", "id"],
                    postgresql_where=sa.text(CITY_QUEUE), sqlite_where=sa.text(CITY_QUEUE))


def downgrade():
    for name in ("ix_case_file_city_queue", "ix_case_file_commitment_open", "ix_case_file_clock",
                 "ix_case_file_department_state", "ix_case_file_state_id", "ix_case_file_county_id"):
        op.drop_index(name, table_name="case_file")
