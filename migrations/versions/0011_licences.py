"""licence templates, number series and issued licences (issue 16; filled by its author)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 11:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
