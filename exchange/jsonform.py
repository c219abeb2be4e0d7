"""The JSON form of an exchange envelope (exchange-v1, "The JSON form"): a JWS, flattened JSON serialization.

Public API (mirrors `exchange.xmlform`)::

    encode(env: Envelope) -> bytes                       # unsigned, schema-validated UTF-8 JSON payload
    sign(env: Envelope, private_key, node_id: str) -> bytes   # ES256 with a P-256 key, "SM2" with an SM2 key
    verify(data: bytes, trusted_certs: Callable[[str], Iterable[bytes | str | x509.Certificate]],
           expected_to_node: str | None = None,
           sig_alg: str | Callable[[str], str] = "ecdsa-p256") -> tuple[Envelope, bytes]
    envelope_to_json_dict(env: Envelope) -> dict         # the validated payload as a dict
    envelope_from_json_dict(d: dict) -> Envelope

The payload carries the same fields as the XML form (`exchange.jsonschemas` holds the schemas)::

    {"version": "1", "message_id", "type", "from": {"node", "org"}, "to": {"node", "org"}, "created_at",
     "case_no"?, "sequence"?, "in_reply_to"?, "body": {...}, "attachments": [{"name", "media_type", "size", "sha256"}]}

The JWS: ``{"payload": b64u(payload), "protected": b64u(header), "signature": b64u(r || s)}`` with the protected
header exactly ``{"alg":"ES256","kid":"<node_id>","typ":"tongquan-envelope+json"}``. With a peer agreed on
`sm2-sm3` the `alg` is ``"SM2"`` (SM2 signature of SM3(Z_A || signing input), signer ID 1234567812345678, 64-byte
r || s; no JOSE registry names SM2, exchange/schema/README.md says why this name) and nothing else changes. The
verifier requires the `alg` of the algorithm agreed with the sender: the message never chooses.

JWS is implemented here with `cryptography` alone rather than joserfc: the profile has one algorithm, so
ES256 is a dozen lines and there is no algorithm dispatch at all for an attacker to steer ("none", HS256 with
the public key as the secret); and verification needs control a JOSE library does not give (strict UTF-8,
duplicate keys refused in every JSON object, a size cap before parsing, canonical base64url, a key chosen only
from the trust store whatever `jwk`/`x5c`/`jku` say). The tests check interoperability with plain `cryptography`
and with joserfc.

Verification order and reason codes are those of `xmlform.verify`, so a message gets the same code whichever
encoding its peer uses: malformed → unsigned → unknown_sender (by the claimed sender, payload ``from.node``) →
signature_invalid (header profile, ``kid`` = ``from.node``, ECDSA) → schema_invalid → wrong_recipient.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
from functools import lru_cache
from typing import Any, Callable, Iterable

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from marshmallow import ValidationError

from .envelope import Envelope, wire_values
from .errors import (
    MALFORMED,
    SCHEMA_INVALID,
    SIGNATURE_INVALID,
    UNKNOWN_SENDER,
    UNSIGNED,
    WRONG_RECIPIENT,
    ExchangeRejected,
    InvalidEnvelope,
)
from . import sm2
from .jsonschemas import NODE_ID, EnvelopeSchema, describe, fast_body, fast_load
from .keys import load_cert

log = logging.getLogger(__name__)

ALG = "ES256"
ALG_SM2 = "SM2"
_JWS_ALGS = {sm2.ECDSA_P256: ALG, sm2.SM2_SM3: ALG_SM2}
TYP = "tongquan-envelope+json"
# An envelope is metadata; files travel beside it as attachments. 1 MiB is far above any real envelope and
# is checked before a single byte is parsed.
MAX_MESSAGE_BYTES = 1 << 20

_P256_BYTES = 32  # one coordinate of the raw r || s signature (RFC 7518 §3.4)
_JWS_MEMBERS = frozenset({"payload", "protected", "header", "signature"})
# Header parameters that change how a signature is checked: they count only when integrity protected, and
# `crit` / `b64` (RFC 7797, unencoded payload) ask for extensions this profile does not implement.
_VERIFICATION_PARAMS = frozenset({"alg", "kid", "typ", "crit", "b64"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_NODE_ID = re.compile(NODE_ID)
_ES256 = ec.ECDSA(hashes.SHA256())


# ---------------------------------------------------------------------------------------------- helpers


_TO_URL = bytes.maketrans(b"+/", b"-_")
_B64URL_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
_FROM_URL = bytes.maketrans(b"-_", b"+/")


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2): anything else, including a non-canonical spelling of
    the same bytes, is refused so one message has exactly one byte form (replay detection compares bytes)."""
    # ASCII, none of "+", "/", "=" (the padding is added below), and a length base64 can have; strict_mode then
    # refuses anything else outside the alphabet (whitespace included).
    if (type(text) is not str or not text.isascii() or len(text) % 4 == 1
            or "+" in text or "/" in text or "=" in text):
        raise ValueError("not base64url without padding")
    # The unused low bits of the last character must be zero: else two spellings would give the same bytes.
    rest = len(text) % 4
    if rest and _B64URL_VALUE.get(text[-1], 0) & (0b1111 if rest == 2 else 0b11):
        raise ValueError("non-canonical base64url")
    try:
        return binascii.a2b_base64(text.encode("ascii").translate(_FROM_URL) + b"=" * (-len(text) % 4),
                                   strict_mode=True)
    except binascii.Error:
        raise ValueError("not base64url without padding") from None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of two equal keys, other parsers the first: refuse the ambiguity outright, or a
    # signed {"to": A, "to": B} could mean different recipients to different verifiers.
    result = dict(pairs)  # in C; a duplicate shows as a shorter dict
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would accept NaN and Infinity


def _clean(text: str, limit: int = 500) -> str:
    """Operator-facing text built from untrusted input: bounded, and always encodable (no lone surrogates)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


def _parse_json(data: bytes, what: str) -> Any:
    # Fast path, orjson (C): its result counts only when `data` is byte for byte the canonical serialisation of it
    # (sorted keys, no whitespace: what every exchange-v1 node writes). Then no object held a duplicate key (the
    # re-serialisation would be shorter) and every value is what the careful parser below reads (no float for a
    # big integer, no leniency of orjson's left). Anything else, every error included, goes the careful way.
    try:
        value = orjson.loads(data)
        if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == data:
            return value
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        pass
    try:
        # Decode first: json.loads(bytes) would also accept UTF-16 and UTF-32; the wire format is UTF-8.
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise ExchangeRejected(MALFORMED, _clean(f"{what}: duplicate key {exc.key!r}")) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ExchangeRejected(MALFORMED, _clean(f"{what} is not UTF-8 JSON: {exc}")) from None


def _raw_dict(env: Envelope) -> dict[str, Any]:
    d: dict[str, Any] = {
        "version": "1",
        "message_id": env.message_id,
        "type": env.type,
        "from": {"node": env.from_node, "org": env.from_org},
        "to": {"node": env.to_node, "org": env.to_org},
        "created_at": env.created_at.isoformat(),
        "body": wire_values(env.body),
        "attachments": [
            {"name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256} for a in env.attachments
        ],
    }
    for key in ("case_no", "sequence", "in_reply_to"):
        if getattr(env, key) is not None:
            d[key] = getattr(env, key)
    return d


def _load(d: Any) -> Envelope:
    """Validate a payload dict; ValidationError carries messages keyed by JSON field."""
    env = fast_load(d)  # the common case, without marshmallow's machinery
    if env is not None:
        return env
    if not isinstance(d, dict):
        raise ValidationError("The envelope must be a JSON object.")
    return EnvelopeSchema().load(d)  # the specification, and the wording of every error


def _dumps(d: dict[str, Any]) -> bytes:
    # Sorted keys and no ASCII escaping: stable bytes, readable Chinese in a mailbox listing or a log. orjson writes
    # exactly what json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":")) writes for a validated
    # payload (tests/unit/test_json_envelope.py compares the two).
    return orjson.dumps(d, option=orjson.OPT_SORT_KEYS)


@lru_cache(maxsize=256)
def _load_cert(pem: bytes | str) -> x509.Certificate:
    return load_cert(pem)


def _as_cert(cert: bytes | str | x509.Certificate) -> x509.Certificate:
    return cert if isinstance(cert, x509.Certificate) else _load_cert(cert)


@lru_cache(maxsize=256)
def _p256_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey | None:
    """The certificate's public key when it is P-256 (else None), once per certificate."""
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:  # an SM2 certificate of the same node: not for ECDSA
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1) else None


# ---------------------------------------------------------------------------------------------- model ⇄ dict


def envelope_from_json_dict(d: dict[str, Any]) -> Envelope:
    """The Envelope a JSON payload dict describes. Raises InvalidEnvelope naming the field when it does not fit."""
    try:
        return _load(d)
    except ValidationError as exc:
        raise InvalidEnvelope(describe(exc.messages)) from None


def envelope_to_json_dict(env: Envelope) -> dict[str, Any]:
    """The JSON payload of `env` as a dict, validated and normalised (0..n lists present, None dropped)."""
    # The body by the encoding rules first (dates and Decimals as text, None means absent): the workflow's bodies
    # carry datetimes (acceptance.at, due_at), and the compiled checks judge the text the wire will carry.
    # Marshmallow only when they do not accept it (and then it words the error).
    d = _raw_dict(env)
    body = fast_body(d)
    if body is not None:
        d["body"] = body
        return d
    try:
        normalised = _load(d)
    except ValidationError as exc:
        raise InvalidEnvelope(f"{env.type} {env.message_id}: {describe(exc.messages)}") from None
    # The header fields of `d` are those of `normalised` already; the body gains its defaulted 0..n lists.
    d["body"] = normalised.body
    return d


def encode(env: Envelope) -> bytes:
    """Unsigned JSON payload of `env`, schema-validated. Raises InvalidEnvelope when it does not fit."""
    return _dumps(envelope_to_json_dict(env))


def sign(env: Envelope, private_key, node_id: str) -> bytes:
    """The flattened JWS of `env`, signed ES256 (or SM2, with an SM2 key) with `kid` = `node_id` (the sender)."""
    if node_id != env.from_node:
        # Receivers pick the certificate by from.node and require kid to match it; this could never verify.
        raise InvalidEnvelope(f"node {node_id} cannot sign a message from {env.from_node}")
    if sm2.is_private_key(private_key):  # the bus hands the key of the algorithm agreed with the recipient
        protected = _protected(node_id, ALG_SM2)
        payload = _b64encode(encode(env))
        signature = _b64encode(sm2.sign(private_key, f"{protected}.{payload}".encode("ascii")))
        return f'{{"payload":"{payload}","protected":"{protected}","signature":"{signature}"}}'.encode("ascii")
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("exchange keys must be ECDSA P-256 or SM2")
    protected = _protected(node_id)
    payload = _b64encode(encode(env))
    der = private_key.sign(f"{protected}.{payload}".encode("ascii"), _ES256)
    r, s = decode_dss_signature(der)
    signature = _b64encode(r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big"))
    # What _dumps would write (sorted keys, no spaces): base64url strings need no JSON escaping.
    return f'{{"payload":"{payload}","protected":"{protected}","signature":"{signature}"}}'.encode("ascii")


@lru_cache(maxsize=64)
def _protected(node_id: str, alg: str = ALG) -> str:
    # Key order and separators give exactly the header text of the spec.
    return _b64encode(json.dumps({"alg": alg, "kid": node_id, "typ": TYP}, separators=(",", ":")).encode())


# ---------------------------------------------------------------------------------------------- verify


@lru_cache(maxsize=256)
def _parsed_header(text: str) -> Any:
    return _parse_json(_b64decode(text), "protected header")


def _protected_header(text: str) -> Any:
    """The protected header, decoded and parsed (ValueError when not base64url, ExchangeRejected when not JSON):
    a node sends the same few, so each is parsed once. A copy, so a caller can never change the cached one."""
    header = _parsed_header(text)
    return dict(header) if isinstance(header, dict) else header


def _check_header(protected: Any, unprotected: Any, sender: str, alg: str = ALG) -> None:
    """Pin the JOSE header to exchange-v1's profile before any cryptography runs."""

    def bad(why: str) -> ExchangeRejected:
        return ExchangeRejected(SIGNATURE_INVALID, _clean(f"JWS header does not follow exchange-v1: {why}"))

    if not isinstance(protected, dict):
        raise bad("the protected header must be a JSON object")
    if unprotected is not None:
        if not isinstance(unprotected, dict):
            raise bad("the unprotected header must be a JSON object")
        # RFC 7515 §7.2.1: the two headers must not share a name. Verification parameters must be protected.
        shared = set(unprotected) & (set(protected) | _VERIFICATION_PARAMS)
        if shared:
            raise bad(f"{', '.join(sorted(shared))} must appear only in the protected header")
    # Exact and case-sensitive (RFC 7515 §4.1.1): "none", HS256, es256 all fail; and only the algorithm agreed with
    # this sender: an ES256 message from a peer agreed on SM2 fails, and the reverse.
    if protected.get("alg") != alg:
        raise bad(f"alg must be {alg} (agreed with node {sender}), got {protected.get('alg')!r}")
    for extension in ("crit", "b64"):
        if extension in protected:
            raise bad(f"{extension} is not supported")
    typ = protected.get("typ")
    # Media types are case-insensitive and "application/" may be omitted (RFC 7515 §4.1.9).
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != TYP:
        raise bad(f"typ must be {TYP}")
    kid = protected.get("kid")
    if kid != sender:
        raise bad(f"kid {kid!r} does not match from.node {sender!r}")
    # Any jwk, x5c, x5u, jku is deliberately ignored: keys come from the trust store only.


def _ecdsa_verify(cert: x509.Certificate, signing_input: bytes, raw: bytes) -> str | None:
    """None when `raw` is a valid ES256 signature by `cert`'s key, else why not (no key material in it)."""
    key = _p256_key(cert)
    if key is None:
        return "certificate key is not ECDSA P-256"
    r = int.from_bytes(raw[:_P256_BYTES], "big")
    s = int.from_bytes(raw[_P256_BYTES:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signing_input, _ES256)
    except InvalidSignature:
        return "InvalidSignature"
    return None


def _sm2_verify(cert: x509.Certificate, signing_input: bytes, raw: bytes) -> str | None:
    key = sm2.public_key(cert)
    if key is None:
        return "certificate key is not SM2"
    return None if sm2.verify(key, signing_input, raw) else "InvalidSignature"


def verify(
    data: bytes,
    trusted_certs: Callable[[str], Iterable[bytes | str | x509.Certificate]],
    expected_to_node: str | None = None,
    sig_alg: str | Callable[[str], str] = sm2.ECDSA_P256,
) -> tuple[Envelope, bytes]:
    """Verify a JWS envelope and return (envelope, payload bytes: exactly what the signature covers).

    `trusted_certs(node_id)` gives the trust-store certificates of a node; only those of the payload's
    from.node are tried; `sig_alg` is the algorithm agreed with the sender (or gives it for a node id). Every
    failure raises ExchangeRejected with a stable code.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ExchangeRejected(MALFORMED, "message must be bytes")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ExchangeRejected(MALFORMED, f"message is {len(data)} bytes, more than {MAX_MESSAGE_BYTES}")
    jws = _parse_json(bytes(data), "message")
    if not isinstance(jws, dict):
        raise ExchangeRejected(MALFORMED, "a flattened JWS must be a JSON object")
    if "signatures" in jws:
        # The general serialization may carry several signatures; exchange-v1 allows exactly one.
        raise ExchangeRejected(SIGNATURE_INVALID, "only the flattened JWS serialization (one signature) is accepted")
    if "signature" not in jws:
        raise ExchangeRejected(UNSIGNED, "no JWS signature in the message")
    if not _JWS_MEMBERS.issuperset(jws):  # nothing outside the signature may travel with the message
        extra = set(jws) - _JWS_MEMBERS
        raise ExchangeRejected(SIGNATURE_INVALID, _clean(f"unexpected JWS member(s) {', '.join(sorted(extra))}"))
    if not (isinstance(jws.get("payload"), str) and isinstance(jws.get("protected"), str)
            and isinstance(jws["signature"], str)):
        raise ExchangeRejected(MALFORMED, "payload, protected and signature must be strings")
    try:
        payload_bytes = _b64decode(jws["payload"])
        protected = _protected_header(jws["protected"])  # decoded and parsed once per distinct header
    except ValueError as exc:
        raise ExchangeRejected(MALFORMED, f"JWS member is not base64url: {exc}") from None
    payload = _parse_json(payload_bytes, "payload")

    # The claimed sender is read from the unverified payload only to pick which certificates to try.
    party = payload.get("from") if isinstance(payload, dict) else None
    sender = party.get("node") if isinstance(party, dict) else None
    if not isinstance(sender, str) or not _NODE_ID.fullmatch(sender):
        # Never hand an arbitrary string to the trust store (it may name a directory).
        raise ExchangeRejected(SCHEMA_INVALID, "from.node is missing or not a node id")
    certs = [_as_cert(c) for c in trusted_certs(sender)]
    if not certs:
        raise ExchangeRejected(UNKNOWN_SENDER, f"no trusted certificate for node {sender}")
    agreed = sig_alg(sender) if callable(sig_alg) else sig_alg
    jws_alg = _JWS_ALGS[agreed]
    _check_header(protected, jws.get("header"), sender, jws_alg)

    try:
        raw = _b64decode(jws["signature"])
    except ValueError as exc:
        raise ExchangeRejected(SIGNATURE_INVALID, f"signature is not base64url: {exc}") from None
    if len(raw) != 2 * _P256_BYTES:  # r || s of 32 bytes each, for SM2 as for ES256
        raise ExchangeRejected(SIGNATURE_INVALID, f"an {jws_alg} signature is 64 bytes, got {len(raw)}")
    signing_input = f"{jws['protected']}.{jws['payload']}".encode("ascii")  # the strings as sent (§5.2)
    failures: list[str] = []
    check = _sm2_verify if agreed == sm2.SM2_SM3 else _ecdsa_verify
    for cert in certs:  # several after a key rotation, or both kinds during a change of algorithm
        why = check(cert, signing_input, raw)
        if why is None:
            break
        failures.append(why)
    else:
        raise ExchangeRejected(
            SIGNATURE_INVALID,
            f"signature does not verify with any of {len(certs)} trusted certificate(s) of node {sender}: "
            + "; ".join(failures),
        )

    try:
        env = _load(payload)
    except ValidationError as exc:
        raise ExchangeRejected(SCHEMA_INVALID, _clean(describe(exc.messages))) from None
    if expected_to_node is not None and env.to_node != expected_to_node:
        raise ExchangeRejected(WRONG_RECIPIENT, f"message is for node {env.to_node}, this is node {expected_to_node}")
    log.debug("verified %s %s from %s", env.type, env.message_id, env.from_node)
    return env, payload_bytes
