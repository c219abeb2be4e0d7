"""representation (帮办代办) and lifting credit records (issue 17, part B)

`app_user.assistant`: a window's own assistant (帮办人员), who may take a case on the applicant's behalf.
`case_file.assisted_by`: the assistant who took the case (their label, as the other *_by columns keep it).
`credit_record.lifted_at`, `lifted_by`, `lift_reason`: the administrator lifted the record (who, when, why); a lifted
record, like an expired one, no longer counts against the applicant. Plain ALTER TABLE ADD COLUMN for app_user and
case_file (a batch copy of case_file loses its expression indexes, see 0018); credit_record is copied to add the
CHECK that a lift names who and why.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 18:25:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("app_user", sa.Column("assistant", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("case_file", sa.Column("assisted_by", sa.String(length=100), nullable=True))
    with op.batch_alter_table("credit_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lifted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("lifted_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("lift_reason", sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_credit_record_lifted"),
            "lifted_at IS NULL OR (lifted_by IS NOT NULL AND lift_reason IS NOT NULL)")


def downgrade():
    with op.batch_alter_table("credit_record", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_record_lifted"), type_="check")
        batch_op.drop_column("lift_reason")
        batch_op.drop_column("lifted_by")
        batch_op.drop_column("lifted_at")
    op.drop_column("case_file", "assisted_by")
    op.drop_column("app_user", "assistant")
