"""approval kinds decided at the window: 告知承诺制, 豁免/备案, 即办件 (issue 17, part A)

`approval_item`: the catalogue's approval kind of an item when it is not the ordinary one (a row per item, kept out
of the shared item table): `commitment` (告知承诺制, with the commitment text the applicant signs and the working
days the regulator has to verify it) or `filing` (豁免审批, 备案 only).
`staff_authority`: who may decide on the spot at the window (an administrator grants it on the staff page):
`commitment_decision` (告知承诺) and `instant_decision` (即办件).
`commitment_record`: the applicant's signed commitment of a case (the text signed, who signed, the clerk, when) and
the regulator's verification of it (due by, verified or false, by whom, when).
`case_file.decision` may be `file` (已备案): a filing concludes with no approval. The CHECK is loosened in place:
on SQLite by rewriting the table's stored definition (SQLite's documented way to relax a CHECK constraint), since a
batch copy of case_file loses its expression indexes (0018) and, with foreign keys on, would cascade its deletes.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

OLD_DECISION = "decision IS NULL OR decision IN ('approve', 'deny')"
NEW_DECISION = "decision IS NULL OR decision IN ('approve', 'deny', 'file')"


def upgrade():
    op.create_table(
        "approval_item",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("commitment_text", sa.Text(), nullable=True),
        sa.Column("verification_days", sa.Integer(), server_default=sa.text("20"), nullable=False),
        sa.CheckConstraint("kind IN ('commitment', 'filing')", name=op.f("ck_approval_item_kind")),
        sa.CheckConstraint("kind <> 'commitment' OR commitment_text IS NOT NULL",
                           name=op.f("ck_approval_item_commitment_text")),
        sa.CheckConstraint("verification_days BETWEEN 1 AND 120", name=op.f("ck_approval_item_verification_days")),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], name=op.f("fk_approval_item_item_id_item"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_approval_item")),
    )
    op.create_table(
        "staff_authority",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("authority", sa.String(length=30), nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("authority IN ('commitment_decision', 'instant_decision')",
                           name=op.f("ck_staff_authority_authority")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_staff_authority_user_id_app_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "authority", name=op.f("pk_staff_authority")),
    )
    op.create_table(
        "commitment_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("commitment_text", sa.Text(), nullable=False),
        sa.Column("signer_name", sa.String(length=100), nullable=False),
        sa.Column("signed_by", sa.String(length=100), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.Column("supervising_org", sa.String(length=40), nullable=False),
        sa.Column("verify_due_at", sa.DateTime(), nullable=False),
        sa.Column("result", sa.String(length=10), nullable=True),
        sa.Column("result_note", sa.Text(), nullable=True),
        sa.Column("result_by", sa.String(length=100), nullable=True),
        sa.Column("result_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("result IS NULL OR result IN ('verified', 'false')", name=op.f("ck_commitment_record_result")),
        sa.CheckConstraint("result IS NULL OR (result_by IS NOT NULL AND result_at IS NOT NULL)",
                           name=op.f("ck_commitment_record_result_by")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_commitment_record_case_id_case_file")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment_record")),
        sa.UniqueConstraint("case_id", name=op.f("uq_commitment_record_case_id")),
    )
    with op.batch_alter_table("commitment_record", schema=None) as batch_op:
        batch_op.create_index("ix_commitment_record_org_open", ["supervising_org", "result", "verify_due_at"],
                              unique=False)
    _decision_check(OLD_DECISION, NEW_DECISION)


def downgrade():
    _decision_check(NEW_DECISION, OLD_DECISION)
    with op.batch_alter_table("commitment_record", schema=None) as batch_op:
        batch_op.drop_index("ix_commitment_record_org_open")
    op.drop_table("commitment_record")
    op.drop_table("staff_authority")
    op.drop_table("approval_item")


def _decision_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_case_file_decision"), "case_file", type_="check")
        op.create_check_constraint(op.f("ck_case_file_decision"), "case_file", new)
        return
    # https://sqlite.org/lang_altertable.html#otheralter: a CHECK may be changed by editing the stored CREATE TABLE
    # (no rows move); the schema version is bumped so every connection reads the new definition.
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'case_file'").scalar()
    if old not in sql:
        raise RuntimeError("case_file's decision CHECK is not the one this migration changes")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'case_file'",
                         (sql.replace(old, new),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
