"""the catalogue version a case was registered under (issue 18, part 3)

`case_file.catalogue_version`: the version of the reference kind `catalogue` in force on the node when the case was
registered (reference_version; NULL: registered before any catalogue publication). A published catalogue change
governs new cases only; the number says which catalogue a case keeps. Plain ADD COLUMN (a batch copy on SQLite would
lose case_file's triggers).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-03 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("case_file", sa.Column("catalogue_version", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("case_file", "catalogue_version")
