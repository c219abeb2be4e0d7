"""window worklist: what the window records at intake (address, legal representative, agent) and the indexes of
the county window's queues and search

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:45:00.000000

The partial index's predicate is the models' (delegation/models.py COMMITMENT_OPEN_SQL), written out here so that
the migration does not change when the models do. The name search is a trigram GIN index (pg_trgm) on PostgreSQL,
which answers LIKE '%part%'; SQLite has no such index and gets a plain one under the same name (the models
declare one index for both). On a large table, run it when the desks are quiet (CREATE INDEX locks writes).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COMMITMENT_OPEN = ("commitment_met_at IS NULL AND NOT (state IN ('concluded', 'refused', 'terminated', "
                   "'withdrawn'))")
COLUMNS = (("applicant_address", 200), ("legal_representative", 100), ("agent_name", 100),
           ("agent_id_code", 30), ("agent_phone", 30))


def upgrade():
    for name, length in COLUMNS:
        op.add_column("case_file", sa.Column(name, sa.String(length), nullable=True))
    op.create_index("ix_case_file_county_state_due", "case_file",
                    ["county_code", "state", sa.text("(due_at IS NULL)"), "due_at", "id"])
    op.create_index("ix_case_file_county_due_flag", "case_file", ["county_code", "due_flag", "id"])
    op.create_index("ix_case_file_county_commitment", "case_file", ["county_code", "commitment_deadline"],
                    postgresql_where=sa.text(COMMITMENT_OPEN), sqlite_where=sa.text(COMMITMENT_OPEN))
    op.create_index("ix_case_file_applicant_phone", "case_file", ["applicant_phone"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index("ix_case_file_applicant_name_trgm", "case_file", ["applicant_name"],
                        postgresql_using="gin", postgresql_ops={"applicant_name": "gin_trgm_ops"})
    else:
        op.create_index("ix_case_file_applicant_name_trgm", "case_file", ["applicant_name"])


def downgrade():
    for name in ("ix_case_file_applicant_name_trgm", "ix_case_file_applicant_phone", "ix_case_file_county_commitment",
                 "ix_case_file_county_due_flag", "ix_case_file_county_state_due"):
        op.drop_index(name, table_name="case_file")
    # plain ALTER TABLE … DROP COLUMN on both (SQLite 3.35+): a batch copy of the table would lose the expression
    # indexes (ix_case_file_city_queue) that no reflection sees
    for name, _length in reversed(COLUMNS):
        op.execute(f"ALTER TABLE case_file DROP COLUMN {name}")
