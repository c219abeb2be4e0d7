"""case_assignment.held: whether the assignment's organisation may hold the case now (issue 14, "fast at scale")

An assignment row stays when its case moves on (forwarded, returned, concluded), so that the person who had the case
gets it back when it returns; a clerk's rows are therefore mostly history (a city approver's ~73,000 against ~3,500
current at 1,000,000 cases). 我的待办 read them all and joined them with every open case of the unit. `held` is
false once the case has left the organisation (delegation.engine.apply keeps it after every step), so 我的待办 reads
a clerk's current rows alone (ix_case_assignment_held, a partial index) and looks their cases up by id; the queue
still checks the holder, so `held` only has to be true wherever the organisation holds the case.

Backfilled as "the case is open" (a superset: rows of open cases that have moved on become false at their case's
next step). ix_case_assignment_user (user_id, case_id) is dropped: ix_case_assignment_user_org (user_id, org_code,
case_id) answers the same reads.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 22:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

# the open states when this migration was written
OPEN_SQL = ("state IN ('submitted', 'correction_requested', 'accepted', 'county_review', 'forwarded', "
            "'city_review', 'returned', 'decided', 'suspended')")


def upgrade():
    op.add_column("case_assignment", sa.Column("held", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.execute(f"UPDATE case_assignment SET held = false WHERE case_id IN (SELECT id FROM case_file WHERE NOT ({OPEN_SQL}))")
    op.create_index("ix_case_assignment_held", "case_assignment", ["user_id", "case_id"],
                    postgresql_where=sa.text("held"), sqlite_where=sa.text("held"))
    op.drop_index("ix_case_assignment_user", table_name="case_assignment")


def downgrade():
    op.create_index("ix_case_assignment_user", "case_assignment", ["user_id", "case_id"])
    op.drop_index("ix_case_assignment_held", table_name="case_assignment")
    with op.batch_alter_table("case_assignment") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("held")
