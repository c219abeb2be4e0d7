"""全市通办 (city-wide acceptance, issue 17, part D)

`citywide_item`: the catalogue items any county window of the city may accept for another county's competent unit
(a row per item: the catalogue flag, kept out of the shared item table).
`citywide_case`: a case accepted at one county's window (case_file.county_code, which keeps 首问负责 and hands the
result out) for the competent county that reviews and decides it (`competent_code`); on every node the case
travels to, so that both ends count it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "citywide_item",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_citywide_item_item_id_item"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_citywide_item")),
    )
    op.create_table(
        "citywide_case",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("competent_code", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_citywide_case_case_id_case_file"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["competent_code"], ["division.code"],
                                name=op.f("fk_citywide_case_competent_code_division")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_citywide_case")),
    )
    with op.batch_alter_table("citywide_case", schema=None) as batch_op:
        batch_op.create_index("ix_citywide_case_competent", ["competent_code", "case_id"], unique=False)


def downgrade():
    with op.batch_alter_table("citywide_case", schema=None) as batch_op:
        batch_op.drop_index("ix_citywide_case_competent")
    op.drop_table("citywide_case")
    op.drop_table("citywide_item")
