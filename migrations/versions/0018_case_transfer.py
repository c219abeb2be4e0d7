"""case transfer (转办, issue 15)

`case_file.holder_org`: the county organisation a 转办 passed the case to while the county holds it (NULL: the
county bureau, as before). A transfer at the city changes the case's `department_code` instead, which already says
which city section holds, sees and decides it. The transfer itself is a line of the timeline (delegation/transfer.py);
the deadline and its clocks do not change.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder_org", sa.String(length=40), nullable=True))


def downgrade():
    # plain ALTER TABLE … DROP COLUMN on both (SQLite 3.35+): a batch copy of case_file would lose its expression
    # indexes (ix_case_file_county_due and 0013's), which the later downgrades then fail to drop
    op.execute("ALTER TABLE case_file DROP COLUMN holder_org")
