"""Site inspections (现场踏勘, issue 17): the record of what an inspection found, not only the pause of the clock.

The organisation holding a case suspended for a site inspection (SuspensionKind.SITE_INSPECTION) records who went,
when, where, what was found, the conclusion and photographs; it may resume the case in the same step. The record
is shown on the case page to whoever sees the case, and travels with `case.forward` (its photos as the message's
attachments) to the city, which keeps its own copy; a case held at the city is recorded there. Recording changes
no state: the timeline gets a line (engine.note), the resume goes through the engine.

Service functions flush; callers commit.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

import sqlalchemy as sa

from delegation import engine
from delegation.actors import Actor
from delegation.assignment import unit_codes
from delegation.cases import get_case
from delegation.deadlines import SHANGHAI
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.inspection_models import CONCLUSIONS, Conclusion, SiteInspection, SiteInspectionPhoto
from delegation.models import Case
from delegation.text_rules import required_text
from delegation.uploads import _display_name, read_checked
from delegation.workflow import Action, Role, State, SuspensionKind
from delegation.worklist import holder_code
from exchange.bus import get_bus
from exchange.errors import ExchangeRejected
from persistence import as_utc, db, utcnow

MAX_PHOTOS = 9
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # a photograph; MAX_UPLOAD_BYTES bounds it further when smaller
MAX_INSPECTORS = 10
INSPECTOR_MAX = 50
PLACE_MAX = 200
FINDINGS_MAX = 2000
IMAGE_TYPES = ("image/png", "image/jpeg")
CLOCK_SKEW = timedelta(minutes=5)  # the browser's clock and the server's differ a little
RECORDING_ROLES = (Role.REVIEWER, Role.CITY_APPROVER)


@dataclass(frozen=True)
class Photo:
    filename: str
    claimed_type: str
    stream: BinaryIO


# -- who may record ---------------------------------------------------------------------------------------------

def _standing(actor: Actor, case: Case) -> None:
    """Refuse unless the actor's organisation holds the case and it is suspended for a site inspection here."""
    if actor.role not in RECORDING_ROLES:
        raise Forbidden("role_forbidden", "只有办件所在的审批单位可以登记现场踏勘记录",
                        "only the organisation holding the case records a site inspection")
    if case.state is not State.SUSPENDED or case.suspension_kind != SuspensionKind.SITE_INSPECTION.value:
        raise Conflict("not_site_inspection", "办件未处于现场踏勘特别程序中，不能登记踏勘记录",
                       "the case is not suspended for a site inspection", field="action", state=case.state.value)
    at_city = case.resume_state is State.CITY_REVIEW
    if at_city != (actor.role is Role.CITY_APPROVER) or holder_code(case) not in unit_codes(actor):
        raise Forbidden("not_holder", "现场踏勘由办件所在的承办单位登记，您的单位不是该办件的承办单位",
                        "only the organisation holding the case records its site inspection")


def may_record(actor: Actor, case: Case) -> bool:
    try:
        _standing(actor, case)
    except (Forbidden, Conflict):
        return False
    return True


# -- recording --------------------------------------------------------------------------------------------------

def record(actor: Actor, case_no: str, *, inspectors, inspected_at, place: str | None, findings: str | None,
           conclusion: str | None, photos=(), resume: bool = False, now: datetime | None = None) -> SiteInspection:
    """Record the inspection (and, with `resume`, end the suspension in the same unit of work). Every field is
    checked and every photo read and checked before anything is stored, so a refusal changes nothing."""
    now = now or utcnow()
    case = get_case(actor, case_no, for_update=True)
    _standing(actor, case)
    names = _inspectors(inspectors)
    when = _moment(inspected_at, case, now)
    place = required_text(place, PLACE_MAX, "place", "踏勘地点")
    findings = required_text(findings, FINDINGS_MAX, "findings", "踏勘情况")
    if conclusion not in CONCLUSIONS:
        raise Invalid("invalid_choice", f"请选择踏勘结论（{'、'.join(c.title_zh for c in Conclusion)}）",
                      f"conclusion must be one of {', '.join(CONCLUSIONS)}", field="conclusion")
    checked = _read_photos(photos)
    blobs = get_bus().blobs
    inspection = SiteInspection(
        case_id=case.id, ref=str(uuid.uuid4()), org_code=actor.org_code, inspectors=names, inspected_at=when,
        place=place, findings=findings, conclusion=conclusion, recorded_by=actor.label, recorded_at=now,
        photos=[SiteInspectionPhoto(position=i, original_name=name, media_type=media_type, size=len(data),
                                    sha256=blobs.put(data))  # named by its digest, 0600 (exchange.blobs)
                for i, (name, media_type, data) in enumerate(checked)])
    db.session.add(inspection)
    engine.note(case, "site_inspection", now,
                f"现场踏勘：{place}；结论：{Conclusion(conclusion).title_zh}",
                {"ref": inspection.ref, "photos": len(checked)}, by=engine.Peer(actor.label, actor.org_code))
    db.session.flush()
    if resume:
        engine.apply(case, actor, Action.RESUME, {}, now)
    return inspection


def _inspectors(value) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise Invalid("invalid_type", "踏勘人员应为姓名列表", "inspectors must be a list of names", field="inspectors")
    # a form's one field or a list, each entry possibly several names separated as staff write them
    names = [n.strip() for v in value for n in v.replace("，", ",").replace("、", ",").split(",") if n.strip()]
    if not names:
        raise Invalid("required", "请填写参加踏勘的人员（至少一人）", "at least one inspector is required",
                      field="inspectors")
    if len(names) > MAX_INSPECTORS:
        raise Invalid("too_many", f"踏勘人员不能超过 {MAX_INSPECTORS} 人", f"at most {MAX_INSPECTORS} inspectors",
                      field="inspectors")
    if any(len(n) > INSPECTOR_MAX for n in names):
        raise Invalid("too_long", f"踏勘人员姓名不能超过 {INSPECTOR_MAX} 个字",
                      f"an inspector's name is longer than {INSPECTOR_MAX}", field="inspectors")
    return list(dict.fromkeys(names))


def _moment(value, case: Case, now: datetime) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip()) if value.strip() else None
        except ValueError:
            raise Invalid("invalid_datetime", "踏勘时间格式应为 YYYY-MM-DD HH:MM",
                          "inspected_at must be a date and time", field="inspected_at") from None
    if value is None:
        raise Invalid("required", "请填写踏勘时间", "inspected_at is required", field="inspected_at")
    if not isinstance(value, datetime):
        raise Invalid("invalid_datetime", "踏勘时间格式应为 YYYY-MM-DD HH:MM", "inspected_at must be a date and time",
                      field="inspected_at")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=SHANGHAI)  # a local time, as staff write it
    if value > now + CLOCK_SKEW:
        raise Invalid("inspected_at_future", "踏勘时间不能晚于当前时间", "inspected_at is in the future",
                      field="inspected_at")
    if case.accepted_at and value < as_utc(case.accepted_at) - CLOCK_SKEW:
        raise Invalid("inspected_at_before_acceptance", "踏勘时间不能早于办件受理时间",
                      "inspected_at is before the case was accepted", field="inspected_at")
    return as_utc(value)


def _read_photos(photos) -> list[tuple[str, str, bytes]]:
    photos = [p for p in photos if p is not None]
    if len(photos) > MAX_PHOTOS:
        raise Invalid("too_many_photos", f"现场照片不能超过 {MAX_PHOTOS} 张", f"at most {MAX_PHOTOS} photographs",
                      field="photos")
    limit = min(MAX_PHOTO_BYTES, get_bus().settings.max_upload_bytes)
    out = []
    for photo in photos:
        try:
            data, actual = read_checked(photo.stream, photo.claimed_type, limit)
        except Invalid as exc:
            raise Invalid(exc.code, f"现场照片「{_display_name(photo.filename)}」：{exc.zh}", exc.en,
                          field="photos") from None
        if actual not in IMAGE_TYPES:
            raise Invalid("photo_type", f"现场照片「{_display_name(photo.filename)}」不是 PNG 或 JPEG 图片",
                          "photographs must be PNG or JPEG images", field="photos")
        out.append((_display_name(photo.filename), actual, data))
    return out


# -- reading ----------------------------------------------------------------------------------------------------

def of_case(case: Case) -> list[SiteInspection]:
    return list(db.session.execute(sa.select(SiteInspection).where(SiteInspection.case_id == case.id)
                                   .order_by(SiteInspection.inspected_at, SiteInspection.id)).scalars())


def for_case_no(actor: Actor, case_no: str) -> list[SiteInspection]:
    return of_case(get_case(actor, case_no))


def photo(actor: Actor, case_no: str, photo_id: int) -> SiteInspectionPhoto:
    """A photograph, only to those who see the case (get_case: another county's case is absent)."""
    case = get_case(actor, case_no)
    found = db.session.execute(
        sa.select(SiteInspectionPhoto).join(SiteInspection, SiteInspection.id == SiteInspectionPhoto.inspection_id)
        .where(SiteInspection.case_id == case.id, SiteInspectionPhoto.id == photo_id)).scalar_one_or_none()
    if found is None:
        raise NotFound("photo_not_found", "照片不存在", "no such photograph", field="photo_id")
    return found


def view(inspection: SiteInspection) -> dict:
    return {"ref": inspection.ref, "org": inspection.org_code, "inspectors": list(inspection.inspectors),
            "inspected_at": inspection.inspected_at, "place": inspection.place, "findings": inspection.findings,
            "conclusion": inspection.conclusion, "conclusion_zh": Conclusion(inspection.conclusion).title_zh,
            "recorded_by": inspection.recorded_by, "recorded_at": inspection.recorded_at,
            "photos": [{"id": p.id, "name": p.original_name, "media_type": p.media_type, "size": p.size,
                        "sha256": p.sha256} for p in inspection.photos]}


# -- on the wire (case.forward's SiteInspections) ----------------------------------------------------------------

def to_wire(case: Case) -> tuple[dict | None, list[SiteInspectionPhoto]]:
    """The body part and the photos to attach (their digests name them in the body)."""
    records = of_case(case)
    if not records:
        return None, []
    body = {"records": [{
        "ref": r.ref, "org": r.org_code, "inspectors": list(r.inspectors), "at": r.inspected_at,
        "place": r.place, "findings": r.findings, "conclusion": r.conclusion, "recorded_by": r.recorded_by,
        "recorded_at": r.recorded_at, "photos": [p.sha256 for p in r.photos]} for r in records]}
    return body, [p for r in records for p in r.photos]


def wire_photo_digests(body: dict) -> set[str]:
    part = body.get("site_inspections") or {}
    return {sha for r in part.get("records", []) for sha in r.get("photos", [])}


def receive(case: Case, body: dict, attachments) -> None:
    """Keep the city's copy of the records a forward carries; a record already here (the same ref: this node
    wrote it, or an earlier forward brought it) is not added again."""
    records = (body.get("site_inspections") or {}).get("records", [])
    if not records:
        return
    by_sha = {a.sha256: a for a in attachments}
    known = set(db.session.execute(sa.select(SiteInspection.ref).where(
        SiteInspection.ref.in_([r["ref"] for r in records]))).scalars())
    for r in records:
        if r["ref"] in known:
            continue
        if len(r["photos"]) > MAX_PHOTOS or not 1 <= len(r["inspectors"]) <= MAX_INSPECTORS:
            raise ExchangeRejected("inspection_invalid", f"site inspection {r['ref']}: too many photos or inspectors")
        missing = [sha for sha in r["photos"] if sha not in by_sha]
        if missing:
            raise ExchangeRejected("attachment_missing", f"site inspection {r['ref']}: photo {missing[0]} not attached")
        if any(by_sha[sha].media_type not in IMAGE_TYPES for sha in r["photos"]):
            raise ExchangeRejected("inspection_invalid", f"site inspection {r['ref']}: a photo is not an image")
        if r["conclusion"] not in CONCLUSIONS:
            raise ExchangeRejected("inspection_invalid", f"site inspection {r['ref']}: unknown conclusion")
        db.session.add(SiteInspection(
            case_id=case.id, ref=r["ref"], org_code=r["org"], inspectors=r["inspectors"],
            inspected_at=datetime.fromisoformat(r["at"]), place=r["place"][:PLACE_MAX], findings=r["findings"],
            conclusion=r["conclusion"], recorded_by=r["recorded_by"][:100],
            recorded_at=datetime.fromisoformat(r["recorded_at"]),
            photos=[SiteInspectionPhoto(position=i, original_name=by_sha[sha].name, media_type=by_sha[sha].media_type,
                                        size=by_sha[sha].size, sha256=sha) for i, sha in enumerate(r["photos"])]))
