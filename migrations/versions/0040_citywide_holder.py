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
    # a case passed on by 转办 keeps its holder (holder_org already set). case_assignment.held needs no change: no
    # assignment can exist under the old holder, whose reviewers never saw the case
    op.execute(sa.text(
        "UPDATE case_file SET holder_org = (SELECT o.code FROM citywide_case cw JOIN org o "
        "ON o.division_code = cw.competent_code AND o.kind = 'approval_bureau' AND o.level = 'county' "
        "WHERE cw.case_id = case_file.id) "
        "WHERE holder_org IS NULL AND id IN (SELECT case_id FROM citywide_case)"))


def downgrade():
    # the competent bureau's assignments stop being current (as 0035 keeps `held` exact)
    op.execute(sa.text(
        "UPDATE case_assignment SET held = false WHERE case_id IN (SELECT cw.case_id FROM citywide_case cw "
        "JOIN case_file c ON c.id = cw.case_id JOIN org o ON o.code = c.holder_org "
        "AND o.division_code = cw.competent_code AND o.kind = 'approval_bureau') "
        "AND org_code IN (SELECT code FROM org WHERE kind = 'approval_bureau' AND level = 'county')"))
    op.execute(sa.text(
        "UPDATE case_file SET holder_org = NULL WHERE id IN (SELECT cw.case_id FROM citywide_case cw JOIN org o "
        "ON o.code = case_file.holder_org AND o.division_code = cw.competent_code AND o.kind = 'approval_bureau')"))
