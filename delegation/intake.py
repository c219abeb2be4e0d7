"""Intake with uploads: a new case and the files brought with it, as one piece of work. The window's intake page
calls it; any client that sends a case and its files together can too. The caller's unit of work commits once
(nothing of the case stays when one file is refused)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from delegation import cases, uploads
from delegation.actors import Actor
from delegation.errors import Invalid
from delegation.models import Case


class Upload(Protocol):
    filename: str
    mimetype: str
    stream: object


def file_field(material_code: str) -> str:
    """The field an error about one material's file names: `files.<material code>`."""
    return f"files.{material_code}"


def register_with_files(actor: Actor, item_code: str, applicant: dict, materials: list[dict],
                        files: Iterable[tuple[str, Upload | None]], id_check_override: str | None = None) -> Case:
    """Register the case, then attach each (material code, upload) given; an empty upload is skipped. A file
    refused as Invalid names its material's file (file_field), so the page says it beside that file."""
    case = cases.create_case(actor, item_code, applicant, materials, id_check_override)
    for material_code, upload in files:
        if upload is None or not getattr(upload, "filename", ""):
            continue
        try:
            uploads.attach(actor, case.case_no, material_code, upload.filename or "", upload.mimetype, upload.stream)
        except Invalid as exc:
            exc.field = file_field(material_code)
            raise
    return case
