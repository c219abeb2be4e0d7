"""decision documents, proof of service, the windows' contact lines (issue 16)

- org: the contact lines printed on every notice (address, telephone, office hours), the prefix of the
  organisation's own document numbers (文号, e.g. 章贡行审许) and the remedies it names (the administrative review
  authority and the court);
- doc_no_counter: one sequence per issuing organisation and year, advanced by an upsert in the issuing transaction
  (a rolled-back decision leaves no gap, two concurrent ones never share a number);
- case_document: the decision document (准予/不予行政许可决定书) of a case, its number, verification code and the
  facts it states, frozen at issue so that it prints the same for ever and on either node;
- service_record: the proof of service (送达回证) of a hand-out: who received it, when, and for mail where to.

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
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("office_hours", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("doc_prefix", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("review_authority", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("court", sa.String(length=100), nullable=True))

    op.create_table(
        "doc_no_counter",
        sa.Column("issuer_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_code", "year", name=op.f("pk_doc_no_counter")),
    )
    op.create_table(
        "case_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("issuer_code", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("doc_no", sa.String(length=60), nullable=False),
        sa.Column("verify_code", sa.String(length=12), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('grant', 'denial')", name=op.f("ck_case_document_kind")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_case_document_seq")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_case_document_case_id_case_file"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_document")),
        sa.UniqueConstraint("case_id", name=op.f("uq_case_document_case_id")),
        sa.UniqueConstraint("issuer_code", "year", "seq", name="uq_case_document_number"),
    )
    op.create_table(
        "service_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("recipient_name", sa.String(length=100), nullable=False),
        sa.Column("recipient_id_code", sa.String(length=30), nullable=True),
        sa.Column("recipient_phone", sa.String(length=30), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("tracking_no", sa.String(length=40), nullable=True),
        sa.Column("served_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("verify_code", sa.String(length=12), nullable=False),
        sa.CheckConstraint("method IN ('pickup', 'mail')", name=op.f("ck_service_record_method")),
        sa.CheckConstraint("method <> 'pickup' OR recipient_id_code IS NOT NULL",
                           name=op.f("ck_service_record_pickup")),
        sa.CheckConstraint("method <> 'mail' OR (address IS NOT NULL AND recipient_phone IS NOT NULL "
                           "AND tracking_no IS NOT NULL)", name=op.f("ck_service_record_mail")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_service_record_case_id_case_file"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_record")),
        sa.UniqueConstraint("case_id", name=op.f("uq_service_record_case_id")),
    )


def downgrade():
    op.drop_table("service_record")
    op.drop_table("case_document")
    op.drop_table("doc_no_counter")
    with op.batch_alter_table("org", schema=None) as batch_op:
        for column in ("court", "review_authority", "doc_prefix", "office_hours", "phone", "address"):
            batch_op.drop_column(column)
