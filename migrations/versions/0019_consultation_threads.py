"""consultation threads (issue 15)

会商: a county's thread with a city department about an item or a case (`consultation_thread`, the same number on
both nodes), its messages (`consultation_message`, each under the MessageId of the envelope that carried it) and
their files (`consultation_file`, the bytes in the blob store under their SHA-256).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "consultation_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_no", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=True),
        sa.Column("county_code", sa.String(length=20), nullable=False),
        sa.Column("from_org", sa.String(length=40), nullable=False),
        sa.Column("from_node", sa.String(length=30), nullable=False),
        sa.Column("to_org", sa.String(length=40), nullable=False),
        sa.Column("to_node", sa.String(length=30), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opener_username", sa.String(length=60), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reply_due_at", sa.DateTime(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("rejected_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("state IN ('waiting', 'answered', 'closed')", name=op.f("ck_consultation_thread_state")),
        sa.CheckConstraint("(state = 'waiting') = (reply_due_at IS NOT NULL)", name=op.f("ck_consultation_thread_due")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_thread")),
        sa.UniqueConstraint("thread_no", name=op.f("uq_consultation_thread_thread_no")),
    )
    op.create_index("ix_consultation_thread_to", "consultation_thread", ["to_org", "state"])
    op.create_index("ix_consultation_thread_county", "consultation_thread", ["county_code", "state"])
    op.create_index("ix_consultation_thread_due", "consultation_thread", ["state", "reply_due_at"])
    op.create_index(op.f("ix_consultation_thread_case_no"), "consultation_thread", ["case_no"])
    op.create_table(
        "consultation_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("by_label", sa.String(length=200), nullable=False),
        sa.Column("by_org", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('open', 'reply', 'follow_up', 'close')",
                           name=op.f("ck_consultation_message_kind")),
        sa.ForeignKeyConstraint(["thread_id"], ["consultation_thread.id"],
                                name=op.f("fk_consultation_message_thread_id_consultation_thread")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_message")),
        sa.UniqueConstraint("message_id", name=op.f("uq_consultation_message_message_id")),
    )
    op.create_index(op.f("ix_consultation_message_thread_id"), "consultation_message", ["thread_id"])
    op.create_table(
        "consultation_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["consultation_message.id"],
                                name=op.f("fk_consultation_file_message_id_consultation_message")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_file")),
    )
    op.create_index(op.f("ix_consultation_file_message_id"), "consultation_file", ["message_id"])


def downgrade():
    op.drop_index(op.f("ix_consultation_file_message_id"), table_name="consultation_file")
    op.drop_table("consultation_file")
    op.drop_index(op.f("ix_consultation_message_thread_id"), table_name="consultation_message")
    op.drop_table("consultation_message")
    op.drop_index(op.f("ix_consultation_thread_case_no"), table_name="consultation_thread")
    op.drop_index("ix_consultation_thread_due", table_name="consultation_thread")
    op.drop_index("ix_consultation_thread_county", table_name="consultation_thread")
    op.drop_index("ix_consultation_thread_to", table_name="consultation_thread")
    op.drop_table("consultation_thread")
