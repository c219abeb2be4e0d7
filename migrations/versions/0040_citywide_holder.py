"""a 全市通办 case is held by the competent county's bureau while it is reviewed: case_file.holder_org names it (the
bureau queues, the claim and the holder shown read it; before, the accepting county's bureau was named and neither
bureau's 本单位未分配 listed the case)

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-04 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade():
    # a case passed on by 转办 keeps its holder (holder_org already set)
    op.execute(sa.text(
        "UPDATE case_file SET holder_org = (SELECT o.code FROM citywide_case cw JOIN org o "
        "ON o.division_code = cw.competent_code AND o.kind = 'approval_bureau' AND o.level = 'county' "
        "WHERE cw.case_id = case_file.id) "
        "WHERE holder_org IS NULL AND id IN (SELECT case_id FROM citywide_case)"))


def downgrade():
    op.execute(sa.text(
        "UPDATE case_file SET holder_org = NULL WHERE id IN (SELECT cw.case_id FROM citywide_case cw JOIN org o "
        "ON o.code = case_file.holder_org AND o.division_code = cw.competent_code AND o.kind = 'approval_bureau')"))
