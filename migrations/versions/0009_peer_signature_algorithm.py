"""exchange peers: the signature algorithm agreed with each peer (ECDSA P-256 or SM2 with SM3)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("exchange_peer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sig_alg", sa.String(length=12), server_default="ecdsa-p256",
                                      nullable=False))
        batch_op.create_check_constraint("sig_alg", "sig_alg IN ('ecdsa-p256', 'sm2-sm3')")


def downgrade():
    with op.batch_alter_table("exchange_peer", schema=None) as batch_op:
        batch_op.drop_constraint("sig_alg", type_="check")
        batch_op.drop_column("sig_alg")
