"""Verifying 告知承诺 (issue 17, part A): the regulator's task for every approval given on a signed commitment.

The window's approval writes the task (delegation.window_decisions: the commitment record, due within the item's
working days, addressed to the supervising organisation the mode names). The regulator of that organisation records
the commitment verified or false. A false commitment revokes the licence (the /verify page then shows it revoked,
with this record as its ground "commitment-record:<id>") and blacklists the applicant (supervision.credit), who can
then use neither 告知承诺 nor 容缺. Both lines are written on the case's timeline. Flushes; the caller commits.

The task lives on the node that approved (the licence is revoked where it was issued): a regulator on another node
does not see it yet (noted in issue 17)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import engine, licences
from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, Item
from delegation.window_decision_models import CommitmentRecord, VerificationResult
from delegation.workflow import Role
from persistence import db, utcnow
from supervision import credit

NOTE_MAX = 2000
RESULTS = {r.value: r.title_zh for r in VerificationResult}


def _regulator(actor: Actor) -> None:
    if actor.role is not Role.REGULATOR:
        raise Forbidden("role_forbidden", "只有监管人员可以核查告知承诺", "only regulators verify commitments")


def open_tasks(actor: Actor, limit: int = 200) -> list[CommitmentRecord]:
    """The regulator organisation's commitments still to verify, soonest due first."""
    _regulator(actor)
    return list(db.session.execute(
        sa.select(CommitmentRecord).where(CommitmentRecord.supervising_org == actor.org_code,
                                          CommitmentRecord.result.is_(None))
        .order_by(CommitmentRecord.verify_due_at, CommitmentRecord.id).limit(limit)).scalars())


def is_overdue(record: CommitmentRecord, now: datetime | None = None) -> bool:
    return record.result is None and record.verify_due_at < (now or utcnow())


def _task(actor: Actor, case_no: str) -> CommitmentRecord:
    record = db.session.execute(
        sa.select(CommitmentRecord).where(CommitmentRecord.case_no == (case_no or "").strip(),
                                          CommitmentRecord.supervising_org == actor.org_code)
        .with_for_update()).scalar_one_or_none()
    if record is None:  # one answer for unknown and another organisation's: nothing to learn from it
        raise NotFound("commitment_not_found", f"本单位没有办件 {case_no} 的告知承诺核查任务",
                       f"no commitment of case {case_no} for your organisation to verify", field="case_no")
    return record


def record_result(actor: Actor, case_no: str, result: str, note: str | None, now: datetime | None = None
                  ) -> CommitmentRecord:
    """The regulator's finding: `verified`, or `false` (with what was found), once per commitment."""
    _regulator(actor)
    if result not in RESULTS:
        raise Invalid("invalid_choice", "请选择核查结果（承诺属实或承诺不实）", "result must be verified or false",
                      field="result")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise Invalid("too_long", f"核查情况不能超过{NOTE_MAX}字", f"note is longer than {NOTE_MAX}", field="note")
    if result == VerificationResult.FALSE and not note:
        raise Invalid("required", "承诺不实的，请填写核查发现的情况", "say what was found false", field="note")
    record = _task(actor, case_no)
    if record.result is not None:
        raise Conflict("commitment_already_verified",
                       f"办件 {record.case_no} 的告知承诺已核查（{RESULTS[record.result]}）",
                       f"the commitment of {record.case_no} was already verified", field="result")
    now = now or utcnow()
    record.result, record.result_note, record.result_by, record.result_at = result, note or None, actor.label, now
    case = db.session.get(Case, record.case_id)
    data = {"result": result, "verify_due_at": record.verify_due_at.isoformat()}
    if result == VerificationResult.FALSE:
        _revoke(case, record, actor, note, now)
        # the blacklisting itself (record_false_commitment is the staff's form, which wants the push received)
        credit._record("false_commitment", case.applicant_id_code, case.applicant_name, case.case_no,  # noqa: SLF001
                       f"告知承诺不实（{case.item.name}）：{note}"[:credit.DETAIL_MAX], actor.label, blacklisted=True,
                       at=now)
        data["licence_revoked"] = case.certificate_no
    comment = f"告知承诺核查：{RESULTS[result]}" + (f"。{note}" if note else "")
    engine.note(case, "commitment_verification", now, comment, data, by=engine.Peer(actor.label, actor.org_code))
    db.session.flush()
    return record


def _revoke(case: Case, record: CommitmentRecord, actor: Actor, note: str, now: datetime) -> None:
    """The approval rested on the commitment: its licence is revoked (licences.revoke is the administrator's act;
    this one is the regulator's finding, recorded with it as the ground)."""
    licence = licences.find(case.certificate_no or "", for_update=True)
    if licence is None or licence.revoked_at is not None:
        return
    licence.revoked_at, licence.revoked_reason = now, f"告知承诺不实，撤销准予行政许可决定：{note}"[:2000]
    licence.revoked_by, licence.finding_ref = actor.label, f"commitment-record:{record.id}"


# -- statistics -----------------------------------------------------------------------------------------------

def figures(where: list | None = None, now: datetime | None = None) -> dict:
    """告知承诺 approvals and their verification under the statistics' filters (clauses on Case and Item): approved,
    verified, found false, still open and, of those, past due."""
    now = now or utcnow()
    r = CommitmentRecord.result
    row = db.session.execute(
        sa.select(sa.func.count().label("approvals"),
                  sa.func.count(sa.case((r == "verified", 1))).label("verified"),
                  sa.func.count(sa.case((r == "false", 1))).label("false"),
                  sa.func.count(sa.case((r.is_(None), 1))).label("open"),
                  sa.func.count(sa.case((sa.and_(r.is_(None), CommitmentRecord.verify_due_at < now), 1)))
                  .label("overdue"))
        .select_from(CommitmentRecord).join(Case, Case.id == CommitmentRecord.case_id)
        .join(Item, Item.id == Case.item_id).where(*(where or []))).one()
    return {k: int(v or 0) for k, v in row._mapping.items()}


def open_counts(actor: Actor, now: datetime | None = None) -> dict:
    """The regulator organisation's commitments to verify, and how many of them are past due (the desk's tab)."""
    _regulator(actor)
    now = now or utcnow()
    mine = sa.and_(CommitmentRecord.supervising_org == actor.org_code, CommitmentRecord.result.is_(None))
    row = db.session.execute(sa.select(sa.func.count(), sa.func.count(sa.case(
        (CommitmentRecord.verify_due_at < now, 1)))).where(mine)).one()
    return {"open": int(row[0]), "overdue": int(row[1])}
