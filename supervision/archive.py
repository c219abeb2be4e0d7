"""档案管理 (issue 19): a concluded case's archive package, the archive catalogue, and disposal after retention.

A job (`flask --app wsgi archive build`, and the worker) builds a package for every case that reached a final state
(办结, 不予受理, 撤回, 终止) once none of its messages is still on its way: one ZIP (supervision/archive_package.py)
holding the case record, its hash-chained timeline, every exchange message and receipt exactly as signed, the
materials' files, the documents the registered sources give (notices, decision documents), the signers'
certificates and a signed manifest. Packages are stored 0600 under generated names below the archive folder.

The catalogue row keeps the retention the item had at archiving (`item.archive_retention_years`, None = 永久).
Only a city administrator disposes of a package, only after its retention, with a reason, and the disposal is
recorded (insert-only): who, when, why and the SHA-256 of the package destroyed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from delegation import audit
from delegation.errors import Conflict, Invalid, NotFound
from delegation.models import FINAL_STATE_VALUES, Case, CaseEvent, CaseRating
from exchange.models import InboundMessage, OutboxMessage
from exchange.private import private_dir, write_private
from persistence import UTCDateTime, as_utc, db, utcnow
from supervision import archive_package
from supervision.models import CreditRecord, SupervisionPush

log = logging.getLogger(__name__)

FORMAT = "tongquan-archive/1"
PENDING_OUT = ("queued", "sending", "awaiting_receipt", "retry")
REASON_MAX = 500
PAGE_SIZE = 50


class ArchivePackage(db.Model):
    """The catalogue entry of one case's archive package."""

    __tablename__ = "archive_package"
    __table_args__ = (sa.Index("ix_archive_package_year_id", "year", "id"),
                      sa.Index("ix_archive_package_county_id", "county_code", "id"),
                      sa.Index("ix_archive_package_item_id", "item_code", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), unique=True)
    case_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    item_code: Mapped[str] = mapped_column(sa.String(40))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    county_code: Mapped[str] = mapped_column(sa.String(20))
    year: Mapped[int]  # of the conclusion
    final_state: Mapped[str] = mapped_column(sa.String(30))
    concluded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)
    file_name: Mapped[str] = mapped_column(sa.String(100))  # generated, relative to the archive folder
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    parts: Mapped[int]
    retention_years: Mapped[int | None]  # None: 永久
    retain_until: Mapped[date | None] = mapped_column(sa.Date)
    disposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ArchiveDisposal(db.Model):
    """The record of a package's destruction. Insert-only (migration 0012)."""

    __tablename__ = "archive_disposal"
    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(sa.ForeignKey("archive_package.id"), unique=True)
    case_no: Mapped[str] = mapped_column(sa.String(40))
    package_sha256: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    disposed_by: Mapped[str] = mapped_column(sa.String(100))
    disposed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- documents -------------------------------------------------------------------------------------------------

DocumentSource = Callable[[Case], Iterable[tuple[str, bytes]]]
DOCUMENT_SOURCES: list[DocumentSource] = []


def register_document_source(source: DocumentSource) -> DocumentSource:
    """The hook for documents issued on a case (notices, decision documents, licences): `source(case)` yields
    (file name, bytes); each lands in the package as documents/<name>. The app registers the notices it renders;
    a module that stores documents registers its own reader."""
    DOCUMENT_SOURCES.append(source)
    return source


# -- what is due -----------------------------------------------------------------------------------------------

def due_case_ids(limit: int = 20) -> list[int]:
    """Cases in a final state without a package, none of whose messages is still on its way (so its last
    receipt is in the package)."""
    pending = sa.exists().where(OutboxMessage.case_no == Case.case_no, OutboxMessage.state.in_(PENDING_OUT))
    archived = sa.exists().where(ArchivePackage.case_id == Case.id)
    query = (sa.select(Case.id).where(Case.state.in_(FINAL_STATE_VALUES), ~archived, ~pending)
             .order_by(Case.id).limit(limit))
    return list(db.session.execute(query).scalars())


# -- building --------------------------------------------------------------------------------------------------

def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=_plain).encode("utf-8")


def _plain(value):
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


def _columns(obj, leave_out: tuple[str, ...] = ()) -> dict:
    return {attr.key: getattr(obj, attr.key) for attr in sa.inspect(type(obj)).column_attrs
            if attr.key not in leave_out}


def _extension(media: str) -> str:
    return {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}.get(media, ".bin")


class _Parts:
    """The package's parts in order, each name once."""

    def __init__(self):
        self.parts: dict[str, bytes] = {}

    def add(self, name: str, data: bytes) -> str:
        if name in self.parts and self.parts[name] != data:
            raise ValueError(f"two different parts named {name}")
        self.parts[name] = data
        return name


def _certificates(bus, node_id: str) -> list:
    """What may have signed a message of `node_id`: its trusted certificates, and for this node also its own
    current and retired ones."""
    from cryptography import x509

    certs = list(bus.trust.certs_for(node_id))
    if node_id == bus.node_id:
        keys = Path(bus.keys_dir)
        for path in [keys / "node.crt", *sorted((keys / "retired").glob("*.crt"))]:
            if path.exists():
                certs.append(x509.load_pem_x509_certificate(path.read_bytes()))
    return certs


def _signer(bus, raw: bytes, fmt: str, node_id: str):
    """(certificate that verifies the message, envelope), or (None, None) (e.g. a quarantined message)."""
    from exchange import jsonform, xmlform

    form = jsonform if fmt == "json" else xmlform
    for cert in _certificates(bus, node_id):
        try:
            env, _ = form.verify(raw, lambda _node, c=cert: [c])
        except Exception:  # noqa: BLE001  any refusal (or a key of another algorithm): not this signer
            continue
        return cert, env
    return None, None


def _cert_name(cert, node_id: str, parts: _Parts) -> str:
    from exchange.keys import cert_pem, fingerprint

    fp = fingerprint(cert).replace(":", "").lower()
    return parts.add(f"certs/{node_id}-{fp[:16]}.pem", cert_pem(cert))


def _messages(case: Case, bus, parts: _Parts, files: dict[str, str]) -> list[dict]:
    index = []
    rows = [("out", r) for r in db.session.execute(
        sa.select(OutboxMessage).where(OutboxMessage.case_no == case.case_no).order_by(OutboxMessage.id)).scalars()]
    rows += [("in", r) for r in db.session.execute(
        sa.select(InboundMessage).where(InboundMessage.case_no == case.case_no).order_by(InboundMessage.id)
    ).scalars()]
    for direction, row in rows:
        sender = bus.node_id if direction == "out" else (row.from_node or "")
        folder = "receipts" if row.type == "receipt" else "messages"
        suffix = row.fmt if row.fmt in ("xml", "json") else "bin"
        name = parts.add(f"{folder}/{direction}-{row.id:06d}-{row.type or 'unknown'}-{_safe(row.message_id)}.{suffix}",
                         bytes(row.raw))
        cert, env = _signer(bus, bytes(row.raw), row.fmt, sender)
        attachments = []
        for att in (env.attachments if env is not None else []):
            if bus.blobs.exists(att.sha256):
                attachments.append(files.get(att.sha256) or parts.add(f"files/attachments/{att.sha256}",
                                                                       bus.blobs.get(att.sha256)))
        index.append({"path": name, "direction": direction, "message_id": row.message_id, "type": row.type,
                      "format": row.fmt, "sender_node": sender, "state": row.state, "sha256": row.sha256,
                      "signer_certificate": _cert_name(cert, sender, parts) if cert is not None else None,
                      "attachments": attachments})
    return index


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in text)[:80]


def _files(case: Case, bus, parts: _Parts) -> tuple[list[dict], dict[str, str]]:
    listed, by_digest = [], {}
    for f in case.files:
        entry = {**_columns(f), "path": None}
        if bus.blobs.exists(f.sha256):
            entry["path"] = by_digest.get(f.sha256) or parts.add(
                f"files/{_safe(f.material_code)}/{f.sha256}{_extension(f.media_type)}", bus.blobs.get(f.sha256))
            by_digest[f.sha256] = entry["path"]
        listed.append(entry)
    return listed, by_digest


def _supervision(case: Case) -> dict:
    pushes = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=case.case_no)
                                .order_by(SupervisionPush.id)).scalars().all()
    credit = db.session.execute(sa.select(CreditRecord).filter_by(case_no=case.case_no)
                                .order_by(CreditRecord.id)).scalars().all()
    rating = db.session.execute(sa.select(CaseRating).filter_by(case_id=case.id)).scalar_one_or_none()
    return {"pushes": [{**_columns(p), "feedback": [_columns(fb) for fb in p.feedback]} for p in pushes],
            "credit_records": [_columns(c) for c in credit],
            "rating": _columns(rating) if rating is not None else None}


def _originals(case: Case) -> list[dict]:
    """材料邮寄 (issue 19): each mailing of paper originals with the city's receipt."""
    from delegation.mailing import mailings

    return [{**_columns(m), "receipt": _columns(m.receipt) if m.receipt is not None else None}
            for m in mailings(case)]


def _timeline(case: Case) -> dict:
    events = db.session.execute(sa.select(CaseEvent).filter_by(case_id=case.id).order_by(CaseEvent.id)).scalars()
    return {"chain": audit.GENESIS_PREFIX, "case_no": case.case_no, "genesis": audit.genesis(case.case_no),
            "events": [{"id": e.id, "digest": e.digest, "fields": audit.event_fields(e)} for e in events]}


def _concluded_at(case: Case) -> datetime:
    if case.concluded_at is not None:
        return case.concluded_at
    last = db.session.execute(sa.select(sa.func.max(CaseEvent.id)).filter_by(case_id=case.id)).scalar()
    return db.session.get(CaseEvent, last).at if last else case.created_at


def package_parts(case: Case, bus, now: datetime) -> tuple[dict[str, bytes], object]:
    """Every part of the case's package (without mimetype, manifest and signature), and the signer's cert."""
    from exchange.keyring import node_cert

    parts = _Parts()
    signer = node_cert(bus.keys_dir)
    parts.add("archive.json", b"")  # first in the ZIP; filled last, once the parts are known
    files, by_digest = _files(case, bus, parts)
    record = {**_columns(case, ("query_code",)), "item": {"code": case.item.code, "name": case.item.name},
              "window_org": case.window_org.code, "materials": [_columns(m) for m in case.materials],
              "files": files, "supervision": _supervision(case), "originals": _originals(case)}
    parts.add("case.json", _json(record))
    parts.add("timeline.json", _json(_timeline(case)))
    index = _messages(case, bus, parts, by_digest)
    parts.add("messages/index.json", _json(index))
    for source in DOCUMENT_SOURCES:
        for name, data in source(case):
            parts.add(f"documents/{_safe(name)}", data)
    signer_name = _cert_name(signer, bus.node_id, parts)
    parts.parts["archive.json"] = _json({
        "format": FORMAT, "case_no": case.case_no, "node": bus.node_id, "built_at": now,
        "final_state": case.state, "signer_certificate": signer_name,
        "verify": "python3 verify_archive.py PACKAGE.zip (tools/verify_archive.py: Python, xmlsec1, openssl)"})
    return parts.parts, signer


def build(case_id: int, bus, archive_dir: Path, now: datetime | None = None) -> ArchivePackage:
    """Build and store the package of one concluded case, and catalogue it (the caller commits; on failure it
    removes the file: `ArchivePackage.file_name` below archive_dir)."""
    now = now or utcnow()
    case = db.session.get(Case, case_id)
    if case is None or case.state not in FINAL_STATE_VALUES:
        raise Conflict("not_concluded", "办件尚未办结，不能归档", "the case has not concluded", field="case_no")
    parts, signer = package_parts(case, bus, now)
    data = archive_package.container(parts, bus.private_key, signer)
    concluded = _concluded_at(case)
    years = case.item.archive_retention_years
    name = f"{as_utc(concluded).year}/{uuid.uuid4().hex}.zip"
    target = Path(archive_dir) / name
    private_dir(target.parent)
    write_private(target, data, sync=True)
    package = ArchivePackage(
        case_id=case.id, case_no=case.case_no, item_code=case.item.code, item_name=case.item.name,
        county_code=case.county_code, year=as_utc(concluded).year, final_state=case.state.value,
        concluded_at=concluded, built_at=now, file_name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        parts=len(parts) + 3, retention_years=years, retain_until=_add_years(as_utc(concluded).date(), years))
    db.session.add(package)
    db.session.flush()
    return package


def _add_years(day: date, years: int | None) -> date | None:
    if years is None:
        return None
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def build_due(bus, archive_dir: Path, limit: int = 20, now: datetime | None = None) -> list[str]:
    """The job: build every due package, one commit each; returns the case numbers archived."""
    done = []
    for case_id in due_case_ids(limit):
        package = None
        try:
            package = build(case_id, bus, archive_dir, now)
            case_no = package.case_no
            db.session.commit()
            done.append(case_no)
        except Exception:
            db.session.rollback()
            if package is not None:
                (Path(archive_dir) / package.file_name).unlink(missing_ok=True)
            log.exception("archiving case %s failed", case_id)
    return done


# -- catalogue and disposal ------------------------------------------------------------------------------------

def catalogue(case_no: str = "", year: int | None = None, item: str = "", county: str = "",
              page: int = 1) -> tuple[list[ArchivePackage], int]:
    """One page of the catalogue, newest first, and the number of entries matching."""
    query = sa.select(ArchivePackage)
    if case_no:
        query = query.where(ArchivePackage.case_no == case_no)
    if year:
        query = query.where(ArchivePackage.year == year)
    if item:
        query = query.where(ArchivePackage.item_code == item)
    if county:
        query = query.where(ArchivePackage.county_code == county)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.order_by(ArchivePackage.id.desc())
                              .offset((max(page, 1) - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars().all()
    return rows, total


def get_package(package_id: int) -> ArchivePackage:
    package = db.session.get(ArchivePackage, package_id)
    if package is None:
        raise NotFound("package_not_found", "没有这个档案", "no such archive package", field="package")
    return package


def package_path(package: ArchivePackage, archive_dir: Path) -> Path:
    if package.disposed_at is not None:
        raise Conflict("package_disposed", "该档案已销毁", "the package was disposed of", field="package")
    return Path(archive_dir) / package.file_name


def dispose(package_id: int, by: str, reason: str, confirmed: bool, now: datetime | None = None) -> ArchiveDisposal:
    """Record the disposal of a package whose retention is over; the caller commits, then removes the file
    (`remove_disposed`), so that a failed commit leaves the package in place."""
    now = now or utcnow()
    reason = (reason or "").strip()
    package = get_package(package_id)
    if package.disposed_at is not None:
        raise Conflict("package_disposed", "该档案已销毁", "the package was disposed of already", field="package")
    if package.retain_until is None:
        raise Conflict("retention_permanent", "保管期限（retain_until）为永久，不能销毁",
                       "the retention (retain_until) is permanent: it cannot be disposed of", field="retain_until")
    if as_utc(now).date() <= package.retain_until:
        until = package.retain_until.isoformat()
        raise Conflict("retention_not_over", f"保管期限（retain_until）至 {until}，期满前不能销毁",
                       f"the retention (retain_until) runs until {until}: it cannot be disposed of before",
                       field="retain_until")
    if not reason:
        raise Invalid("required", "请填写销毁理由", "give the reason for the disposal", field="reason")
    if len(reason) > REASON_MAX:
        raise Invalid("too_long", f"销毁理由不能超过 {REASON_MAX} 字", f"at most {REASON_MAX} characters",
                      field="reason")
    if not confirmed:
        raise Invalid("unconfirmed", "请确认销毁：销毁后不可恢复", "confirm the disposal: it cannot be undone",
                      field="confirm")
    record = ArchiveDisposal(package_id=package.id, case_no=package.case_no, package_sha256=package.sha256,
                             reason=reason, disposed_by=by, disposed_at=now)
    package.disposed_at = now
    db.session.add(record)
    db.session.flush()
    return record


def remove_disposed(package_id: int, archive_dir: Path) -> None:
    package = db.session.get(ArchivePackage, package_id)
    if package is not None and package.disposed_at is not None:
        (Path(archive_dir) / package.file_name).unlink(missing_ok=True)


def disposals(package_id: int) -> ArchiveDisposal | None:
    return db.session.execute(sa.select(ArchiveDisposal).filter_by(package_id=package_id)).scalar_one_or_none()
