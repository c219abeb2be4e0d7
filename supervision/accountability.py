"""Accountability (问责, issue 17): a spot-check finding of illegal approval (违法审批) opens a record against the unit
and person who decided, and proposes to the city administrator to revoke the county's delegation of the item.

The administrator handles the record (open → handled, with a note), and accepts the proposal — which revokes through
delegation.grants.revoke with the finding as its ground ("spot-check-entry:<id>"), only once confirmed — or declines
it with a reason. A finding corrected to anything but illegal approval withdraws a proposal still open (and closes
the record with a note saying so); marked illegal again, the record opens again. Service functions flush; callers
commit.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import grants
from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, Division, Org
from delegation.responsibility import responsible_parties
from delegation.text_rules import required_text
from delegation.workflow import Role
from persistence import db, utcnow
from supervision.accountability_models import AccountabilityRecord

NOTE_MAX = 2000
STATUS_ZH = {"open": "待处理", "handled": "已处理"}
PROPOSAL_ZH = {"proposed": "建议收回审批权限（待决定）", "accepted": "已采纳，审批权限已收回", "declined": "未采纳",
               "withdrawn": "已撤回（检查结果已更正）"}


# -- opened by the finding --------------------------------------------------------------------------------------

def finding_recorded(entry, actor: Actor, now: datetime) -> AccountabilityRecord | None:
    """Called by spotchecks.record_finding once the entry holds its (new) finding."""
    record = db.session.execute(sa.select(AccountabilityRecord).filter_by(spot_check_entry_id=entry.id)
                                ).scalar_one_or_none()
    if entry.finding == "illegal_approval":
        if record is None:
            record = _open(entry, now)
            if record is not None:
                db.session.add(record)
        else:
            record.finding = entry.finding_note or record.finding
            if record.proposal == "withdrawn":  # marked illegal again: the record and its proposal are back
                record.proposal, record.proposal_by, record.proposal_at = "proposed", None, None
                record.status, record.handling_note, record.handled_by, record.handled_at = "open", None, None, None
    elif record is not None and record.proposal == "proposed":
        record.proposal, record.proposal_by, record.proposal_at = "withdrawn", actor.label, now
        if record.status == "open":
            record.status, record.handled_by, record.handled_at = "handled", actor.label, now
            record.handling_note = "抽查检查结果已更正，不再认定为违法审批"
    db.session.flush()
    return record


def _open(entry, now: datetime) -> AccountabilityRecord | None:
    case = db.session.execute(sa.select(Case).filter_by(case_no=entry.case_no)).unique().scalar_one_or_none()
    if case is None:  # drawn from this node's cases: absent only if it has since been archived away
        return None
    parties = responsible_parties(case)
    return AccountabilityRecord(
        spot_check_entry_id=entry.id, case_no=case.case_no, item_code=case.item.code, item_name=case.item.name,
        county_code=case.county_code, deciding_org=case.decided_org or parties["deciding"],
        deciding_person=case.decided_by or "", finding=entry.finding_note or "", created_at=now)


# -- the administrator's ----------------------------------------------------------------------------------------

def _require_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN or actor.org_level != "city":
        raise Forbidden("role_forbidden", "只有市行政审批局管理员可以查看和处理问责记录",
                        "only the city administrator handles accountability records")


def records(actor: Actor, status: str | None = None, limit: int = 200) -> list[AccountabilityRecord]:
    _require_admin(actor)
    query = sa.select(AccountabilityRecord)
    if status:
        if status not in STATUS_ZH:
            raise Invalid("invalid_choice", "状态应为 open（待处理）或 handled（已处理）", "status must be open or handled",
                          field="status")
        query = query.where(AccountabilityRecord.status == status)
    return list(db.session.execute(query.order_by(AccountabilityRecord.id.desc()).limit(limit)).scalars())


def get(actor: Actor, record_id: int, for_update: bool = False) -> AccountabilityRecord:
    _require_admin(actor)
    query = sa.select(AccountabilityRecord).where(AccountabilityRecord.id == record_id)
    if for_update:
        query = query.with_for_update()
    record = db.session.execute(query).scalar_one_or_none()
    if record is None:
        raise NotFound("accountability_not_found", f"问责记录 {record_id} 不存在",
                       f"accountability record {record_id} not found", field="id")
    return record


def handle(actor: Actor, record_id: int, note: str | None, now: datetime | None = None) -> AccountabilityRecord:
    record = get(actor, record_id, for_update=True)
    note = required_text(note, NOTE_MAX, "note", "处理情况")
    if record.status == "handled":
        raise Conflict("already_handled", "该问责记录已处理", "the record is already handled", field="note")
    record.status, record.handling_note, record.handled_by, record.handled_at = "handled", note, actor.label, \
        now or utcnow()
    db.session.flush()
    return record


def _pending(record: AccountabilityRecord) -> None:
    if record.proposal != "proposed":
        raise Conflict("proposal_decided", f"收回审批权限的建议{PROPOSAL_ZH[record.proposal]}，不能再决定",
                       f"the proposal is {record.proposal}", field="decision")


def accept(actor: Actor, record_id: int, confirm: bool, reason: str | None = None,
           now: datetime | None = None) -> AccountabilityRecord:
    """Revoke the county's delegation of the item (delegation.grants.revoke, the finding as its ground)."""
    now = now or utcnow()
    record = get(actor, record_id, for_update=True)
    _pending(record)
    if confirm is not True:
        raise Invalid("confirm_required", "请确认收回该县（市、区）此事项的审批权限", "confirm the revocation first",
                      field="confirm")
    reason = (reason or "").strip() or f"抽查认定违法审批（办件 {record.case_no}）：{record.finding}".rstrip("：")
    reason = required_text(reason, grants.REASON_MAX, "reason", "收回理由")
    grants.revoke(actor, record.item_code, record.county_code, reason,
                  finding_ref=f"spot-check-entry:{record.spot_check_entry_id}", now=now)
    record.proposal, record.proposal_reason, record.proposal_by, record.proposal_at = "accepted", reason, \
        actor.label, now
    db.session.flush()
    return record


def decline(actor: Actor, record_id: int, reason: str | None, now: datetime | None = None) -> AccountabilityRecord:
    record = get(actor, record_id, for_update=True)
    _pending(record)
    reason = required_text(reason, NOTE_MAX, "reason", "不予采纳的理由")
    record.proposal, record.proposal_reason, record.proposal_by, record.proposal_at = "declined", reason, \
        actor.label, now or utcnow()
    db.session.flush()
    return record


def view(record: AccountabilityRecord) -> dict:
    names = dict(db.session.execute(sa.select(Org.code, Org.name).where(Org.code == record.deciding_org)).all())
    county = db.session.get(Division, record.county_code)
    return {"id": record.id, "spot_check_entry_id": record.spot_check_entry_id, "case_no": record.case_no,
            "item_code": record.item_code, "item_name": record.item_name, "county": record.county_code,
            "county_name": county.name if county else record.county_code,
            "deciding_org": record.deciding_org, "deciding_org_name": names.get(record.deciding_org),
            "deciding_person": record.deciding_person, "finding": record.finding, "status": record.status,
            "handling_note": record.handling_note, "handled_by": record.handled_by, "handled_at": record.handled_at,
            "proposal": record.proposal, "proposal_reason": record.proposal_reason, "proposal_by": record.proposal_by,
            "proposal_at": record.proposal_at, "created_at": record.created_at}

