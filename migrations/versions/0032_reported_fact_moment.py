"""reported case facts carry what the figures of the moment need (issue 18): the deadline flag of a running
clock and the deadline of a 容缺 commitment not yet met; a county node remembers the flag it last sent (the
deadline job changes flags without marking the case dirty)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 22:52:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stats_reported_fact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_flag", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("commitment_deadline", sa.DateTime(), nullable=True))
        # the few facts the figures of the moment read, whatever the number of reported cases
        batch_op.create_index("ix_stats_reported_fact_due_flag", ["due_flag"], unique=False,
                              postgresql_where=sa.text("due_flag IS NOT NULL"),
                              sqlite_where=sa.text("due_flag IS NOT NULL"))
        batch_op.create_index("ix_stats_reported_fact_commitment", ["commitment_deadline"], unique=False,
                              postgresql_where=sa.text("commitment_deadline IS NOT NULL"),
                              sqlite_where=sa.text("commitment_deadline IS NOT NULL"))
    with op.batch_alter_table("stats_fact_sent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_flag", sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table("stats_fact_sent", schema=None) as batch_op:
        batch_op.drop_column("due_flag")
    with op.batch_alter_table("stats_reported_fact", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_reported_fact_commitment")
        batch_op.drop_index("ix_stats_reported_fact_due_flag")
        batch_op.drop_column("commitment_deadline")
        batch_op.drop_column("due_flag")
