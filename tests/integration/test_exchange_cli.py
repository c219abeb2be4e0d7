"""The operator's exchange commands: the node key (keygen, cert, rotate, passphrase), the trust store (trust,
untrust), peers (peer-set, peers) and the audit export, on SQLite and PostgreSQL."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from exchange.bus import get_bus
from exchange.envelope import Envelope
from exchange.errors import ExchangeRejected
from exchange.keyring import KeyringError, load_node_key
from exchange.keys import cert_pem, fingerprint, generate_node_key, load_cert
from exchange.models import InboundMessage, OutboxMessage
from tests.conftest import NODE_ID
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, run_bus


def _register_commands() -> None:
    # Until app/cli.py wires the group itself; register() is idempotent, and the guard keeps an explicit wiring.
    from app.cli import exchange
    from app.cli_exchange import register

    if "rotate" not in exchange.commands:
        register(exchange)


_register_commands()

WINDOW = f"window-{COUNTY}"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% scanned business licence\ntrailer << /Root 1 0 R >>\n%%EOF\n"
FP_LINE = re.compile(r"SHA-256 Fingerprint=((?:[0-9A-F]{2}:){31}[0-9A-F]{2})")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(args=["exchange", *args])
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
            assert "Traceback" not in result.output
        assert "PRIVATE KEY" not in result.output
        return result

    return invoke


def keys_dir(app) -> Path:
    return Path(app.instance_path) / "keys"


def trust_dir(app) -> Path:
    return Path(app.instance_path) / "trust"


def envelope(from_node: str = NODE_ID) -> Envelope:
    body = {"item_code": "GZ-TEST-001", "division": COUNTY, "action": "grant",
            "effective_at": datetime.now(timezone.utc), "reason": "测试"}
    return Envelope.new("delegation.change", from_node, "city", NODE_ID, "city", body)


def sign_with(key, env: Envelope) -> bytes:
    from exchange.xmlform import sign

    return sign(env, key, env.from_node)


def forwarded_case(client, upload: bytes | None = None) -> str:
    api = Api(client)
    item = api.item("forward_only")
    case_no = api.create(item)["case_no"]
    if upload is not None:
        r = api.post(f"/api/v1/cases/{case_no}/files", user=WINDOW,
                     data={"material_code": item["materials"][0]["code"],
                           "file": (io.BytesIO(upload), "营业执照.pdf", "application/pdf")},
                     content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
    api.act(case_no, WINDOW, "accept")
    return case_no


def remove_node_key(app) -> None:
    """A node without a key yet (init_bus makes one on first start)."""
    for name in ("node.key", "node.crt"):
        (keys_dir(app) / name).unlink()
    shutil.rmtree(trust_dir(app) / NODE_ID)
    get_bus().reload_key()


# -- this node's key ------------------------------------------------------------------------------------------

def test_keygen_refuses_to_overwrite_and_makes_a_private_key(app, cli):
    before = (keys_dir(app) / "node.key").read_bytes()
    result = cli("keygen", ok=False)
    assert "node.key" in result.output and "rotate" in result.output
    assert (keys_dir(app) / "node.key").read_bytes() == before

    remove_node_key(app)
    result = cli("keygen")
    key_file = keys_dir(app) / "node.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    node_cert = load_cert((keys_dir(app) / "node.crt").read_bytes())
    assert fingerprint(node_cert) in result.output
    assert get_bus().trust.knows(NODE_ID)  # it trusts itself: it sends to itself too
    get_bus().verify(get_bus().sign(envelope()))
    cli("keygen", ok=False)


def test_cert_prints_the_pem_and_its_fingerprint(app, cli):
    output = cli("cert").output
    pem = output[output.index("-----BEGIN CERTIFICATE-----"):output.index("-----END CERTIFICATE-----") + 25]
    printed = load_cert(pem.encode())
    assert pem.encode() + b"\n" == (keys_dir(app) / "node.crt").read_bytes()
    assert FP_LINE.search(output).group(1) == fingerprint(printed)
    assert cli("peers").output.count(NODE_ID) >= 1


def environ_passphrase() -> str | None:
    # What the node's settings take from the environment (EXCHANGE_KEY_PASSPHRASE) and its bus hands to the keyring.
    return os.environ.get("EXCHANGE_KEY_PASSPHRASE")


def test_encrypted_key_needs_its_passphrase_from_the_environment(app, cli, monkeypatch):
    remove_node_key(app)
    monkeypatch.delenv("EXCHANGE_KEY_PASSPHRASE", raising=False)
    assert "EXCHANGE_KEY_PASSPHRASE" in cli("keygen", "--encrypt", ok=False).output

    monkeypatch.setenv("EXCHANGE_KEY_PASSPHRASE", "门禁口令-correct horse")
    cli("keygen", "--encrypt")
    assert (keys_dir(app) / "node.key").read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = load_node_key(keys_dir(app), environ_passphrase())
    get_bus().verify(sign_with(key, envelope()))

    monkeypatch.delenv("EXCHANGE_KEY_PASSPHRASE")
    with pytest.raises(KeyringError, match="EXCHANGE_KEY_PASSPHRASE"):
        load_node_key(keys_dir(app), environ_passphrase())
    monkeypatch.setenv("EXCHANGE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(KeyringError, match="EXCHANGE_KEY_PASSPHRASE") as wrong:
        load_node_key(keys_dir(app), environ_passphrase())
    assert "PRIVATE KEY" not in str(wrong.value)


def test_rotate_keeps_old_signatures_valid_until_the_old_cert_is_untrusted(app, cli):
    old_key = load_node_key(keys_dir(app))
    old_fp = fingerprint(load_cert((keys_dir(app) / "node.crt").read_bytes()))
    signed_before = get_bus().sign(envelope())

    result = cli("rotate")
    new_fp = fingerprint(load_cert((keys_dir(app) / "node.crt").read_bytes()))
    assert new_fp != old_fp and old_fp in result.output and new_fp in result.output
    stem = old_fp.replace(":", "")[:16]
    retired = keys_dir(app) / "retired"
    assert (retired / f"{stem}.key").stat().st_mode & 0o777 == 0o600
    assert (keys_dir(app) / "node.key").stat().st_mode & 0o777 == 0o600
    assert fingerprint(load_cert((retired / f"{stem}.crt").read_bytes())) == old_fp
    assert load_node_key(keys_dir(app)).public_key().public_numbers() != old_key.public_key().public_numbers()

    signed_old = sign_with(old_key, envelope())
    signed_new = get_bus().sign(envelope())  # the bus signs with the new key at once
    for raw in (signed_before, signed_old, signed_new):
        get_bus().verify(raw)
    peers = cli("peers", "--full").output
    assert old_fp in peers and new_fp in peers

    cli("untrust", NODE_ID, new_fp, ok=False)  # the active certificate is protected
    cli("untrust", NODE_ID, old_fp)
    for raw in (signed_before, signed_old):
        with pytest.raises(ExchangeRejected) as rejected:
            get_bus().verify(raw)
        assert rejected.value.code == "signature_invalid"
    get_bus().verify(signed_new)
    cli("rotate")  # a second rotation retires the current key under its own name


# -- the trust store ------------------------------------------------------------------------------------------

def test_trust_and_untrust_a_peer_certificate(app, cli, tmp_path):
    key, peer_cert = generate_node_key(OTHER_COUNTY)
    pem_file = tmp_path / "peer.pem"
    pem_file.write_bytes(cert_pem(peer_cert))
    fp = fingerprint(peer_cert)
    from_peer = sign_with(key, envelope(OTHER_COUNTY))
    with pytest.raises(ExchangeRejected, match="unknown_sender"):
        get_bus().verify(from_peer)

    assert FP_LINE.search(cli("trust", OTHER_COUNTY, str(pem_file)).output).group(1) == fp
    assert (trust_dir(app) / OTHER_COUNTY / f"{fp.replace(':', '').lower()}.pem").exists()
    cli("trust", OTHER_COUNTY, str(pem_file))  # again: no second copy
    assert len(list((trust_dir(app) / OTHER_COUNTY).glob("*.pem"))) == 1
    get_bus().verify(from_peer)
    assert fp[:23] in cli("peers").output

    assert "CN" in cli("trust", "360732", str(pem_file), ok=False).output
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    assert "PEM" in cli("trust", OTHER_COUNTY, str(garbage), ok=False).output
    assert not (trust_dir(app) / "360732").exists() or not list((trust_dir(app) / "360732").glob("*.pem"))

    cli("untrust", OTHER_COUNTY, "00" * 32, ok=False)
    cli("untrust", OTHER_COUNTY, fp.replace(":", "")[:12].lower())  # a unique prefix, as operators type it
    with pytest.raises(ExchangeRejected, match="unknown_sender"):
        get_bus().verify(from_peer)
    cli("untrust", OTHER_COUNTY, fp, ok=False)


# -- peers ----------------------------------------------------------------------------------------------------

def test_peer_set_validates_sftp_options(app, cli, tmp_path):
    from exchange.models import ExchangePeer

    key = tmp_path / "id_ed25519"
    key.write_text("not checked here, only its presence and mode")
    key.chmod(0o644)
    known = tmp_path / "known_hosts"
    known.write_text("[127.0.0.1]:2222 ssh-ed25519 AAAA\n")
    base = ("peer-set", OTHER_COUNTY, "--transport", "sftp", "--format", "xml")

    assert "--host" in cli(*base, "--user", "tq", "--key", str(key), "--known-hosts", str(known), ok=False).output
    full = (*base, "--host", "127.0.0.1", "--user", "tq", "--known-hosts", str(known))
    assert "--key" in cli(*full, ok=False).output
    assert "--key" in cli(*full, "--key", str(tmp_path / "missing"), ok=False).output
    assert "--key" in cli(*full, "--key", str(key), ok=False).output  # readable by group and others
    key.chmod(0o600)
    assert "--known-hosts" in cli(*base, "--host", "h", "--user", "tq", "--key", str(key),
                                  "--known-hosts", str(tmp_path / "nope"), ok=False).output
    assert "--transport" in cli("peer-set", OTHER_COUNTY, "--transport", "ftp", "--format", "xml", ok=False).output
    assert db.session.get(ExchangePeer, OTHER_COUNTY) is None

    cli(*full, "--key", str(key), "--port", "2222")
    db.session.expire_all()
    peer = db.session.get(ExchangePeer, OTHER_COUNTY)
    assert (peer.transport, peer.sftp_port, peer.sftp_key_path) == ("sftp", 2222, str(key))
    cli("peer-set", OTHER_COUNTY, "--transport", "local", "--format", "json")
    db.session.expire_all()
    assert (db.session.get(ExchangePeer, OTHER_COUNTY).transport, db.session.get(ExchangePeer, OTHER_COUNTY).fmt) \
        == ("local", "json")
    assert re.search(rf"^{OTHER_COUNTY}\s+local\s+json\s", cli("peers").output, re.M)


def test_peers_shows_backlog_and_dead_counts(app, client, cli):
    case_no = forwarded_case(client)
    forward = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()

    def counts() -> tuple[str, str]:
        line = next(ln for ln in cli("peers").output.splitlines() if ln.startswith(forward.to_node + " "))
        return tuple(line.split()[-2:])

    assert counts() == ("1", "0")
    forward.state = "dead"
    db.session.commit()
    assert counts() == ("0", "1")


# -- export ---------------------------------------------------------------------------------------------------

def test_export_writes_the_exact_bytes_and_attachments_that_xmlsec1_verifies(app, client, cli, tmp_path):
    import hashlib

    case_no = forwarded_case(client, upload=PDF)
    forward = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")).scalar_one()
    out = tmp_path / "audit"
    cli("export", str(out), "--case", case_no)
    exported = out / f"out-{forward.sequence}-case.forward-{forward.message_id}.xml"
    assert exported.read_bytes() == forward.raw
    digest = hashlib.sha256(PDF).hexdigest()
    assert (out / f"{exported.stem}.files" / digest).read_bytes() == PDF

    if shutil.which("xmlsec1") is None:
        pytest.skip("xmlsec1 is not installed")
    result = subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(keys_dir(app) / "node.crt"),
                             str(exported)], capture_output=True, text=True)
    assert result.returncode == 0 and "OK" in result.stdout + result.stderr, result.stderr

    run_bus()  # the city (on this node) receives it: the inbound log has the same bytes
    received = db.session.execute(
        sa.select(InboundMessage).filter_by(message_id=forward.message_id)).scalar_one()
    single = tmp_path / "one"
    cli("export", str(single), "--message", forward.message_id)
    inbound = single / f"in-{received.sequence}-case.forward-{forward.message_id}.xml"
    assert inbound.read_bytes() == received.raw == forward.raw
    assert (single / f"{inbound.stem}.files" / digest).read_bytes() == PDF

    cli("export", str(tmp_path / "x"), ok=False)
    cli("export", str(tmp_path / "x"), "--case", "NO-SUCH-CASE", ok=False)
