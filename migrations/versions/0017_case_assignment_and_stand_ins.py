"""case assignment and stand-ins (issue 15)

`case_assignment`: the person of the holding organisation who works a case (one row per case and organisation,
kept while the case is elsewhere so its assignee gets it back); `stand_in`: a time-bounded 委托 of a user's work to
a colleague of the same organisation.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.String(length=60), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_case_assignment_case_id_case_file")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_case_assignment_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignment")),
        sa.UniqueConstraint("case_id", "org_code", name="uq_case_assignment_case_org"),
    )
    op.create_index("ix_case_assignment_user", "case_assignment", ["user_id", "case_id"])
    op.create_table(
        "stand_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stand_in_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_stand_in_period")),
        sa.CheckConstraint("stand_in_id <> user_id", name=op.f("ck_stand_in_not_self")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_stand_in_user_id_app_user")),
        sa.ForeignKeyConstraint(["stand_in_id"], ["app_user.id"], name=op.f("fk_stand_in_stand_in_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stand_in")),
    )
    op.create_index("ix_stand_in_user", "stand_in", ["user_id", "ends_on"])
    op.create_index("ix_stand_in_stand_in", "stand_in", ["stand_in_id", "ends_on"])


def downgrade():
    op.drop_index("ix_stand_in_stand_in", table_name="stand_in")
    op.drop_index("ix_stand_in_user", table_name="stand_in")
    op.drop_table("stand_in")
    op.drop_index("ix_case_assignment_user", table_name="case_assignment")
    op.drop_table("case_assignment")
