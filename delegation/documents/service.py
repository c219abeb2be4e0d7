"""The proof of service (送达回证) of a hand-out: recorded by the hand-out's effect (delegation.cases e_hand_out),
so the case concludes only with it, and printed by the window.

A pickup records who took the documents, their ID number and the time; without a named recipient the applicant
took them in person. Mail records the recipient (the applicant unless named), the address, a telephone (the
applicant's unless given) and the waybill. A wrong field is refused by name and nothing is recorded."""
from __future__ import annotations

import re
from datetime import datetime

from delegation import case_rules, limits
from delegation.documents import numbering
from delegation.documents.models import ServiceRecord
from delegation.errors import Invalid
from delegation.identifiers import IdentifierError, validate_resident_id
from delegation.models import Case
from delegation.titles import N_
from exchange import field_rules
from persistence import db

RECIPIENT_MAX = 100
ADDRESS_MAX = 200


def _text(payload: dict, key: str, limit: int, title_zh: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > limit:
        raise Invalid("too_long", f"{title_zh}不能超过 {limit} 个字", f"{key} is limited to {limit} characters",
                      field=key)
    if limits.has_control_chars(value):
        raise Invalid("control_chars", f"{title_zh}含有不可见的控制字符", f"{key} holds control characters",
                      field=key)
    return value or None


def _pickup(case: Case, payload: dict) -> dict:
    name = _text(payload, "recipient_name", RECIPIENT_MAX, "领取人姓名")
    id_code = _text(payload, "recipient_id_code", 30, "领取人身份证号码")
    if name is None or name == case.applicant_name and id_code is None:
        if id_code is not None:
            raise Invalid("required", N_("请填写领取人姓名"), "recipient_name is required with an ID number",
                          field="recipient_name")
        return {"recipient_name": case.applicant_name, "recipient_id_code": case.applicant_id_code}
    if id_code is None:
        raise Invalid("required", N_("代领的，请填写领取人身份证号码"), "recipient_id_code is required for an agent",
                      field="recipient_id_code")
    try:
        id_code = validate_resident_id(id_code)
    except IdentifierError as exc:
        raise Invalid(exc.code, exc.message_zh, exc.message_en, field="recipient_id_code") from None
    return {"recipient_name": name, "recipient_id_code": id_code}


def _mail(case: Case, payload: dict) -> dict:
    tracking = (payload.get("tracking_no") or "").strip() or None
    address = _text(payload, "address", ADDRESS_MAX, "邮寄地址")
    for gap in case_rules.mail_gaps("mail", {"address": address, "tracking_no": tracking}):
        raise gap
    phone = _text(payload, "recipient_phone", 30, "收件人电话") or case.applicant_phone
    if not phone:
        raise Invalid("required", N_("邮寄出件请填写收件人电话"), "recipient_phone is required for mail",
                      field="recipient_phone")
    if not re.fullmatch(field_rules.PHONE, phone):
        raise Invalid("invalid_phone", N_("收件人电话格式无效"), "recipient_phone is not a telephone number",
                      field="recipient_phone")
    name = _text(payload, "recipient_name", RECIPIENT_MAX, "收件人姓名") or case.applicant_name
    return {"recipient_name": name, "recipient_phone": phone, "address": address, "tracking_no": tracking}


def record(case: Case, actor, method: str, payload: dict, now: datetime) -> ServiceRecord:
    fields = _pickup(case, payload) if method == "pickup" else _mail(case, payload)
    row = ServiceRecord(case_id=case.id, method=method, served_at=now, recorded_by=actor.display_name,
                        verify_code=numbering.verify_code(), **fields)
    db.session.add(row)
    return row


def of_case(case: Case) -> ServiceRecord | None:
    import sqlalchemy as sa

    return db.session.execute(sa.select(ServiceRecord).filter_by(case_id=case.id)).scalar_one_or_none()
