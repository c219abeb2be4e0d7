"""Operator services for a node's signing key and trust store (exchange-v1, "Nodes, keys, trust").

Layout, under the instance folder:

    keys/node.key                    the active private key (PKCS#8 PEM, 0600, optionally encrypted): ECDSA P-256
    keys/node.crt                    its certificate (CN = node_id)
    keys/node-sm2.key / .crt         the SM2 key and certificate, for peers agreed on `sm2-sm3` (a node holds both
                                     while its peers move from one algorithm to the other)
    keys/retired/<FP16>.key / .crt   keys replaced by `rotate`, kept so an operator can still prove old signatures
    trust/<node_id>/<name>.pem       certificates a node's messages are verified against

No function here prints or logs private key bytes; errors name files and variables, never contents.
"""
from __future__ import annotations

import json
import logging
import os
import re
from base64 import urlsafe_b64decode
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from exchange import sm2
from exchange.blobs import SHA256_RE, BlobStore
from exchange.keys import cert_pem, generate_key, load_cert, load_private_key, write_private_key
from exchange.keys import fingerprint as cert_fingerprint
from exchange.trust import NODE_ID_RE, TrustStore

log = logging.getLogger(__name__)

KEY_NAME, CERT_NAME, RETIRED = "node.key", "node.crt", "retired"
SIG_ALGS = sm2.SIG_ALGS
# The files of each algorithm's key: the P-256 names are those every node has had since exchange-v1 began.
FILES = {sm2.ECDSA_P256: (KEY_NAME, CERT_NAME), sm2.SM2_SM3: ("node-sm2.key", "node-sm2.crt")}
PASSPHRASE_ENV = "EXCHANGE_KEY_PASSPHRASE"
NS = "urn:tongquan:exchange:1"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class KeyringError(Exception):
    """An operator-facing failure: the message says what is wrong and what to do (中文, with the English term)."""


# -- fingerprints ----------------------------------------------------------------------------------------------

def _hex(fp: str) -> str:
    """'AB:CD:…' (or any case, with or without colons) → 'abcd…'; what operators type is compared in this form."""
    return fp.replace(":", "").replace(" ", "").lower()


def _retired_stem(cert: x509.Certificate) -> str:
    return _hex(cert_fingerprint(cert))[:16].upper()


def _passphrase_bytes(passphrase: str | bytes | None) -> bytes | None:
    if passphrase is None or passphrase == "" or passphrase == b"":
        return None
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    # Readers (the trust store, a running worker) must never see half a certificate; the dot-name is ignored by
    # the trust store's *.pem glob until the rename.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _copy_private(src: Path, dst: Path) -> None:
    """Copy a private key file to a new 0600 file (O_EXCL: an existing retired key is never overwritten)."""
    data = src.read_bytes()
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


# -- this node's key -------------------------------------------------------------------------------------------

def _files(alg: str) -> tuple[str, str]:
    try:
        return FILES[alg]
    except KeyError:
        raise KeyringError(f"签名算法 (sig_alg) 须为 {' 或 '.join(SIG_ALGS)}：{alg!r}") from None


def _keygen_hint(alg: str) -> str:
    return "keygen" if alg == sm2.ECDSA_P256 else f"keygen --alg {alg}"


def generate(keys_dir: Path, node_id: str, passphrase: str | bytes | None = None,
             alg: str = sm2.ECDSA_P256) -> x509.Certificate:
    """Make this node's first key pair of `alg`. Refuses when its key or certificate is already there: use `rotate`."""
    keys_dir = Path(keys_dir)
    key_name, cert_name = _files(alg)
    if not NODE_ID_RE.match(node_id or ""):
        raise KeyringError(f"节点编号 (node_id) 无效：{node_id!r}")
    for name in (key_name, cert_name):
        if (keys_dir / name).exists():
            raise KeyringError(f"{keys_dir / name} 已存在，不会覆盖 (refusing to overwrite)；更换密钥请用 rotate")
    key, cert = generate_key(node_id, alg)
    write_private_key(keys_dir / key_name, key, _passphrase_bytes(passphrase))
    _write_atomic(keys_dir / cert_name, cert_pem(cert))
    log.info("generated the %s signing key of node %s, certificate %s", alg, node_id, cert_fingerprint(cert))
    return cert


def node_cert(keys_dir: Path, alg: str = sm2.ECDSA_P256) -> x509.Certificate:
    path = Path(keys_dir) / _files(alg)[1]
    try:
        return load_cert(path.read_bytes())
    except FileNotFoundError:
        raise KeyringError(f"没有本节点证书 (certificate)：{path}；请先运行 {_keygen_hint(alg)}") from None


def has_key(keys_dir: Path, alg: str) -> bool:
    return (Path(keys_dir) / _files(alg)[0]).exists()


def rotate(keys_dir: Path, trust: TrustStore, node_id: str,
           passphrase: str | bytes | None = None, alg: str = sm2.ECDSA_P256) -> tuple[str, str]:
    """Replace this node's key; returns (old fingerprint, new fingerprint).

    The old key and certificate move to keys/retired/; the old certificate stays in this node's trust folder, so
    messages already signed with it (in outboxes, in peers' inboxes) still verify until an operator untrusts it.
    The new certificate is trusted before the new key is put in place, so nothing is ever signed with a key this
    node cannot verify.
    """
    keys_dir = Path(keys_dir)
    key_name, cert_name = _files(alg)
    old_cert = node_cert(keys_dir, alg)
    if not (keys_dir / key_name).exists():
        raise KeyringError(f"没有本节点私钥 (private key)：{keys_dir / key_name}")
    retired = keys_dir / RETIRED
    retired.mkdir(mode=0o700, exist_ok=True)
    stem = _retired_stem(old_cert)
    if (retired / f"{stem}.key").exists():
        raise KeyringError(f"{retired / stem}.key 已存在：上次轮换 (rotate) 未完成？请人工检查 {keys_dir}")

    key, cert = generate_key(node_id, alg)
    new_key, new_crt = keys_dir / f".{key_name}.new", keys_dir / f".{cert_name}.new"
    new_key.unlink(missing_ok=True)  # the leftover of an interrupted rotation: never used, safe to drop
    write_private_key(new_key, key, _passphrase_bytes(passphrase))
    _write_atomic(new_crt, cert_pem(cert))
    new_fp = trust_cert(trust, node_id, cert_pem(cert))

    _copy_private(keys_dir / key_name, retired / f"{stem}.key")
    _write_atomic(retired / f"{stem}.crt", cert_pem(old_cert))
    os.replace(new_key, keys_dir / key_name)
    os.replace(new_crt, keys_dir / cert_name)
    old_fp = cert_fingerprint(old_cert)
    log.info("rotated the signing key of node %s: %s -> %s", node_id, old_fp, new_fp)
    return old_fp, new_fp


def load_node_key(keys_dir: Path, passphrase: str | None = None,
                  passphrase_env: str = PASSPHRASE_ENV, alg: str = sm2.ECDSA_P256):
    """This node's signing key of `alg`. An encrypted key needs its passphrase, which comes from the environment
    variable only: the settings read it (EXCHANGE_KEY_PASSPHRASE) and the bus passes it here; errors name the
    variable."""
    path = Path(keys_dir) / _files(alg)[0]
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise KeyringError(f"没有本节点私钥 (private key)：{path}；请运行 flask exchange {_keygen_hint(alg)}") from None
    # PKCS#8 says so in its BEGIN line, the legacy OpenSSL form in a Proc-Type header.
    encrypted = any(b"ENCRYPTED" in line for line in pem.splitlines() if line.startswith((b"-----", b"Proc-Type")))
    passphrase = passphrase or None
    if encrypted and passphrase is None:
        raise KeyringError(f"私钥 {path} 已加密 (encrypted)：请设置环境变量 {passphrase_env} 为其口令 (passphrase)")
    try:
        # An unencrypted key is read as is even when the variable is set (cryptography would refuse the pair).
        return load_private_key(path, passphrase.encode("utf-8") if encrypted and passphrase else None, alg)
    except (ValueError, TypeError) as exc:
        # cryptography's messages name the problem (bad decrypt, wrong curve), never key bytes.
        hint = f"；请检查环境变量 {passphrase_env}" if encrypted else ""
        raise KeyringError(f"无法读取私钥 {path}：{exc}{hint}") from None


# -- the trust store -------------------------------------------------------------------------------------------

def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def trust_cert(trust: TrustStore, node_id: str, pem_bytes: bytes, force: bool = False) -> str:
    """Trust a certificate for `node_id`; returns its fingerprint. Stored as trust/<node_id>/<sha256 hex>.pem.

    Without `force` the certificate must name the node (CN), carry a P-256 or an SM2 key and be currently valid: a
    certificate pasted into the wrong folder would otherwise let one node speak for another. Which of its
    certificates verify a node's messages is decided by the algorithm agreed with it (exchange_peer.sig_alg).
    """
    if not NODE_ID_RE.match(node_id or ""):
        raise KeyringError(f"节点编号 (node_id) 无效：{node_id!r}")
    try:
        cert = load_cert(pem_bytes)
    except (ValueError, TypeError):
        raise KeyringError("不是有效的 PEM 证书 (X.509 certificate)") from None
    if not force:
        cn = _common_name(cert)
        if cn != node_id:
            raise KeyringError(f"证书的 CN 为 {cn!r}，与节点 {node_id} 不符；确认无误可加 --force")
        if sm2.algorithm_of(cert) is None or (sm2.algorithm_of(cert) == sm2.SM2_SM3 and sm2.public_key(cert) is None):
            raise KeyringError("证书的公钥既不是 ECDSA P-256 也不是 SM2，exchange-v1 无法用它验签")
        now = datetime.now(timezone.utc)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise KeyringError(f"证书不在有效期内 ({cert.not_valid_before_utc:%Y-%m-%d} – "
                               f"{cert.not_valid_after_utc:%Y-%m-%d})；确认无误可加 --force")
    fp = cert_fingerprint(cert)
    folder = Path(trust.root) / node_id
    folder.mkdir(parents=True, exist_ok=True)
    if any(_hex(f) == _hex(fp) for f, _, _ in _folder_certs(folder)):
        return fp  # already trusted (perhaps as self.pem): one file per certificate
    # Re-serialised from the parsed certificate, so nothing else that was in the operator's file (a private key
    # pasted along, comments) ever lands in the trust store.
    _write_atomic(folder / f"{_hex(fp)}.pem", cert_pem(cert))
    log.info("trusted certificate %s for node %s", fp, node_id)
    return fp


def _folder_certs(folder: Path) -> list[tuple[str, Path, x509.Certificate]]:
    out = []
    for path in sorted(folder.glob("*.pem")):
        try:
            cert = load_cert(path.read_bytes())
            out.append((cert_fingerprint(cert), path, cert))
        except (ValueError, OSError):
            log.warning("trust store file %s is not a certificate; ignored", path)
    return out


def untrust(trust: TrustStore, node_id: str, fingerprint: str) -> list[Path]:
    """Remove the certificate of `node_id` with this fingerprint (in full, or an unambiguous prefix of at least 8
    hex digits); returns the files removed. The trust store re-reads the folder, so it takes effect at once."""
    if not NODE_ID_RE.match(node_id or ""):
        raise KeyringError(f"节点编号 (node_id) 无效：{node_id!r}")
    wanted = _hex(fingerprint)
    if len(wanted) < 8 or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise KeyringError("指纹 (fingerprint) 须为 SHA-256 十六进制，至少 8 位")
    folder = Path(trust.root) / node_id
    present = _folder_certs(folder) if folder.is_dir() else []
    matches = [(fp, path) for fp, path, _ in present if _hex(fp).startswith(wanted)]
    if not matches:
        raise KeyringError(f"节点 {node_id} 没有指纹为 {fingerprint} 的受信任证书")
    if len({fp for fp, _ in matches}) > 1:
        raise KeyringError(f"指纹前缀 {fingerprint} 匹配多张证书，请给出完整指纹")
    for _, path in matches:
        path.unlink()
    log.info("untrusted certificate %s of node %s", matches[0][0], node_id)
    return [p for _, p in matches]


def trusted_algorithms(trust: TrustStore, node_id: str) -> set[str]:
    """The signature algorithms `node_id`'s trusted certificates can verify (ecdsa-p256, sm2-sm3)."""
    return {alg for alg in map(sm2.algorithm_of, trust.certs_for(node_id)) if alg is not None}


def trusted(trust: TrustStore) -> list[tuple[str, str, datetime]]:
    """Every trusted certificate as (node_id, fingerprint, not_after), one row per distinct certificate."""
    rows: set[tuple[str, str, datetime]] = set()
    root = Path(trust.root)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and NODE_ID_RE.match(folder.name):
            for fp, _, cert in _folder_certs(folder):
                rows.add((folder.name, fp, cert.not_valid_after_utc))
    return sorted(rows)


# -- export for audit ------------------------------------------------------------------------------------------

def _inbound_digests(raw: bytes, fmt: str) -> list[str]:
    """Attachment digests a received message declares. Read without verifying: this is for export only, and an
    auditor checks the signature with xmlsec1 themselves."""
    try:
        if fmt == "json":
            payload = json.loads(raw)["payload"]
            envelope = json.loads(urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            digests = [a.get("sha256") for a in envelope.get("attachments") or []]
        else:
            parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
            root = etree.fromstring(raw, parser)
            digests = [a.get("sha256") for a in root.iterfind(f"{{{NS}}}Attachments/{{{NS}}}Attachment")]
    except (ValueError, KeyError, TypeError, AttributeError, etree.XMLSyntaxError):
        return []  # a quarantined, malformed message: its raw bytes are still exported
    return [d for d in digests if isinstance(d, str) and SHA256_RE.match(d)]


def export_messages(session, blobs: BlobStore, out_dir: Path, case_no: str | None = None,
                    message_id: str | None = None) -> list[Path]:
    """Write the exact logged bytes of a case's messages (or of one message) and their attachments.

    Files: <out_dir>/<out|in>-<sequence or 0>-<type>-<message_id>.<fmt>, attachments in
    <same name without suffix>.files/<sha256>. Returns the paths written, envelopes and attachments.
    """
    import sqlalchemy as sa

    from exchange.models import InboundMessage, OutboxMessage

    if (case_no is None) == (message_id is None):
        raise KeyringError("请指定 --case 或 --message 之一")
    rows: list[tuple[str, object, list[str]]] = []
    for model, direction in ((OutboxMessage, "out"), (InboundMessage, "in")):
        where = model.case_no == case_no if case_no is not None else model.message_id == message_id
        for row in session.execute(sa.select(model).where(where).order_by(model.id)).scalars():
            if direction == "out":
                digests = [a["sha256"] for a in row.attachments or [] if SHA256_RE.match(a.get("sha256", ""))]
            else:
                digests = _inbound_digests(row.raw, row.fmt)
            rows.append((direction, row, digests))
    if not rows:
        what = f"案件 {case_no}" if case_no is not None else f"消息 {message_id}"
        raise KeyringError(f"{what} 没有已记录的消息 (no logged messages)")

    out_dir = Path(out_dir)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # case data is personal data
    written: list[Path] = []
    for direction, row, digests in rows:
        stem = _SAFE_NAME.sub("_", f"{direction}-{row.sequence or 0}-{row.type or 'unknown'}-{row.message_id}")
        target = out_dir / f"{stem}.{row.fmt if row.fmt in ('xml', 'json') else 'bin'}"
        target.write_bytes(row.raw)
        written.append(target)
        for digest in dict.fromkeys(digests):
            if not blobs.exists(digest):
                log.warning("attachment %s of message %s is not in the file store", digest, row.message_id)
                continue
            files = out_dir / f"{stem}.files"
            files.mkdir(exist_ok=True)
            (files / digest).write_bytes(blobs.get(digest))
            written.append(files / digest)
    return written
