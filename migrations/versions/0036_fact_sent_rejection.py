"""a county node remembers which message carried a case's facts, and that the city refused it (issue 18)

`stats_fact_sent.message_id`: the stats.case_facts message that last carried the case's facts; `rejected_at`: when
the city answered that message with a rejection receipt (NULL: accepted or not yet answered). A refused batch's
facts are sent again (supervision/fact_reports.py), found through the partial index over the few refused ones.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-04 03:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stats_fact_sent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("rejected_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_stats_fact_sent_message", ["message_id"], unique=False)
        batch_op.create_index("ix_stats_fact_sent_rejected", ["rejected_at"], unique=False,
                              postgresql_where=sa.text("rejected_at IS NOT NULL"),
                              sqlite_where=sa.text("rejected_at IS NOT NULL"))


def downgrade():
    with op.batch_alter_table("stats_fact_sent", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_fact_sent_rejected")
        batch_op.drop_index("ix_stats_fact_sent_message")
        batch_op.drop_column("rejected_at")
        batch_op.drop_column("message_id")
