"""Intake with uploads: a new case and the files brought with it, as one piece of work. The window's intake page
calls it; any client that sends a case and its files together can too. The caller's unit of work commits once
(nothing of the case stays when one file is refused)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from delegation import cases, citywide, representation, uploads
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
                        files: Iterable[tuple[str, Upload | None]], id_check_override: str | None = None,
                        accept: bool = False, competent_county: str | None = None) -> Case:
    """Register the case, then attach each (material code, upload) given; an empty upload is skipped. A file
    refused as Invalid names its material's file (file_field), so the page says it beside that file.
    `applicant` may also carry what a window records (address, legal_representative, agent: {name, id_code,
    phone}, assisted_by: the username of the window's assistant, 帮办人员, taking the case for the applicant); an
    agent needs the authorisation letter among the materials (delegation/representation.py). accept=True: 登记并受理, the acceptance in the same unit of work (a case that cannot be accepted
    is not registered either: the guard's refusal is the answer)."""
    case = cases.create_case(actor, item_code, applicant, materials, id_check_override)
    citywide.assign(case, competent_county)  # 全市通办: the county whose bureau decides (delegation/citywide.py)
    _record_particulars(case, applicant)
    for material_code, upload in files:
        if upload is None or not getattr(upload, "filename", ""):
            continue
        try:
            uploads.attach(actor, case.case_no, material_code, upload.filename or "", upload.mimetype, upload.stream)
        except Invalid as exc:
            exc.field = file_field(material_code)
            raise
    representation.check_agent(case)  # the letter may have come as a file: checked once all are attached
    representation.record_assistant(actor, case, applicant.get("assisted_by"))
    if accept:
        return cases.perform(actor, case.case_no, "accept", {"comment": ""})
    return case


def _record_particulars(case: Case, applicant: dict) -> None:
    """The address, legal representative and agent (经办人) of the intake; an agent's ID number is checked as a
    resident ID number (GB 11643) and an agent needs a name."""
    from delegation.identifiers import IdentifierError, validate_resident_id

    case.applicant_address = _text(applicant.get("address"), 200)
    case.legal_representative = _text(applicant.get("legal_representative"), 100)
    agent = applicant.get("agent") or {}
    case.agent_name = _text(agent.get("name"), 100)
    case.agent_phone = _text(agent.get("phone"), 30)
    id_code = _text(agent.get("id_code"), 30)
    if id_code:
        try:
            id_code = validate_resident_id(id_code)
        except IdentifierError as exc:
            raise Invalid(exc.code, exc.message_zh, exc.message_en, field="agent.id_code") from None
    if (id_code or case.agent_phone) and not case.agent_name:
        raise Invalid("required", "请填写经办人姓名", "the agent's name is required", field="agent.name")
    case.agent_id_code = id_code


def _text(value, max_length: int) -> str | None:
    value = (value or "").strip()
    if len(value) > max_length:
        raise Invalid("too_long", f"不能超过{max_length}个字符", f"at most {max_length} characters")
    return value or None


def open_duplicates(actor: Actor, item_code: str, id_code: str) -> list[str]:
    """The case numbers of this county's open cases of the same item and applicant (a second intake of the
    same application is usually a mistake: the window warns before registering it)."""
    import sqlalchemy as sa

    from delegation.models import Item
    from delegation.workflow import FINAL_STATES
    from persistence import db

    query = (sa.select(Case.case_no).join(Item, Item.id == Case.item_id)
             .where(cases.visible_filter(actor), Item.code == item_code,
                    Case.applicant_id_code == (id_code or "").strip().upper(),
                    Case.state.not_in([s.value for s in FINAL_STATES]))
             .order_by(Case.id.desc()).limit(5))
    return list(db.session.execute(query).scalars())


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
