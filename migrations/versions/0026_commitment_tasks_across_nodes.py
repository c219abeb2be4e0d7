"""告知承诺 verification tasks on the regulator's node (issue 17)

A 告知承诺 approval's supervision push now carries the commitment, so the supervising regulator's node keeps its
own copy of the verification task even when the case lives on another node: `commitment_record.case_id` is NULL
on such a copy (the case is elsewhere; the result travels back as `supervision.commitment_result`). One task per
case and supervising organisation on every node: a unique index on (case_no, supervising_org).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 19:35:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("commitment_record", schema=None) as batch_op:
        batch_op.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index("uq_commitment_record_case_no_org", ["case_no", "supervising_org"], unique=True)


def downgrade():
    op.execute("DELETE FROM commitment_record WHERE case_id IS NULL")
    with op.batch_alter_table("commitment_record", schema=None) as batch_op:
        batch_op.drop_index("uq_commitment_record_case_no_org")
        batch_op.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
