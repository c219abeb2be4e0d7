"""representation (帮办代办) and lifting credit records (issue 17, part B)

`app_user.assistant`: a window's own assistant (帮办人员), who may take a case on the applicant's behalf.
`case_file.assisted_by`: the assistant who took the case (their label, as the other *_by columns keep it).
`credit_record.lifted_at`, `lifted_by`, `lift_reason`: the administrator lifted the record (who, when, why); a lifted
record, like an expired one, no longer counts against the applicant.

All three are plain ALTER TABLE ADD COLUMN: a batch copy of a table on SQLite loses its triggers and expression
indexes (see 0018), and credit_record is insert-only (0012). Its trigger is replaced so that an UPDATE may still
change none of the sealed columns, and may lift a record once: the three lift columns go from empty to all set
together, and never change again (this also stands for a CHECK, which SQLite cannot add to an existing table).

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

SEALED = ("id", "id_code", "name", "kind", "case_no", "detail", "blacklisted", "recorded_by", "created_at")
LIFT = ("lifted_at", "lifted_by", "lift_reason")
OLD_MESSAGE = "credit_record rows are never deleted, and an update may change only: nothing"
NEW_MESSAGE = "credit_record rows are never deleted, and an update may only lift a record, once, with who and why"


def _changed(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"NEW.{column}::text IS DISTINCT FROM OLD.{column}::text"
    return f"NEW.{column} IS NOT OLD.{column}"


def _drop_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS credit_record_insert_only ON credit_record")
        op.execute("DROP FUNCTION IF EXISTS credit_record_insert_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS credit_record_no_update")
        op.execute("DROP TRIGGER IF EXISTS credit_record_no_delete")


def _create_triggers(dialect: str, condition: str, message: str) -> None:
    if dialect == "postgresql":
        op.execute(f"""
            CREATE FUNCTION credit_record_insert_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR ({condition}) THEN RAISE EXCEPTION '{message}'; END IF;
                RETURN NEW;
            END; $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER credit_record_insert_only BEFORE UPDATE OR DELETE ON credit_record
                      FOR EACH ROW EXECUTE FUNCTION credit_record_insert_only()""")
    else:
        op.execute(f"""CREATE TRIGGER credit_record_no_update BEFORE UPDATE ON credit_record WHEN {condition}
                       BEGIN SELECT RAISE(ABORT, '{message}'); END""")
        op.execute(f"""CREATE TRIGGER credit_record_no_delete BEFORE DELETE ON credit_record
                       BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column("app_user", sa.Column("assistant", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("case_file", sa.Column("assisted_by", sa.String(length=100), nullable=True))
    op.add_column("credit_record", sa.Column("lifted_at", sa.DateTime(), nullable=True))
    op.add_column("credit_record", sa.Column("lifted_by", sa.String(length=100), nullable=True))
    op.add_column("credit_record", sa.Column("lift_reason", sa.Text(), nullable=True))
    _drop_triggers(dialect)
    refused = [_changed(dialect, c) for c in SEALED]
    refused.append(f"(OLD.lifted_at IS NOT NULL AND ({' OR '.join(_changed(dialect, c) for c in LIFT)}))")
    refused.append("(NEW.lifted_at IS NOT NULL AND (NEW.lifted_by IS NULL OR NEW.lift_reason IS NULL))")
    refused.append("(NEW.lifted_at IS NULL AND (NEW.lifted_by IS NOT NULL OR NEW.lift_reason IS NOT NULL))")
    _create_triggers(dialect, " OR ".join(refused), NEW_MESSAGE)


def downgrade():
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    op.drop_column("credit_record", "lift_reason")
    op.drop_column("credit_record", "lifted_by")
    op.drop_column("credit_record", "lifted_at")
    _create_triggers(dialect, " OR ".join(_changed(dialect, c) for c in SEALED), OLD_MESSAGE)
    op.drop_column("case_file", "assisted_by")
    op.drop_column("app_user", "assistant")
