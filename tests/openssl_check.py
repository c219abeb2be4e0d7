"""OpenSSL 3 (the `openssl` command) as the independent SM2/SM3 and ECDSA implementation the exchange is checked
against: the parts of a signed message a verifier signs over, taken apart here with lxml and json only, and
`openssl dgst` / `openssl pkey` on them."""
from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from lxml import etree

DS = "{http://www.w3.org/2000/09/xmldsig#}"
DEFAULT_ID = "1234567812345678"


def _run(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30)


def xml_parts(raw: bytes) -> dict:
    """SignedInfo in exclusive c14n, the raw SignatureValue, the DigestValue, the Reference's canonical document
    (the Signature removed) and the two algorithm URIs of a signed XML envelope."""
    root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True))
    signature = root.find(f"{DS}Signature")
    signed_info = signature.find(f"{DS}SignedInfo")
    parts = {
        "signed_info": etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False),
        "signature": base64.b64decode("".join(signature.find(f"{DS}SignatureValue").text.split())),
        "digest": base64.b64decode(signed_info.find(f"{DS}Reference/{DS}DigestValue").text),
        "signature_method": signed_info.find(f"{DS}SignatureMethod").get("Algorithm"),
        "digest_method": signed_info.find(f"{DS}Reference/{DS}DigestMethod").get("Algorithm"),
    }
    root.remove(signature)  # the enveloped-signature transform (no tail after it: it is the last child)
    parts["document"] = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    return parts


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jws_parts(raw: bytes) -> dict:
    jws = json.loads(raw)
    return {"signing_input": f"{jws['protected']}.{jws['payload']}".encode("ascii"),
            "signature": _b64url(jws["signature"]), "header": json.loads(_b64url(jws["protected"]))}


def der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def raw(der_signature: bytes) -> bytes:
    r, s = decode_dss_signature(der_signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def public_pem(cert_pem: bytes) -> bytes:
    result = _run("x509", "-pubkey", "-noout", data=cert_pem)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _sig_args(alg: str, distid: str) -> list[str]:
    return ["-sm3", "-sigopt", f"distid:{distid}"] if alg == "sm2-sm3" else ["-sha256"]


def verify(pub_pem: bytes, data: bytes, signature: bytes, alg: str = "sm2-sm3", distid: str = DEFAULT_ID) -> bool:
    """openssl's verdict on r || s over `data`: `openssl dgst -sm3 -verify PUB -sigopt distid:ID -signature`."""
    with tempfile.TemporaryDirectory() as tmp:
        pub, sig = Path(tmp) / "pub.pem", Path(tmp) / "sig.der"
        pub.write_bytes(pub_pem)
        sig.write_bytes(der(signature))
        result = _run("dgst", *_sig_args(alg, distid), "-verify", str(pub), "-signature", str(sig), data=data)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0 and b"Verified OK" in result.stdout


def sign(key_path: Path, data: bytes, alg: str = "sm2-sm3", distid: str = DEFAULT_ID) -> bytes:
    """r || s by openssl: `openssl dgst -sm3 -sign KEY -sigopt distid:ID`."""
    result = _run("dgst", *_sig_args(alg, distid), "-sign", str(key_path), data=data)
    assert result.returncode == 0, result.stderr
    return raw(result.stdout)


def sm3(data: bytes) -> bytes:
    result = _run("dgst", "-sm3", "-binary", data=data)
    assert result.returncode == 0, result.stderr
    return result.stdout


def sm2_key_and_cert(folder: Path, node_id: str) -> tuple[Path, bytes]:
    """An SM2 key and a self-signed SM2-with-SM3 certificate made by openssl alone (a peer on another stack)."""
    key, cert = folder / f"{node_id}-sm2.key", folder / f"{node_id}-sm2.crt"
    result = _run("req", "-x509", "-newkey", "sm2", "-nodes", "-keyout", str(key), "-out", str(cert), "-sm3",
                  "-sigopt", f"distid:{DEFAULT_ID}", "-subj", f"/CN={node_id}", "-days", "30")
    assert result.returncode == 0, result.stderr
    return key, cert.read_bytes()
