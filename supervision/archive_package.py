"""The archive package's container: a ZIP in the form of ASiC-E with CAdES (ETSI EN 319 162-1).

    mimetype                    "application/vnd.etsi.asic-e+zip", first and stored (not compressed)
    <the parts>                 case.json, timeline.json, messages/, receipts/, files/, documents/, certs/, …
    META-INF/ASiCManifest.xml   every part's SHA-256 (asic:DataObjectReference / ds:DigestValue)
    META-INF/signature.p7s      detached CMS (SignedData, ECDSA P-256 / SHA-256) over the manifest's exact bytes,
                                by the node key, its certificate inside

Why CMS and not an XML signature over the manifest: ASiC-E's CAdES form signs the manifest's bytes as they are, with
no canonicalisation to agree on, and `openssl cms -verify` checks it on any machine; the messages inside keep their
own XML Signatures (checked with xmlsec1) and JWS (checked with openssl).
"""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from xml.sax.saxutils import quoteattr

MIMETYPE = b"application/vnd.etsi.asic-e+zip"
MANIFEST = "META-INF/ASiCManifest.xml"
SIGNATURE = "META-INF/signature.p7s"
ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"

MEDIA_TYPES = {".json": "application/json", ".xml": "application/xml", ".pdf": "application/pdf",
               ".png": "image/png", ".jpg": "image/jpeg", ".pem": "application/x-pem-file"}


def media_type(name: str) -> str:
    dot = name.rfind(".")
    return MEDIA_TYPES.get(name[dot:].lower(), "application/octet-stream") if dot >= 0 else "application/octet-stream"


def manifest(parts: dict[str, bytes]) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<asic:ASiCManifest xmlns:asic="{ASIC_NS}" xmlns:ds="{DS_NS}">',
             f'  <asic:SigReference URI="{SIGNATURE}" MimeType="application/pkcs7-signature"/>']
    for name, data in parts.items():
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        lines += [f"  <asic:DataObjectReference URI={quoteattr(name)} MimeType={quoteattr(media_type(name))}>",
                  f'    <ds:DigestMethod Algorithm="{SHA256_URI}"/>',
                  f"    <ds:DigestValue>{digest}</ds:DigestValue>",
                  "  </asic:DataObjectReference>"]
    lines.append("</asic:ASiCManifest>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def sign(data: bytes, private_key, cert) -> bytes:
    """Detached CMS SignedData (DER) over `data`, binary (no MIME canonicalisation)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, private_key, hashes.SHA256())
            .sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))


def container(parts: dict[str, bytes], private_key, cert) -> bytes:
    """The ZIP: mimetype, the parts in the given order, the manifest and its signature."""
    signed = manifest(parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        for name, data in parts.items():
            zf.writestr(_info(name), data, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(_info(MANIFEST), signed, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(_info(SIGNATURE), sign(signed, private_key, cert), compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the time is in archive.json, signed
    info.external_attr = 0o600 << 16
    return info
