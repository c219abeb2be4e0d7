"""decision documents, proof of service, the windows' contact lines (issue 16; filled by its author)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 11:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
