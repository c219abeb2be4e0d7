"""reported case facts carry the 差评整改 task and the 告知承诺 verification of a case (issue 18 review): the due
moment of a rectification task not yet answered, and the state of a commitment approval's verification with its due
moment while open — both live at the accepting county, and the city's dashboard counts them as one node does

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-04 03:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stats_reported_fact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_due", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("check_state", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("check_due_at", sa.DateTime(), nullable=True))
        # the few facts these dashboard lines read, whatever the number of reported cases
        batch_op.create_index("ix_stats_reported_fact_follow_up", ["follow_up_due"], unique=False,
                              postgresql_where=sa.text("follow_up_due IS NOT NULL"),
                              sqlite_where=sa.text("follow_up_due IS NOT NULL"))
        batch_op.create_index("ix_stats_reported_fact_check", ["check_state"], unique=False,
                              postgresql_where=sa.text("check_state IS NOT NULL"),
                              sqlite_where=sa.text("check_state IS NOT NULL"))
    # a county node reports what it already holds at its next statistics refresh: the cases with a rectification
    # task or a commitment record are marked changed (a few per cent of the cases; every node has these tables)
    op.execute(sa.text("INSERT INTO stats_dirty (case_id) SELECT case_id FROM rating_follow_up "
                       "UNION SELECT case_id FROM commitment_record WHERE case_id IS NOT NULL"))


def downgrade():
    with op.batch_alter_table("stats_reported_fact", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_reported_fact_check")
        batch_op.drop_index("ix_stats_reported_fact_follow_up")
        batch_op.drop_column("check_due_at")
        batch_op.drop_column("check_state")
        batch_op.drop_column("follow_up_due")
