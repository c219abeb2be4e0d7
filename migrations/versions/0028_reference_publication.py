"""reference data published from the city (issue 18, part 3)

`reference_version`: per kind of reference data (`credit`, `holidays`, …) the version in force on this node: on the
city node the last version it published, on a county node the last version it applied from the city (which node
sent it, when it was published there and applied here).

`credit_record.origin_node`, `origin_id`: a record received from the city is a copy of the city's record `origin_id`
(unique per origin); `expires_at`: the city's expiry of that copy (NULL for a node's own records, whose period is
the node's CREDIT_EXPIRY_DAYS). Plain ADD COLUMN (a batch copy on SQLite would lose the table's triggers); the
insert-only trigger of 0023 is replaced so that the three new columns are sealed like the others.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 22:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

OLD_SEALED = ("id", "id_code", "name", "kind", "case_no", "detail", "blacklisted", "recorded_by", "created_at")
NEW_SEALED = OLD_SEALED + ("origin_node", "origin_id", "expires_at")
LIFT = ("lifted_at", "lifted_by", "lift_reason")
MESSAGE = "credit_record rows are never deleted, and an update may only lift a record, once, with who and why"


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


def _create_triggers(dialect: str, sealed: tuple[str, ...]) -> None:
    refused = [_changed(dialect, c) for c in sealed]
    refused.append(f"(OLD.lifted_at IS NOT NULL AND ({' OR '.join(_changed(dialect, c) for c in LIFT)}))")
    refused.append("(NEW.lifted_at IS NOT NULL AND (NEW.lifted_by IS NULL OR NEW.lift_reason IS NULL))")
    refused.append("(NEW.lifted_at IS NULL AND (NEW.lifted_by IS NOT NULL OR NEW.lift_reason IS NOT NULL))")
    condition = " OR ".join(refused)
    if dialect == "postgresql":
        op.execute(f"""
            CREATE FUNCTION credit_record_insert_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR ({condition}) THEN RAISE EXCEPTION '{MESSAGE}'; END IF;
                RETURN NEW;
            END; $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER credit_record_insert_only BEFORE UPDATE OR DELETE ON credit_record
                      FOR EACH ROW EXECUTE FUNCTION credit_record_insert_only()""")
    else:
        op.execute(f"""CREATE TRIGGER credit_record_no_update BEFORE UPDATE ON credit_record WHEN {condition}
                       BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")
        op.execute(f"""CREATE TRIGGER credit_record_no_delete BEFORE DELETE ON credit_record
                       BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "reference_version",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_node", sa.String(length=30), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_reference_version_version")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_reference_version")),
    )
    op.add_column("credit_record", sa.Column("origin_node", sa.String(length=30), nullable=True))
    op.add_column("credit_record", sa.Column("origin_id", sa.Integer(), nullable=True))
    op.add_column("credit_record", sa.Column("expires_at", sa.DateTime(), nullable=True))
    op.create_index("ix_credit_record_origin", "credit_record", ["origin_node", "origin_id"], unique=True,
                    postgresql_where=sa.text("origin_node IS NOT NULL"),
                    sqlite_where=sa.text("origin_node IS NOT NULL"))
    _drop_triggers(dialect)
    _create_triggers(dialect, NEW_SEALED)


def downgrade():
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    op.drop_index("ix_credit_record_origin", table_name="credit_record")
    op.drop_column("credit_record", "expires_at")
    op.drop_column("credit_record", "origin_id")
    op.drop_column("credit_record", "origin_node")
    op.drop_table("reference_version")
    _create_triggers(dialect, OLD_SEALED)
