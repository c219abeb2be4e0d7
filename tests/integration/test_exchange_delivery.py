"""The bus between county and city: verification, quarantine, exactly-once application, order, crash recovery."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, CaseEvent
from exchange.bus import get_bus
from exchange.envelope import Envelope
from exchange.inbox import receive
from exchange.models import InboundMessage, OutboxMessage
from exchange.outbox import send_due
from tests.integration.support import COUNTY, Api, run_bus

WINDOW = f"window-{COUNTY}"


@pytest.fixture
def api(client):
    return Api(client)


def inbox_dir() -> Path:
    bus = get_bus()
    return bus.transport.root / bus.node_id / "inbox"


def quarantine_dir() -> Path:
    bus = get_bus()
    return bus.transport.root / bus.node_id / "quarantine"


def forwarded_case(api, commitment=False) -> str:
    if commitment:  # 容缺: accepted with non-core materials missing, reviewed, forwarded
        item = api.item("delegated_review", commitment=True)
        optional = [m["code"] for m in item["materials"] if not m["core"]]
        present = [m["code"] for m in item["materials"] if m["code"] not in optional]
        case_no = api.create(item, present=present)["case_no"]
        api.act(case_no, WINDOW, "accept_with_commitment")
        api.act(case_no, f"review-{COUNTY}", "review", opinion="同意", recommendation="approve")
    else:
        item = api.item("forward_only")
        case_no = api.create(item)["case_no"]
        api.act(case_no, WINDOW, "accept")
    return case_no


def state_of(case_no):
    db.session.expire_all()
    return db.session.execute(sa.select(Case.state).filter_by(case_no=case_no)).scalar_one()


def events_of(case_no):
    return db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent).join(Case)
                              .where(Case.case_no == case_no)).scalar_one()


def published(case_no, type_="case.forward") -> Path:
    row = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type=type_)).scalar_one()
    return inbox_dir() / f"{row.message_id}.xml"


def test_platform_signature_verifies_with_xmlsec1(api, app):
    case_no = forwarded_case(api)
    raw = db.session.execute(sa.select(OutboxMessage.raw).filter_by(case_no=case_no, type="case.forward")).scalar_one()
    folder = Path(app.instance_path)
    (folder / "msg.xml").write_bytes(raw)
    result = subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(folder / "keys" / "node.crt"),
                             str(folder / "msg.xml")], capture_output=True, text=True)
    assert result.returncode == 0 and "OK" in result.stderr + result.stdout, result.stderr


def test_tampered_envelope_is_quarantined_and_changes_nothing(api):
    case_no = forwarded_case(api)
    send_due()
    path = published(case_no)
    path.write_bytes(path.read_bytes().replace("赣州市示范贸易有限公司".encode(), "冒名顶替有限公司".encode()))
    before = events_of(case_no)
    receive()
    assert state_of(case_no) == "forwarded" and events_of(case_no) == before
    assert not path.exists() and (quarantine_dir() / path.name).exists()
    reason = (quarantine_dir() / f"{path.name}.reason.txt").read_text()
    assert reason.startswith("signature_invalid")
    record = db.session.execute(sa.select(InboundMessage).filter_by(state="quarantined")).scalar_one()
    assert record.reason_code == "signature_invalid"
    assert record.raw == (quarantine_dir() / path.name).read_bytes()  # the exact bytes are kept for operators
    # the sender is told; the receipt names other bytes than it sent, so its own intact copy goes again
    run_bus()
    run_bus()
    forward = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()
    assert forward.state == "acknowledged" and forward.attempts == 2
    assert state_of(case_no) == "city_review"


def test_unsigned_envelope_is_quarantined(api):
    from exchange.xmlform import encode

    case_no = forwarded_case(api)
    send_due()
    path = published(case_no)
    path.unlink()
    env = Envelope.new("case.return", "360700", "360700-sec-market", "360700", f"{COUNTY}-window",
                       {"reasons": ["伪造的退回"], "by": "x", "at": "2026-11-21T10:00:00+08:00"},
                       case_no=case_no, sequence=1)
    (inbox_dir() / f"{env.message_id}.xml").write_bytes(encode(env))
    receive()
    assert state_of(case_no) == "forwarded"
    record = db.session.execute(sa.select(InboundMessage).filter_by(state="quarantined")).scalar_one()
    assert record.reason_code == "unsigned"


def test_wrongly_addressed_envelope_is_quarantined(api):
    case_no = forwarded_case(api)
    bus = get_bus()
    env = Envelope.new("case.return", bus.node_id, "360700-sec-market", "360799", f"{COUNTY}-window",
                       {"reasons": ["发错节点"], "by": "x", "at": "2026-11-21T10:00:00+08:00"},
                       case_no=case_no, sequence=1)
    inbox_dir().mkdir(parents=True, exist_ok=True)
    (inbox_dir() / f"{env.message_id}.xml").write_bytes(bus.sign(env))
    receive()
    record = db.session.execute(sa.select(InboundMessage).filter_by(state="quarantined")).scalar_one()
    assert record.reason_code == "wrong_recipient"
    assert state_of(case_no) == "forwarded"


def test_duplicate_is_applied_once_and_answered_with_the_original_receipt(api):
    case_no = forwarded_case(api)
    send_due()
    path = published(case_no)
    raw = path.read_bytes()
    run_bus()
    assert state_of(case_no) == "city_review"
    events = events_of(case_no)
    receipts = db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)
                                  .filter_by(type="receipt")).scalar_one()
    path.write_bytes(raw)  # the sender, having missed our receipt, sends again
    receive()
    assert not path.exists()
    assert events_of(case_no) == events and state_of(case_no) == "city_review"
    assert db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                              .filter_by(type="case.forward")).scalar_one() == 1
    # no new receipt is made: the original one is queued again
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)
                              .filter_by(type="receipt")).scalar_one() == receipts
    again = db.session.execute(sa.select(OutboxMessage).filter_by(type="receipt", state="queued")).scalars().all()
    assert len(again) == 1


class Crash(BaseException):
    """Stands for the process dying: not an error the code may catch."""


def test_crash_between_apply_and_receipt_redelivers_without_double_effect(api, monkeypatch):
    case_no = forwarded_case(api)
    send_due()
    bus = get_bus()
    real_remove = bus.transport.remove

    def die(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(bus.transport, "remove", die)
    with pytest.raises(Crash):
        receive()  # applied and committed, then the process dies before the receipt goes out
    db.session.rollback()
    monkeypatch.setattr(bus.transport, "remove", real_remove)
    assert state_of(case_no) == "city_review"
    events = events_of(case_no)
    run_bus()  # the restarted process finds the file again
    assert events_of(case_no) == events
    forward = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()
    assert forward.state == "acknowledged"
    assert list(inbox_dir().glob("*.xml")) == []


def test_crash_before_commit_leaves_the_message_for_the_next_run(api, monkeypatch):
    import delegation.messaging as messaging
    from exchange import handlers

    case_no = forwarded_case(api)
    send_due()

    def die(env, attachments):
        raise Crash()

    monkeypatch.setitem(handlers._apply, "case.forward", die)
    with pytest.raises(Crash):
        receive()
    db.session.rollback()
    monkeypatch.setitem(handlers._apply, "case.forward", messaging.apply_forward)
    assert state_of(case_no) == "forwarded"
    run_bus()
    assert state_of(case_no) == "city_review"


def test_early_message_waits_for_its_predecessor(api):
    case_no = forwarded_case(api, commitment=True)
    missing = [m["code"] for m in api.case(case_no)["materials"] if not m["present"]]
    api.act(case_no, WINDOW, "supply_materials", materials=missing)
    send_due()
    first = published(case_no, "case.forward")
    parked = first.with_name("parked")
    shutil.move(first, parked)
    receive()
    held = db.session.execute(sa.select(InboundMessage).filter_by(type="case.supplement")).scalar_one()
    assert held.state == "held" and held.sequence == 2
    assert state_of(case_no) == "forwarded"
    shutil.move(parked, first)
    receive()
    db.session.expire_all()
    assert db.session.execute(sa.select(InboundMessage.state).filter_by(type="case.supplement")).scalar_one() == "applied"
    case = api.case(case_no)
    assert case["state"] == "city_review" and all(m["present"] for m in case["materials"])
    actions = [e["action"] for e in case["timeline"]]
    assert actions.index("receive") < actions.index("receive_supplement")


def test_unreachable_store_keeps_messages_and_retries(api, monkeypatch):
    from exchange.transport import TransportError

    case_no = forwarded_case(api)
    bus = get_bus()

    def down(*a, **k):
        raise TransportError("connection refused")

    monkeypatch.setattr(bus.transport, "publish", down)
    assert send_due() == 0
    row = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()
    assert row.state == "retry" and row.attempts == 1 and row.next_attempt_at > row.created_at
    monkeypatch.undo()
    row.next_attempt_at = row.created_at  # the backoff has passed
    db.session.commit()
    run_bus()
    db.session.expire_all()
    assert state_of(case_no) == "city_review"


def test_forgeries_reusing_one_message_id_are_all_kept_in_quarantine(api):
    case_no = forwarded_case(api)
    send_due()
    path = published(case_no)
    genuine = path.read_bytes()
    for forged_name in ("冒名顶替甲有限公司", "冒名顶替乙有限公司"):
        path.write_bytes(genuine.replace("赣州市示范贸易有限公司".encode(), forged_name.encode()))
        receive()
    kept = sorted(p.name for p in quarantine_dir().iterdir() if not p.name.endswith(".reason.txt"))
    assert kept == [path.name.replace(".xml", ".1.xml"), path.name]
    assert {(quarantine_dir() / name).read_bytes() for name in kept} == {
        genuine.replace("赣州市示范贸易有限公司".encode(), n.encode()) for n in ("冒名顶替甲有限公司", "冒名顶替乙有限公司")}
    assert all((quarantine_dir() / f"{name}.reason.txt").exists() for name in kept)


def test_a_long_outage_of_the_store_uses_up_no_attempt(api, monkeypatch):
    """An hour and more with the store down (a compressed clock): the messages wait without using the attempts
    meant for a peer that does not acknowledge them; the first one through makes every put-off one due."""
    from datetime import timedelta

    from app.extensions import utcnow
    from exchange.outbox import TRANSPORT_BACKOFF_CAP_SECONDS
    from exchange.transport import StoreUnreachable

    first, second = forwarded_case(api), forwarded_case(api)
    bus = get_bus()
    monkeypatch.setattr(bus, "max_attempts", 2)
    real_publish = bus.transport.publish

    def down(*a, **k):
        raise StoreUnreachable("sftp exchange host: connect: Connection refused")

    monkeypatch.setattr(bus.transport, "publish", down)
    now = utcnow()
    for _ in range(90):  # 90 minutes, a run a minute (the worker runs every 5 s; fewer runs try less)
        now += timedelta(minutes=1)
        assert send_due(now=now) == 0
        rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="case.forward")).scalars().all()
        assert {(r.state, r.attempts) for r in rows} <= {("queued", 0), ("retry", 0)}
        assert all(r.next_attempt_at <= now + timedelta(seconds=TRANSPORT_BACKOFF_CAP_SECONDS) for r in rows)
    assert {r.state for r in rows} == {"retry"} and all("Connection refused" in r.last_error for r in rows)

    monkeypatch.setattr(bus.transport, "publish", real_publish)
    # Back: the next try comes within TRANSPORT_BACKOFF_CAP_SECONDS (sooner if new messages come in meanwhile).
    now = max(now, min(r.next_attempt_at for r in rows))
    assert send_due(now=now) == 2  # both, in one run: the backoff of the other ends with the first success
    db.session.expire_all()
    rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="case.forward")).scalars().all()
    assert {(r.state, r.attempts) for r in rows} == {("awaiting_receipt", 1)}
    run_bus()
    assert state_of(first) == "city_review" and state_of(second) == "city_review"


def test_a_store_error_on_a_message_still_counts(api, monkeypatch):
    """A store that answers but fails this message (not an outage) uses attempts as before, up to dead."""
    from exchange.transport import TransportError

    forwarded_case(api)
    bus = get_bus()
    monkeypatch.setattr(bus, "max_attempts", 2)

    def refuse(*a, **k):
        raise TransportError("sftp: write .part: Permission denied")

    monkeypatch.setattr(bus.transport, "publish", refuse)
    send_due()
    row = db.session.execute(sa.select(OutboxMessage).filter_by(type="case.forward")).scalar_one()
    assert (row.state, row.attempts) == ("retry", 1)
    row.next_attempt_at = row.created_at
    db.session.commit()
    send_due()
    db.session.refresh(row)
    assert (row.state, row.attempts) == ("dead", 2)


def test_one_bad_message_in_a_batch_undoes_only_itself(api):
    """Receiving commits in batches: a message quarantined in the middle leaves the ones before and after it
    applied once, and the files go only once their batch has committed."""
    cases = [forwarded_case(api) for _ in range(3)]
    send_due()
    bus = get_bus()
    names = bus.transport.list_inbox(bus.node_id)
    assert len(names) == 3
    bad = inbox_dir() / names[1]
    bad.write_bytes(bad.read_bytes().replace("赣州市示范贸易有限公司".encode(), "冒名顶替有限公司".encode()))
    bad_case = next(c for c in cases if published(c).name == names[1])
    before = {c: events_of(c) for c in cases}
    assert receive() == 3
    assert list(inbox_dir().glob("*.xml")) == []
    assert (quarantine_dir() / names[1]).exists()
    for c in cases:
        if c == bad_case:
            assert state_of(c) == "forwarded" and events_of(c) == before[c]
        else:
            assert state_of(c) == "city_review" and events_of(c) == before[c] + 1
    applied = db.session.execute(sa.select(InboundMessage).filter_by(state="applied", type="case.forward")
                                 ).scalars().all()
    assert sorted(m.case_no for m in applied) == sorted(c for c in cases if c != bad_case)
    run_bus()
    run_bus()  # the bad one's sender sends its intact copy again; nothing is applied twice
    assert all(state_of(c) == "city_review" for c in cases)
    assert all(events_of(c) == before[c] + 1 for c in cases)


def test_a_crash_before_a_batch_commits_applies_nothing_twice(api, monkeypatch):
    """The process dies half-way through a batch: nothing of it was committed, every file is still there, and the
    restarted process applies each message exactly once."""
    import exchange.inbox as inbox

    cases = [forwarded_case(api) for _ in range(4)]
    send_due()
    real_apply = inbox._apply
    calls = []

    def apply_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Crash()
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(inbox, "_apply", apply_then_die)
    with pytest.raises(Crash):
        receive(batch=10)
    db.session.rollback()
    monkeypatch.undo()
    assert all(state_of(c) == "forwarded" for c in cases)
    assert len(list(inbox_dir().glob("*.xml"))) == 4
    before = {c: events_of(c) for c in cases}
    run_bus()
    assert all(state_of(c) == "city_review" and events_of(c) == before[c] + 1 for c in cases)
    assert db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                              .filter_by(type="case.forward", state="applied")).scalar_one() == 4


def test_a_peer_node_down_with_the_store_up_uses_up_no_attempt(api, monkeypatch):
    """The receipt is overdue, but the copy still waits unread in the peer's inbox (its node is down): it is not
    sent again and uses no attempt, however long; a copy that is gone (lost) is sent again and counts."""
    from datetime import timedelta

    from app.extensions import utcnow
    from exchange.outbox import expire_receipts

    case_no = forwarded_case(api)
    bus = get_bus()
    monkeypatch.setattr(bus, "max_attempts", 2)
    now = utcnow()
    assert send_due(now=now) == 1
    path = published(case_no)
    for _ in range(12):  # two hours of receipt timeouts
        now += timedelta(seconds=bus.receipt_timeout_seconds + 1)
        assert expire_receipts(now=now) == 1
        assert send_due(now=now) == 0
        row = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()
        assert (row.state, row.attempts) == ("awaiting_receipt", 1)
    assert path.exists()

    path.unlink()  # the copy is lost on the way: the next overdue receipt sends it again
    now += timedelta(seconds=bus.receipt_timeout_seconds + 1)
    expire_receipts(now=now)
    assert send_due(now=now) == 1
    db.session.refresh(row)
    assert (row.state, row.attempts) == ("awaiting_receipt", 2) and path.exists()
    run_bus()
    assert state_of(case_no) == "city_review"
    db.session.refresh(row)
    assert row.state == "acknowledged"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_receipt_timeout_comes_from_the_environment(api, tmp_path):
    """EXCHANGE_RECEIPT_TIMEOUT_SECONDS sets how long a sent message waits for its receipt."""
    from datetime import timedelta

    from app.extensions import utcnow
    from tests.conftest import make_app

    assert get_bus().receipt_timeout_seconds == 600  # the default
    other = make_app(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "other", EXCHANGE_RECEIPT_TIMEOUT_SECONDS="90")
    with other.app_context():
        assert get_bus().receipt_timeout_seconds == 90

    case_no = forwarded_case(api)
    bus = get_bus()
    bus_timeout = bus.receipt_timeout_seconds
    now = utcnow()
    assert send_due(now=now) == 1
    row = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()
    # (measured from the end of the batch's publishing: now, plus the moment the publish took)
    assert now + timedelta(seconds=bus_timeout) <= row.next_attempt_at < now + timedelta(seconds=bus_timeout + 5)
