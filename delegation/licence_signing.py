"""The issuing authorities' PDF signing keys, and the PAdES signature of a licence (pyHanko).

Each node has its own small PKI under its instance keys, apart from the exchange key:

    keys/licence/ca.key, ca.crt             the node's licence CA (self-signed, P-256, CA:TRUE pathlen 0)
    keys/licence/<org code>.key, .crt       an issuing authority's signing key, its certificate issued by that CA
                                            (CN and O = the authority's name, OU = its code, nonRepudiation)

Why not the node key: the node key speaks for the node on the bus; a licence must name the authority that
issued it (several live on one node), and a validator must be able to chain it to a root the node publishes
(/verify/ca.pem). A leaked licence key therefore cannot forge a bus message, nor the reverse. Keys are created on
first use with O_EXCL and mode 0600 (exchange.keys.write_private_key) and are never logged."""
from __future__ import annotations

import logging
import os
import re
import time
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exchange.keys import cert_pem, fingerprint, load_cert, load_private_key, write_private_key

log = logging.getLogger(__name__)
CA_VALIDITY = timedelta(days=365 * 20 + 5)
SIGNER_VALIDITY = timedelta(days=3653)
ORG_CODE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,39}$")
FIELD_NAME = "IssuerSeal"


def licence_dir(keys_dir: Path) -> Path:
    return Path(keys_dir) / "licence"


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=sign, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _build(subject: x509.Name, issuer: x509.Name, public_key, signing_key, validity: timedelta, ca: bool,
           issuer_public_key=None) -> x509.Certificate:
    # Back-dated a little: a validator whose clock lags must not see a certificate that is not yet valid.
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(start + validity)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(_usage(sign=not ca, ca=ca), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    if issuer_public_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _store(folder: Path, stem: str, key, cert: x509.Certificate) -> bool:
    """Write the certificate, then the key (O_EXCL, 0600): False when another process made this pair first."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = folder / f".{stem}.crt.{os.getpid()}.part"
    part.write_bytes(cert_pem(cert))
    try:
        write_private_key(folder / f"{stem}.key", key)
    except FileExistsError:
        part.unlink(missing_ok=True)
        return False
    os.replace(part, folder / f"{stem}.crt")
    return True


def _load(folder: Path, stem: str):
    crt = folder / f"{stem}.crt"
    for _ in range(50):  # a key without its certificate: another process is between the two writes
        if crt.exists():
            break
        time.sleep(0.1)
    return load_private_key(folder / f"{stem}.key"), load_cert(crt.read_bytes())


def node_ca(keys_dir: Path, node_id: str):
    """This node's licence CA (key, certificate), made on first use."""
    folder = licence_dir(keys_dir)
    if not (folder / "ca.key").exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"同权电子证照签发CA {node_id}"),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, node_id)])
        cert = _build(name, name, key.public_key(), key, CA_VALIDITY, ca=True)
        if _store(folder, "ca", key, cert):
            log.info("made the licence CA of node %s, certificate %s", node_id, fingerprint(cert))
    return _load(folder, "ca")


def authority_key(keys_dir: Path, node_id: str, org_code: str, org_name: str):
    """The authority's signing key and certificate (issued by the node's CA), made on first use."""
    if not ORG_CODE_RE.match(org_code or ""):
        raise ValueError(f"not an organisation code: {org_code!r}")
    folder = licence_dir(keys_dir)
    if not (folder / f"{org_code}.key").exists():
        ca_key, ca_cert = node_ca(keys_dir, node_id)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, org_name[:64]),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name[:64]),
                             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_code)])
        cert = _build(subject, ca_cert.subject, key.public_key(), ca_key, SIGNER_VALIDITY, ca=False,
                      issuer_public_key=ca_key.public_key())
        if _store(folder, org_code, key, cert):
            log.info("made the licence signing key of %s, certificate %s", org_code, fingerprint(cert))
    return _load(folder, org_code)


def ca_certificate_pem(keys_dir: Path, node_id: str) -> bytes:
    return cert_pem(node_ca(keys_dir, node_id)[1])


def _signer(keys_dir: Path, node_id: str, org_code: str, org_name: str):
    from asn1crypto import keys as asn1_keys, x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key, cert = authority_key(keys_dir, node_id, org_code, org_name)
    ca_cert = node_ca(keys_dir, node_id)[1]
    der = serialization.Encoding.DER
    signing_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(der)), signing_key=signing_key,
        cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(ca_cert.public_bytes(der))]))


def sign_pdf(pdf: bytes, keys_dir: Path, node_id: str, org_code: str, org_name: str, reason: str,
             location: str = "") -> bytes:
    """The PDF with the authority's PAdES baseline signature (ETSI.CAdES.detached, SHA-256), its certificate and
    the node CA's embedded. The seal is part of the signed page content, so the signature covers it."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    meta = signers.PdfSignatureMetadata(field_name=FIELD_NAME, md_algorithm="sha256", reason=reason,
                                        location=location or None, name=org_name,
                                        subfilter=fields.SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    out = signers.sign_pdf(writer, meta, signer=_signer(keys_dir, node_id, org_code, org_name))
    return out.getvalue()
