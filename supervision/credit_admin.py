"""The administrator's side of the credit records (issue 17): the list with its filters, and lifting a record
(撤销信用记录) with the reason, who and when; and what an applicant may read of their own record through the public
lookup. The rule of which records count is credit.in_force. Service functions flush; callers commit."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case
from delegation.text_rules import required_text
from delegation.workflow import Role
from persistence import db, utcnow
from supervision import credit
from supervision.models import CreditRecord

STATUSES = ("in_force", "expired", "lifted")
STATUS_ZH = {"in_force": "有效", "expired": "已过期", "lifted": "已撤销"}
REASON_MAX = 1000
SEARCH_MAX = 60
PAGE_SIZE = 50


def _require_city_admin(actor: Actor) -> None:
    if not (actor.role is Role.ADMIN and actor.org_level == "city"):
        raise Forbidden("role_forbidden", "只有市级管理员可以管理信用记录",
                        "only the city administrators manage credit records")


def records(actor: Actor, *, kind: str | None = None, status: str | None = None, q: str | None = None,
            before_id: int | None = None, now: datetime | None = None) -> tuple[list[dict], int | None]:
    """The records of this node, newest first, by kind, status and an applicant's ID or part of a name; a page
    of PAGE_SIZE and the id to pass back as before_id for the next (None: no more)."""
    _require_city_admin(actor)
    now = now or utcnow()
    query = sa.select(CreditRecord)
    if kind:
        if kind not in credit.KIND_ZH:
            raise Invalid("invalid_choice", "请选择有效的记录类型", "kind is not a credit record kind", field="kind")
        query = query.where(CreditRecord.kind == kind)
    if status:
        query = query.where(_status_clause(status, now))
    q = (q or "").strip()
    if len(q) > SEARCH_MAX:
        raise Invalid("too_long", f"查询内容不能超过 {SEARCH_MAX} 个字", f"q is longer than {SEARCH_MAX}", field="q")
    if q:
        # an ID exactly (as stored, upper case), or a part of the name; LIKE's wildcards typed are taken literally
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(CreditRecord.id_code == credit.normalise(q),
                                   CreditRecord.name.like(like, escape="\\")))
    if before_id:
        query = query.where(CreditRecord.id < before_id)
    rows = db.session.execute(query.order_by(CreditRecord.id.desc()).limit(PAGE_SIZE + 1)).scalars().all()
    more = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    return [credit.view(r, now) for r in rows[:PAGE_SIZE]], more


def _status_clause(status: str, now: datetime):
    if status not in STATUSES:
        raise Invalid("invalid_choice", "请选择有效的记录状态（有效、已过期、已撤销）",
                      f"status must be one of {', '.join(STATUSES)}", field="status")
    if status == "in_force":
        return credit.in_force(now)
    if status == "lifted":
        return CreditRecord.lifted_at.is_not(None)
    return sa.and_(CreditRecord.lifted_at.is_(None), sa.not_(credit.in_force(now)))


def record(actor: Actor, record_id: int, now: datetime | None = None) -> dict:
    _require_city_admin(actor)
    row = db.session.get(CreditRecord, record_id)
    if row is None:
        raise NotFound("credit_record_not_found", "信用记录不存在", "no such credit record", field="record_id")
    return credit.view(row, now)


def lift(actor: Actor, record_id: int, reason: str, now: datetime | None = None) -> CreditRecord:
    """撤销: the record no longer counts against the applicant; who, when and why are kept on it. Only once."""
    _require_city_admin(actor)
    reason = required_text(reason, REASON_MAX, "reason", "撤销理由")
    record = db.session.execute(sa.select(CreditRecord).filter_by(id=record_id).with_for_update()).scalar()
    if record is None:
        raise NotFound("credit_record_not_found", "信用记录不存在", "no such credit record", field="record_id")
    if record.lifted_at is not None:
        raise Conflict("already_lifted", "该信用记录已撤销", "this credit record is already lifted", field="record_id")
    if record.origin_node is not None:  # a copy of the city's record: the city lifts it, and the copy follows
        raise Conflict("published_record", "该信用记录由市级平台发布，只能在市级平台撤销",
                       "this credit record was published by the city node and is lifted there", field="record_id")
    record.lifted_at, record.lifted_by, record.lift_reason = now or utcnow(), actor.label, reason
    db.session.flush()
    credit.changed(record)
    return record


def for_applicant_of(case: Case, now: datetime | None = None) -> list[dict]:
    """What the public lookup shows the applicant of this case: the records against this applicant's ID, newest
    first; their kind, date, case, detail and whether they still count, never who recorded or lifted them."""
    rows = db.session.execute(sa.select(CreditRecord).filter_by(id_code=credit.normalise(case.applicant_id_code))
                              .order_by(CreditRecord.id.desc()).limit(PAGE_SIZE)).scalars().all()
    out = []
    for r in rows:
        state = credit.status(r, now)
        out.append({"kind_zh": credit.KIND_ZH[r.kind], "at": r.created_at, "case_no": r.case_no, "detail": r.detail,
                    "blacklisted": r.blacklisted, "status": state, "status_zh": STATUS_ZH[state],
                    "expires_at": credit.record_expiry(r), "lifted_at": r.lifted_at})
    return out
