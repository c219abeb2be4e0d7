"""Credit supervision (信用监管): marks against an applicant's credit code or resident ID.

- `broken_commitment`: a 容缺 case terminated because the promised materials did not come in time (recorded by
  listening to the workflow's "terminate" event, in the same transaction as the termination);
- `false_commitment`: a 告知承诺 commitment found false; the applicant goes on the blacklist (黑名单);
- `penalty`: an administrative penalty fed back by the regulator (called by the push/feedback service).

Records live on the node that made them; the city node's are published to every county node (credit_publish.py,
issue 18), where a copy keeps the city's expiry. Service functions flush; callers commit.

A record counts against the applicant (blocks 容缺, warns the window, stops a batch approval) while it is in force:
not lifted by the administrator (supervision/credit_admin.py) and younger than its kind's period
(CREDIT_EXPIRY_DAYS, configure()). The period is read at every check rather than stored per record, so a changed
setting applies to every record alike.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from delegation import case_rules, cases, events
from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.errors import Forbidden, Invalid, NotFound
from delegation.identifiers import IdentifierError, validate_credit_code, validate_resident_id
from delegation.models import Case
from delegation.workflow import Role
from persistence import db, utcnow
from supervision.models import CreditRecord

KIND_ZH = {"broken_commitment": "容缺承诺逾期未履行", "false_commitment": "告知承诺不实（黑名单）",
           "penalty": "行政处罚"}
DETAIL_MAX = 4000
# days a record counts from when it was made, per kind (CREDIT_EXPIRY_DAYS overrides; configure())
EXPIRY_DAYS = {"broken_commitment": 365, "false_commitment": 1095, "penalty": 1095}
_expiry_days = dict(EXPIRY_DAYS)


def configure(expiry_days: dict[str, int]) -> None:
    """The periods of this node's settings (the app factory passes them)."""
    _expiry_days.clear()
    _expiry_days.update({**EXPIRY_DAYS, **expiry_days})


def expires_at(kind: str, created_at: datetime) -> datetime:
    return created_at + timedelta(days=_expiry_days[kind])


def record_expiry(record: CreditRecord) -> datetime:
    """When the record stops counting: a copy published by the city keeps the city's expiry."""
    return record.expires_at or expires_at(record.kind, record.created_at)


def in_force(now: datetime | None = None):
    """SQL: the records that still count at `now` (not lifted, not expired)."""
    now = now or utcnow()
    own_period = sa.or_(*(sa.and_(CreditRecord.kind == kind, CreditRecord.created_at > now - timedelta(days=days))
                          for kind, days in _expiry_days.items()))
    return sa.and_(CreditRecord.lifted_at.is_(None), sa.or_(
        sa.and_(CreditRecord.expires_at.is_(None), own_period), CreditRecord.expires_at > now))


def status(record: CreditRecord, now: datetime | None = None) -> str:
    """in_force | expired | lifted"""
    if record.lifted_at is not None:
        return "lifted"
    return "in_force" if record_expiry(record) > (now or utcnow()) else "expired"


# Told of every record this node makes or lifts, in the same transaction (credit_publish publishes the city's).
_listeners: list[Callable[[CreditRecord], None]] = []


def on_change(listener: Callable[[CreditRecord], None]) -> None:
    _listeners.append(listener)


def changed(record: CreditRecord) -> None:
    for listener in _listeners:
        listener(record)


def normalise(id_code: str) -> str:
    return (id_code or "").strip().upper()


def _by(actor: Actor | str) -> str:
    return actor if isinstance(actor, str) else actor.label


def _record(kind: str, id_code: str, name: str, case_no: str | None, detail: str, by: str,
            blacklisted: bool = False, at: datetime | None = None) -> CreditRecord:
    """One record; the same mark (kind, applicant, case, detail) is never written twice."""
    id_code = normalise(id_code)
    existing = db.session.execute(
        sa.select(CreditRecord).filter_by(id_code=id_code, kind=kind, case_no=case_no, detail=detail)
    ).scalars().first()
    if existing is not None:
        return existing
    record = CreditRecord(id_code=id_code, name=name, kind=kind, case_no=case_no, detail=detail,
                          blacklisted=blacklisted, recorded_by=by, created_at=at or utcnow())
    db.session.add(record)
    db.session.flush()
    changed(record)
    return record


# -- what the workflow tells us --------------------------------------------------------------------------------

@events.subscribe("terminate")
def on_terminate(event: events.CaseEvent) -> None:
    """A 容缺 case ended because the committed materials were not supplied by the deadline."""
    case = event.case
    if case.commitment_deadline is None or case.commitment_met_at is not None:
        return
    missing = [m.name for m in case_rules.outstanding(case)]
    deadline = case.commitment_deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    detail = (f"容缺受理承诺于{deadline}前补齐{'、'.join(missing) or '所缺材料'}，逾期未补齐，"
              f"办件（{case.item.name}）已终止")
    _record("broken_commitment", case.applicant_id_code, case.applicant_name, case.case_no, detail,
            _by(event.actor), at=event.at)


# -- recorded by staff -----------------------------------------------------------------------------------------

def record_false_commitment(actor: Actor, id_code: str, name: str, case_no: str | None,
                            detail: str, now: datetime | None = None) -> CreditRecord:
    """A 告知承诺 found false: the applicant is blacklisted. The city administrators record it against any case on
    this node, or without one; a regulator only against a case pushed to its own organisation."""
    if not (_city_admin(actor) or actor.role is Role.REGULATOR):
        raise Forbidden("role_forbidden", "只有管理员或监管人员可以记录虚假承诺",
                        "only administrators and regulators record false commitments")
    id_code = normalise(id_code)
    name = (name or "").strip()
    detail = (detail or "").strip()
    case_no = (case_no or "").strip() or None
    if not name:
        raise Invalid("required", "请填写申请人名称", "name is required", field="name")
    if not detail:
        raise Invalid("required", "请填写虚假承诺的情况", "detail is required", field="detail")
    if len(detail) > DETAIL_MAX:
        raise Invalid("too_long", f"情况说明不能超过{DETAIL_MAX}字", f"detail is longer than {DETAIL_MAX}",
                      field="detail")
    if case_no is None:
        _may_record_without_case(actor)
        _check_id(id_code)
    elif _applicant_of(actor, case_no) != id_code:
        raise _no_such_case()
    return _record("false_commitment", id_code, name, case_no, detail, _by(actor), blacklisted=True, at=now)


def record_penalty(by: Actor | str, id_code: str, name: str, case_no: str | None, detail: str,
                   at: datetime | None = None) -> CreditRecord:
    """An administrative penalty against the applicant (for the supervision feedback to call). Idempotent: the
    feedback may be applied on several nodes, or again."""
    return _record("penalty", id_code, (name or "").strip() or normalise(id_code), case_no,
                   (detail or "").strip() or "行政处罚", _by(by), at=at)


def _city_admin(actor: Actor) -> bool:
    return actor.role is Role.ADMIN and actor.org_level == "city"


def _may_record_without_case(actor: Actor) -> None:
    """A mark that names no case answers to no supervision: only the city administration may make one."""
    if not _city_admin(actor):
        raise Invalid("required", "请填写办件编号：监管人员只能针对本单位监管的办件记录虚假承诺",
                      "case_no is required: a regulator records against a case its organisation supervises",
                      field="case_no")


def _no_such_case() -> NotFound:
    """One answer whether the case is unknown, supervised by another organisation or not this applicant's: the
    answer must not tell which case numbers exist or whose ID goes with a case."""
    return NotFound("case_not_found", "您的监管范围内没有与该办件编号和证件号码相符的办件",
                    "no case with this number and this applicant's ID is within your supervision", field="case_no")


def _applicant_of(actor: Actor, case_no: str) -> str | None:
    """The applicant's id of a case the actor may record against: for the city administrators any case known on
    this node (the case itself, or its supervision push); for a regulator a push it has received."""
    from supervision.models import SupervisionPush
    from supervision.push_queries import visible_filter

    found = None
    if _city_admin(actor):
        found = db.session.execute(sa.select(Case.applicant_id_code).filter_by(case_no=case_no)).scalar()
    if found is None:
        found = db.session.execute(
            sa.select(SupervisionPush.applicant_id_code)
            .where(SupervisionPush.case_no == case_no, visible_filter(actor))).scalars().first()
    return normalise(found) if found else None


def _check_id(id_code: str) -> None:
    for validate in (validate_credit_code, validate_resident_id):
        try:
            validate(id_code)
            return
        except IdentifierError:
            continue
    raise Invalid("id_code_invalid", "证件号码既不是有效的统一社会信用代码，也不是有效的公民身份号码",
                  "id_code is neither a valid unified social credit code nor a valid resident ID number",
                  field="id_code")


# -- reading ---------------------------------------------------------------------------------------------------

def readable_by(actor: Actor):
    """The records a member of staff may list. A regulator: those of the cases pushed to its organisation, and
    those it recorded itself; it has no business with other authorities' applicants. Everyone else who may log
    in reads an applicant's whole record: it is what the window is shown at every intake (warnings_for)."""
    if actor.role is not Role.REGULATOR:
        return sa.true()
    from supervision.models import SupervisionPush
    from supervision.push_queries import visible_filter

    own_cases = sa.select(SupervisionPush.case_no).where(visible_filter(actor))
    by_me = "%(" + actor.username.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ")"
    return sa.or_(CreditRecord.case_no.in_(own_cases), CreditRecord.recorded_by.like(by_me, escape="\\"))


def lookup(id_code: str, actor: Actor | None = None) -> list[dict]:
    """The marks against an applicant, oldest first; with `actor`, only those that actor may read."""
    query = sa.select(CreditRecord).filter_by(id_code=normalise(id_code))
    if actor is not None:
        query = query.where(readable_by(actor))
    rows = db.session.execute(query.order_by(CreditRecord.id)).scalars().all()
    return [view(r) for r in rows]


def view(r: CreditRecord, now: datetime | None = None) -> dict:
    return {"id": r.id, "id_code": r.id_code, "name": r.name, "kind": r.kind, "kind_zh": KIND_ZH[r.kind],
            "case_no": r.case_no, "detail": r.detail, "blacklisted": r.blacklisted, "recorded_by": r.recorded_by,
            "at": r.created_at, "expires_at": record_expiry(r), "status": status(r, now),
            "lifted_at": r.lifted_at, "lifted_by": r.lifted_by, "lift_reason": r.lift_reason,
            "origin_node": r.origin_node}  # published by the city node (credit_publish): lifted there only


def is_blacklisted(id_code: str, now: datetime | None = None) -> bool:
    """On the blacklist now: an expired or lifted blacklisting no longer counts."""
    return db.session.execute(
        sa.select(CreditRecord.id).filter_by(id_code=normalise(id_code), blacklisted=True)
        .where(in_force(now)).limit(1)
    ).first() is not None


def warnings_for(id_code: str) -> list[dict]:
    """What the window sees at intake: every mark in force against the applicant, blacklist first, newest first."""
    records = sorted((r for r in lookup(id_code) if r["status"] == "in_force"),
                     key=lambda r: (not r["blacklisted"], -r["id"]))
    return [{"kind": r["kind"], "kind_zh": r["kind_zh"], "blacklisted": r["blacklisted"], "case_no": r["case_no"],
             "detail": r["detail"], "at": r["at"].isoformat()} for r in records]


cases.register_blacklist_lookup(is_blacklisted)  # 容缺 acceptance asks it (delegation cannot import this layer)
