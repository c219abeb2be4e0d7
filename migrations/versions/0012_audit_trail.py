"""tamper-evident audit trail and case archives (issue 19)

The message logs, credit records, supervision feedback and ratings become insert-only like the timeline: triggers
on both backends refuse DELETE, and UPDATE unless it changes only the columns a state change needs (MUTABLE below,
found by reading every writer: exchange/outbox.py, inbox.py, supervision/, delegation/ratings.py). The timeline
gets its hash chain (`case_event.digest`, existing lines chained here), the seals and the archive catalogue their
tables, and the catalogue's items a retention period for their archives.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The columns an UPDATE may change, per table. Everything else in the row is evidence.
MUTABLE = {
    # delivery state: outbox.send_due / _apply_receipt / operations.resend / inbox._answer_duplicate
    "outbox_message": ("state", "attempts", "next_attempt_at", "last_error", "sent_at", "acked_at",
                       "receipt_status", "receipt_reason"),
    # application state: inbox._apply / _release_held / _quarantine
    "inbound_message": ("state", "reason_code", "reason", "receipt_message_id", "applied_at"),
    "credit_record": (),
    "supervision_feedback": (),
    "case_rating": (),
    "audit_seal": (),
    "archive_disposal": (),
    "archive_package": ("disposed_at",),  # set once, when the disposal is recorded
}
# What a quarantined message claims about itself (unverified, for the operator) is rewritten when the same bytes
# are quarantined again (inbox._quarantine): allowed only while the row stays quarantined.
QUARANTINE_HEADER = {"inbound_message": ("type", "from_node", "from_org", "case_no")}


def _changed(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"NEW.{column}::text IS DISTINCT FROM OLD.{column}::text"  # ::text: json has no equality
    return f"NEW.{column} IS NOT OLD.{column}"


def _refuse_when(dialect: str, table: str, columns: list[str]) -> str:
    fixed = [c for c in columns if c not in MUTABLE[table] and c not in QUARANTINE_HEADER.get(table, ())]
    parts = [_changed(dialect, c) for c in fixed]
    header = QUARANTINE_HEADER.get(table)
    if header:
        parts.append(f"((OLD.state <> 'quarantined' OR NEW.state <> 'quarantined') AND "
                     f"({' OR '.join(_changed(dialect, c) for c in header)}))")
    return " OR ".join(parts)


def _insert_only(table: str) -> None:
    dialect = op.get_bind().dialect.name
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)]
    allowed = ", ".join(MUTABLE[table]) or "nothing"
    message = f"{table} rows are never deleted, and an update may change only: {allowed}"
    condition = _refuse_when(dialect, table, columns)
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


def _chain_existing_timelines() -> None:
    """Give the lines written before this migration their digests (the timeline's own trigger paused meanwhile)."""
    from delegation.audit import event_digest, event_fields, genesis, _Row

    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE case_event DISABLE TRIGGER case_event_insert_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS case_event_no_update")
    rows = bind.execute(sa.text(
        "SELECT e.id, e.case_id, c.case_no, e.at, e.action, e.from_state, e.to_state, e.actor, e.actor_org, "
        "e.actor_username, e.comment, e.data FROM case_event e JOIN case_file c ON c.id = e.case_id "
        "ORDER BY e.case_id, e.id")).mappings().all()
    updates, case_id, prev = [], None, ""
    for mapping in rows:
        row = _Row(mapping)
        if row.case_id != case_id:
            case_id, prev = row.case_id, genesis(row.case_no)
        prev = event_digest(prev, event_fields(row))
        updates.append({"id": row.id, "digest": prev})
    if updates:
        bind.execute(sa.text("UPDATE case_event SET digest = :digest WHERE id = :id"), updates)
    if postgres:
        op.execute("ALTER TABLE case_event ENABLE TRIGGER case_event_insert_only")
    else:
        op.execute("""CREATE TRIGGER case_event_no_update BEFORE UPDATE ON case_event
                      BEGIN SELECT RAISE(ABORT, 'case_event rows are never updated or deleted'); END""")


def upgrade():
    op.add_column("case_event", sa.Column("digest", sa.String(length=64), nullable=True))
    # NULL = 永久 (kept for ever); otherwise years after the case concluded
    op.add_column("item", sa.Column("archive_retention_years", sa.Integer(), server_default=sa.text("30"),
                                    nullable=True))
    op.create_table(
        "audit_seal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("digest", name=op.f("uq_audit_seal_digest")),
    )
    op.create_table(
        "archive_package",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("county_code", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("final_state", sa.String(length=30), nullable=False),
        sa.Column("concluded_at", sa.DateTime(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.Column("file_name", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=True),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("disposed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_archive_package_case_id_case_file")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_package")),
        sa.UniqueConstraint("case_id", name=op.f("uq_archive_package_case_id")),
        sa.UniqueConstraint("case_no", name=op.f("uq_archive_package_case_no")),
    )
    op.create_index("ix_archive_package_year_id", "archive_package", ["year", "id"])
    op.create_index("ix_archive_package_county_id", "archive_package", ["county_code", "id"])
    op.create_index("ix_archive_package_item_id", "archive_package", ["item_code", "id"])
    op.create_table(
        "archive_disposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("disposed_by", sa.String(length=100), nullable=False),
        sa.Column("disposed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["archive_package.id"],
                                name=op.f("fk_archive_disposal_package_id_archive_package")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_disposal")),
        sa.UniqueConstraint("package_id", name=op.f("uq_archive_disposal_package_id")),
    )
    _chain_existing_timelines()
    for table in MUTABLE:
        _insert_only(table)


def downgrade():
    for table in MUTABLE:
        _drop_insert_only(table)
    op.drop_table("archive_disposal")
    op.drop_index("ix_archive_package_item_id", table_name="archive_package")
    op.drop_index("ix_archive_package_county_id", table_name="archive_package")
    op.drop_index("ix_archive_package_year_id", table_name="archive_package")
    op.drop_table("archive_package")
    op.drop_table("audit_seal")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_column("archive_retention_years")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("case_event", "digest")
    else:
        # SQLite rebuilds the table to drop a column, and its triggers with it: put the timeline's back
        with op.batch_alter_table("case_event", schema=None) as batch_op:
            batch_op.drop_column("digest")
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER IF NOT EXISTS case_event_no_{verb.lower()} BEFORE {verb} ON case_event
                           BEGIN SELECT RAISE(ABORT, 'case_event rows are never updated or deleted'); END""")
