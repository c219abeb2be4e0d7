"""国密 on the exchange bus (issue 20): the operator's SM2 keys and certificates (`flask exchange … --alg sm2-sm3`),
the per-peer agreement (`peer-set --sig-alg`), and two nodes — 宁都县 (360730) and the city (360700), each with its
own database and keys — walking a delegated_review case over a real OpenSSH SFTP server with `sm2-sm3` (county→city
XML, city→county JSON), every message of it checked with `openssl`."""
from __future__ import annotations

import io
import os

import pytest
import sqlalchemy as sa

from app.extensions import db
from exchange import keys
from tests import openssl_check as ossl
from tests.integration.support import Node
from tests.integration.test_two_nodes import CITY, COUNTY, PDF, build_node
from tests.sftpserver import SftpServer


@pytest.fixture
def sftp(tmp_path):
    server = SftpServer(tmp_path / "sftp").start()
    yield server
    server.stop()


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["exchange", *args])
    return result


def ok(app, *args) -> str:
    result = cli(app, *args)
    assert result.exit_code == 0, result.output
    return result.output


def sftp_options(server) -> list[str]:
    return ["--transport", "sftp", "--host", "127.0.0.1", "--port", str(server.port), "--user", server.user,
            "--key", str(server.client_key), "--known-hosts", str(server.known_hosts), "--root", str(server.root)]


@pytest.fixture
def sm2_nodes(tmp_path, sftp):
    county = build_node(tmp_path, COUNTY, sftp)
    city = build_node(tmp_path, CITY, sftp, remote=[COUNTY])
    for app, node in ((county, COUNTY), (city, CITY)):
        # An SM2 key beside the P-256 one, its certificate handed over out of band and trusted by the other side.
        ok(app, "keygen", "--alg", "sm2-sm3")
        (tmp_path / f"{node}-sm2.pem").write_text(ok(app, "cert", "--alg", "sm2-sm3").split("SHA-256")[0])
    ok(county, "trust", CITY, str(tmp_path / f"{CITY}-sm2.pem"))
    ok(city, "trust", COUNTY, str(tmp_path / f"{COUNTY}-sm2.pem"))
    ok(county, "peer-set", CITY, *sftp_options(sftp), "--format", "xml", "--sig-alg", "sm2-sm3")
    ok(city, "peer-set", COUNTY, *sftp_options(sftp), "--format", "json", "--sig-alg", "sm2-sm3")
    yield county, city
    for app in (county, city):
        with app.app_context():
            db.engine.dispose()


def pump(county: Node, city: Node, rounds=3):
    for _ in range(rounds):
        county.exchange()
        city.exchange()


def public_pems(tmp_path) -> dict[tuple[str, str], bytes]:
    """(node, algorithm) → public key PEM, read by openssl from each node's certificate file."""
    out = {}
    for node in (COUNTY, CITY):
        folder = tmp_path / f"instance-{node}" / "keys"
        out[(node, "sm2-sm3")] = ossl.public_pem((folder / "node-sm2.crt").read_bytes())
        out[(node, "ecdsa-p256")] = ossl.public_pem((folder / "node.crt").read_bytes())
    return out


def signed_parts(raw: bytes, fmt: str) -> tuple[bytes, bytes, str]:
    """(what the signature covers, r || s, the algorithm the message names) — taken apart without our code."""
    if fmt == "xml":
        parts = ossl.xml_parts(raw)
        if parts["signature_method"].endswith("#sm2-sm3"):
            assert parts["digest_method"].endswith("#sm3") and parts["digest"] == ossl.sm3(parts["document"])
            return parts["signed_info"], parts["signature"], "sm2-sm3"
        return parts["signed_info"], parts["signature"], "ecdsa-p256"
    parts = ossl.jws_parts(raw)
    return parts["signing_input"], parts["signature"], "sm2-sm3" if parts["header"]["alg"] == "SM2" else "ecdsa-p256"


def openssl_verdict(raw: bytes, fmt: str, pub: bytes, alg: str) -> bool:
    data, signature, named = signed_parts(raw, fmt)
    assert named == alg
    return ossl.verify(pub, data, signature, alg)


def test_a_delegated_review_case_end_to_end_with_sm2_sm3_over_sftp_every_message_verified_by_openssl(
        sm2_nodes, sftp, tmp_path):
    county, city = Node(sm2_nodes[0]), Node(sm2_nodes[1])
    window, reviewer = f"window-{COUNTY}", f"review-{COUNTY}"
    with county.ctx():
        item = county.api.item("delegated_review")
        case_no = county.api.create(item)["case_no"]
        r = county.api.post(f"/api/v1/cases/{case_no}/files", user=window,
                            data={"material_code": item["materials"][0]["code"],
                                  "file": (io.BytesIO(PDF), "营业执照.pdf")},
                            content_type="multipart/form-data")
        assert r.status_code == 201
    county.act(case_no, window, "accept")
    assert county.act(case_no, reviewer, "review", opinion="经实地核查，符合条件",
                      recommendation="approve")["state"] == "forwarded"
    pump(county, city)
    assert county.case(case_no, window)["state"] == "city_review"
    assert city.case(case_no, "city-approver")["review"]["opinion"] == "经实地核查，符合条件"
    city.act(case_no, "city-approver", "approve", certificate_no="赣特登2026-0002")
    pump(county, city)
    done = county.act(case_no, window, "hand_out", method="pickup")
    assert done["state"] == "concluded" and done["decision"]["certificate_no"] == "赣特登2026-0002"

    pems = public_pems(tmp_path)
    checked = {"xml": 0, "json": 0}
    for node, peer, fmt in ((county, CITY, "xml"), (city, COUNTY, "json")):
        me = COUNTY if peer == CITY else CITY
        with node.ctx():
            from exchange.models import InboundMessage, OutboxMessage

            sent = db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
            received = db.session.execute(sa.select(InboundMessage).order_by(InboundMessage.id)).scalars().all()
        to_peer = [m for m in sent if m.to_node == peer]
        # the case's messages and the receipts for the other side's, all acknowledged, in the peer's format
        assert {m.type for m in to_peer} >= ({"case.forward", "receipt"} if me == COUNTY else {"case.decision",
                                                                                               "receipt"})
        assert {m.state for m in to_peer if m.type != "receipt"} == {"acknowledged"}
        for m in sent:  # to the peer: SM2 as agreed; to this node's own regulator (no agreement): P-256
            alg = "sm2-sm3" if m.to_node == peer else "ecdsa-p256"
            assert openssl_verdict(m.raw, m.fmt, pems[(me, alg)], alg), (m.type, m.to_node)
            checked[m.fmt] += m.to_node == peer
        from_peer = [m for m in received if m.from_node == peer]
        assert from_peer and {m.state for m in from_peer} == {"applied"}
        for m in from_peer:  # what arrived, byte for byte as logged, verifies with openssl and the sender's key
            assert openssl_verdict(m.raw, m.fmt, pems[(peer, "sm2-sm3")], "sm2-sm3"), m.type
            # and not with another signer ID: it really is SM2 with the GM/T 0009 ID
            data, signature, _ = signed_parts(m.raw, m.fmt)
            assert not ossl.verify(pems[(peer, "sm2-sm3")], data, signature, distid="1234567812345679")
    assert checked["xml"] >= 2 and checked["json"] >= 2
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]


def test_a_node_agreed_on_ecdsa_quarantines_an_sm2_message_from_that_peer(sm2_nodes, sftp):
    county, city = Node(sm2_nodes[0]), Node(sm2_nodes[1])
    # The city goes back to P-256 for the county; the county still signs SM2 for the city.
    ok(city.app, "peer-set", COUNTY, *sftp_options(sftp), "--format", "json", "--sig-alg", "ecdsa-p256")
    with county.ctx():
        case_no = county.api.create(county.api.item("forward_only"))["case_no"]
    county.act(case_no, f"window-{COUNTY}", "accept")
    pump(county, city)
    with city.ctx():
        from exchange.models import InboundMessage

        row = db.session.execute(sa.select(InboundMessage).filter_by(case_no=case_no)).scalar_one()
        assert row.state == "quarantined" and row.reason_code == "signature_invalid"
        assert "ECDSA-SHA256, the algorithm agreed with node 360730" in row.reason
    assert county.case(case_no, f"window-{COUNTY}")["state"] == "forwarded"  # the city never took it


def test_sm2_keys_and_certificates_through_the_exchange_cli(app, tmp_path):
    folder = app.config["TONGQUAN"].keys_dir
    # No SM2 key yet: a peer cannot be agreed on sm2-sm3.
    refused = cli(app, "peer-set", "360731", "--transport", "local", "--format", "xml", "--sig-alg", "sm2-sm3")
    assert refused.exit_code != 0 and "keygen --alg sm2-sm3" in refused.output
    out = ok(app, "keygen", "--alg", "sm2-sm3")
    assert "node-sm2.key" in out
    key_file = folder / "node-sm2.key"
    assert os.stat(key_file).st_mode & 0o777 == 0o600 and (folder / "node.key").exists()  # both kept
    assert cli(app, "keygen", "--alg", "sm2-sm3").exit_code != 0  # never overwrites
    pem = ok(app, "cert", "--alg", "sm2-sm3").split("SHA-256")[0].encode()
    cert = keys.load_cert(pem)
    assert cert.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501"
    assert ossl.verify(ossl.public_pem(pem), cert.tbs_certificate_bytes, ossl.raw(cert.signature))
    assert ok(app, "cert").split("SHA-256")[0].encode() != pem  # the P-256 certificate is still the default

    out = ok(app, "peer-set", "360731", "--transport", "local", "--format", "xml", "--sig-alg", "sm2-sm3")
    assert "sm2-sm3" in out and "尚未信任节点 360731 的 sm2-sm3 证书" in out  # its messages would be quarantined
    assert "sm2-sm3" in next(line for line in ok(app, "peers").splitlines() if line.startswith("360731 "))
    assert "sm2-sm3" in ok(app, "peer-set", "360731", "--transport", "local", "--format", "json")  # kept

    # A peer's SM2 certificate made by openssl is trusted; one naming another node is refused.
    _, peer_pem = ossl.sm2_key_and_cert(tmp_path, "360731")
    (tmp_path / "peer.pem").write_bytes(peer_pem)
    fp = ok(app, "trust", "360731", str(tmp_path / "peer.pem")).split("Fingerprint=")[1].strip()
    assert "尚未信任" not in ok(app, "peer-set", "360731", "--transport", "local", "--format", "xml")
    wrong = cli(app, "trust", "360732", str(tmp_path / "peer.pem"))
    assert wrong.exit_code != 0 and "CN" in wrong.output
    assert "已移除" in ok(app, "untrust", "360731", fp[:11])

    # Rotation of the SM2 key: a new key, the old one retired, its certificate still trusted for this node.
    old_fp = keys.fingerprint(cert)
    out = ok(app, "rotate", "--alg", "sm2-sm3")
    assert old_fp in out and "cert --alg sm2-sm3" in out
    new = keys.load_cert((folder / "node-sm2.crt").read_bytes())
    assert keys.fingerprint(new) != old_fp and os.stat(key_file).st_mode & 0o777 == 0o600
    assert (folder / "retired" / f"{old_fp.replace(':', '')[:16]}.key").exists()
    own = cli(app, "untrust", app.config["TONGQUAN"].node_id, keys.fingerprint(new).replace(":", "")[:16])
    assert own.exit_code != 0 and "--force" in own.output  # the active SM2 certificate is protected too
