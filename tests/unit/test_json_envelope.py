"""The JSON form of the exchange envelope: schemas, JWS (flattened, ES256), interop, conversion to and from XML,
and hostile input. Sample bodies are the XML tests' own, so both encodings are proven on the same messages."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from exchange import jsonform, keys, xmlform
from exchange.envelope import MESSAGE_TYPES, Envelope
from exchange.errors import ExchangeRejected, InvalidEnvelope
from tests.unit.test_xml_envelope import CITY, COUNTY, OTHER_COUNTY, REGULATOR, SAMPLES, make_envelope

HEADER = {"alg": "ES256", "kid": COUNTY, "typ": "tongquan-envelope+json"}


@pytest.fixture(scope="module")
def node_keys():
    return {node: keys.generate_node_key(node) for node in (CITY, COUNTY, OTHER_COUNTY, REGULATOR)}


@pytest.fixture(scope="module")
def trust(node_keys):
    """Trust store callback: PEM per node; OTHER_COUNTY is a node nobody trusts."""
    store = {node: [keys.cert_pem(cert)] for node, (_, cert) in node_keys.items() if node != OTHER_COUNTY}
    return lambda node: store.get(node, [])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hand_made_jws(payload: bytes, key, protected: dict[str, Any] | None = None, **members: Any) -> bytes:
    """A flattened JWS built with nothing but `cryptography`, as a peer system would build it.

    `members` are added to the JWS object as they are, e.g. header={...} for an unprotected header.
    """
    header = b64(json.dumps(HEADER if protected is None else protected).encode())
    encoded = b64(payload)
    der = key.sign(f"{header}.{encoded}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)  # DER → the raw 64-byte r || s of RFC 7518 §3.4
    jws = {"protected": header, "payload": encoded, "signature": b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}
    return json.dumps(jws | members).encode()


def payload_of(env: Envelope) -> dict[str, Any]:
    return json.loads(jsonform.encode(env))


def rejected(code: str, data: bytes, trust, to: str | None = None) -> ExchangeRejected:
    with pytest.raises(ExchangeRejected) as info:
        jsonform.verify(data, trust, to)
    assert info.value.code == code, info.value.reason
    return info.value


# ------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_round_trip_every_type(type_, node_keys, trust):
    env = make_envelope(type_)
    data = jsonform.sign(env, node_keys[env.from_node][0], env.from_node)

    got, payload = jsonform.verify(data, trust, env.to_node)

    assert got == env
    assert got.body == SAMPLES[type_][2]  # the body dict shape is xmlform's, key for key
    assert payload == jsonform.encode(env)
    assert json.loads(payload)["version"] == "1"


def test_wire_shape(node_keys):
    env = make_envelope("case.forward")
    jws = json.loads(jsonform.sign(env, node_keys[COUNTY][0], COUNTY))
    assert set(jws) == {"payload", "protected", "signature"}
    assert unb64(jws["protected"]) == b'{"alg":"ES256","kid":"360730","typ":"tongquan-envelope+json"}'
    assert len(unb64(jws["signature"])) == 64
    payload = unb64(jws["payload"])
    assert "特种设备使用登记".encode() in payload  # UTF-8, no \u escapes
    assert list(json.loads(payload)) == sorted(json.loads(payload))
    assert json.loads(payload)["from"] == {"node": COUNTY, "org": "360730-office"}
    assert json.loads(payload)["attachments"][0] == {
        "name": "营业执照.pdf", "media_type": "application/pdf", "size": 30, "sha256": env.attachments[0].sha256
    }


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_xml_to_json_to_xml_keeps_every_field(type_, node_keys, trust):
    env = make_envelope(type_)
    if type_ != "receipt":
        env.in_reply_to = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"  # optional header field on any type
    key = node_keys[env.from_node][0]
    from_xml, _ = xmlform.verify(xmlform.sign(env, key, env.from_node), trust, env.to_node)

    as_dict = jsonform.envelope_to_json_dict(from_xml)
    via_json, _ = jsonform.verify(jsonform.sign(jsonform.envelope_from_json_dict(as_dict), key, env.from_node), trust)
    back, _ = xmlform.verify(xmlform.sign(via_json, key, env.from_node), trust, env.to_node)

    for model in (via_json, back):
        assert model == env
        for f in dataclasses.fields(Envelope):
            assert getattr(model, f.name) == getattr(env, f.name), f.name
        assert model.created_at.isoformat() == env.created_at.isoformat()  # same offset, not just same instant
    assert xmlform.encode(back) == xmlform.encode(env)  # byte for byte
    assert jsonform.encode(back) == jsonform.encode(env)


def test_encode_accepts_what_xmlform_encode_accepts():
    """Dates, datetimes and Decimals become ISO/plain strings; None means absent; a 0..n list may be left out."""
    env = make_envelope("supervision.feedback")
    env.body |= {"date": date(2026, 4, 10), "amount": Decimal("5000.00"), "comment": None}
    expected = {k: v for k, v in SAMPLES["supervision.feedback"][2].items() if k != "comment"}
    assert json.loads(jsonform.encode(env))["body"] == expected
    env = make_envelope("case.decision")
    del env.body["reasons"]
    assert json.loads(jsonform.encode(env))["body"]["reasons"] == []
    xmlform.encode(env)


def test_encode_refuses_what_the_schema_refuses():
    env = make_envelope("case.decision")
    env.body["decision"] = "maybe"
    with pytest.raises(InvalidEnvelope, match=r"body\.decision"):
        jsonform.encode(env)
    env = make_envelope("case.decision")
    env.body["certficate_no"] = "typo"
    with pytest.raises(InvalidEnvelope, match=r"body\.certficate_no: Unknown field"):
        jsonform.encode(env)
    env = make_envelope("case.return")
    env.sequence = None
    with pytest.raises(InvalidEnvelope, match="sequence"):
        jsonform.encode(env)
    env = make_envelope("receipt")
    env.in_reply_to = None
    with pytest.raises(InvalidEnvelope, match="in_reply_to"):
        jsonform.encode(env)
    env = make_envelope("case.forward")
    env.body["materials"][1]["core"] = "true"  # a JSON bool, not a string that looks like one
    with pytest.raises(InvalidEnvelope, match=r"body\.materials\[1\]\.core"):
        jsonform.encode(env)


def test_sign_refuses_another_nodes_identity(node_keys):
    with pytest.raises(InvalidEnvelope):
        jsonform.sign(make_envelope("case.forward"), node_keys[CITY][0], CITY)


def set_path(env: Envelope, path: str, value: Any) -> None:
    """Set a header attribute ("case_no"), a body value ("body.materials.0.code") or an attachment field."""
    head, *rest = path.split(".")
    if head == "attachments":
        index = int(rest[0])
        env.attachments[index] = dataclasses.replace(env.attachments[index], **{rest[1]: value})
    elif head == "body":
        target: Any = env.body
        for part in rest[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        target[rest[-1]] = value
    else:
        setattr(env, head, value)


# The XSD's simple types, one case each side of the line: both encodings must agree on every one.


SIMPLE_TYPE_CASES = [
    ("case.forward", "from_node", "360730-jk", True),
    ("case.forward", "from_node", "36073", False),
    ("case.forward", "to_org", "-window", False),
    ("case.forward", "case_no", "360730 2026", False),
    ("case.forward", "message_id", "not-a-uuid", False),
    ("case.forward", "body.applicant.phone", "+86 797-8123456", True),
    ("case.forward", "body.applicant.phone", "1234", False),
    ("case.forward", "body.applicant.id_code", "91360730ma39b2xk0t", False),
    ("case.forward", "body.item.code", "A" * 64, True),
    ("case.forward", "body.item.code", "A" * 65, False),
    ("case.forward", "body.item.name", "名" * 200, True),
    ("case.forward", "body.item.name", "名" * 201, False),
    ("case.forward", "body.item.name", "", False),
    ("case.forward", "body.comment", "控制字符\x01", False),
    ("case.forward", "body.acceptance.at", "2026-03-02T09:15:00", False),
    ("case.forward", "body.acceptance.at", "2026-03-02T01:15:00Z", True),
    ("case.forward", "body.acceptance.at", "2026-03-02T09:15:00.125-05:00", True),
    ("case.forward", "body.acceptance.at", "2026-02-30T09:15:00+08:00", False),
    ("case.forward", "body.acceptance.at", "20260302T091500+08:00", False),
    ("case.forward", "body.acceptance.at", "2026-03-02T09:15:00+14:01", False),
    ("case.forward", "body.acceptance.commitment.deadline", "2026-03-16+08:00", True),
    ("case.forward", "body.acceptance.commitment.deadline", "2026-3-16", False),
    ("case.forward", "body.acceptance.commitment.missing_materials", [], False),
    ("case.forward", "body.materials.2.code", "M01", False),  # material codes are unique
    ("case.forward", "body.materials.0.files", ["AB" * 32], False),
    # the particulars of tq:ForwardApplicant (optional; bounded as the intake bounds them)
    ("case.forward", "body.applicant.address", "址" * 200, True),
    ("case.forward", "body.applicant.address", "址" * 201, False),
    ("case.forward", "body.applicant.address", "", False),
    ("case.forward", "body.applicant.legal_representative", "陈" * 101, False),
    ("case.forward", "body.applicant.agent.name", "刘" * 100, True),
    ("case.forward", "body.applicant.agent.name", "刘" * 101, False),
    ("case.forward", "body.applicant.agent.id_code", "11010519491231002x", False),
    ("case.forward", "body.applicant.agent.phone", "1234", False),
    ("case.forward", "body.applicant.agent", {"id_code": "11010519491231002X"}, False),  # an agent has a name
    ("case.return", "body.reasons", [], False),
    ("case.return", "body.reasons", ["理" * 4000], True),
    ("case.return", "body.reasons", ["理" * 4001], False),
    ("supervision.feedback", "body.amount", "0", True),
    ("supervision.feedback", "body.amount", ".5", True),
    ("supervision.feedback", "body.amount", "1234567890123.45", True),
    ("supervision.feedback", "body.amount", "12345678901234.56", False),
    ("supervision.feedback", "body.amount", "5000.001", False),
    ("supervision.feedback", "body.amount", "5000.100", True),  # trailing zeros are not fraction digits
    ("supervision.feedback", "body.amount", "000000000000001234.5", True),  # nor are leading zeros digits
    ("supervision.feedback", "body.amount", "-0", True),
    ("supervision.feedback", "body.amount", "-1", False),
    ("supervision.feedback", "body.amount", "1e3", False),
    ("supervision.push", "body.responsible_parties", [], False),
    ("supervision.push", "body.responsible_parties.0.role", "approve", False),
    ("delegation.change", "body.division", "360700-jk", True),
    ("delegation.change", "body.division", "360700-JK", False),
    ("receipt", "body.received_sha256", "AB" * 32, False),
    ("case.supplement", "attachments.0.media_type", "application/pdf; charset=x", False),
]


@pytest.mark.parametrize("type_,path,value,valid", SIMPLE_TYPE_CASES)
def test_json_schemas_agree_with_the_xsd(type_, path, value, valid):
    env = make_envelope(type_)
    set_path(env, path, value)
    for encode in (xmlform.encode, jsonform.encode):
        if valid:
            encode(env)
        else:
            with pytest.raises(ValueError):  # InvalidEnvelope (lxml refuses control characters with ValueError)
                encode(env)


# ------------------------------------------------------------------------------------------- interop


def test_accepts_a_jws_made_with_plain_cryptography(node_keys, trust):
    """Payload written by hand (ASCII escapes, indentation, unsorted keys), signed with `cryptography` only."""
    body = SAMPLES["case.supplement"][2]
    payload = {
        "version": "1", "type": "case.supplement", "message_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "to": {"node": CITY, "org": "360700-xzspj"}, "from": {"node": COUNTY, "org": "360730-window"},
        "created_at": "2026-03-10T08:00:00+08:00", "case_no": "360730-2026-000123", "sequence": 4,
        "body": body, "attachments": [],
    }
    data = hand_made_jws(json.dumps(payload, indent=2).encode(), node_keys[COUNTY][0])

    env, signed = jsonform.verify(data, trust, CITY)

    assert json.loads(signed) == payload
    assert (env.type, env.from_org, env.sequence, env.body) == ("case.supplement", "360730-window", 4, body)
    assert env.created_at.isoformat() == "2026-03-10T08:00:00+08:00"


def test_what_we_sign_verifies_with_plain_cryptography(node_keys):
    jws = json.loads(jsonform.sign(make_envelope("case.return"), node_keys[CITY][0], CITY))
    raw = unb64(jws["signature"])
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    node_keys[CITY][1].public_key().verify(
        der, f"{jws['protected']}.{jws['payload']}".encode(), ec.ECDSA(hashes.SHA256())
    )


def test_interop_with_joserfc(node_keys, trust):
    from joserfc import jws
    from joserfc.jwk import ECKey

    key, cert = node_keys[COUNTY]
    env = make_envelope("case.forward")
    public = ECKey.import_key(cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ours = jws.deserialize_json(json.loads(jsonform.sign(env, key, COUNTY)), public, algorithms=["ES256"])
    assert ours.headers() == HEADER and ours.payload == jsonform.encode(env)

    private = ECKey.import_key(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    theirs = jws.serialize_json({"protected": dict(HEADER)}, jsonform.encode(env), private)
    assert jsonform.verify(json.dumps(theirs).encode(), trust, CITY)[0] == env


def test_old_certificate_still_verifies_after_rotation(node_keys):
    _, new_cert = keys.generate_node_key(COUNTY)
    env = make_envelope("case.supplement")
    data = jsonform.sign(env, node_keys[COUNTY][0], COUNTY)
    assert jsonform.verify(data, lambda n: [new_cert, node_keys[COUNTY][1]] if n == COUNTY else [], CITY)[0] == env


# ------------------------------------------------------------------------------------------- rejections


def test_tampered_payload_is_signature_invalid(node_keys, trust):
    jws = json.loads(jsonform.sign(make_envelope("case.decision"), node_keys[CITY][0], CITY))
    payload = unb64(jws["payload"])
    assert b'"decision":"approve"' in payload
    jws["payload"] = b64(payload.replace(b'"decision":"approve"', b'"decision":"deny"'))
    rejected("signature_invalid", json.dumps(jws).encode(), trust)


def test_tampered_protected_header_is_signature_invalid(node_keys, trust):
    jws = json.loads(jsonform.sign(make_envelope("case.decision"), node_keys[CITY][0], CITY))
    jws["protected"] = b64(b'{"alg":"ES256","kid":"360700","typ":"tongquan-envelope+json","x":1}')
    rejected("signature_invalid", json.dumps(jws).encode(), trust)


def test_unsigned(trust):
    env = make_envelope("case.forward")
    rejected("unsigned", jsonform.encode(env), trust)  # the bare payload
    rejected("unsigned", json.dumps({"payload": b64(jsonform.encode(env)), "protected": b64(b"{}")}).encode(), trust)


def test_alg_none_and_hs256_with_the_public_key_as_secret(node_keys, trust):
    payload = b64(jsonform.encode(make_envelope("case.forward")))
    none = b64(json.dumps(HEADER | {"alg": "none"}).encode())
    rejected("signature_invalid", json.dumps({"protected": none, "payload": payload, "signature": ""}).encode(), trust)

    # The classic confusion: HMAC keyed with the (public) certificate PEM the verifier holds.
    hs = b64(json.dumps(HEADER | {"alg": "HS256"}).encode())
    for secret in (keys.cert_pem(node_keys[COUNTY][1]), node_keys[COUNTY][1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)):
        mac = hmac.new(secret, f"{hs}.{payload}".encode(), hashlib.sha256).digest()
        forged = {"protected": hs, "payload": payload, "signature": b64(mac)}
        rejected("signature_invalid", json.dumps(forged).encode(), trust)


@pytest.mark.parametrize(
    "header",
    [
        HEADER | {"alg": "es256"},
        HEADER | {"alg": "ES384"},
        HEADER | {"alg": "RS256"},
        {k: v for k, v in HEADER.items() if k != "alg"},
        HEADER | {"crit": ["exp"], "exp": 1},
        HEADER | {"b64": False, "crit": ["b64"]},
        HEADER | {"typ": "JWT"},
        {k: v for k, v in HEADER.items() if k != "typ"},
        HEADER | {"kid": None},
    ],
    ids=["lowercase", "ES384", "RS256", "no-alg", "crit", "b64", "typ-JWT", "no-typ", "no-kid"],
)
def test_header_outside_the_profile_is_signature_invalid(header, node_keys, trust):
    """Each is a genuine ES256 signature by the trusted sender's key: only the header profile refuses it."""
    data = hand_made_jws(jsonform.encode(make_envelope("case.forward")), node_keys[COUNTY][0], header)
    rejected("signature_invalid", data, trust)


def test_typ_may_carry_the_application_prefix(node_keys, trust):
    header = HEADER | {"typ": "application/Tongquan-Envelope+JSON"}  # RFC 7515 §4.1.9
    env = make_envelope("case.forward")
    assert jsonform.verify(hand_made_jws(jsonform.encode(env), node_keys[COUNTY][0], header), trust)[0] == env


def test_verification_parameters_in_the_unprotected_header(node_keys, trust):
    """kid (or alg, typ, crit) outside the protected header is not covered by the signature: refused."""
    payload = jsonform.encode(make_envelope("case.forward"))
    no_kid = {"alg": "ES256", "typ": HEADER["typ"]}
    rejected("signature_invalid", hand_made_jws(payload, node_keys[COUNTY][0], no_kid, header={"kid": COUNTY}), trust)
    rejected("signature_invalid", hand_made_jws(payload, node_keys[COUNTY][0], header={"alg": "ES256"}), trust)


def test_kid_must_name_the_sender(node_keys, trust):
    """kid ≠ from.node is signature_invalid when from.node is trusted: the claimed sender is from.node (as
    XML's From/@node), kid only has to agree with it, so this is a message the claimed sender did not sign,
    whoever did. When from.node itself is unknown, it is unknown_sender, exactly as in the XML form."""
    payload = jsonform.encode(make_envelope("case.forward"))  # from COUNTY
    # Genuinely signed by the city (a trusted node) with its own kid, claiming to come from the county.
    rejected("signature_invalid", hand_made_jws(payload, node_keys[CITY][0], HEADER | {"kid": CITY}), trust)
    # The county's own valid signature, but kid names the city (or nobody we know).
    rejected("signature_invalid", hand_made_jws(payload, node_keys[COUNTY][0], HEADER | {"kid": CITY}), trust)
    rejected("signature_invalid", hand_made_jws(payload, node_keys[COUNTY][0], HEADER | {"kid": OTHER_COUNTY}), trust)
    # Claimed sender unknown, kid a trusted node.
    stranger = dataclasses.replace(make_envelope("case.forward"), from_node=OTHER_COUNTY)
    data = hand_made_jws(jsonform.encode(stranger), node_keys[CITY][0], HEADER | {"kid": CITY})
    rejected("unknown_sender", data, trust)


def test_signed_by_an_untrusted_key(node_keys, trust):
    attacker_key, _ = keys.generate_node_key(COUNTY)
    rejected("signature_invalid", hand_made_jws(jsonform.encode(make_envelope("case.forward")), attacker_key), trust)


def test_unknown_sender(node_keys, trust):
    env = dataclasses.replace(make_envelope("case.forward"), from_node=OTHER_COUNTY)
    rejected("unknown_sender", jsonform.sign(env, node_keys[OTHER_COUNTY][0], OTHER_COUNTY), trust)


def test_a_key_inside_the_message_is_never_used(node_keys, trust):
    """An attacker ships their own public key as `jwk` (and `x5c`) and signs with it."""
    attacker_key, attacker_cert = keys.generate_node_key(COUNTY)
    numbers = attacker_key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")),
           "y": b64(numbers.y.to_bytes(32, "big"))}
    x5c = [base64.b64encode(attacker_cert.public_bytes(serialization.Encoding.DER)).decode()]
    payload = jsonform.encode(make_envelope("case.forward"))
    rejected("signature_invalid", hand_made_jws(payload, attacker_key, HEADER | {"jwk": jwk, "x5c": x5c}), trust)
    rejected("signature_invalid", hand_made_jws(payload, attacker_key, header={"jwk": jwk}), trust)
    # Ignored, not merely refused: the genuine sender's message with the attacker's jwk beside it still verifies.
    genuine = hand_made_jws(payload, node_keys[COUNTY][0], header={"jwk": jwk, "x5c": x5c})
    assert jsonform.verify(genuine, trust, CITY)[1] == payload


def test_wrong_recipient(node_keys, trust):
    data = jsonform.sign(make_envelope("case.forward"), node_keys[COUNTY][0], COUNTY)  # for CITY
    rejected("wrong_recipient", data, trust, to=OTHER_COUNTY)
    assert jsonform.verify(data, trust, CITY)[0].to_node == CITY


def test_schema_violation_in_a_validly_signed_message_names_the_field(node_keys, trust):
    def signed_payload(payload: dict[str, Any], node: str = COUNTY) -> bytes:
        return hand_made_jws(json.dumps(payload).encode(), node_keys[node][0], HEADER | {"kid": node})

    payload = payload_of(make_envelope("case.forward"))
    payload["body"]["item"]["mode"] = "anything_goes"
    assert "body.item.mode" in rejected("schema_invalid", signed_payload(payload), trust).reason

    payload = payload_of(make_envelope("case.forward"))
    payload["body"]["materials"][1]["smuggled"] = True
    error = rejected("schema_invalid", signed_payload(payload), trust)
    assert "body.materials[1].smuggled: Unknown field" in error.reason

    payload = payload_of(make_envelope("case.forward"))
    del payload["sequence"]
    assert "sequence" in rejected("schema_invalid", signed_payload(payload), trust).reason

    payload = payload_of(make_envelope("supervision.claim"))
    payload["type"] = "supervision.feedback"  # the body no longer has the shape of its type
    assert "body." in rejected("schema_invalid", signed_payload(payload, REGULATOR), trust).reason

    payload = payload_of(make_envelope("case.forward"))
    payload["version"] = 1  # a number, not the string "1"
    assert "version" in rejected("schema_invalid", signed_payload(payload), trust).reason


def test_duplicate_keys_are_malformed(node_keys, trust):
    good = jsonform.sign(make_envelope("case.forward"), node_keys[COUNTY][0], COUNTY)
    jws = json.loads(good)
    # In the JWS object itself.
    rejected("malformed", good[:-1] + b',"payload":"' + jws["payload"].encode() + b'"}', trust)
    # In the signed payload: a second "to" that some parsers would honour and others not.
    payload = jsonform.encode(make_envelope("case.forward"))
    doubled = payload[:-1] + b',"to":{"node":"360731","org":"360731-office"}}'
    rejected("malformed", hand_made_jws(doubled, node_keys[COUNTY][0]), trust)
    # In the protected header.
    header = b'{"alg":"ES256","kid":"360730","typ":"tongquan-envelope+json","alg":"none"}'
    jws["protected"] = b64(header)
    rejected("malformed", json.dumps(jws).encode(), trust)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'"eyJhbGciOiJFUzI1NiJ9.e30.c2ln"',  # the compact serialization is not this profile
        b'{"payload": NaN, "signature": "x"}',
        b"\xff\xfe{}",
        json.dumps({"payload": "e30", "protected": "e30", "signature": "x"}).encode("utf-16"),
        b'{"payload": "e30=", "protected": "e30", "signature": ""}',  # padded base64url
        b'{"payload": "e3+/", "protected": "e30", "signature": ""}',  # plain base64 alphabet
        b'{"payload": 1, "protected": "e30", "signature": ""}',
        b"[" * 200_000 + b"]" * 200_000,  # under the size cap, but deeper than any parser should go
    ],
    ids=["empty", "text", "array", "compact", "nan", "bom-latin", "utf16", "padded", "base64", "number", "deep"],
)
def test_garbage_is_malformed(data, trust):
    rejected("malformed", data, trust)


def test_several_signatures_are_refused(node_keys, trust):
    jws = json.loads(jsonform.sign(make_envelope("case.forward"), node_keys[COUNTY][0], COUNTY))
    one = {"protected": jws["protected"], "signature": jws["signature"]}
    general = {"payload": jws["payload"], "signatures": [one]}
    rejected("signature_invalid", json.dumps(general).encode(), trust)
    rejected("signature_invalid", json.dumps(jws | {"unsigned_note": "trust me"}).encode(), trust)


def test_huge_input_is_malformed_without_being_parsed(trust, monkeypatch):
    def parse(*args, **kwargs):
        raise AssertionError("a message over the size cap must not be parsed")

    monkeypatch.setattr(jsonform.json, "loads", parse)
    huge = b'{"payload":"' + b"A" * (64 << 20) + b'","protected":"e30","signature":""}'
    error = rejected("malformed", huge, trust)
    assert str(jsonform.MAX_MESSAGE_BYTES) in error.reason


def test_lone_surrogates_are_schema_invalid_and_the_reason_stays_printable(node_keys, trust):
    """JSON may escape a lone surrogate (\\ud800), which neither UTF-8 nor XML can carry."""
    text = json.dumps(payload_of(make_envelope("case.forward")))
    text = text.replace('"comment"', '"comm\\ud800ent"').replace('"by": "\\u674e', '"by": "\\udc00\\u674e')
    error = rejected("schema_invalid", hand_made_jws(text.encode(), node_keys[COUNTY][0]), trust)
    assert "body.acceptance.by" in error.reason and "Unknown field" in error.reason
    error.reason.encode("utf-8")  # safe to log, store and send back in a receipt


# ------------------------------------------------------------------------------------------- fast path (issue 7)


def _marshmallow(d):
    from exchange.jsonschemas import EnvelopeSchema

    try:
        return EnvelopeSchema().load(d)
    except Exception:  # noqa: BLE001 - ValidationError, or a TypeError on an odd value: rejected either way
        return None


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_fast_path_accepts_what_marshmallow_accepts_with_the_same_result(type_):
    from exchange.jsonschemas import fast_load

    d = payload_of(make_envelope(type_))
    fast = fast_load(d)
    assert fast is not None and fast == _marshmallow(d)
    assert fast.body == SAMPLES[type_][2]


@pytest.mark.parametrize("type_,path,value,valid", SIMPLE_TYPE_CASES)
def test_fast_path_never_accepts_what_marshmallow_refuses(type_, path, value, valid):
    from exchange.jsonschemas import fast_load

    env = make_envelope(type_)
    d = payload_of(env)
    # The same change, made to the payload dict (the model may not even hold such a value).
    target: Any = d
    parts = path.replace("from_node", "from.node").replace("to_org", "to.org").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    fast = fast_load(d)
    slow = _marshmallow(d)
    assert (slow is not None) == valid
    assert fast == slow if valid else fast is None


@pytest.mark.parametrize("mutation", [
    lambda d: d.__setitem__("sequence", True),
    lambda d: d.__setitem__("sequence", 0),
    lambda d: d.__setitem__("sequence", "3"),
    lambda d: d.__setitem__("case_no", None),
    lambda d: d.__setitem__("extra", 1),
    lambda d: d["body"].__setitem__("extra", 1),
    lambda d: d["body"]["materials"][0].__setitem__("core", "true"),
    lambda d: d["body"]["materials"][0].__setitem__("files", "abc"),
    lambda d: d["body"]["materials"].append(dict(d["body"]["materials"][0])),
    lambda d: d["body"]["item"].__setitem__("mode", ["direct"]),
    lambda d: d["body"].pop("item"),
    lambda d: d["attachments"][0].__setitem__("size", -1),
    lambda d: d["attachments"][0].__setitem__("size", 1.5),
    lambda d: d.__setitem__("version", 1),
    lambda d: d.__setitem__("type", "case.decision"),
    lambda d: d["from"].__setitem__("node", 360730),
])
def test_fast_path_refuses_odd_values(mutation):
    from exchange.jsonschemas import fast_load

    d = payload_of(make_envelope("case.forward"))
    mutation(d)
    assert fast_load(d) is None and _marshmallow(d) is None


# ------------------------------------------------------------------------------------------- fast paths (issue 7, round two)


def test_duplicate_keys_in_canonical_order_are_malformed(node_keys, trust):
    """The orjson path counts only for canonical input: a duplicate kept in sorted, compact form is still refused."""
    payload = jsonform.encode(make_envelope("case.forward"))
    start = payload.index(b',"to":{')
    end = payload.index(b"}", start) + 1
    member = payload[start:end]
    for doubled in (payload[:end] + member + payload[end:],  # the same value twice
                    payload[:end] + member.replace(CITY.encode(), OTHER_COUNTY.encode()) + payload[end:]):
        rejected("malformed", hand_made_jws(doubled, node_keys[COUNTY][0]), trust)
    jws = jsonform.sign(make_envelope("case.forward"), node_keys[COUNTY][0], COUNTY)
    rejected("malformed", jws[:-1] + jws[jws.index(b',"signature"'):], trust)


def test_big_integers_are_read_as_integers_not_floats(node_keys, trust):
    """orjson reads an integer above 64 bits as a float; such input is not canonical for it and goes the careful
    way, where the sequence is the integer sent."""
    payload = re.sub(rb'"sequence":[0-9]+', b'"sequence":' + b"9" * 30, jsonform.encode(make_envelope("case.forward")))
    assert b"9" * 30 in payload
    env, _ = jsonform.verify(hand_made_jws(payload, node_keys[COUNTY][0]), trust, CITY)
    assert env.sequence == int("9" * 30)


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_payload_bytes_are_what_json_dumps_writes(type_):
    env = make_envelope(type_)
    expected = json.dumps(jsonform.envelope_to_json_dict(env), sort_keys=True, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    assert jsonform.encode(env) == expected


def test_payload_escapes_are_what_json_dumps_writes():
    env = make_envelope("case.forward")
    env.body["comment"] = 'a "quoted" \\ back\tslash\r\n 中文 \u2028 / </script> \U0001f600'
    expected = json.dumps(jsonform.envelope_to_json_dict(env), sort_keys=True, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    assert jsonform.encode(env) == expected


@pytest.mark.parametrize("text, expected", [("", b""), ("QQ", b"A"), ("QUI", b"AB"), ("QUJD", b"ABC"),
                                            ("-_8", b"\xfb\xff")])
def test_base64url_accepts_the_canonical_spelling(text, expected):
    assert jsonform._b64decode(text) == expected


@pytest.mark.parametrize("text", ["QR", "QUJ", "QQ==", "QQ=", "Q", "abcde", "a+bc", "ab/c", "ab c", "ab\nc", "ab\tc",
                                  "abc$", "é", "ＡＢＣＤ"])
def test_base64url_refuses_everything_else(text):
    with pytest.raises(ValueError):
        jsonform._b64decode(text)


def test_patterns_that_skip_the_xml_character_check_match_printable_ascii_only():
    """The compiled checks skip the search for characters XML cannot carry after a pattern that can only match
    printable ASCII; the test for that must say no whenever a pattern could match more."""
    from exchange import jsonschemas

    for name in ("NODE_ID", "DIVISION_CODE", "UUID", "SHA256_HEX", "CODE", "CASE_NO", "ID_CODE", "PHONE", "MEDIA_TYPE"):
        assert jsonschemas._printable_ascii_only(getattr(jsonschemas, name)), name
    for pattern in (r".*", r"[^a]+", r"\d+", r"[\w]", r"[a-z]\s", "[\x01-z]", r"(\S)", "a\u00e9", r"[a-z]\u0001",
                    r"[\x00-z]", r"\x01", r"a.b"):
        assert not jsonschemas._printable_ascii_only(pattern), pattern


def test_a_forward_with_datetime_values_is_signed_by_the_compiled_checks(node_keys, trust, monkeypatch):
    """The workflow's bodies carry datetimes: converted by the encoding rules they are accepted without marshmallow
    (which only words errors), and they arrive as their ISO text."""
    from tests.unit.test_xml_envelope import _as_the_workflow_builds_it

    env = _as_the_workflow_builds_it(make_envelope("case.forward"))

    def no_marshmallow(_d):
        raise AssertionError("sign loaded the body with marshmallow although the compiled checks accept it")

    monkeypatch.setattr(jsonform, "_load", no_marshmallow)
    data = jsonform.sign(env, node_keys[env.from_node][0], env.from_node)
    monkeypatch.undo()
    back, _ = jsonform.verify(data, trust, env.to_node)
    assert back.body["acceptance"]["at"] == "2026-03-02T09:15:04.718764+00:00"
    assert back.body["due_at"] == "2026-03-09T17:30:00+08:00"


def test_an_older_peers_forward_without_the_particulars_is_still_valid(node_keys, trust):
    """tq:ForwardApplicant's address, legal representative and agent are optional: the forward of a peer that
    predates them (its applicant as tq:Applicant) reads in both encodings, the particulars absent."""
    for form in (xmlform, jsonform):
        env = make_envelope("case.forward")
        env.body["applicant"] = {k: v for k, v in env.body["applicant"].items()
                                 if k not in ("address", "legal_representative", "agent")}
        got, _ = form.verify(form.sign(env, node_keys[COUNTY][0], COUNTY), trust, expected_to_node=CITY)
        assert got.body["applicant"] == env.body["applicant"]
        assert not {"address", "legal_representative", "agent"} & set(got.body["applicant"])
