"""the pre-reform baselines a case is measured against, as they stood when it was registered (issue 18)

`case_file.baseline_materials`, `baseline_steps`, `baseline_days`: a copy of the item's three baselines taken when
the case is registered, so that a later catalogue version (a published baseline change) governs new cases only and
does not re-score the reductions of cases already registered. Existing cases take their item's baselines of today.
NULL only for rows written past the ORM (bulk seeding): the statistics then read the item's. Plain ADD COLUMN (a
batch copy on SQLite would lose case_file's triggers).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04 03:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

COLUMNS = ("baseline_materials", "baseline_steps", "baseline_days")


def upgrade():
    op.add_column("case_file", sa.Column("baseline_materials", sa.Integer(), nullable=True))
    op.add_column("case_file", sa.Column("baseline_steps", sa.Integer(), nullable=True))
    op.add_column("case_file", sa.Column("baseline_days", sa.Float(), nullable=True))
    for column in COLUMNS:
        op.execute(f"UPDATE case_file SET {column} = (SELECT item.{column} FROM item WHERE item.id = case_file.item_id)")


def downgrade():
    for column in reversed(COLUMNS):
        op.drop_column("case_file", column)
