"""County administrators and 只减不增 overrides (issue 18, part 4)

`app_user.role` admits `county_admin` (县级管理员): a county's own dashboard and its own cases, nothing of the city.
`baseline_override`: an administrator's recorded override of the rule that an item's required materials and
promised limit may not exceed its pre-reform baseline (who, when, which item, which rule, the figures, why);
insert-only, like the other records of who decided what.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 22:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('window', 'reviewer', 'city_approver', 'regulator', 'admin')"
NEW_ROLES = "role IN ('window', 'reviewer', 'city_approver', 'regulator', 'admin', 'county_admin')"
TABLE = "baseline_override"
MESSAGE = f"{TABLE} rows are never changed or deleted"


def _insert_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION {TABLE}_insert_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql""")
        op.execute(f"""CREATE TRIGGER {TABLE}_insert_only BEFORE UPDATE OR DELETE ON {TABLE}
                       FOR EACH ROW EXECUTE FUNCTION {TABLE}_insert_only()""")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE}
                           BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def upgrade():
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_app_user_role"), type_="check")
        batch_op.create_check_constraint("role", sa.text(NEW_ROLES))
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("rule IN ('materials', 'days')", name=op.f("ck_baseline_override_rule")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_baseline_override_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline_override")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index("ix_baseline_override_created_at", ["created_at"], unique=False)
    _insert_only()


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_insert_only ON {TABLE}")
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE}_insert_only()")
    op.drop_table(TABLE)
    op.execute("DELETE FROM app_user WHERE role = 'county_admin'")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_app_user_role"), type_="check")
        batch_op.create_check_constraint("role", sa.text(OLD_ROLES))
