"""Material uploads: checked by size and by their actual content, stored under their SHA-256."""
from __future__ import annotations

from delegation.actors import Actor
from delegation.cases import get_case
from delegation.errors import Conflict, Forbidden, Invalid
from delegation.models import CaseFile
from delegation.workflow import FINAL_STATES, Role, State
from exchange.bus import get_bus
from persistence import db, utcnow

# What the file's first bytes must be for the type it claims; the browser's word is not enough.
SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def _display_name(filename: str) -> str:
    """The name shown to staff (never used on disk): no path, no control characters, at most 200 characters
    (what the exchange format carries)."""
    name = "".join(ch for ch in (filename or "").replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())
    return (name or "upload")[-200:]


def sniff(head: bytes) -> str | None:
    for media_type, magics in SIGNATURES.items():
        if any(head.startswith(m) for m in magics):
            return media_type
    return None


def read_checked(stream, claimed_type: str, limit: int) -> tuple[bytes, str]:
    """The file's bytes and its actual type, refused when empty, of a type not accepted or not the one it claims;
    over `limit` bytes it is a 413, as a body over the request limit is. Intake drafts are checked the same way."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        from werkzeug.exceptions import RequestEntityTooLarge

        raise RequestEntityTooLarge()
    if not data:
        raise Invalid("file_empty", "上传的文件是空的", "the file is empty", field="file")
    actual = sniff(data[:16])
    if actual is None:
        raise Invalid("file_type", "只接受 PDF、PNG 或 JPEG 文件", "only PDF, PNG or JPEG files are accepted",
                      field="file")
    if claimed_type and claimed_type != "application/octet-stream" and claimed_type != actual:
        raise Invalid("file_type_mismatch", "文件内容与声明的类型不符", "the file's content does not match its type",
                      field="file")
    return data, actual


def attach(actor: Actor, case_no: str, material_code: str, filename: str, claimed_type: str, stream) -> CaseFile:
    case = get_case(actor, case_no, for_update=True)
    if actor.role is not Role.WINDOW:
        raise Forbidden("role_forbidden", "只有县级窗口人员可以上传材料", "only county window staff upload materials")
    if State(case.state) in FINAL_STATES:
        raise Conflict("state_forbids", "办件已结束，不能再上传材料", "the case is closed", field="file")
    material = next((m for m in case.materials if m.code == material_code), None)
    if material is None:
        raise Invalid("material_unknown", f"办件没有材料 {material_code}", f"the case has no material {material_code}",
                      field="material_code")
    bus = get_bus()
    data, actual = read_checked(stream, claimed_type, bus.settings.max_upload_bytes)
    sha = bus.blobs.put(data)
    record = CaseFile(case=case, material_code=material_code, original_name=_display_name(filename),
                      media_type=actual, size=len(data), sha256=sha, uploaded_by=actor.label, uploaded_at=utcnow())
    if State(case.state) in (State.SUBMITTED, State.CORRECTION_REQUESTED):
        material.present = True
    db.session.add(record)
    db.session.flush()
    return record
