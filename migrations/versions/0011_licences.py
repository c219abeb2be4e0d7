"""licences (issue 16): per item a certificate template (title, optional fields, validity in months); validity dates
on the case; the licences this node issued and each issuing authority's yearly number series

- item.licence_title / licence_fields / validity_months: what the item's licence prints and how long it is valid
  (0 months = 长期有效);
- case_file.valid_from / valid_until: the validity of an approval, on the deciding node and, from the decision
  message (ValidFrom/ValidUntil), on the accepting county's node;
- licence_series: one counter per issuing organisation and year, advanced by an upsert in the approval's
  transaction (no gap after a rollback, never the same number twice);
- licence: the issued licence, frozen at approval, with its revocation; on the accepting county's node also the
  copies of licences another node issued (received_pdf_sha256: the signed PDF that came with case.decision).

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
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("licence_title", sa.String(length=100), server_default="", nullable=False))
        batch_op.add_column(sa.Column("licence_fields", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("validity_months", sa.Integer(), server_default=sa.text("60"),
                                      nullable=False))
        batch_op.create_check_constraint("validity_months", "validity_months BETWEEN 0 AND 1200")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.Date(), nullable=True))

    op.create_table(
        "licence_series",
        sa.Column("issuer_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_code", "year", name=op.f("pk_licence_series")),
    )
    op.create_table(
        "licence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_no", sa.String(length=60), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("holder_kind", sa.String(length=20), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("holder_id_code", sa.String(length=30), nullable=False),
        sa.Column("issuer_code", sa.String(length=40), nullable=False),
        sa.Column("issuer_name", sa.String(length=100), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("finding_ref", sa.String(length=100), nullable=True),
        sa.Column("received_pdf_sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name=op.f("ck_licence_validity")),
        sa.CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name=op.f("ck_licence_revoked")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence")),
        sa.UniqueConstraint("licence_no", name=op.f("uq_licence_licence_no")),
        sa.UniqueConstraint("case_no", name=op.f("uq_licence_case_no")),
    )
    with op.batch_alter_table("licence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licence_issuer_code"), ["issuer_code"], unique=False)


def downgrade():
    with op.batch_alter_table("licence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licence_issuer_code"))
    op.drop_table("licence")
    op.drop_table("licence_series")
    # Not through batch mode: on SQLite it would copy case_file into a new table and lose the expression index
    # ix_case_file_city_queue (SQLite cannot reflect it), which 0007's downgrade then fails to drop.
    op.execute("ALTER TABLE case_file DROP COLUMN valid_until")
    op.execute("ALTER TABLE case_file DROP COLUMN valid_from")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_constraint("validity_months", type_="check")
        batch_op.drop_column("validity_months")
        batch_op.drop_column("licence_fields")
        batch_op.drop_column("licence_title")
