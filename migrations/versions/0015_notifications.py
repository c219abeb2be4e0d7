"""notifications, their delivery outbox and reminders (issue 15)

A staff user's inbox (`notification`), the outbox of its e-mails and SMS (`notification_delivery`: claimed, sent,
marked sent by app/mailer.py), the reminders (催办) pressed on a case (`case_reminder`, attached to the case so that
they outlive a return), and the addresses a user may give (`app_user.email`, `app_user.mobile`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 12:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("mobile", sa.String(length=20), nullable=True))
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('returned', 'decision', 'warning', 'overdue', 'reminder', 'escalation', 'push')",
                           name=op.f("ck_notification_kind")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_notification_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index("ix_notification_user_read", "notification", ["user_id", "read_at", "id"])
    op.create_index("ix_notification_case_kind", "notification", ["case_no", "kind"])
    op.create_table(
        "notification_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_notification_delivery_channel")),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'dead')",
                           name=op.f("ck_notification_delivery_state")),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"],
                                name=op.f("fk_notification_delivery_notification_id_notification")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_delivery")),
        sa.UniqueConstraint("notification_id", "channel", name="uq_notification_delivery_channel"),
    )
    op.create_index("ix_notification_delivery_due", "notification_delivery", ["state", "next_attempt_at"])
    op.create_table(
        "case_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_username", sa.String(length=60), nullable=True),
        sa.Column("by_org", sa.String(length=40), nullable=False),
        sa.Column("to_org", sa.String(length=40), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("working_day", sa.Date(), nullable=True),
        sa.Column("escalated_to", sa.String(length=40), nullable=True),
        sa.CheckConstraint("kind IN ('manual', 'automatic')", name=op.f("ck_case_reminder_kind")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_case_reminder_case_id_case_file")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_reminder")),
        sa.UniqueConstraint("case_id", "working_day", name="uq_case_reminder_day"),
    )
    op.create_index("ix_case_reminder_case_id", "case_reminder", ["case_id"])


def downgrade():
    op.drop_index("ix_case_reminder_case_id", table_name="case_reminder")
    op.drop_table("case_reminder")
    op.drop_index("ix_notification_delivery_due", table_name="notification_delivery")
    op.drop_table("notification_delivery")
    op.drop_index("ix_notification_case_kind", table_name="notification")
    op.drop_index("ix_notification_user_read", table_name="notification")
    op.drop_table("notification")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("mobile")
        batch_op.drop_column("email")
