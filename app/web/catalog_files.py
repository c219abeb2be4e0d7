"""The catalogue's files on the administrator's page: an uploaded CSV/XLSX checked by name, type, size and content,
then imported by delegation.catalog_io (as `flask catalog import` does); the catalogue exported as CSV.

A refusal is a FileRefused (an Invalid on the form's `file` field, its words already in the page language, its
status 413 for a file too large), so the page's unit of work says it where the user looks. The file lives under
the instance's tmp/ only while it is read."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from app.web.common import _
from delegation.errors import Invalid
from persistence import db

MAX_BYTES = 10 * 1024 * 1024
TYPES = {
    ".csv": {"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel", "application/octet-stream",
             "text/comma-separated-values", ""},
    ".xlsx": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream",
              "application/zip", "application/x-zip-compressed", ""},
}


class FileRefused(Invalid):
    """The uploaded catalogue refused: on the file field, or (`errors`: the rows at fault) in the page's list."""

    def __init__(self, text, status: int = 422, errors=None, filename: str | None = None):
        super().__init__("catalog_file", str(text), str(text), field=None if errors else "file")
        self.status, self.errors, self.filename = status, errors, filename


def _tmp_dir() -> Path:
    folder = Path(current_app.instance_path) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def _scratch(prefix: str, suffix: str):
    """A generated path under the instance's tmp/, removed afterwards whatever happened."""
    path = _tmp_dir() / f"{prefix}-{uuid.uuid4().hex}{suffix}"
    try:
        yield path
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _suffix(upload) -> str:
    """The upload's suffix, when its name and claimed type are those of a catalogue."""
    if upload is None or not getattr(upload, "filename", ""):
        raise FileRefused(_("请选择要导入的 CSV 或 XLSX 文件"))
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in TYPES:
        raise FileRefused(_("只能导入 .csv 或 .xlsx 文件"))
    mimetype = (upload.mimetype or "").lower()
    if mimetype not in TYPES[suffix]:
        raise FileRefused(_("文件类型（%(type)s）与扩展名不符", type=mimetype))
    return suffix


def _check_saved(path: Path, suffix: str) -> None:
    """Size and content of the saved file: neither empty nor too large, and what its name says it is."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4096)
    if size == 0:
        raise FileRefused(_("文件为空"))
    if size > MAX_BYTES:
        raise FileRefused(_("文件过大（最大 %(mb)s MB）", mb=MAX_BYTES // (1024 * 1024)), status=413)
    if (suffix == ".xlsx") != head.startswith(b"PK\x03\x04") or (suffix == ".csv" and b"\x00" in head):
        raise FileRefused(_("文件内容与扩展名不符，请上传真正的 CSV 或 XLSX 文件"))


def import_upload(upload, override_reason: str | None = None) -> dict:
    """Import the uploaded catalogue into the session (the caller's unit of work commits); every new item is
    delegated to every county. Returns catalog_io.import_catalog's counts. `override_reason` (None: no override):
    the administrator lets items over their 只减不增 baseline in, each recorded with the reason."""
    from flask_login import current_user

    from delegation import baseline_rule
    from delegation.catalog_io import CatalogError
    from delegation.models import Division
    from exchange.errors import InvalidEnvelope

    override = None if override_reason is None else (current_user.user.id, baseline_rule.check_reason(override_reason))

    with _scratch("catalog", _suffix(upload)) as path:
        upload.save(path)
        _check_saved(path, path.suffix)
        counties = db.session.execute(
            sa.select(Division.code).where(Division.parent_code.is_not(None))).scalars().all()
        try:
            return baseline_rule.import_file(db.session, path, list(counties), override=override)
        except CatalogError as exc:
            raise FileRefused(exc.summary(), errors=exc.errors, filename=upload.filename) from None
        except InvalidEnvelope:  # (a ValueError too) the publication to the counties failed: not the file's fault
            current_app.logger.exception("catalogue import: its publication to the county nodes failed")
            raise FileRefused(_("导入失败，未导入任何内容：目录未能发布到县级节点，请联系系统运维人员")) from None
        except ValueError as exc:  # the specs repeat an item code, or a county is unknown: nothing imported
            current_app.logger.warning("catalogue import refused: %s", exc)
            raise FileRefused(_("导入失败，未导入任何内容：文件中的事项编码重复或县（市、区）代码无效")) from None


def export_csv() -> bytes:
    """The whole catalogue as the CSV `flask catalog import` reads."""
    from delegation.catalog_io import export_catalog

    with _scratch("export", ".csv") as path:
        export_catalog(db.session, path)
        return path.read_bytes()
