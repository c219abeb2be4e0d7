"""Verifying 告知承诺 (issue 17, part A): the regulator's task for every approval given on a signed commitment.

The window's approval writes the task (delegation.window_decisions: the commitment record, due within the item's
working days, addressed to the supervising organisation the mode names). The regulator of that organisation records
the commitment verified or false. A false commitment revokes the licence (the /verify page then shows it revoked,
with this record as its ground "commitment-record:<id>") and blacklists the applicant (supervision.credit), who can
then use neither 告知承诺 nor 容缺. Both lines are written on the case's timeline. Flushes; the caller commits.

The licence is revoked and the applicant blacklisted where the case was approved. When the supervising regulator
lives on another node, the supervision push carries the commitment and that node keeps its own copy of the task
(`task_from_push`, no case_id); the regulator's finding there travels back as `supervision.commitment_result` and
the deciding node applies it (`result_received`) exactly once."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from exchange.errors import ExchangeRejected
from exchange.outbox import enqueue

from delegation import engine, licences
from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, Item
from delegation.window_decision_models import CommitmentRecord, VerificationResult
from delegation.workflow import Role
from persistence import db, utcnow
from supervision import credit
from supervision.models import SupervisionPush

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
    if record.case_id is None:  # the case lives on the deciding node: the finding goes there, in this transaction
        _send_back(record)
    else:
        _consequences(record, engine.Peer(actor.label, actor.org_code))
    db.session.flush()
    return record


def _consequences(record: CommitmentRecord, by: engine.Peer) -> None:
    """Where the case lives: the timeline line and, for a false commitment, the licence revoked and the applicant
    blacklisted."""
    case = db.session.get(Case, record.case_id)
    note, now = record.result_note or "", record.result_at
    data = {"result": record.result, "verify_due_at": record.verify_due_at.isoformat()}
    if record.result == VerificationResult.FALSE:
        _revoke(case, record, record.result_by, note, now)
        # the blacklisting itself (record_false_commitment is the staff's form, which wants the push received)
        credit._record("false_commitment", case.applicant_id_code, case.applicant_name, case.case_no,  # noqa: SLF001
                       f"告知承诺不实（{case.item.name}）：{note}"[:credit.DETAIL_MAX], record.result_by,
                       blacklisted=True, at=now)
        data["licence_revoked"] = case.certificate_no
    comment = f"告知承诺核查：{RESULTS[record.result]}" + (f"。{note}" if note else "")
    engine.note(case, "commitment_verification", now, comment, data, by=by)


def _revoke(case: Case, record: CommitmentRecord, by: str, note: str, now: datetime) -> None:
    """The approval rested on the commitment: its licence is revoked (licences.revoke is the administrator's act;
    this one is the regulator's finding, recorded with it as the ground)."""
    licence = licences.find(case.certificate_no or "", for_update=True)
    if licence is None or licence.revoked_at is not None:
        return
    licence.revoked_at, licence.revoked_reason = now, f"告知承诺不实，撤销准予行政许可决定：{note}"[:2000]
    licence.revoked_by, licence.finding_ref = by, f"commitment-record:{record.id}"


# -- across nodes ---------------------------------------------------------------------------------------------

def task_from_push(case_no: str, supervising_org: str, commitment: dict) -> None:
    """On the regulator's node (supervision.push carrying a commitment): its own copy of the task, once. When the
    regulator lives on the deciding node the window's record is already there and is the task."""
    known = db.session.execute(sa.select(CommitmentRecord.id).filter_by(
        case_no=case_no, supervising_org=supervising_org)).scalar_one_or_none()
    if known is not None:
        return
    db.session.add(CommitmentRecord(
        case_id=None, case_no=case_no, commitment_text=commitment["text"], signer_name=commitment["signer"],
        signed_by=commitment["signed_by"][:100], signed_at=datetime.fromisoformat(commitment["signed_at"]),
        supervising_org=supervising_org, verify_due_at=datetime.fromisoformat(commitment["verify_due_at"])))


def _send_back(record: CommitmentRecord) -> None:
    push = db.session.execute(sa.select(SupervisionPush).filter_by(
        case_no=record.case_no, supervising_org=record.supervising_org)).scalar_one()
    enqueue("supervision.commitment_result", from_org=record.supervising_org, to_node=push.deciding_node,
            to_org=push.deciding_org, case_no=record.case_no,
            body={"result": record.result, "note": record.result_note, "by": record.result_by,
                  "at": record.result_at})


def result_received(case_no: str, supervising_org: str, body: dict, by: engine.Peer) -> None:
    """On the deciding node (supervision.commitment_result from the push's regulator): the finding and its
    consequences, once. The same finding again changes nothing; a different one is refused."""
    record = db.session.execute(sa.select(CommitmentRecord).filter_by(
        case_no=case_no, supervising_org=supervising_org).with_for_update()).scalar_one_or_none()
    if record is None or record.case_id is None:
        raise ExchangeRejected("unknown_commitment", f"case {case_no} has no commitment here for {supervising_org}")
    if record.result is not None:
        if record.result == body["result"]:
            return
        raise ExchangeRejected("state_conflict", f"the commitment of case {case_no} was already found {record.result}")
    note = (body.get("note") or "")[:NOTE_MAX]
    if body["result"] == VerificationResult.FALSE and not note:
        raise ExchangeRejected("note_required", "a false commitment comes with what was found (Note)")
    record.result, record.result_note = body["result"], note or None
    record.result_by, record.result_at = body["by"][:100], datetime.fromisoformat(body["at"])
    _consequences(record, by)
    db.session.flush()


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
