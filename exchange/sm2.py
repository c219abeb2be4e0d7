"""SM2 signatures with SM3 digests (GB/T 32918, GB/T 32905), for peers whose agreed algorithm is `sm2-sm3`.

The arithmetic is Tongsuo's (铜锁, through its Python SDK tongsuopy): `cryptography` has no SM2, and of the Python
SM2 libraries it is the one that interoperates with OpenSSL in both directions and runs at OpenSSL's speed (README,
"SM2 with SM3"). Every signature is over e = SM3(Z_A || M) with the signer ID of GM/T 0009, `1234567812345678`
(Tongsuo's default, the ID OpenSSL needs as `-sigopt distid:1234567812345678`), never over a caller's digest.

Wire form: r || s, 32 bytes each, big-endian (as ES256); DER only between this module and Tongsuo.

Certificates: X.509 v3 with an SM2 public key (id-ecPublicKey, curve sm2 1.2.156.10197.1.301), self-signed
SM2-with-SM3 (1.2.156.10197.1.501, GM/T 0015). `cryptography` parses them (name, validity, fingerprint) but cannot
build or use them, so the TBSCertificate is written here in DER, its parts (names, extensions, key) serialised by
the libraries, and signed with Tongsuo.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tongsuopy.crypto.exceptions import InvalidSignature, UnsupportedAlgorithm

ECDSA_P256, SM2_SM3 = "ecdsa-p256", "sm2-sm3"
SIG_ALGS = (ECDSA_P256, SM2_SM3)
DEFAULT_SIGNER_ID = b"1234567812345678"  # GM/T 0009; Tongsuo applies it, see module docstring
SIGNATURE_BYTES = 64

OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_SM2_CURVE = "1.2.156.10197.1.301"

_SM2_SIG = sm_ec.ECDSA(sm_hashes.SM3())  # with an SM2 key Tongsuo computes Z_A and signs SM3(Z_A || M)

PrivateKey = sm_ec.EllipticCurvePrivateKey
PublicKey = sm_ec.EllipticCurvePublicKey


def generate_private_key() -> PrivateKey:
    return sm_ec.generate_private_key(sm_ec.SM2())


def is_private_key(key: object) -> bool:
    return isinstance(key, sm_ec.EllipticCurvePrivateKey) and isinstance(key.curve, sm_ec.SM2)


def sign(key: PrivateKey, data: bytes) -> bytes:
    """r || s of SM2-with-SM3 over `data` (the message itself: Z_A and SM3 are applied here)."""
    r, s = decode_dss_signature(key.sign(data, _SM2_SIG))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(key: PublicKey, data: bytes, raw: bytes) -> bool:
    if len(raw) != SIGNATURE_BYTES:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, data, _SM2_SIG)
    except InvalidSignature:
        return False
    return True


def private_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption = (sm_serialization.BestAvailableEncryption(passphrase) if passphrase
                  else sm_serialization.NoEncryption())
    return key.private_bytes(sm_serialization.Encoding.PEM, sm_serialization.PrivateFormat.PKCS8, encryption)


def load_private_pem(pem: bytes, passphrase: bytes | None = None) -> PrivateKey:
    try:
        key = sm_serialization.load_pem_private_key(pem, password=passphrase)
    except UnsupportedAlgorithm:  # another curve, e.g. P-256
        raise ValueError("not an SM2 key") from None
    if not is_private_key(key):
        raise ValueError("not an SM2 key")
    return key


# -- certificates ----------------------------------------------------------------------------------------------

def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # + 1: room for the sign bit


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(p) for p in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _time(moment: datetime) -> bytes:
    moment = moment.astimezone(timezone.utc)
    if 1950 <= moment.year < 2050:  # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after
        return _der(0x17, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return _der(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _extension(ext: x509.ExtensionType, oid: x509.ObjectIdentifier, critical: bool) -> bytes:
    flag = _der(0x01, b"\xff") if critical else b""
    return _seq(_oid(oid.dotted_string), flag, _der(0x04, ext.public_bytes()))


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(sm_serialization.Encoding.DER, sm_serialization.PublicFormat.SubjectPublicKeyInfo)


def self_signed_cert(key: PrivateKey, node_id: str, validity: timedelta) -> x509.Certificate:
    """The node's SM2 certificate (CN = node_id), as `exchange.keys.generate_node_key` makes the P-256 one."""
    public = key.public_key()
    point = public.public_bytes(sm_serialization.Encoding.X962, sm_serialization.PublicFormat.UncompressedPoint)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]).public_bytes()
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)  # a peer's clock may lag
    algorithm = _seq(_oid(OID_SM2_WITH_SM3))  # no parameters (GM/T 0015)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    extensions = _seq(
        _extension(x509.BasicConstraints(ca=False, path_length=None), x509.OID_BASIC_CONSTRAINTS, True),
        _extension(usage, x509.OID_KEY_USAGE, True),
        # RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits, as cryptography does for P-256.
        _extension(x509.SubjectKeyIdentifier(hashlib.sha1(point).digest()), x509.OID_SUBJECT_KEY_IDENTIFIER,
                   False),
    )
    tbs = _seq(
        _der(0xA0, _int(2)),  # v3
        _int(x509.random_serial_number()),
        algorithm,
        name,
        _seq(_time(now), _time(now + validity)),
        name,
        _spki(public),
        _der(0xA3, extensions),
    )
    der_signature = key.sign(tbs, _SM2_SIG)
    return x509.load_der_x509_certificate(_seq(tbs, algorithm, _der(0x03, b"\x00" + der_signature)))


def _children(der: bytes) -> list[bytes]:
    """The complete TLVs inside one DER constructed value (definite lengths only, as DER requires)."""
    def item(at: int) -> tuple[int, int]:
        length, head = der[at + 1], 2
        if length & 0x80:
            count = length & 0x7F
            length, head = int.from_bytes(der[at + 2: at + 2 + count], "big"), 2 + count
        return head, length

    head, length = item(0)
    out, at, end = [], head, head + length
    while at < end:
        h, n = item(at)
        out.append(der[at: at + h + n])
        at += h + n
    return out


@lru_cache(maxsize=256)
def public_key(cert: x509.Certificate) -> PublicKey | None:
    """The certificate's SM2 public key, or None when it carries another kind of key."""
    from cryptography.hazmat.primitives.serialization import Encoding

    if algorithm_of(cert) != SM2_SM3:
        return None
    tbs = _children(_children(cert.public_bytes(Encoding.DER))[0])
    spki = tbs[6] if tbs[0][0] == 0xA0 else tbs[5]  # after version?, serial, signature, issuer, validity, subject
    try:
        key = sm_serialization.load_der_public_key(spki)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, sm_ec.EllipticCurvePublicKey) and isinstance(key.curve, sm_ec.SM2) else None


@lru_cache(maxsize=256)
def algorithm_of(cert: x509.Certificate) -> str | None:
    """`ecdsa-p256` or `sm2-sm3` by the certificate's public key (None for anything else)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:
        return SM2_SM3 if _named_curve(cert) == OID_SM2_CURVE else None
    return ECDSA_P256 if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1) else None


@lru_cache(maxsize=256)
def _named_curve(cert: x509.Certificate) -> str | None:
    from cryptography.hazmat.primitives.serialization import Encoding

    if cert.public_key_algorithm_oid != x509.ObjectIdentifier("1.2.840.10045.2.1"):  # id-ecPublicKey
        return None
    tbs = _children(_children(cert.public_bytes(Encoding.DER))[0])
    spki = tbs[6] if tbs[0][0] == 0xA0 else tbs[5]
    algorithm = _children(_children(spki)[0])
    if len(algorithm) != 2 or algorithm[1][0] != 0x06:
        return None
    return _dotted(algorithm[1][2:])


def _dotted(body: bytes) -> str:
    arcs, value = [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _sm3_function():
    # hashlib's SM3 (OpenSSL's, in C) where Python's OpenSSL has it; Tongsuo's otherwise.
    import hashlib as _hashlib

    try:
        _hashlib.new("sm3", b"")
        return lambda data: _hashlib.new("sm3", data).digest()
    except ValueError:  # pragma: no cover - depends on the OpenSSL Python was built with
        def digest(data: bytes) -> bytes:
            h = sm_hashes.Hash(sm_hashes.SM3())
            h.update(data)
            return h.finalize()

        return digest


sm3 = _sm3_function()
