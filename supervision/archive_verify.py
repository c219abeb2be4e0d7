#!/usr/bin/env python3
"""Verify a Tongquan archive package offline (issue 19). Needs Python 3.9+, xmlsec1 and openssl; nothing else.

    python3 verify_archive.py PACKAGE.zip [--cert NODE.pem | --fingerprint AB:CD:…]

This one file is both the platform's verifier (`flask --app wsgi archive verify PACKAGE`) and the standalone script
(tools/verify_archive.py links here: copy it anywhere). It imports nothing of the platform.

Checks, each failure naming the part:
  1. the container: `mimetype` first, stored, "application/vnd.etsi.asic-e+zip"; every entry readable (CRC);
  2. META-INF/signature.p7s: a detached CMS signature over META-INF/ASiCManifest.xml's exact bytes, by the
     certificate archive.json names (openssl cms -verify with that certificate as the only trust anchor);
     with --cert / --fingerprint that certificate must also be the one you expect;
  3. every part's SHA-256 against the manifest; no part missing from it, none extra;
  4. every exchange message's own signature against its signer's certificate in the package: XML Signature with
     xmlsec1, JWS (ES256) with openssl;
  5. the timeline's hash chain (each line's digest covers the line before it).
Exit status 0 when everything verifies, 1 when something fails, 2 when the file is not a package at all.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from xml.etree import ElementTree

MIMETYPE = b"application/vnd.etsi.asic-e+zip"
MANIFEST = "META-INF/ASiCManifest.xml"
SIGNATURE = "META-INF/signature.p7s"
ASIC = "{http://uri.etsi.org/02918/v1.2.1#}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
CHAIN_PREFIX = "tongquan-timeline-v1:"
MAX_PART = 512 * 1024 * 1024  # a part larger than this is refused rather than read into memory


class Report:
    def __init__(self, out=sys.stdout):
        self.failures: list[tuple[str, str]] = []
        self.passed: list[str] = []
        self.notes: list[str] = []
        self.out = out

    def fail(self, part: str, why: str) -> None:
        self.failures.append((part, why))

    def ok(self, what: str) -> None:
        self.passed.append(what)

    @property
    def failed_parts(self) -> set[str]:
        return {part for part, _ in self.failures}

    def print(self) -> None:
        for what in self.passed:
            print(f"OK    {what}", file=self.out)
        for note in self.notes:
            print(f"NOTE  {note}", file=self.out)
        for part, why in self.failures:
            print(f"FAIL  {part}: {why}", file=self.out)
        print("VERIFIED" if not self.failures else f"NOT VERIFIED: {len(self.failures)} problem(s)", file=self.out)


# -- helpers ---------------------------------------------------------------------------------------------------

def _run(args: list[str]) -> tuple[bool, str]:
    try:
        result = subprocess.run(args, capture_output=True, timeout=60)
    except FileNotFoundError:
        return False, f"{args[0]} is not installed"
    except subprocess.TimeoutExpired:
        return False, f"{args[0]} timed out"
    text = (result.stdout + result.stderr).decode("utf-8", "replace").strip().splitlines()
    return result.returncode == 0, (text[-1] if text else f"exit status {result.returncode}")


def _parse_xml(data: bytes):
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("a DTD or entity declaration is not allowed")
    return ElementTree.fromstring(data)


def _pem_to_der(pem: bytes) -> bytes:
    text = pem.decode("ascii")
    body = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return base64.b64decode("".join(body.split()))


def fingerprint(pem: bytes) -> str:
    digest = hashlib.sha256(_pem_to_der(pem)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _der_int(value: bytes) -> bytes:
    value = value.lstrip(b"\x00") or b"\x00"
    if value[0] & 0x80:
        value = b"\x00" + value
    return b"\x02" + bytes([len(value)]) + value


def _ecdsa_der(raw: bytes) -> bytes:
    """JWS ES256 signs r || s (32 bytes each); openssl wants the DER SEQUENCE of the two INTEGERs."""
    body = _der_int(raw[:32]) + _der_int(raw[32:])
    return b"\x30" + bytes([len(body)]) + body


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- the checks ------------------------------------------------------------------------------------------------

def read_container(path: str, report: Report) -> dict[str, bytes] | None:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.fail(os.path.basename(path), f"not a ZIP container ({exc})")
        return None
    parts: dict[str, bytes] = {}
    with zf:
        infos = zf.infolist()
        if not infos or infos[0].filename != "mimetype" or infos[0].compress_type != zipfile.ZIP_STORED:
            report.fail("mimetype", "must be the first entry, stored uncompressed")
        for info in infos:
            if info.filename in parts or info.filename.startswith("/") or ".." in info.filename.split("/"):
                report.fail(info.filename, "duplicate or unsafe entry name")
                continue
            if info.file_size > MAX_PART:
                report.fail(info.filename, "larger than this verifier reads")
                continue
            try:
                parts[info.filename] = zf.read(info)
            except Exception as exc:  # CRC error, bad compressed data: the part is damaged
                report.fail(info.filename, f"unreadable in the container ({exc.__class__.__name__}: {exc})")
    if parts.get("mimetype", MIMETYPE) != MIMETYPE:
        report.fail("mimetype", f"is not {MIMETYPE.decode()}")
    elif "mimetype" in parts:
        report.ok("mimetype")
    return parts


def check_manifest(parts: dict[str, bytes], report: Report) -> dict[str, str]:
    """The manifest's digests (URI → base64 SHA-256), after comparing every part with them."""
    if MANIFEST not in parts:
        report.fail(MANIFEST, "missing")
        return {}
    try:
        root = _parse_xml(parts[MANIFEST])
    except (ValueError, ElementTree.ParseError) as exc:
        report.fail(MANIFEST, f"not a readable manifest ({exc})")
        return {}
    listed: dict[str, str] = {}
    for ref in root.iter(f"{ASIC}DataObjectReference"):
        method = ref.find(f"{DS}DigestMethod")
        value = ref.findtext(f"{DS}DigestValue") or ""
        uri = ref.get("URI") or ""
        if method is None or method.get("Algorithm") != SHA256_URI:
            report.fail(MANIFEST, f"{uri}: digest method is not SHA-256")
        listed[uri] = value.strip()
    for name, data in parts.items():
        if name in ("mimetype", MANIFEST, SIGNATURE) or name.endswith("/"):
            continue
        if name not in listed:
            report.fail(name, "not listed in the signed manifest")
        elif base64.b64encode(hashlib.sha256(data).digest()).decode("ascii") != listed[name]:
            report.fail(name, "SHA-256 differs from the signed manifest")
    for uri in listed:
        if uri not in parts:
            report.fail(uri, "listed in the manifest but missing from the container")
    bad = sum(1 for uri in listed if uri in report.failed_parts)
    report.ok(f"{len(listed) - bad} of {len(listed)} parts match their SHA-256 in the manifest")
    return listed


def _signer_pem(parts: dict[str, bytes], report: Report) -> tuple[str, bytes] | None:
    try:
        meta = json.loads(parts["archive.json"])
        name = meta["signer_certificate"]
        return name, parts[name]
    except (KeyError, ValueError, TypeError):
        report.fail("archive.json", "does not name the signer's certificate in the package")
        return None


def check_signature(parts: dict[str, bytes], work: str, report: Report, expected: bytes | None,
                    expected_fp: str | None) -> None:
    if SIGNATURE not in parts:
        report.fail(SIGNATURE, "missing")
        return
    found = _signer_pem(parts, report)
    if found is None or MANIFEST not in parts:
        return
    name, pem = found
    try:
        fp = fingerprint(pem)
    except (ValueError, IndexError):
        report.fail(name, "not a PEM certificate")
        return
    if expected is not None and _pem_to_der(expected) != _pem_to_der(pem):
        report.fail(name, "is not the certificate you gave (--cert)")
    if expected_fp and expected_fp.replace(":", "").upper() != fp.replace(":", ""):
        report.fail(name, f"fingerprint {fp} is not the one you gave (--fingerprint)")
    paths = {k: os.path.join(work, k) for k in ("manifest", "sig", "cert")}
    for key, data in (("manifest", parts[MANIFEST]), ("sig", parts[SIGNATURE]), ("cert", pem)):
        with open(paths[key], "wb") as fh:
            fh.write(data)
    good, said = _run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", paths["sig"],
                       "-content", paths["manifest"], "-CAfile", paths["cert"], "-purpose", "any",
                       "-out", os.devnull])
    if good:
        report.ok(f"{SIGNATURE}: the manifest is signed by {name} (SHA-256 fingerprint {fp})")
    else:
        report.fail(SIGNATURE, f"the manifest's signature does not verify with {name} ({said})")
        report.fail(MANIFEST, "its signature does not verify")


def _verify_xml(path: str, cert: str) -> tuple[bool, str]:
    return _run(["xmlsec1", "--verify", "--pubkey-cert-pem", cert, path])


def _verify_jws(data: bytes, cert: str, work: str) -> tuple[bool, str]:
    try:
        jws = json.loads(data)
        protected, payload, signature = jws["protected"], jws["payload"], _b64url(jws["signature"])
        if json.loads(_b64url(protected)).get("alg") != "ES256" or len(signature) != 64:
            return False, "not an ES256 JWS"
    except (ValueError, KeyError, TypeError, AttributeError):
        return False, "not a flattened JWS"
    files = {k: os.path.join(work, f"jws.{k}") for k in ("input", "sig", "pub")}
    with open(files["input"], "wb") as fh:
        fh.write(f"{protected}.{payload}".encode("ascii"))
    with open(files["sig"], "wb") as fh:
        fh.write(_ecdsa_der(signature))
    good, said = _run(["openssl", "x509", "-in", cert, "-pubkey", "-noout", "-out", files["pub"]])
    if not good:
        return False, said
    return _run(["openssl", "dgst", "-sha256", "-verify", files["pub"], "-signature", files["sig"], files["input"]])


def check_messages(parts: dict[str, bytes], work: str, report: Report) -> None:
    try:
        index = json.loads(parts["messages/index.json"])
    except (KeyError, ValueError):
        report.fail("messages/index.json", "missing or not JSON")
        return
    good = 0
    for i, entry in enumerate(index):
        name, signer = entry.get("path"), entry.get("signer_certificate")
        if name not in parts:
            report.fail(str(name), "listed in messages/index.json but missing")
            continue
        if not signer:
            report.notes.append(f"{name}: kept as received ({entry.get('state')}); its signature did not verify "
                                "on receipt, so it is not checked here")
            continue
        if signer not in parts:
            report.fail(signer, f"the certificate of {name} is missing")
            continue
        cert = os.path.join(work, f"signer-{i}.pem")
        message = os.path.join(work, f"message-{i}")
        with open(cert, "wb") as fh:
            fh.write(parts[signer])
        with open(message, "wb") as fh:
            fh.write(parts[name])
        if entry.get("format") == "json":
            ok, said = _verify_jws(parts[name], cert, work)
        else:
            ok, said = _verify_xml(message, cert)
        if ok:
            good += 1
        else:
            report.fail(name, f"its signature does not verify with {signer} ({said})")
    report.ok(f"{good} message signature(s) verify with their signers' certificates (xmlsec1, openssl)")


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def check_timeline(parts: dict[str, bytes], report: Report) -> None:
    try:
        timeline = json.loads(parts["timeline.json"])
        events = timeline["events"]
        prev = hashlib.sha256((CHAIN_PREFIX + timeline["case_no"]).encode("utf-8")).hexdigest()
    except (KeyError, ValueError, TypeError):
        report.fail("timeline.json", "missing or not a timeline")
        return
    broken = 0
    for event in events:
        digest = hashlib.sha256(_canonical({"prev": prev, **event["fields"]})).hexdigest()
        if digest != event.get("digest"):
            broken += 1
            report.fail("timeline.json", f"line {event.get('id')} does not match its digest (hash chain broken)")
        prev = event.get("digest") or ""
    if not broken:
        report.ok(f"timeline.json: the hash chain of {len(events)} line(s) is intact")


def verify(path: str, expected_cert: bytes | None = None, expected_fp: str | None = None,
           out=sys.stdout) -> Report:
    report = Report(out)
    parts = read_container(path, report)
    if parts is None:
        return report
    work = tempfile.mkdtemp(prefix="verify-archive-")
    try:
        check_signature(parts, work, report, expected_cert, expected_fp)
        check_manifest(parts, report)
        check_messages(parts, work, report)
        check_timeline(parts, report)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Tongquan archive package offline.")
    parser.add_argument("package")
    parser.add_argument("--cert", help="the archiving node's certificate (PEM) you trust")
    parser.add_argument("--fingerprint", help="its SHA-256 fingerprint (AB:CD:… or hex)")
    args = parser.parse_args(argv)
    expected = None
    if args.cert:
        with open(args.cert, "rb") as fh:
            expected = fh.read()
    report = verify(args.package, expected, args.fingerprint)
    report.print()
    if report.failures and not report.passed:
        return 2
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
