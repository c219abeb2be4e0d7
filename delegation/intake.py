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


# The actions whose payload lists materials: a file brought with the action puts its material on the list.
_LISTS_MATERIALS = ("resubmit", "supply_materials")


def act_with_files(actor: Actor, case_no: str, action: str, payload: dict,
                   files: Iterable[tuple[str, Upload]]) -> Case:
    """A window action with the files brought for it (补交材料, 重新提交 of a correction or of a case the city
    returned): each file is attached first, so what the action sends on (case.supplement) carries it; a refused
    file names its material (file_field) and nothing of the action stays."""
    files = list(files)
    if action in _LISTS_MATERIALS:
        listed = list(payload.get("materials") or [])
        payload = {**payload, "materials": listed + [c for c, _u in files if c not in listed]}
    for material_code, upload in files:
        try:
            uploads.attach(actor, case_no, material_code, upload.filename or "", upload.mimetype, upload.stream)
        except Invalid as exc:
            exc.field = file_field(material_code)
            raise
    return cases.perform(actor, case_no, action, payload)
