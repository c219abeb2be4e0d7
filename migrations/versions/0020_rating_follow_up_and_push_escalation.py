"""rating follow-up and push escalation (issue 15)

`rating_follow_up`: the rectification task (差评整改) a rating of 不满意 or 非常不满意 opens for the unit that handled
the case, with its due moment and the unit's finding, rectification and reply to the applicant.
`supervision_push.feedback_escalated_at` and the alert kind `no_feedback`: a claimed push without feedback within
SUPERVISION_FEEDBACK_DAYS working days is escalated once, as an unclaimed one is.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


OLD_ALERT_KINDS = ("warning", "escalation")
NEW_ALERT_KINDS = OLD_ALERT_KINDS + ("no_feedback",)


def _set_alert_kinds(values) -> None:
    with op.batch_alter_table("supervision_alert", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_supervision_alert_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_supervision_alert_kind"),
                                         f"kind IN ({', '.join(repr(v) for v in values)})")


def upgrade():
    op.create_table(
        "rating_follow_up",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("reminded_on", sa.Date(), nullable=True),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.Column("rectification", sa.Text(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("replied_by", sa.String(length=60), nullable=True),
        sa.CheckConstraint("state IN ('open', 'replied')", name=op.f("ck_rating_follow_up_state")),
        sa.CheckConstraint("state <> 'replied' OR (replied_at IS NOT NULL AND finding IS NOT NULL AND "
                           "rectification IS NOT NULL AND reply IS NOT NULL)", name=op.f("ck_rating_follow_up_replied")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_rating_follow_up_case_id_case_file"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rating_id"], ["case_rating.id"],
                                name=op.f("fk_rating_follow_up_rating_id_case_rating"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_follow_up")),
        sa.UniqueConstraint("case_id", name=op.f("uq_rating_follow_up_case_id")),
        sa.UniqueConstraint("rating_id", name=op.f("uq_rating_follow_up_rating_id")),
    )
    op.create_index("ix_rating_follow_up_org_state_due", "rating_follow_up", ["org_code", "state", "due_at"])
    op.create_index("ix_rating_follow_up_state_due", "rating_follow_up", ["state", "due_at"])
    with op.batch_alter_table("supervision_push", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feedback_escalated_at", sa.DateTime(), nullable=True))
    _set_alert_kinds(NEW_ALERT_KINDS)


def downgrade():
    op.execute("DELETE FROM supervision_alert WHERE kind = 'no_feedback'")
    _set_alert_kinds(OLD_ALERT_KINDS)
    with op.batch_alter_table("supervision_push", schema=None) as batch_op:
        batch_op.drop_column("feedback_escalated_at")
    op.drop_index("ix_rating_follow_up_state_due", table_name="rating_follow_up")
    op.drop_index("ix_rating_follow_up_org_state_due", table_name="rating_follow_up")
    op.drop_table("rating_follow_up")
