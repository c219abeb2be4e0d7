"""site inspections (现场踏勘) and accountability records (issue 17, part C)

`site_inspection` and `site_inspection_photo`: what an inspection found (who went, when, where, the finding and the
conclusion, the photographs stored by digest), recorded by the organisation holding the case while it is suspended
for a site inspection; `ref` names the record on every node the case travels to.
`accountability_record`: opened by a spot-check finding of illegal approval, with its proposal to revoke the
county's delegation of the item, which the city administrator accepts or declines.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "site_inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=36), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("inspectors", sa.JSON(), nullable=False),
        sa.Column("inspected_at", sa.DateTime(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("conclusion", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("conclusion IN ('conforms', 'rectify', 'nonconforming')",
                           name=op.f("ck_site_inspection_conclusion")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_site_inspection_case_id_case_file"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_inspection")),
        sa.UniqueConstraint("ref", name=op.f("uq_site_inspection_ref")),
    )
    op.create_index(op.f("ix_site_inspection_case_id"), "site_inspection", ["case_id"])
    op.create_table(
        "site_inspection_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["inspection_id"], ["site_inspection.id"],
                                name=op.f("fk_site_inspection_photo_inspection_id_site_inspection"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_inspection_photo")),
    )
    op.create_index(op.f("ix_site_inspection_photo_inspection_id"), "site_inspection_photo", ["inspection_id"])
    op.create_table(
        "accountability_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spot_check_entry_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("county_code", sa.String(length=20), nullable=False),
        sa.Column("deciding_org", sa.String(length=40), nullable=False),
        sa.Column("deciding_person", sa.String(length=100), nullable=False),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("handling_note", sa.Text(), nullable=True),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        sa.Column("proposal", sa.String(length=10), nullable=False),
        sa.Column("proposal_reason", sa.Text(), nullable=True),
        sa.Column("proposal_by", sa.String(length=100), nullable=True),
        sa.Column("proposal_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'handled')", name=op.f("ck_accountability_record_status")),
        sa.CheckConstraint("status <> 'handled' OR (handling_note IS NOT NULL AND handled_at IS NOT NULL)",
                           name=op.f("ck_accountability_record_handled")),
        sa.CheckConstraint("proposal IN ('proposed', 'accepted', 'declined', 'withdrawn')",
                           name=op.f("ck_accountability_record_proposal")),
        sa.CheckConstraint("proposal <> 'declined' OR proposal_reason IS NOT NULL",
                           name=op.f("ck_accountability_record_declined")),
        sa.ForeignKeyConstraint(["spot_check_entry_id"], ["spot_check_entry.id"],
                                name=op.f("fk_accountability_record_spot_check_entry_id_spot_check_entry"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accountability_record")),
        sa.UniqueConstraint("spot_check_entry_id", name=op.f("uq_accountability_record_spot_check_entry_id")),
    )
    op.create_index("ix_accountability_record_status", "accountability_record", ["status", "id"])


def downgrade():
    op.drop_index("ix_accountability_record_status", table_name="accountability_record")
    op.drop_table("accountability_record")
    op.drop_index(op.f("ix_site_inspection_photo_inspection_id"), table_name="site_inspection_photo")
    op.drop_table("site_inspection_photo")
    op.drop_index(op.f("ix_site_inspection_case_id"), table_name="site_inspection")
    op.drop_table("site_inspection")
