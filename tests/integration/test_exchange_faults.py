"""Faults on the bus, each ending with every message applied exactly once and nothing lost.

1. Interop, applied and not just verified: a case message signed by `xmlsec1 --sign` from a template, or a JWS made
   with plain `cryptography`, changes the case and is answered with a receipt; the same message with a flipped
   byte, signed with a wrong key, or carrying an untrusted certificate in KeyInfo is quarantined and changes nothing.
2. Over a real SFTP server between two nodes: the server stopping mid-upload, a process killed between upload and
   rename, a process killed between the receipt and the inbox clean-up, a backlog, a 50 MB attachment.
3. Hostile XML dropped into an inbox: external entities, billion laughs, signature wrapping.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import tracemalloc
import uuid
from pathlib import Path

import paramiko
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from lxml import etree

from app.extensions import db
from delegation.models import Case, CaseEvent
from exchange import jsonform, keys, xmlform
from exchange.bus import EXTENSION_KEY, get_bus
from exchange.envelope import Envelope
from exchange.inbox import receive
from exchange.models import InboundMessage, InboundSequence, OutboxMessage
from exchange.outbox import send_due
from tests.conftest import make_app as _make_app
from tests.integration import test_two_nodes
from tests.integration.support import ENTERPRISE, Api, run_bus
from tests.integration.test_exchange_delivery import forwarded_case, inbox_dir, quarantine_dir, state_of
from tests.integration.test_two_nodes import CITY, COUNTY, PDF, Node, nodes, pump, sftp  # noqa: F401 (fixtures)
from tests.unit.test_json_envelope import hand_made_jws
from tests.unit.test_xml_envelope import SIGNATURE_TEMPLATE

WINDOW = f"window-{COUNTY}"
NS = {"tq": xmlform.NS, "ds": xmlform.DS_NS}
JWS_HEADER = {"alg": "ES256", "kid": CITY, "typ": "tongquan-envelope+json"}


class Killed(BaseException):
    """Stands for the process dying there: not an error the code may catch."""


@pytest.fixture
def api(client):
    return Api(client)


# --------------------------------------------------------------------------------------------- shared helpers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def count(model, **where) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).filter_by(**where)).scalar_one()


def events(case_no: str, action: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(CaseEvent).join(Case).where(Case.case_no == case_no)
    if action:
        query = query.where(CaseEvent.action == action)
    return db.session.execute(query).scalar_one()


def the_case(case_no: str) -> Case:
    db.session.expire_all()
    return db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()


def receipts_for(message_id: str) -> list[dict]:
    """The receipts this node owes for `message_id`, as the peer will read them (status, digest, reason)."""
    bus = get_bus()
    rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="receipt", in_reply_to=message_id)
                              .order_by(OutboxMessage.id)).scalars().all()
    return [(jsonform if r.fmt == "json" else xmlform).verify(r.raw, bus.trust.certs_for)[0].body for r in rows]


def next_inbound_sequence(case_no: str, from_node: str) -> int:
    row = db.session.get(InboundSequence, (case_no, from_node))
    return (row.last if row else 0) + 1


def xmlsec_sign(template: bytes, key_pem: bytes, cert_pem: bytes, folder: Path) -> bytes:
    """`xmlsec1 --sign --privkey-pem key.pem,cert.pem` on a template, as a peer system with standard tools would."""
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1, "xmlsec1 is part of the exchange contract and must be installed"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key.pem").write_bytes(key_pem)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "template.xml").write_bytes(template)
    run = subprocess.run([xmlsec1, "--sign", "--privkey-pem", "key.pem,cert.pem", "template.xml"],
                         cwd=folder, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    return run.stdout


def template_of(env: Envelope, key_info_extra: str = "") -> bytes:
    root = etree.fromstring(xmlform.encode(env))
    signature = SIGNATURE_TEMPLATE.format(node=env.from_node)
    if key_info_extra:
        signature = signature.replace("</ds:KeyName>", "</ds:KeyName>" + key_info_extra)
    root.append(etree.fromstring(signature))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def drop(data: bytes, name: str) -> Path:
    folder = inbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def city_review_case(api) -> str:
    """A forward_only case of the county, forwarded and received by the city (both on this node)."""
    case_no = forwarded_case(api)
    run_bus()
    assert state_of(case_no) == "city_review"
    return case_no


def sender_and_window(case_no: str) -> tuple[str, str]:
    case = the_case(case_no)
    return case.department_code, case.window_org.code


# --------------------------------------------------------------------------------------------- 1. interop


def test_decision_signed_by_xmlsec1_is_applied_and_forgeries_change_nothing(api, app, tmp_path):
    case_no = city_review_case(api)
    department, window = sender_and_window(case_no)
    bus = get_bus()
    sequence = next_inbound_sequence(case_no, bus.node_id)
    env = Envelope.new("case.decision", bus.node_id, department, bus.node_id, window,
                       {"decision": "approve", "reasons": [], "certificate_no": "赣TQ许2026-0042",
                        "valid_from": "2026-11-21", "valid_until": "2031-11-20", "decided_by": "市行政审批局 陈刚",
                        "decided_at": "2026-11-21T10:00:00+08:00"},
                       case_no=case_no, sequence=sequence)
    node_key = (Path(app.instance_path) / "keys" / "node.key").read_bytes()
    node_crt = (Path(app.instance_path) / "keys" / "node.crt").read_bytes()
    genuine = xmlsec_sign(template_of(env), node_key, node_crt, tmp_path / "genuine")

    # the forgeries: the same message, as an attacker on the exchange host could make it
    at = genuine.index("0042".encode())
    flipped = bytearray(genuine)
    flipped[at] ^= 0x01  # "0042" -> "1042": one bit of one byte
    attacker_key, attacker_cert = keys.generate_node_key(bus.node_id)
    attacker_pem = attacker_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
    wrong_key = xmlsec_sign(template_of(env), attacker_pem, keys.cert_pem(attacker_cert), tmp_path / "wrong")
    with_cert = xmlsec_sign(template_of(env, "<ds:X509Data/>"), attacker_pem, keys.cert_pem(attacker_cert),
                            tmp_path / "embedded")
    embedded = etree.fromstring(with_cert).findtext(".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    assert embedded and "".join(embedded.split()) in "".join(keys.cert_pem(attacker_cert).decode().split())

    events_before = events(case_no)
    for n, forgery in enumerate((bytes(flipped), wrong_key, with_cert)):
        path = drop(forgery, f"{env.message_id}.xml")
        receive()
        kept = path.name if n == 0 else f"{env.message_id}.{n}.xml"  # each forgery kept, none overwritten
        assert not path.exists() and (quarantine_dir() / kept).read_bytes() == forgery
        assert (quarantine_dir() / f"{kept}.reason.txt").read_text().startswith("signature_invalid")
        record = db.session.execute(sa.select(InboundMessage).filter_by(sha256=sha(forgery))).scalar_one()
        assert (record.state, record.reason_code, record.raw) == ("quarantined", "signature_invalid", forgery)
        case = the_case(case_no)
        assert (case.state, case.decision, case.certificate_no) == ("city_review", None, None)
        assert events(case_no) == events_before
        assert next_inbound_sequence(case_no, bus.node_id) == sequence  # the number is still free
        # the claimed sender (known here) is told which bytes were refused and why
        assert receipts_for(env.message_id)[-1]["status"] == "rejected"
        assert receipts_for(env.message_id)[-1]["received_sha256"] == sha(forgery)
    assert count(InboundMessage, message_id=env.message_id) == 0

    path = drop(genuine, f"{env.message_id}.xml")
    receive()
    case = the_case(case_no)
    assert (case.state, case.decision, case.certificate_no) == ("decided", "approve", "赣TQ许2026-0042")
    assert case.decided_org == department
    assert events(case_no, "receive_decision") == 1 and events(case_no) == events_before + 1
    record = db.session.execute(sa.select(InboundMessage).filter_by(message_id=env.message_id)).scalar_one()
    assert record.state == "applied" and record.sha256 == sha(genuine)
    receipt = receipts_for(env.message_id)[-1]
    assert receipt["status"] == "accepted" and receipt["received_sha256"] == sha(genuine)
    run_bus()  # the receipt goes out; nothing is left behind
    assert not path.exists() and not list(inbox_dir().glob("*.xml"))
    assert events(case_no, "receive_decision") == 1
    sent = db.session.execute(sa.select(OutboxMessage).filter_by(message_id=record.receipt_message_id)).scalar_one()
    assert sent.state == "sent"


def test_jws_made_with_plain_cryptography_is_applied(api, app):
    case_no = city_review_case(api)
    department, window = sender_and_window(case_no)
    bus = get_bus()
    message_id = str(uuid.uuid4())
    payload = {
        "version": "1", "type": "case.return", "message_id": message_id,
        "from": {"node": bus.node_id, "org": department}, "to": {"node": bus.node_id, "org": window},
        "created_at": "2026-11-21T10:00:00+08:00", "case_no": case_no,
        "sequence": next_inbound_sequence(case_no, bus.node_id),
        "body": {"reasons": ["场地平面图比例不符", "缺少消防验收意见"], "by": "赵敏", "at": "2026-11-21T10:00:00+08:00"},
        "attachments": [],
    }
    encoded = json.dumps(payload, ensure_ascii=False, indent=1).encode()
    node_key = serialization.load_pem_private_key(
        (Path(app.instance_path) / "keys" / "node.key").read_bytes(), password=None)

    # signed by a key the trust store does not hold: quarantined, the case untouched
    forged = hand_made_jws(encoded, keys.generate_node_key(bus.node_id)[0], protected=JWS_HEADER)
    drop(forged, f"{message_id}.json")
    receive()
    assert state_of(case_no) == "city_review" and events(case_no, "receive_return") == 0
    assert db.session.execute(sa.select(InboundMessage.reason_code).filter_by(sha256=sha(forged))).scalar_one() \
        == "signature_invalid"
    assert (quarantine_dir() / f"{message_id}.json").read_bytes() == forged

    genuine = hand_made_jws(encoded, node_key, protected=JWS_HEADER)
    path = drop(genuine, f"{message_id}.json")
    receive()
    case = the_case(case_no)
    assert case.state == "returned" and case.return_reasons == ["场地平面图比例不符", "缺少消防验收意见"]
    assert events(case_no, "receive_return") == 1
    record = db.session.execute(sa.select(InboundMessage).filter_by(message_id=message_id)).scalar_one()
    assert (record.state, record.fmt, record.sha256) == ("applied", "json", sha(genuine))
    receipt = receipts_for(message_id)[-1]
    assert receipt["status"] == "accepted" and receipt["received_sha256"] == sha(genuine)
    assert not path.exists()


# --------------------------------------------------------------------------------------------- 2. over SFTP


def bus_of(node: Node):
    return node.app.extensions[EXTENSION_KEY]


def forward_with_file(county: Node, data: bytes = PDF, name: str = "营业执照.pdf") -> str:
    with county.ctx():
        item = county.api.item("forward_only")
        case_no = county.api.create(item)["case_no"]
        r = county.api.post(f"/api/v1/cases/{case_no}/files", user=WINDOW,
                            data={"material_code": item["materials"][0]["code"], "file": (io.BytesIO(data), name)},
                            content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        county.api.act(case_no, WINDOW, "accept")
    return case_no


def forward_row(case_no: str) -> OutboxMessage:
    db.session.expire_all()
    return db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()


def server_files(server) -> list[Path]:
    return sorted(p for p in server.root.rglob("*") if p.is_file())


def city_inbox(server) -> Path:
    return server.root / CITY / "inbox"


def on_envelope_rename(monkeypatch, inbox: Path, action):
    """Run `action(source, target)` in place of the first rename of an envelope into `inbox` (the last step of a
    publish); renames of attachments and of anything elsewhere go through. The transport pipelines its requests,
    so the rename is caught as it is sent (posix-rename@openssh.com); `real` sends it."""
    real_request = paramiko.SFTPClient._async_request
    fired = []

    def request(self, fileobj, kind, *args):
        if (not fired and kind == paramiko.sftp.CMD_EXTENDED and args[0] == "posix-rename@openssh.com"
                and posixpath.dirname(args[2]) == str(inbox) and args[2].endswith((".xml", ".json"))):
            fired.append((args[1], args[2]))

            def real(client, oldpath, newpath):
                return real_request(client, fileobj, kind, args[0], oldpath, newpath)

            return action(self, real, args[1], args[2])
        return real_request(self, fileobj, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", request)
    return fired


def assert_applied_once_at_city(city: Node, case_no: str, row_sha: str, attachment: bytes | None = None):
    with city.ctx():
        case = the_case(case_no)
        assert case.state == "city_review"
        assert events(case_no, "receive") == 1
        inbound = db.session.execute(sa.select(InboundMessage).filter_by(case_no=case_no)).scalars().all()
        assert [(m.type, m.state, m.sha256) for m in inbound] == [("case.forward", "applied", row_sha)]
        assert count(InboundMessage, state="quarantined") == 0
        if attachment is not None:
            [file] = case.files
            assert file.sha256 == sha(attachment) and file.size == len(attachment)
            assert sha(get_bus().blobs.get(file.sha256)) == sha(attachment)


def test_store_stopped_mid_upload_then_restarted(nodes, sftp, monkeypatch):
    county, city = Node(nodes[0]), Node(nodes[1])
    case_no = forward_with_file(county)
    inbox = city_inbox(sftp)

    at_stop = []

    def server_goes_away(client, real, oldpath, newpath):
        sftp.stop()  # the attachments and the envelope's .part are on the store; the rename never happens
        at_stop.append(server_files(sftp))
        return real(client, oldpath, newpath)

    fired = on_envelope_rename(monkeypatch, inbox, server_goes_away)
    county.exchange()  # must not raise: the message goes to retry
    assert fired
    with county.ctx():
        row = forward_row(case_no)
        # The store went away: nothing was delivered, so no attempt is used up (EXCHANGE_MAX_ATTEMPTS is for
        # deliveries a peer does not acknowledge).
        assert row.state == "retry" and row.attempts == 0 and row.last_error
        message_id, raw, row_sha = row.message_id, row.raw, row.sha256
        assert county.case(case_no, WINDOW)["state"] == "forwarded"
    part = inbox / f".{message_id}.xml.part"
    assert part.read_bytes() == raw and not (inbox / f"{message_id}.xml").exists()
    assert (inbox / f"{message_id}.files" / sha(PDF)).read_bytes() == PDF

    city.exchange()  # the store is down: nothing is received, nothing breaks
    assert server_files(sftp) == at_stop[0]  # a real outage: nothing reached the store while it lasted
    sftp.start()
    city.exchange()  # the store is back, but only a .part is there: the city sees nothing
    with city.ctx():
        assert count(InboundMessage) == 0 and count(Case, case_no=case_no) == 0
    assert part.exists()

    with county.ctx():
        row = forward_row(case_no)
        row.next_attempt_at = row.created_at  # the backoff has passed
        db.session.commit()
    pump(county, city)
    assert_applied_once_at_city(city, case_no, row_sha, PDF)
    with county.ctx():
        row = forward_row(case_no)
        assert (row.state, row.attempts) == ("acknowledged", 1)
    assert county.case(case_no, WINDOW)["state"] == "city_review"
    assert server_files(sftp) == []  # the .part was overwritten by the retry, then everything was cleaned up


def test_killed_between_upload_and_rename_leaves_only_a_part(nodes, sftp, monkeypatch):
    county, city = Node(nodes[0]), Node(nodes[1])
    case_no = forward_with_file(county)
    inbox = city_inbox(sftp)

    def die(client, real, oldpath, newpath):
        # The process dies before the rename; its half-written .part stays on the store.
        part = inbox / posixpath.basename(oldpath)
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
        raise Killed()

    on_envelope_rename(monkeypatch, inbox, die)
    with pytest.raises(Killed):
        county.exchange()
    monkeypatch.undo()
    bus_of(county).transport.close_all()  # a dead process's connections are gone with it
    with county.ctx():
        row = forward_row(case_no)
        assert row.state == "queued"  # the attempt was never committed: the message is simply still due
        message_id, raw, row_sha = row.message_id, row.raw, row.sha256
    part = inbox / f".{message_id}.xml.part"
    assert part.exists() and part.read_bytes() == raw[: len(raw) // 2]

    city.exchange()
    with city.ctx():  # the city ignores the .part: no message, no quarantine, no receipt
        assert count(InboundMessage) == 0 and count(OutboxMessage) == 0
    assert part.exists()

    pump(county, city)  # the restarted county sends again: the .part is overwritten, then renamed
    assert not part.exists()
    assert_applied_once_at_city(city, case_no, row_sha, PDF)
    with county.ctx():
        assert forward_row(case_no).state == "acknowledged"
    assert server_files(sftp) == []


def test_killed_between_receipt_and_inbox_cleanup(nodes, sftp, monkeypatch):
    county, city = Node(nodes[0]), Node(nodes[1])
    case_no = forward_with_file(county)
    county.exchange()
    with county.ctx():
        message_id, row_sha = forward_row(case_no).message_id, forward_row(case_no).sha256
    envelope = city_inbox(sftp) / f"{message_id}.xml"
    assert envelope.exists()

    transport = bus_of(city).transport
    real_remove = transport.remove_many  # the inbox removes a committed batch's files in one call
    calls = []

    def remove(node_id, items):
        calls.append(items)
        if len(calls) == 1:
            raise Killed()  # applied and committed with its receipt; the process dies before the clean-up
        return real_remove(node_id, items)

    monkeypatch.setattr(transport, "remove_many", remove)
    with pytest.raises(Killed):
        city.exchange()
    assert envelope.exists()
    with city.ctx():
        record = db.session.execute(sa.select(InboundMessage).filter_by(message_id=message_id)).scalar_one()
        assert record.state == "applied" and record.receipt_message_id
        original_receipt = record.receipt_message_id
        assert the_case(case_no).state == "city_review" and events(case_no, "receive") == 1

    city.exchange()  # the restarted city finds the file again
    assert not envelope.exists() and len(calls) >= 2
    with city.ctx():
        assert events(case_no, "receive") == 1
        assert count(InboundMessage, message_id=message_id) == 1
        rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="receipt", in_reply_to=message_id)
                                  ).scalars().all()
        assert [r.message_id for r in rows] == [original_receipt]  # answered with the original receipt
        assert receipts_for(message_id) == [{"status": "accepted", "received_sha256": row_sha}]
    pump(county, city)
    assert_applied_once_at_city(city, case_no, row_sha, PDF)
    with county.ctx():
        row = forward_row(case_no)
        assert row.state == "acknowledged" and row.receipt_status == "accepted"
        assert count(InboundMessage, type="receipt", state="applied") >= 1
    assert county.case(case_no, WINDOW)["state"] == "city_review"
    assert server_files(sftp) == []


# -- volume ---------------------------------------------------------------------------------------------------
# A thousand messages at once run on the local transport of one node, on SQLite only (~30-45 s on 2 cores); the
# same backlog over the real SFTP server between two nodes is 200 messages, so that both stay within a minute.


@pytest.fixture
def one_calendar_per_app(monkeypatch):
    """The holiday tables do not change during these tests: build the working-day calendar once per app instead of
    for every case (it costs ~10 ms each time, which would dominate a run of a thousand cases)."""
    from flask import current_app

    from delegation import clock

    real, built = clock.load_calendar, {}

    def load_calendar():
        key = id(current_app._get_current_object())
        if key not in built:
            built[key] = real()
        return built[key]

    monkeypatch.setattr(clock, "load_calendar", load_calendar)


def create_forwarded(n: int) -> list[str]:
    """`n` forward_only cases registered and accepted by the county window through the service layer (the
    forward goes to the outbox in the same transaction), in the current app context."""
    from delegation.actors import Actor
    from delegation.cases import create_case, perform
    from delegation.models import Item, User

    user = db.session.execute(sa.select(User).filter_by(username=WINDOW)).unique().scalar_one()
    actor = Actor.for_user(user)
    item = db.session.execute(sa.select(Item).filter_by(mode="forward_only", active=True).order_by(Item.code)
                              ).unique().scalars().first()
    materials = [{"code": m.code, "present": True} for m in item.materials]
    numbers = []
    for i in range(n):
        case = create_case(actor, item.code, ENTERPRISE, materials)
        perform(actor, case.case_no, "accept")
        numbers.append(case.case_no)
        if i % 100 == 99:
            db.session.commit()
    db.session.commit()
    return numbers


def drain(step) -> None:
    while step():
        pass


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_thousand_forwards_at_once_on_the_local_bus(app, one_calendar_per_app):
    numbers = create_forwarded(1000)
    assert count(OutboxMessage, type="case.forward", state="queued") == 1000
    drain(lambda: send_due(limit=1000))
    assert len(list(inbox_dir().glob("*.xml"))) == 1000  # the city's inbox, full

    drain(lambda: receive(limit=1000))
    assert count(InboundMessage, type="case.forward", state="applied") == 1000
    assert count(InboundMessage, type="case.forward") == 1000
    assert db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
        Case.case_no.in_(numbers), Case.state == "city_review")).scalar_one() == 1000
    assert db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent).where(
        CaseEvent.action == "receive")).scalar_one() == 1000
    for _ in range(3):  # the receipts go back and are applied
        drain(lambda: send_due(limit=1000))
        drain(lambda: receive(limit=1000))
    assert count(OutboxMessage, type="case.forward", state="acknowledged") == 1000
    assert count(OutboxMessage, type="case.forward") == 1000
    assert count(InboundMessage, state="quarantined") == 0
    assert not list(inbox_dir().iterdir())


def test_backlog_of_two_hundred_forwards_over_sftp(nodes, sftp, one_calendar_per_app):
    county, city = Node(nodes[0]), Node(nodes[1])
    n = 200
    with county.ctx():
        numbers = create_forwarded(n)
        drain(lambda: send_due(limit=1000))
        assert count(OutboxMessage, type="case.forward", state="awaiting_receipt") == n
    assert len(list(city_inbox(sftp).glob("*.xml"))) == n
    with city.ctx():
        drain(lambda: receive(limit=1000))
        assert count(InboundMessage, type="case.forward", state="applied") == n
        assert count(InboundMessage) == n
        assert db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
            Case.case_no.in_(numbers), Case.state == "city_review")).scalar_one() == n
        assert db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.action == "receive")).scalar_one() == n
    pump(county, city, rounds=2)
    with county.ctx():
        assert count(OutboxMessage, type="case.forward", state="acknowledged") == n
        assert count(Case, state="city_review") == n
    with city.ctx():
        assert count(InboundMessage, type="case.forward") == n  # nothing applied twice on the way
    assert server_files(sftp) == []


# -- a large attachment ----------------------------------------------------------------------------------------

BIG = 50 * 1024 * 1024


@pytest.fixture
def nodes_with_big_uploads(request, monkeypatch):
    """The two nodes, the county accepting uploads of 50 MB and more (MAX_UPLOAD_BYTES)."""

    def make_app(database_url, instance, **extra):
        if extra.get("NODE_ID") == COUNTY:
            extra["MAX_UPLOAD_BYTES"] = str(BIG + 1024 * 1024)
        return _make_app(database_url, instance, **extra)

    monkeypatch.setattr(test_two_nodes, "make_app", make_app)
    return request.getfixturevalue("nodes")


def test_fifty_megabyte_attachment_end_to_end(nodes_with_big_uploads, sftp):
    county, city = Node(nodes_with_big_uploads[0]), Node(nodes_with_big_uploads[1])
    scan = b"%PDF-1.7\n" + os.urandom(BIG - 9)
    assert len(scan) == BIG
    case_no = forward_with_file(county, scan, "竣工图纸扫描件.pdf")
    pump(county, city, rounds=2)
    with county.ctx():
        row = forward_row(case_no)
        assert row.state == "acknowledged" and row.attachments == [{"sha256": sha(scan), "size": BIG}]
        row_sha = row.sha256
    assert_applied_once_at_city(city, case_no, row_sha, scan)
    assert server_files(sftp) == []


# --------------------------------------------------------------------------------------------- 3. hostile XML

LAUGHS = "".join(
    ['<!ENTITY lol0 "lol">']
    + [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
)


def _with_doctype(raw: bytes, subset: str, reference: str) -> bytes:
    """The genuine signed message with an internal DTD subset, and `reference` in place of the applicant's name."""
    text = raw.decode()
    text = text.replace("?>", f"?>\n<!DOCTYPE Envelope [{subset}]>", 1)
    return text.replace(ENTERPRISE["name"], reference).encode()


def _wrapped(raw: bytes) -> bytes:
    outer = etree.Element(f"{{{xmlform.NS}}}Envelope", version="1", nsmap={None: xmlform.NS})
    outer.append(etree.fromstring(raw))
    return etree.tostring(outer, xml_declaration=True, encoding="UTF-8")


def _forgery(raw: bytes) -> etree._Element:
    forged = etree.fromstring(raw)
    forged.remove(forged.find("ds:Signature", NS))
    forged.find("tq:Body/tq:CaseForward/tq:Applicant/tq:Name", NS).text = "冒名顶替有限公司"
    return forged


def _hidden_in_forgery(raw: bytes) -> bytes:
    """A forged envelope carrying the genuine signature, with the genuine signed envelope tucked away inside."""
    genuine = etree.fromstring(raw)
    forged = _forgery(raw)
    hidden = etree.SubElement(forged.find("tq:Body/tq:CaseForward", NS), "{urn:x}Hidden")
    hidden.append(genuine)
    forged.append(etree.fromstring(etree.tostring(genuine.find("ds:Signature", NS))))
    return etree.tostring(forged, xml_declaration=True, encoding="UTF-8")


def _second_signature(raw: bytes) -> bytes:
    """The genuine envelope with a second Signature in front of the genuine one, wrapping a forged Envelope."""
    genuine = etree.fromstring(raw)
    signature = genuine.find("ds:Signature", NS)
    second = etree.fromstring(etree.tostring(signature))
    obj = etree.SubElement(second, f"{{{xmlform.DS_NS}}}Object")
    obj.append(_forgery(raw))
    genuine.insert(len(genuine) - 1, second)
    return etree.tostring(genuine, xml_declaration=True, encoding="UTF-8")


HOSTILE = {
    "external_entity": (lambda raw: _with_doctype(raw, '<!ENTITY e SYSTEM "file:///etc/passwd">', "&e;"), "malformed"),
    "billion_laughs": (lambda raw: _with_doctype(raw, LAUGHS, "&lol9;"), "malformed"),
    "wrapped_in_an_outer_envelope": (_wrapped, "signature_invalid"),
    "signed_envelope_hidden_in_a_forgery": (_hidden_in_forgery, "signature_invalid"),
    "second_signature_wrapping_a_forgery": (_second_signature, "signature_invalid"),
}


def _secrets_of_passwd() -> list[str]:
    lines = [line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()]
    assert lines
    return lines + [line.split(":", 1)[1] for line in lines if ":" in line and len(line.split(":", 1)[1]) > 8]


def _peak_rss_kib() -> int | None:
    try:
        return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
    except (OSError, AttributeError):
        return None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_xml_is_quarantined_and_changes_nothing(kind, api):
    build, code = HOSTILE[kind]
    case_no = forwarded_case(api)
    send_due()
    row = forward_row(case_no)
    genuine_path = inbox_dir() / f"{row.message_id}.xml"
    raw = genuine_path.read_bytes()
    parked = genuine_path.with_name("parked")
    shutil.move(genuine_path, parked)  # the attacker's file is there first, under the genuine name
    hostile = build(raw)
    assert hostile != raw
    path = drop(hostile, genuine_path.name)
    events_before = events(case_no)

    rss_reset = _reset_peak_rss()
    rss_before = _peak_rss_kib()
    tracemalloc.start()
    try:
        assert receive() == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024, f"{peak} bytes allocated while refusing {kind}"
    if rss_reset and rss_before:  # libxml2's own allocations, which tracemalloc cannot see
        assert _peak_rss_kib() - rss_before < 50 * 1024, "resident memory grew by more than 50 MB"

    assert not path.exists() and (quarantine_dir() / path.name).read_bytes() == hostile
    reason = (quarantine_dir() / f"{path.name}.reason.txt").read_text()
    assert reason.startswith(f"{code}: ") and len(reason) > len(code) + 3
    record = db.session.execute(sa.select(InboundMessage).filter_by(state="quarantined")).scalar_one()
    assert (record.reason_code, record.raw) == (code, hostile) and record.reason
    assert state_of(case_no) == "forwarded" and events(case_no) == events_before
    assert count(InboundMessage, state="applied", type="case.forward") == 0

    # the genuine message arrives after all: applied once, the forgery nowhere
    shutil.move(parked, genuine_path)
    for _ in range(3):
        run_bus()
    case = the_case(case_no)
    assert case.state == "city_review" and case.applicant_name == ENTERPRISE["name"]
    assert events(case_no, "receive") == 1
    assert count(InboundMessage, type="case.forward", state="applied") == 1
    assert forward_row(case_no).state == "acknowledged"
    assert not list(inbox_dir().glob("*.xml"))

    # nothing of /etc/passwd was read into a row, a receipt, a reason or the quarantine
    stored = []
    for m in db.session.execute(sa.select(InboundMessage)).scalars():
        stored += [m.raw.decode("utf-8", "replace"), m.reason or ""]
    for m in db.session.execute(sa.select(OutboxMessage)).scalars():
        stored += [m.raw.decode("utf-8", "replace"), m.last_error or "", m.receipt_reason or ""]
    stored += [e.comment or "" for e in db.session.execute(sa.select(CaseEvent)).scalars()]
    stored += [p.read_bytes().decode("utf-8", "replace") for p in quarantine_dir().rglob("*") if p.is_file()]
    everything = "\n".join(stored)
    assert "冒名顶替" not in case.applicant_name
    for secret in _secrets_of_passwd():
        assert secret not in everything, f"/etc/passwd content {secret[:20]!r}… was stored"
