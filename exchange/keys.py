"""Node signing keys: ECDSA P-256, or SM2 for peers agreed on `sm2-sm3` (exchange.sm2), each with a self-signed X.509
certificate (CN = node_id), per exchange-v1."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exchange import sm2

CERT_VALIDITY = timedelta(days=3653)  # ten years, leap days included


def generate_node_key(node_id: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new P-256 key and its self-signed certificate for `node_id`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
    # Back-date a little so a peer whose clock lags does not see a "not yet valid" certificate.
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def generate_sm2_node_key(node_id: str) -> tuple[sm2.PrivateKey, x509.Certificate]:
    """A new SM2 key and its self-signed SM2-with-SM3 certificate for `node_id` (same name, usage, validity)."""
    key = sm2.generate_private_key()
    return key, sm2.self_signed_cert(key, node_id, CERT_VALIDITY)


def generate_key(node_id: str, alg: str = sm2.ECDSA_P256) -> tuple[object, x509.Certificate]:
    if alg == sm2.SM2_SM3:
        return generate_sm2_node_key(node_id)
    if alg == sm2.ECDSA_P256:
        return generate_node_key(node_id)
    raise ValueError(f"unknown signature algorithm {alg!r}")


def write_private_key(
    path: str | os.PathLike[str], key: ec.EllipticCurvePrivateKey | sm2.PrivateKey, passphrase: bytes | None = None
) -> None:
    """Write `key` as PKCS#8 PEM to a new file readable only by its owner.

    The file is created with O_EXCL and mode 0600 in one step, so the key is never briefly world-readable and
    an existing key is never silently overwritten (rotation writes a new file). The parent directory is created
    0700 if missing.
    """
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    if sm2.is_private_key(key):
        pem = sm2.private_pem(key, passphrase)
    else:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        # The umask can only remove bits from 0600, but make the mode explicit anyway.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = -1  # now owned by the file object
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        if fd != -1:
            os.close(fd)
        target.unlink(missing_ok=True)  # never leave a half-written key behind
        raise


def load_private_key(path: str | os.PathLike[str], passphrase: bytes | None = None,
                     alg: str = sm2.ECDSA_P256):
    """The key in `path`, which must be of `alg` (a P-256 key where SM2 is agreed, or the reverse, is refused)."""
    if alg == sm2.SM2_SM3:
        return sm2.load_private_pem(Path(path).read_bytes(), passphrase)
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("exchange keys must be ECDSA P-256")
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes | str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as operators compare it out of band: upper-case hex pairs joined by colons."""
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
