"""SM2 with SM3 (issue 20) against an independent implementation, OpenSSL 3: our XML SignedInfo and JWS signing
input signatures verify with `openssl dgst -sm3 -verify … -sigopt distid:1234567812345678`, openssl's verify with
ours; a wrong signer ID or a changed byte fails on both sides; and the verifier takes the algorithm agreed with the
sender, never the one a message names."""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from exchange import jsonform, keys, sm2, xmlform
from exchange.errors import ExchangeRejected
from tests import openssl_check as ossl
from tests.unit.test_xml_envelope import CITY, COUNTY, make_envelope

PEER = "360799"  # a node whose key and certificate openssl made


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sm2")
    p256_key, p256_cert = keys.generate_node_key(COUNTY)
    sm2_key, sm2_cert = keys.generate_sm2_node_key(COUNTY)
    peer_key_path, peer_cert_pem = ossl.sm2_key_and_cert(folder, PEER)
    sm2_pem = keys.cert_pem(sm2_cert)
    return {
        "p256": (p256_key, p256_cert), "sm2": (sm2_key, sm2_cert), "sm2_pub": ossl.public_pem(sm2_pem),
        "peer_key": peer_key_path, "peer_cert": keys.load_cert(peer_cert_pem),
        "peer_pub": ossl.public_pem(peer_cert_pem),
        # The county holds both certificates, as during a change of algorithm (the SM2 one first: an ECDSA check must
        # pass over it, not stumble on a key `cryptography` cannot read).
        "trust": {COUNTY: [sm2_cert, p256_cert], PEER: [keys.load_cert(peer_cert_pem)]},
    }


def trusted(material):
    return lambda node: material["trust"].get(node, [])


def rejected(code: str, call) -> ExchangeRejected:
    with pytest.raises(ExchangeRejected) as info:
        call()
    assert info.value.code == code, info.value
    return info.value


def as_peer(type_: str = "case.forward"):
    """A message from PEER (openssl's key) to the city."""
    env = make_envelope(type_)
    return env.__class__(**{**env.__dict__, "from_node": PEER})


# -- keys and certificates -------------------------------------------------------------------------------------

def test_our_sm2_certificate_is_sm2_with_sm3_and_its_signature_verifies_with_openssl(material, tmp_path):
    _, cert = material["sm2"]
    pem = keys.cert_pem(cert)
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True, check=True).stdout
    assert text.count(b"Signature Algorithm: SM2-with-SM3") == 2 and b"ASN1 OID: SM2" in text
    assert re.search(rb"Subject: CN ?= ?360730", text) and b"Digital Signature, Non Repudiation" in text
    # The certificate's own signature: SM2-with-SM3 over the TBSCertificate with the GM/T 0009 signer ID.
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs, signature = cert.tbs_certificate_bytes, ossl.raw(cert.signature)
    assert tbs in der
    assert ossl.verify(material["sm2_pub"], tbs, signature)
    assert not ossl.verify(material["sm2_pub"], tbs, signature, distid="1234567812345679")
    assert sm2.algorithm_of(cert) == "sm2-sm3" and sm2.algorithm_of(material["p256"][1]) == "ecdsa-p256"


def test_an_sm2_key_file_is_private_encrypted_on_request_and_read_by_openssl(material, tmp_path):
    key, _ = material["sm2"]
    path = tmp_path / "node-sm2.key"
    keys.write_private_key(path, key, passphrase=b"correct horse")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    out = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "pass:correct horse", "-pubout"],
                         capture_output=True, check=True).stdout
    assert out == material["sm2_pub"]
    loaded = keys.load_private_key(path, b"correct horse", alg="sm2-sm3")
    assert ossl.verify(material["sm2_pub"], b"x", sm2.sign(loaded, b"x"))
    with pytest.raises(ValueError):  # an SM2 key is not a P-256 key, nor the reverse
        keys.load_private_key(path, b"correct horse")
    keys.write_private_key(tmp_path / "p256.key", material["p256"][0])
    with pytest.raises(ValueError):
        keys.load_private_key(tmp_path / "p256.key", alg="sm2-sm3")


# -- XML: SignedInfo ----------------------------------------------------------------------------------------------

def test_our_xml_signature_verifies_with_openssl_and_names_the_sm2_profile(material):
    data = xmlform.sign(make_envelope("case.forward"), material["sm2"][0], COUNTY)
    parts = ossl.xml_parts(data)
    assert parts["signature_method"] == "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
    assert parts["digest_method"] == "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
    assert parts["digest"] == ossl.sm3(parts["document"])  # the Reference, digested by openssl
    assert ossl.verify(material["sm2_pub"], parts["signed_info"], parts["signature"])
    # A wrong signer ID, a changed byte of SignedInfo: openssl says no.
    assert not ossl.verify(material["sm2_pub"], parts["signed_info"], parts["signature"], distid="1234567812345679")
    changed = parts["signed_info"].replace(b"<ds:DigestValue>", b"<ds:DigestValue>A", 1)[:-1]
    assert not ossl.verify(material["sm2_pub"], changed, parts["signature"])
    env, _ = xmlform.verify(data, trusted(material), CITY, sig_alg="sm2-sm3")
    assert env.from_node == COUNTY


def _with_signature_value(data: bytes, signature: bytes) -> bytes:
    value = base64.b64encode(signature)
    return re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>",
                  b"<ds:SignatureValue>" + value + b"</ds:SignatureValue>", data)


def test_openssls_signature_of_the_signed_info_verifies_with_ours(material):
    # The peer's document, signed by openssl with the peer's key: we take only openssl's SignatureValue.
    template = xmlform.sign(as_peer(), sm2.generate_private_key(), PEER)
    signed_info = ossl.xml_parts(template)["signed_info"]
    data = _with_signature_value(template, ossl.sign(material["peer_key"], signed_info))
    env, _ = xmlform.verify(data, trusted(material), CITY, sig_alg="sm2-sm3")
    assert env.from_node == PEER and env.type == "case.forward"

    wrong_id = _with_signature_value(template, ossl.sign(material["peer_key"], signed_info,
                                                         distid="1234567812345679"))
    assert "InvalidSignature" in str(rejected("signature_invalid",
                                              lambda: xmlform.verify(wrong_id, trusted(material), CITY, sig_alg="sm2-sm3")))
    changed = data.replace("经实地核查".encode(), "经实地核实".encode(), 1) if "经实地核查".encode() in data else \
        data.replace(b"<Comment>", b"<Comment>x", 1)
    assert changed != data
    rejected("signature_invalid", lambda: xmlform.verify(changed, trusted(material), CITY, sig_alg="sm2-sm3"))


# -- JSON: the JWS signing input ----------------------------------------------------------------------------------

def test_our_jws_verifies_with_openssl(material):
    data = jsonform.sign(make_envelope("case.supplement"), material["sm2"][0], COUNTY)
    parts = ossl.jws_parts(data)
    assert parts["header"] == {"alg": "SM2", "kid": COUNTY, "typ": "tongquan-envelope+json"}
    assert len(parts["signature"]) == 64
    assert ossl.verify(material["sm2_pub"], parts["signing_input"], parts["signature"])
    assert not ossl.verify(material["sm2_pub"], parts["signing_input"], parts["signature"], distid="1234567812345679")
    changed = parts["signing_input"][:-1] + (b"A" if parts["signing_input"][-1:] != b"A" else b"B")
    assert not ossl.verify(material["sm2_pub"], changed, parts["signature"])
    assert jsonform.verify(data, trusted(material), sig_alg="sm2-sm3")[0].type == "case.supplement"


def _jws(signing_input: bytes, signature: bytes) -> bytes:
    protected, payload = signing_input.decode().split(".")
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return json.dumps({"payload": payload, "protected": protected, "signature": sig},
                      separators=(",", ":"), sort_keys=True).encode()


def test_openssls_signature_of_the_jws_signing_input_verifies_with_ours(material):
    template = jsonform.sign(as_peer("case.return"), sm2.generate_private_key(), PEER)
    signing_input = ossl.jws_parts(template)["signing_input"]
    data = _jws(signing_input, ossl.sign(material["peer_key"], signing_input))
    env, _ = jsonform.verify(data, trusted(material), sig_alg="sm2-sm3")
    assert env.from_node == PEER and env.type == "case.return"

    wrong_id = _jws(signing_input, ossl.sign(material["peer_key"], signing_input, distid="1234567812345679"))
    rejected("signature_invalid", lambda: jsonform.verify(wrong_id, trusted(material), sig_alg="sm2-sm3"))
    protected, payload = signing_input.decode().split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["body"]["reasons"] = ["改过的理由"]
    changed_payload = base64.urlsafe_b64encode(
        json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()).rstrip(b"=").decode()
    changed = _jws(f"{protected}.{changed_payload}".encode(), ossl.jws_parts(data)["signature"])
    rejected("signature_invalid", lambda: jsonform.verify(changed, trusted(material), sig_alg="sm2-sm3"))


# -- the message cannot choose --------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", [xmlform, jsonform], ids=["xml", "json"])
def test_a_verifier_accepts_only_the_algorithm_agreed_with_the_sender(material, form):
    env = make_envelope("case.forward")
    by_sm2 = form.sign(env, material["sm2"][0], COUNTY)
    by_p256 = form.sign(env, material["p256"][0], COUNTY)
    # The county holds a trusted certificate of each kind, and each message is genuine: only the agreement decides.
    assert form.verify(by_sm2, trusted(material), CITY, sig_alg="sm2-sm3")[0] == env
    assert form.verify(by_p256, trusted(material), CITY, sig_alg="ecdsa-p256")[0] == env
    why = rejected("signature_invalid", lambda: form.verify(by_sm2, trusted(material), CITY, sig_alg="ecdsa-p256"))
    assert "agreed with node 360730" in str(why)
    rejected("signature_invalid", lambda: form.verify(by_p256, trusted(material), CITY, sig_alg="sm2-sm3"))
    # The default is ECDSA P-256, as before issue 20; the agreement may be given per sender.
    rejected("signature_invalid", lambda: form.verify(by_sm2, trusted(material), CITY))
    per_node = {COUNTY: "sm2-sm3"}.get
    assert form.verify(by_sm2, trusted(material), CITY, sig_alg=lambda n: per_node(n, "ecdsa-p256"))[0] == env


def test_an_sm2_signature_method_with_an_ecdsa_value_is_refused_before_any_check(material):
    # A message that names SM2 but was signed ECDSA (or the reverse) never reaches the key: the profile is pinned.
    data = xmlform.sign(make_envelope("case.forward"), material["p256"][0], COUNTY)
    relabelled = data.replace(xmlform._SIGNATURE_URI.encode(), xmlform.SM2_SIGNATURE_URI.encode()).replace(
        xmlform._DIGEST_URI.encode(), xmlform.SM3_DIGEST_URI.encode())
    rejected("signature_invalid", lambda: xmlform.verify(relabelled, trusted(material), CITY, sig_alg="sm2-sm3"))
    rejected("signature_invalid", lambda: xmlform.verify(relabelled, trusted(material), CITY, sig_alg="ecdsa-p256"))
    root = etree.fromstring(relabelled)
    assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureMethod").get("Algorithm").endswith("sm2-sm3")
