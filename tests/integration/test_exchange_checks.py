"""One test per receiving-side check of the bus (exchange-v1, "Mailboxes and transports"): each fails if its check
is taken out of exchange/inbox.py or delegation/messaging.py.

Attachments are checked by size and SHA-256; a replayed MessageId with other bytes, or a used Sequence under a new
MessageId, is quarantined; a receipt only counts from the node we sent to and for the bytes we sent; a decision
only from the organisation that decides the case; a rejected message frees its sequence number; a crash after the
commit neither applies a message twice nor answers it with a rejection.
"""
from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, CaseEvent
from exchange.bus import get_bus
from exchange.envelope import Envelope
from exchange.inbox import receive
from exchange.models import InboundMessage, InboundSequence, OutboxMessage
from exchange.outbox import next_sequence, send_due
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, run_bus

WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% scanned business licence\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def foreign_key(app):
    """A second node, 360731, that this node trusts (its certificate is in our trust store)."""
    from exchange.keys import cert_pem, generate_node_key

    key, cert = generate_node_key(OTHER_COUNTY)
    get_bus().trust.add(OTHER_COUNTY, cert_pem(cert))
    return key


# -- helpers --------------------------------------------------------------------------------------------------

def inbox_dir() -> Path:
    bus = get_bus()
    return bus.transport.root / bus.node_id / "inbox"


def quarantine_dir() -> Path:
    bus = get_bus()
    return bus.transport.root / bus.node_id / "quarantine"


def drop(raw: bytes, message_id: str) -> Path:
    """Put a message in this node's inbox, as a peer's publish would."""
    inbox_dir().mkdir(parents=True, exist_ok=True)
    path = inbox_dir() / f"{message_id}.xml"
    path.write_bytes(raw)
    return path


def sign_as(env: Envelope, key=None) -> bytes:
    """Sign with this node's key, or with `key` as the node named in env.from_node."""
    if key is None:
        return get_bus().sign(env)
    from exchange.xmlform import sign

    return sign(env, key, env.from_node)


def forwarded_case(api, commitment=False, upload: bytes | None = None) -> str:
    """A case forwarded to the city, its case.forward in the outbox (not yet published)."""
    if commitment:  # 容缺: accepted with non-core materials missing, reviewed, forwarded
        item = api.item("delegated_review", commitment=True)
        optional = [m["code"] for m in item["materials"] if not m["core"]]
        present = [m["code"] for m in item["materials"] if m["code"] not in optional]
        case_no = api.create(item, present=present)["case_no"]
        api.act(case_no, WINDOW, "accept_with_commitment")
        api.act(case_no, REVIEWER, "review", opinion="同意", recommendation="approve")
        return case_no
    item = api.item("forward_only")
    case_no = api.create(item)["case_no"]
    if upload is not None:
        material = item["materials"][0]["code"]
        r = api.client.post(f"/api/v1/cases/{case_no}/files",
                            headers={"Authorization": f"Bearer {api.token(WINDOW)}"},
                            data={"material_code": material, "file": (io.BytesIO(upload), "营业执照.pdf",
                                                                       "application/pdf")},
                            content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
    api.act(case_no, WINDOW, "accept")
    return case_no


def city_review_case(api) -> str:
    case_no = forwarded_case(api)
    run_bus()
    assert state_of(case_no) == "city_review"
    return case_no


def state_of(case_no) -> str:
    db.session.expire_all()
    return db.session.execute(sa.select(Case.state).filter_by(case_no=case_no)).scalar_one()


def events_of(case_no, action=None) -> int:
    query = sa.select(sa.func.count()).select_from(CaseEvent).join(Case).where(Case.case_no == case_no)
    if action:
        query = query.where(CaseEvent.action == action)
    return db.session.execute(query).scalar_one()


def outbox_row(case_no, type_="case.forward") -> OutboxMessage:
    db.session.expire_all()
    return db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type=type_)).scalar_one()


def published(row: OutboxMessage) -> Path:
    return inbox_dir() / f"{row.message_id}.xml"


def quarantined(reason_code: str) -> InboundMessage:
    """The one quarantined message, which must have been rejected for `reason_code`."""
    db.session.expire_all()
    rows = db.session.execute(sa.select(InboundMessage).filter_by(state="quarantined")).scalars().all()
    assert [r.reason_code for r in rows] == [reason_code], [(r.reason_code, r.reason) for r in rows]
    return rows[0]


def inbound(message_id: str) -> list[InboundMessage]:
    db.session.expire_all()
    return db.session.execute(sa.select(InboundMessage).filter_by(message_id=message_id)).scalars().all()


def last_sequence(case_no, from_node) -> int:
    db.session.expire_all()
    row = db.session.get(InboundSequence, (case_no, from_node))
    return row.last if row else 0


def receipt_status(row: OutboxMessage) -> str:
    from exchange.xmlform import verify

    env, _ = verify(row.raw, get_bus().trust.certs_for)  # whichever node it goes to
    return env.body["status"]


def park(path: Path) -> Path:
    """Take a published file out of the inbox for a while (a slow transfer)."""
    parked = path.with_name(f"parked-{path.stem}")
    shutil.move(path, parked)
    return parked


# -- (a) attachments are checked by size and SHA-256 -----------------------------------------------------------

@pytest.mark.parametrize("damage", ["substituted", "truncated"])
def test_attachment_that_does_not_match_its_digest_is_quarantined(api, damage):
    case_no = forwarded_case(api, upload=PDF)
    forward = outbox_row(case_no)
    sha = hashlib.sha256(PDF).hexdigest()
    assert forward.attachments == [{"sha256": sha, "size": len(PDF)}]
    send_due()
    attachment = inbox_dir() / f"{forward.message_id}.files" / sha
    assert attachment.read_bytes() == PDF
    # the same size with other content (only the SHA-256 tells), or cut short (the size tells too)
    bad = PDF.replace(b"business licence", b"forged  licence!") if damage == "substituted" else PDF[:-6]
    assert (len(bad) == len(PDF)) is (damage == "substituted") and bad != PDF
    attachment.write_bytes(bad)
    events = events_of(case_no)

    receive()

    record = quarantined("digest_mismatch")
    assert record.case_no == case_no and record.type == "case.forward"
    assert state_of(case_no) == "forwarded" and events_of(case_no) == events
    assert inbound(forward.message_id) == []  # never logged as received: a good copy may still come
    assert not published(forward).exists() and (quarantine_dir() / published(forward).name).exists()
    assert (quarantine_dir() / f"{forward.message_id}.files" / sha).read_bytes() == bad
    assert (quarantine_dir() / f"{published(forward).name}.reason.txt").read_text().startswith("digest_mismatch")
    assert not get_bus().blobs.exists(hashlib.sha256(bad).hexdigest())  # the forged bytes are not stored


# -- (b) a replayed MessageId with other bytes -----------------------------------------------------------------

def test_replay_of_an_applied_message_id_with_other_bytes_is_quarantined(api):
    case_no = forwarded_case(api)
    run_bus()
    assert state_of(case_no) == "city_review"
    forward = outbox_row(case_no)
    original = inbound(forward.message_id)
    assert [r.state for r in original] == ["applied"]
    events = events_of(case_no)
    name = api.case(case_no)["applicant"]["name"]

    bus = get_bus()
    env, _ = bus.verify(forward.raw)
    env.body["applicant"]["name"] = "冒名顶替有限公司"  # same MessageId, other content, validly signed
    raw = sign_as(env)
    replay = drop(raw, env.message_id)
    assert env.message_id == forward.message_id and raw != forward.raw

    receive()

    record = quarantined("replay_mismatch")
    assert record.sha256 == hashlib.sha256(raw).hexdigest() and record.case_no == case_no
    assert (quarantine_dir() / replay.name).read_bytes() == raw
    assert events_of(case_no) == events and state_of(case_no) == "city_review"
    assert api.case(case_no)["applicant"]["name"] == name
    again = inbound(forward.message_id)
    assert len(again) == 1 and again[0].sha256 == original[0].sha256 and again[0].state == "applied"
    assert events_of(case_no, "receive") == 1
    assert not replay.exists()


# -- (c) a Sequence already used, under a new MessageId ----------------------------------------------------------

def test_used_sequence_under_a_new_message_id_is_out_of_order(api):
    case_no = city_review_case(api)
    forward = outbox_row(case_no)
    assert forward.sequence == 1 and last_sequence(case_no, get_bus().node_id) == 1
    case = api.case(case_no)
    events = events_of(case_no)
    bus = get_bus()
    m = case["materials"][0]
    env = Envelope.new("case.supplement", bus.node_id, f"{COUNTY}-window", bus.node_id, forward.to_org,
                       {"materials": [{"code": m["code"], "name": m["name"], "core": m["core"], "present": True,
                                       "files": []}], "comment": "再次提交"},
                       case_no=case_no, sequence=1)
    path = drop(sign_as(env), env.message_id)

    receive()

    record = quarantined("out_of_order")
    assert record.case_no == case_no and record.type == "case.supplement"
    assert inbound(env.message_id) == []
    assert events_of(case_no) == events and events_of(case_no, "receive_supplement") == 0
    assert state_of(case_no) == "city_review" and last_sequence(case_no, bus.node_id) == 1
    assert not path.exists() and (quarantine_dir() / path.name).exists()


# -- (d) a receipt counts only from the node the message went to -------------------------------------------------

def test_receipt_from_another_node_does_not_acknowledge_our_message(api, foreign_key):
    case_no = forwarded_case(api)
    send_due()
    forward = outbox_row(case_no)
    assert forward.to_node == get_bus().node_id and forward.state == "awaiting_receipt"
    parked = park(published(forward))  # the genuine forward has not arrived yet
    # 360731 is trusted (its signature verifies) but the forward never went to it
    env = Envelope.new("receipt", OTHER_COUNTY, f"{OTHER_COUNTY}-window", get_bus().node_id, f"{COUNTY}-window",
                       {"status": "accepted", "received_sha256": forward.sha256}, case_no=case_no,
                       in_reply_to=forward.message_id)
    drop(sign_as(env, foreign_key), env.message_id)

    receive()

    [logged] = inbound(env.message_id)
    assert logged.from_node == OTHER_COUNTY  # it was verified and logged; it just answers nothing of ours
    forward = outbox_row(case_no)
    assert forward.state == "awaiting_receipt" and forward.acked_at is None and forward.receipt_status is None
    assert state_of(case_no) == "forwarded"
    # the genuine receiver's receipt still counts
    shutil.move(parked, published(forward))
    run_bus()
    assert outbox_row(case_no).state == "acknowledged" and state_of(case_no) == "city_review"


# -- (e) an accepted receipt for other bytes than ours -----------------------------------------------------------

def test_accepted_receipt_for_other_bytes_sends_the_message_again(api):
    case_no = forwarded_case(api)
    send_due()
    forward = outbox_row(case_no)
    parked = park(published(forward))
    bus = get_bus()
    other = hashlib.sha256(forward.raw + b" ").hexdigest()
    env = Envelope.new("receipt", bus.node_id, forward.to_org, bus.node_id, f"{COUNTY}-window",
                       {"status": "accepted", "received_sha256": other}, case_no=case_no,
                       in_reply_to=forward.message_id)
    drop(sign_as(env), env.message_id)

    receive()

    forward = outbox_row(case_no)
    assert forward.state == "retry" and forward.acked_at is None and forward.receipt_status is None
    assert "different bytes" in forward.last_error
    assert state_of(case_no) == "forwarded"  # the acknowledgement hook did not run
    # our intact copy goes again and is acknowledged for the right bytes
    parked.unlink()
    run_bus()
    forward = outbox_row(case_no)
    assert forward.state == "acknowledged" and forward.attempts == 2
    assert state_of(case_no) == "city_review"


# -- (f) a decision only from the organisation that decides the case ---------------------------------------------

SENDERS = [
    # (node, claimed organisation, expected reason)
    (OTHER_COUNTY, f"{OTHER_COUNTY}-window", "unknown_sender_org"),  # trusted node, an org that does not live there
    (OTHER_COUNTY, "<deciding>", "unknown_sender_org"),  # trusted node impersonating the deciding department
    ("360700", f"{COUNTY}-bureau", "sender_not_allowed"),  # a county organisation on our own node
    ("360700", "<other department>", "sender_not_allowed"),  # a city department that does not decide this item
]


@pytest.mark.parametrize("node,org,reason", SENDERS, ids=["foreign-county-org", "foreign-node-posing-as-department",
                                                          "county-org-on-our-node", "other-city-department"])
def test_decision_from_an_unrelated_sender_is_quarantined(api, foreign_key, node, org, reason):
    case_no = city_review_case(api)
    before = api.case(case_no, CITY)
    deciding = before["responsible"]["deciding"]
    assert deciding.startswith("360700-sec-") and before["decision"] is None
    org = {"<deciding>": deciding,
           "<other department>": "360700-sec-ecology" if deciding != "360700-sec-ecology" else "360700-sec-market",
           }.get(org, org)
    events = events_of(case_no)
    sequence = last_sequence(case_no, node) + 1
    env = Envelope.new("case.decision", node, org, get_bus().node_id, f"{COUNTY}-window",
                       {"decision": "approve", "reasons": [], "certificate_no": "FAKE-0001", "decided_by": "冒名",
                        "decided_at": "2026-11-21T10:00:00+08:00"},
                       case_no=case_no, sequence=sequence)
    path = drop(sign_as(env, foreign_key if node == OTHER_COUNTY else None), env.message_id)

    receive()

    record = quarantined(reason)
    assert record.case_no == case_no and record.type == "case.decision" and record.from_org == org
    assert inbound(env.message_id) == []
    assert state_of(case_no) == "city_review" and events_of(case_no) == events
    assert api.case(case_no, CITY) == before
    assert not path.exists() and (quarantine_dir() / path.name).exists()
    # a final rejection: the sender is told, and its number is used up
    receipt = db.session.execute(sa.select(OutboxMessage).filter_by(type="receipt", in_reply_to=env.message_id)
                                 ).scalar_one()
    assert receipt.to_node == node and receipt_status(receipt) == "rejected"
    assert last_sequence(case_no, node) == sequence


# -- (g) a handler's rejection of sequence N does not block N+1 --------------------------------------------------

@pytest.mark.parametrize("successor_first", [False, True], ids=["in-order", "successor-first"])
def test_rejected_message_frees_its_sequence_for_the_next(api, successor_first):
    case_no = city_review_case(api)
    bus = get_bus()
    # Sequence N: a decision the handler refuses (a county organisation may not decide).
    n = next_sequence(case_no, bus.node_id, bus.node_id)
    db.session.commit()
    assert n == last_sequence(case_no, bus.node_id) + 1
    bad = Envelope.new("case.decision", bus.node_id, f"{COUNTY}-bureau", bus.node_id, f"{COUNTY}-window",
                       {"decision": "deny", "reasons": ["冒名"], "decided_by": "冒名",
                        "decided_at": "2026-11-21T10:00:00+08:00"}, case_no=case_no, sequence=n)
    if not successor_first:
        drop(sign_as(bad), bad.message_id)
        receive()
        assert quarantined("sender_not_allowed").case_no == case_no
    # Sequence N+1: the department's real decision.
    api.act(case_no, CITY, "approve", certificate_no="GZ-2026-0042")
    decision = outbox_row(case_no, "case.decision")
    assert decision.sequence == n + 1
    send_due()
    if successor_first:
        receive()
        assert [r.state for r in inbound(decision.message_id)] == ["held"]  # waits for N
        drop(sign_as(bad), bad.message_id)
        receive()
        assert quarantined("sender_not_allowed").case_no == case_no
    run_bus()

    assert [r.state for r in inbound(decision.message_id)] == ["applied"]
    assert last_sequence(case_no, bus.node_id) == n + 2  # N+2: the approval's supervision.push, after it
    assert outbox_row(case_no, "case.decision").state == "acknowledged"
    case = api.case(case_no)
    assert case["state"] == "decided" and "receive_decision" in [e["action"] for e in case["timeline"]]
    assert list(inbox_dir().glob("*.xml")) == []


# -- (h) a crash between the commit and the receipt: a supplement is neither re-applied nor rejected -----------

class Crash(BaseException):
    """Stands for the process dying: not an error the code may catch."""


def test_crash_after_applying_a_supplement_answers_with_the_original_receipt(api, monkeypatch):
    case_no = forwarded_case(api, commitment=True)
    run_bus()
    assert state_of(case_no) == "city_review"
    missing = [m["code"] for m in api.case(case_no)["materials"] if not m["present"]]
    api.act(case_no, WINDOW, "supply_materials", materials=missing)
    supplement = outbox_row(case_no, "case.supplement")
    assert supplement.sequence == 2
    send_due()
    raw = published(supplement).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()

    bus = get_bus()
    real_remove = bus.transport.remove

    def die(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(bus.transport, "remove", die)
    with pytest.raises(Crash):
        receive()  # applied and committed with its receipt; the process dies before the file is removed
    db.session.rollback()
    monkeypatch.setattr(bus.transport, "remove", real_remove)
    [applied] = inbound(supplement.message_id)
    assert applied.state == "applied" and applied.receipt_message_id
    assert events_of(case_no, "receive_supplement") == 1
    send_due()  # the receipt goes out; the supplement's file is still in the inbox
    receipt = db.session.execute(sa.select(OutboxMessage).filter_by(message_id=applied.receipt_message_id)
                                 ).scalar_one()
    assert receipt.state == "sent"

    receive()  # the restarted process finds the supplement again (and our receipt)

    rows = db.session.execute(sa.select(InboundMessage).where(
        sa.or_(InboundMessage.message_id == supplement.message_id, InboundMessage.sha256 == digest))).scalars().all()
    assert len(rows) == 1 and rows[0].state == "applied"  # one row, no quarantined copy
    assert events_of(case_no, "receive_supplement") == 1
    receipts = db.session.execute(sa.select(OutboxMessage).filter_by(type="receipt")).scalars().all()
    assert [receipt_status(r) for r in receipts if receipt_status(r) == "rejected"] == []
    answers = [r for r in receipts if r.in_reply_to == supplement.message_id]
    assert [r.message_id for r in answers] == [applied.receipt_message_id]  # the original receipt, no second one
    assert answers[0].state == "queued"  # queued again for the sender, who may have missed it
    assert outbox_row(case_no, "case.supplement").state == "acknowledged"
    assert list(inbox_dir().glob("*.xml")) == []
    run_bus()
    assert events_of(case_no, "receive_supplement") == 1 and state_of(case_no) == "city_review"
