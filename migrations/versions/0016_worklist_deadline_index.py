"""worklist deadline index (issue 14); notification kinds of issue 15's new operations

The window's 全部 queue in deadline order (delegation/worklist.py): a county's cases by (deadline IS NULL, deadline,
id), so its first page and every keyset page after it are one index range (without it the county's cases were read
and sorted: 478 ms for a deep page at 200,000 cases). The queues of several states merge their states' ranges of
ix_case_file_county_state(_due) (migration 0013). The desk's warning and overdue counts of the open cases are a
range of ix_case_file_county_flag_state per open state, read from the index alone. On a large table, run it when
the desks are quiet (CREATE INDEX locks writes while it builds, some seconds per million cases).

The inbox accepts the kinds of assignment, transfer (转办), consultation (会商) and bad-rating follow-up.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


OLD_KINDS = ("returned", "decision", "warning", "overdue", "reminder", "escalation", "push")
NEW_KINDS = OLD_KINDS + ("assigned", "transfer", "consultation", "follow_up")


def _kinds(values) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def _set_kinds(values) -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_notification_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_notification_kind"), _kinds(values))


def upgrade():
    _set_kinds(NEW_KINDS)
    op.create_index("ix_case_file_county_due", "case_file",
                    ["county_code", sa.text("(due_at IS NULL)"), "due_at", "id"])
    op.create_index("ix_case_file_county_flag_state", "case_file", ["county_code", "due_flag", "state"])


def downgrade():
    # IF EXISTS: on SQLite a later downgrade that copies case_file (batch mode) loses the expression indexes
    op.execute("DROP INDEX IF EXISTS ix_case_file_county_due")
    op.drop_index("ix_case_file_county_flag_state", table_name="case_file")
    _set_kinds(OLD_KINDS)
