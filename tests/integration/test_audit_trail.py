"""The tamper-evident trail (issue 19): insert-only message logs, credit records, feedback and ratings on both
backends; hash-chained timelines and signed seals that `flask audit verify` checks, so that an edit made around the
triggers is found."""
from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, CaseEvent
from delegation.workflow import Mode, State
from exchange.models import InboundMessage, OutboxMessage
from tests.integration import factories
from tests.integration.support import run_bus


def concluded_case() -> Case:
    """A direct case approved and handed out: its supervision push travels over the bus to this node and back."""
    case = factories.make_case(State.CONCLUDED, Mode.DIRECT)
    db.session.commit()
    run_bus(3)
    db.session.commit()
    return case


def audit(app, *args):
    result = app.test_cli_runner().invoke(args=["audit", *args])
    return result.exit_code, result.output


def _sql(statement: str, **params):
    db.session.execute(sa.text(statement), params)
    db.session.flush()


def _refused(statement: str, **params) -> bool:
    try:
        with db.session.begin_nested():
            _sql(statement, **params)
    except sa.exc.DatabaseError:
        return True
    return False


def _protected_rows(case: Case) -> dict[str, int]:
    """One row of each protected table, the credit record, feedback and rating written as the platform would."""
    push_id = db.session.execute(sa.text("SELECT id FROM supervision_push WHERE case_no = :c"),
                                 {"c": case.case_no}).scalar_one()
    _sql("INSERT INTO credit_record (id_code, name, kind, case_no, detail, blacklisted, recorded_by, created_at) "
         "VALUES ('91350100M000100Y43', '甲', 'penalty', :c, '罚款', false, 'reg', CURRENT_TIMESTAMP)", c=case.case_no)
    _sql("INSERT INTO supervision_feedback (feedback_uid, push_id, kind, on_date, result, comment, "
         "rectification_ordered, created_by, created_at) VALUES ('f-1', :p, 'inspection', CURRENT_DATE, '合格', '', "
         "false, 'reg', CURRENT_TIMESTAMP)", p=push_id)
    _sql("INSERT INTO case_rating (case_id, score, comment, created_at) VALUES (:id, 5, '', CURRENT_TIMESTAMP)",
         id=case.id)
    ids = {}
    for table in ("outbox_message", "inbound_message", "credit_record", "supervision_feedback", "case_rating"):
        ids[table] = db.session.execute(sa.text(f"SELECT MIN(id) FROM {table}")).scalar_one()
    db.session.commit()
    return ids


FORBIDDEN_UPDATES = {
    "outbox_message": "raw = :b", "inbound_message": "raw = :b", "credit_record": "detail = 'rewritten'",
    "supervision_feedback": "result = 'rewritten'", "case_rating": "score = 1",
}


def test_protected_tables_refuse_update_and_delete_but_take_state_changes(app):
    case = concluded_case()
    ids = _protected_rows(case)
    for table, change in FORBIDDEN_UPDATES.items():
        assert _refused(f"UPDATE {table} SET {change} WHERE id = :id", id=ids[table], b=b"forged"), table
        assert _refused(f"DELETE FROM {table} WHERE id = :id", id=ids[table]), table
    assert _refused("UPDATE outbox_message SET sha256 = 'x', state = 'queued' WHERE id = :id", id=ids["outbox_message"])
    assert _refused("UPDATE inbound_message SET from_node = 'x' WHERE id = :id", id=ids["inbound_message"])
    # the state changes the bus makes still go through
    _sql("UPDATE outbox_message SET state = 'retry', attempts = attempts + 1, next_attempt_at = CURRENT_TIMESTAMP, "
         "last_error = 'x', sent_at = CURRENT_TIMESTAMP, acked_at = NULL, receipt_status = NULL, "
         "receipt_reason = NULL WHERE id = :id", id=ids["outbox_message"])
    _sql("UPDATE inbound_message SET state = 'quarantined', reason_code = 'x', reason = 'y', "
         "receipt_message_id = NULL, applied_at = NULL WHERE id = :id", id=ids["inbound_message"])
    db.session.commit()
    assert db.session.get(OutboxMessage, ids["outbox_message"]).state == "retry"
    assert db.session.get(InboundMessage, ids["inbound_message"]).state == "quarantined"


def test_every_new_timeline_line_is_chained_to_the_one_before(app):
    from delegation.audit import event_digest, event_fields, genesis

    case = concluded_case()
    events = db.session.execute(sa.select(CaseEvent).filter_by(case_id=case.id).order_by(CaseEvent.id)).scalars().all()
    assert len(events) >= 4
    prev = genesis(case.case_no)
    for event in events:
        assert event.digest == event_digest(prev, event_fields(event))
        prev = event.digest
    code, out = audit(app, "verify")
    assert code == 0, out
    assert json.loads(out.splitlines()[-1])["problems"] == 0


def _around_the_triggers(statement: str, **params) -> None:
    """What someone with the database's owner account could do: switch the trigger off, edit, switch it on."""
    if db.engine.dialect.name == "postgresql":
        _sql("ALTER TABLE case_event DISABLE TRIGGER case_event_insert_only")
        _sql(statement, **params)
        _sql("ALTER TABLE case_event ENABLE TRIGGER case_event_insert_only")
    else:
        _sql("DROP TRIGGER case_event_no_update")
        _sql("DROP TRIGGER case_event_no_delete")
        _sql(statement, **params)
        for verb in ("UPDATE", "DELETE"):
            _sql(f"CREATE TRIGGER case_event_no_{verb.lower()} BEFORE {verb} ON case_event "
                 "BEGIN SELECT RAISE(ABORT, 'case_event rows are never updated or deleted'); END")
    db.session.commit()


def test_an_edit_around_the_triggers_is_named_by_audit_verify(app):
    case = concluded_case()
    events = db.session.execute(sa.select(CaseEvent.id).filter_by(case_id=case.id).order_by(CaseEvent.id)).scalars().all()
    _around_the_triggers("UPDATE case_event SET comment = '改写' WHERE id = :id", id=events[1])
    code, out = audit(app, "verify")
    assert code == 1
    assert f"case {case.case_no} timeline line {events[1]}: does not match its digest" in out
    # a line removed: the one after it no longer follows the chain
    _around_the_triggers("DELETE FROM case_event WHERE id = :id", id=events[2])
    code, out = audit(app, "verify")
    assert code == 1 and f"timeline line {events[3]}: does not match its digest" in out


def test_triggers_dropped_are_reported(app):
    concluded_case()
    if db.engine.dialect.name == "postgresql":
        _sql("DROP TRIGGER credit_record_insert_only ON credit_record")
    else:
        _sql("DROP TRIGGER credit_record_no_delete")
    db.session.commit()
    code, out = audit(app, "verify")
    assert code == 1 and "table credit_record: its insert-only triggers are missing or disabled" in out


def test_the_seal_catches_a_rewritten_chain_and_a_rewritten_message(app):
    from delegation.audit import event_digest, event_fields, genesis

    case = concluded_case()
    code, out = audit(app, "seal")
    assert code == 0, out
    code, out = audit(app, "verify")
    assert code == 0, out
    # a forger who recomputes the whole chain after the edit: the chain holds, the signed seal does not
    events = db.session.execute(sa.select(CaseEvent).filter_by(case_id=case.id).order_by(CaseEvent.id)).scalars().all()
    prev, updates = genesis(case.case_no), []
    for event in events:
        fields = event_fields(event)
        if event.id == events[0].id:
            fields["comment"] = "伪造"
        prev = event_digest(prev, fields)
        updates.append((event.id, fields["comment"], prev))
    for event_id, comment, digest in updates:
        _around_the_triggers("UPDATE case_event SET comment = :c, digest = :d WHERE id = :id",
                             c=comment, d=digest, id=event_id)
    code, out = audit(app, "verify")
    assert code == 1 and "does not match its digest" not in out
    assert f"case {case.case_no} timeline line {events[-1].id}: differs from what seal" in out
    # a message's bytes and digest replaced together
    row = db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().first()
    forged = bytes(row.raw).replace(b"<", b" <", 1)
    if db.engine.dialect.name == "postgresql":
        _sql("ALTER TABLE outbox_message DISABLE TRIGGER outbox_message_insert_only")
    else:
        _sql("DROP TRIGGER outbox_message_no_update")
    _sql("UPDATE outbox_message SET raw = :r, sha256 = :s WHERE id = :id", r=forged,
         s=hashlib.sha256(forged).hexdigest(), id=row.id)
    db.session.commit()
    code, out = audit(app, "verify")
    assert f"table outbox_message rows 1–" in out and "differ from what seal" in out


def test_a_seal_signed_by_an_unknown_key_is_refused(app):
    from cryptography.hazmat.primitives.asymmetric import ec

    from delegation.audit import seal
    from exchange.keys import cert_pem, generate_node_key

    concluded_case()
    key, cert = generate_node_key("360700")  # the node's id, not its key
    seal(db.session, "360700", key, cert_pem(cert))
    db.session.commit()
    code, out = audit(app, "verify")
    assert code == 1 and "is signed by a certificate this node does not trust" in out
    assert isinstance(key, ec.EllipticCurvePrivateKey)
