"""notifications, their delivery outbox and reminders (issue 15; filled by its author)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 12:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
