"""rating follow-up and push escalation (issue 15)

Reserved placeholder: the author of this work fills in upgrade() and downgrade().

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
