"""mailing of paper originals (材料邮寄, issue 19): the catalogue's flags (which materials' originals go to the city,
whether the city waits for them before deciding, within how many working days) and the two insert-only records,
the window's mailing and the city's signing for it (delegation/mailing.py)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:40:00.000000

The triggers are 0012's pattern: DELETE refused, UPDATE refused unless it changes only the columns listed in
MUTABLE (the mailing's overdue_warned_at, set once by the deadline sweep).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MUTABLE = {"originals_mailing": ("overdue_warned_at",), "originals_receipt": ()}


def _changed(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"NEW.{column}::text IS DISTINCT FROM OLD.{column}::text"  # ::text: json has no equality
    return f"NEW.{column} IS NOT OLD.{column}"


def _insert_only(table: str) -> None:
    dialect = op.get_bind().dialect.name
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)]
    condition = " OR ".join(_changed(dialect, c) for c in columns if c not in MUTABLE[table])
    message = f"{table} rows are never deleted, and an update may change only: {', '.join(MUTABLE[table]) or 'nothing'}"
    if dialect == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {table}_insert_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR ({condition}) THEN RAISE EXCEPTION '{message}'; END IF;
                RETURN NEW;
            END; $$ LANGUAGE plpgsql""")
        op.execute(f"""CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION {table}_insert_only()""")
    else:
        op.execute(f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} WHEN {condition}
                       BEGIN SELECT RAISE(ABORT, '{message}'); END""")
        op.execute(f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                       BEGIN SELECT RAISE(ABORT, '{message}'); END""")


def _drop_insert_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_insert_only()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade():
    op.add_column("item", sa.Column("originals_before_decision", sa.Boolean(), nullable=False,
                                    server_default=sa.false()))
    op.add_column("item", sa.Column("originals_days", sa.Integer(), nullable=False, server_default=sa.text("5")))
    op.add_column("item_material", sa.Column("originals_required", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))
    op.create_table(
        "originals_mailing",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mailing_uid", sa.String(36), nullable=False, unique=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("case_file.id"), nullable=False),
        sa.Column("courier", sa.String(40), nullable=False),
        sa.Column("tracking_no", sa.String(40), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("mailed_at", sa.DateTime(), nullable=False),
        sa.Column("mailed_by", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("overdue_warned_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_originals_mailing_case_id", "originals_mailing", ["case_id"])
    op.create_table(
        "originals_receipt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mailing_id", sa.Integer(), sa.ForeignKey("originals_mailing.id"), nullable=False, unique=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("damaged", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
    )
    for table in MUTABLE:
        _insert_only(table)


def downgrade():
    for table in reversed(tuple(MUTABLE)):
        _drop_insert_only(table)
    op.drop_table("originals_receipt")
    op.drop_index("ix_originals_mailing_case_id", table_name="originals_mailing")
    op.drop_table("originals_mailing")
    # plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), as 0013: a batch copy would lose what reflection misses
    op.execute("ALTER TABLE item_material DROP COLUMN originals_required")
    op.execute("ALTER TABLE item DROP COLUMN originals_days")
    op.execute("ALTER TABLE item DROP COLUMN originals_before_decision")
