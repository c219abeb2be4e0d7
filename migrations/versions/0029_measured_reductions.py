"""Measured reductions (issue 18): the statistics facts and case rollups carry what each reduction is measured from

Per decided case with a baseline, additive sums next to the reduction sums: the materials the case required
(its own list) and received, the steps taken on its timeline, the working days used, and the item's pre-reform
baselines of the three. Every case is marked dirty, so the next refresh recomputes the facts with the measured
definitions (supervision/statistics.py).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 22:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

COLUMNS = (("materials_baseline_sum", sa.Integer), ("materials_required_sum", sa.Integer),
           ("materials_received_sum", sa.Integer), ("steps_baseline_sum", sa.Integer),
           ("steps_taken_sum", sa.Integer), ("time_baseline_sum", sa.Float), ("time_used_sum", sa.Float))
TABLES = ("stats_case_fact", "stats_case_rollup")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, kind in COLUMNS:
                batch_op.add_column(sa.Column(name, kind(), nullable=False, server_default=sa.text("0")))
    # The facts of the cases already there were counted on the item's list and a constant per mode.
    op.execute("INSERT INTO stats_dirty (case_id) VALUES (NULL)")


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in reversed(COLUMNS):
                batch_op.drop_column(name)
