"""The tamper-evident trail (issue 19): each case's timeline is a hash chain, and a daily seal signs the chains.

Database triggers (migration 0012) make the timeline, the message logs, credit records, supervision feedback and
ratings insert-only. Triggers stop the platform and a careless hand; they do not stop someone who drops them. So:

- every timeline line carries `digest` = SHA-256 over its own content and the digest of the case's line before it
  (the first line: over a genesis value derived from the case number). Changing, removing or re-ordering a line
  breaks the chain at that line; `verify_chains` names it.
- a seal (`seal`, daily by the worker) signs with the node key the heads of the chains that grew since the last
  seal and a digest of each protected table's new rows, and links to the seal before it. Rewriting a whole chain
  (recomputing every digest) or a sealed message no longer matches the signed seal; `verify_seals` says which.

The digest's canonical form is plain JSON (sorted keys, no spaces, UTF-8), so that the standalone archive verifier
(supervision/archive_verify.py) recomputes it with the standard library alone. Never change it: a new form needs a
new version prefix.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from persistence import UTCDateTime, as_utc, db, utcnow

GENESIS_PREFIX = "tongquan-timeline-v1:"
EVENT_FIELDS = ("at", "action", "from_state", "to_state", "actor", "actor_org", "actor_username", "comment", "data")

# The tables the triggers of migration 0012 make insert-only, with the columns that never change once written
# (a seal digests these). The columns a state change may still write are the others, listed in the migration.
SEALED_COLUMNS: dict[str, tuple[str, ...]] = {
    "outbox_message": ("id", "message_id", "type", "to_node", "to_org", "case_no", "sequence", "in_reply_to",
                       "fmt", "sha256", "created_at"),
    "inbound_message": ("id", "message_id", "sequence", "fmt", "sha256", "received_at"),
    "credit_record": ("id", "id_code", "name", "kind", "case_no", "detail", "blacklisted", "recorded_by",
                      "created_at"),
    "supervision_feedback": ("id", "feedback_uid", "push_id", "kind", "on_date", "result", "comment",
                             "rectification_ordered", "decision_no", "amount", "created_by", "created_at"),
    "case_rating": ("id", "case_id", "score", "comment", "created_at"),
}


class AuditSeal(db.Model):
    """A signed statement of the trail as it stood: insert-only (triggers, migration 0012)."""

    __tablename__ = "audit_seal"
    id: Mapped[int] = mapped_column(primary_key=True)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[str] = mapped_column(sa.Text)  # the canonical JSON that was signed, exactly
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)  # SHA-256 of payload: the next seal links it
    signature: Mapped[str] = mapped_column(sa.Text)  # base64 DER ECDSA-SHA256 over payload
    cert_pem: Mapped[str] = mapped_column(sa.Text)  # the signer; verify_seals accepts only a trusted one


# -- the chain -------------------------------------------------------------------------------------------------

def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def genesis(case_no: str) -> str:
    return hashlib.sha256((GENESIS_PREFIX + case_no).encode("utf-8")).hexdigest()


def _moment(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_fields(event) -> dict:
    """What a line's digest covers, as JSON values (what a timeline.json in an archive package carries)."""
    fields = {name: getattr(event, name) for name in EVENT_FIELDS}
    fields["at"] = _moment(fields["at"])
    fields["comment"] = fields["comment"] or ""
    # the JSON column hands back what JSON can hold: digest that, not the Python value before it was stored
    fields["data"] = json.loads(json.dumps(fields["data"], default=str)) if fields["data"] is not None else None
    return fields


def event_digest(previous: str, fields: dict) -> str:
    return hashlib.sha256(canonical({"prev": previous, **fields})).hexdigest()


def _chain_new_events(session, _flush_context, _instances) -> None:
    """Before each flush: give every new timeline line its digest, in the order the lines were added."""
    from delegation.models import Case, CaseEvent

    new = [obj for obj in session.new if isinstance(obj, CaseEvent) and obj.digest is None]
    if not new:
        return
    new.sort(key=lambda obj: sa.inspect(obj).insert_order)
    heads: dict[int, str] = {}
    for event in new:
        case = event.case
        if case is None:  # a line added by its case_id alone
            with session.no_autoflush:
                case = session.get(Case, event.case_id)
        key = id(case)
        if key not in heads:
            heads[key] = _head(session, case)
        event.digest = heads[key] = event_digest(heads[key], event_fields(event))


def _head(session, case) -> str:
    """The digest of the case's last line, its case row locked first on PostgreSQL: two transactions adding to one
    timeline take turns, so the chain never forks."""
    if case.id is None:
        return genesis(case.case_no)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT id FROM case_file WHERE id = :id FOR UPDATE"), {"id": case.id})
    last = conn.execute(sa.text("SELECT digest FROM case_event WHERE case_id = :id ORDER BY id DESC LIMIT 1"),
                        {"id": case.id}).scalar()
    return last or genesis(case.case_no)


sa.event.listen(sa.orm.Session, "before_flush", _chain_new_events)


@dataclass(frozen=True)
class Problem:
    """One thing the check found wrong, in words an auditor can act on."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


_EVENTS = sa.text(
    "SELECT e.id, e.case_id, c.case_no, e.at, e.action, e.from_state, e.to_state, e.actor, e.actor_org, "
    "e.actor_username, e.comment, e.data, e.digest FROM case_event e JOIN case_file c ON c.id = e.case_id "
    "ORDER BY e.case_id, e.id")


class _Row:
    def __init__(self, mapping):
        self.__dict__.update(mapping)
        self.at = _as_datetime(self.at)
        if isinstance(self.data, str):  # SQLite hands back the JSON text through a textual query
            self.data = json.loads(self.data)


def _as_datetime(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def verify_chains(session) -> tuple[int, dict[str, tuple[int, str]], list[Problem]]:
    """Walk every case's timeline: (lines checked, case_no → (last id, its digest), problems)."""
    problems: list[Problem] = []
    heads: dict[str, tuple[int, str]] = {}
    checked = 0
    previous_case, prev = None, ""
    for mapping in session.connection().execute(_EVENTS).mappings():
        row = _Row(mapping)
        if row.case_id != previous_case:
            previous_case, prev = row.case_id, genesis(row.case_no)
        checked += 1
        where = f"case {row.case_no} timeline line {row.id}"
        if row.digest is None:
            problems.append(Problem(where, "has no digest (written around the platform)"))
        elif event_digest(prev, event_fields(row)) != row.digest:
            problems.append(Problem(where, "does not match its digest: the line, or the one before it, was "
                                           "changed, removed or moved"))
        prev = row.digest or ""
        heads[row.case_no] = (row.id, row.digest)
    return checked, heads, problems


# -- triggers --------------------------------------------------------------------------------------------------

PROTECTED_TABLES = ("case_event", "delegation_event", *SEALED_COLUMNS, "audit_seal", "archive_package",
                    "archive_disposal", "originals_mailing", "originals_receipt")  # the last two: 0014, 材料邮寄


def missing_triggers(session) -> list[Problem]:
    """Protected tables whose insert-only triggers are gone (dropped by hand)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(sa.text("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                    "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'")).scalars()
        have = {name: 2 for name in rows}  # one trigger refuses both verbs there
    else:
        rows = conn.execute(sa.text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")).scalars()
        have: dict[str, int] = {}
        for name in rows:
            have[name] = have.get(name, 0) + 1
    return [Problem(f"table {table}", "its insert-only triggers are missing or disabled")
            for table in PROTECTED_TABLES if have.get(table, 0) < 2]


# -- seals -----------------------------------------------------------------------------------------------------

def _json_value(value):
    if isinstance(value, (datetime,)):
        return _moment(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _table_digest(conn, table: str, low: int, high: int) -> dict:
    columns = SEALED_COLUMNS[table]
    h = hashlib.sha256()
    count = 0
    rows = conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table} WHERE id > :low AND id <= :high "
                                "ORDER BY id"), {"low": low, "high": high})
    for row in rows:
        values = [_json_value(_normal(table, name, v)) for name, v in zip(columns, row)]
        h.update(canonical(values) + b"\n")
        count += 1
    return {"after_id": low, "to_id": high, "rows": count, "sha256": h.hexdigest()}


def _normal(table, name, value):
    # a textual query hands back SQLite's stored text for dates and booleans as stored: read them as the model would
    if name in ("created_at", "received_at") and value is not None:
        return _as_datetime(value)
    if name == "on_date" and isinstance(value, str):
        return date.fromisoformat(value)
    if name in ("blacklisted", "rectification_ordered") and value is not None:
        return bool(value)
    return value


def _max_id(conn, table: str) -> int:
    return conn.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()


def _last_seal(session) -> AuditSeal | None:
    return session.execute(sa.select(AuditSeal).order_by(AuditSeal.id.desc()).limit(1)).scalar_one_or_none()


def seal(session, node_id: str, private_key, cert_pem: bytes, now: datetime | None = None) -> AuditSeal:
    """Sign the heads of the chains that grew since the last seal and a digest of every protected table's rows
    added since then. The caller commits."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    now = now or utcnow()
    last = _last_seal(session)
    before = json.loads(last.payload) if last else None
    conn = session.connection()
    low = before["events"]["to_id"] if before else 0
    high = _max_id(conn, "case_event")
    heads = conn.execute(sa.text(
        "SELECT c.case_no, e.id, e.digest FROM case_event e JOIN case_file c ON c.id = e.case_id "
        "WHERE e.id IN (SELECT MAX(id) FROM case_event WHERE id > :low AND id <= :high GROUP BY case_id) "
        "ORDER BY e.id"), {"low": low, "high": high}).all()
    tables = {}
    for table in SEALED_COLUMNS:
        after = before["tables"][table]["to_id"] if before else 0
        tables[table] = _table_digest(conn, table, after, _max_id(conn, table))
    body = {"v": 1, "node": node_id, "sealed_at": _moment(now), "previous": last.digest if last else None,
            "events": {"after_id": low, "to_id": high, "heads": [[c, i, d] for c, i, d in heads]},
            "tables": tables}
    payload = canonical(body)
    signature = private_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    row = AuditSeal(sealed_at=now, payload=payload.decode("utf-8"), digest=hashlib.sha256(payload).hexdigest(),
                    signature=base64.b64encode(signature).decode("ascii"), cert_pem=cert_pem.decode("ascii"))
    session.add(row)
    session.flush()
    return row


def verify_seals(session, trusted_certs, chain_heads: dict | None = None) -> tuple[int, list[Problem]]:
    """Check every seal: its signature by a trusted certificate of this node, its link to the seal before it, the
    chain heads it signed still there, and the protected tables' sealed rows unchanged."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    trusted = {c.public_bytes(serialization.Encoding.DER) for c in trusted_certs}
    conn = session.connection()
    problems: list[Problem] = []
    previous = None
    seals = session.execute(sa.select(AuditSeal).order_by(AuditSeal.id)).scalars().all()
    for s in seals:
        where = f"seal {s.id} ({s.sealed_at:%Y-%m-%d %H:%M} UTC)"
        payload = s.payload.encode("utf-8")
        try:
            cert = x509.load_pem_x509_certificate(s.cert_pem.encode("ascii"))
            cert.public_key().verify(base64.b64decode(s.signature), payload, ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature, TypeError):
            problems.append(Problem(where, "its signature does not verify"))
            continue
        if cert.public_bytes(serialization.Encoding.DER) not in trusted:
            problems.append(Problem(where, "is signed by a certificate this node does not trust"))
        if hashlib.sha256(payload).hexdigest() != s.digest:
            problems.append(Problem(where, "its digest column does not match its payload"))
        body = json.loads(payload)
        if body["previous"] != previous:
            problems.append(Problem(where, "does not link to the seal before it (a seal was removed or replaced)"))
        previous = s.digest
        for case_no, event_id, digest in body["events"]["heads"]:
            now = conn.execute(sa.text("SELECT digest FROM case_event WHERE id = :id"), {"id": event_id}).scalar()
            if now != digest:
                problems.append(Problem(f"case {case_no} timeline line {event_id}",
                                        f"differs from what {where} signed (removed or rewritten)"))
        for table, sealed in body["tables"].items():
            again = _table_digest(conn, table, sealed["after_id"], sealed["to_id"])
            if again != sealed:
                problems.append(Problem(f"table {table} rows {sealed['after_id'] + 1}–{sealed['to_id']}",
                                        f"differ from what {where} signed (changed or removed)"))
    return len(seals), problems


def message_bytes_problems(session) -> list[Problem]:
    """Message log rows whose stored bytes no longer hash to their recorded SHA-256."""
    problems = []
    for table in ("outbox_message", "inbound_message"):
        rows = session.connection().execute(sa.text(f"SELECT id, message_id, raw, sha256 FROM {table} ORDER BY id"))
        for row in rows:
            if hashlib.sha256(bytes(row.raw)).hexdigest() != row.sha256:
                problems.append(Problem(f"{table} {row.id} ({row.message_id})", "its bytes do not match its SHA-256"))
    return problems


def verify_all(session, trusted_certs) -> tuple[dict, list[Problem]]:
    """Everything `flask audit verify` checks: (counts, problems)."""
    checked, heads, problems = verify_chains(session)
    sealed, seal_problems = verify_seals(session, trusted_certs, heads)
    problems = missing_triggers(session) + problems + seal_problems + message_bytes_problems(session)
    return {"timeline_lines": checked, "chains": len(heads), "seals": sealed}, problems
