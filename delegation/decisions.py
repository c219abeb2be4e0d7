"""Decisions that are more than one action: the county's review then decision of a `direct` item, and the city's
batch approval. Pages and the API call the same functions.

Batch approval rule (批量准予许可): a case may be approved in a batch only when ALL of these hold, otherwise it
needs individual review on its work page:
- the city approver may approve it now (workflow.allowed_actions includes approve, i.e. it is in city_review);
- the item is `delegated_review` (the county did the substantive review and answers for it; a `forward_only`
  case was never reviewed in substance, so the city reviews each one itself);
- the county's recommendation is 同意 (approve);
- every required material is present;
- the applicant has no credit mark (no blacklist, no broken promise: the caller says, supervision being above
  this package).
Each case is approved with the same call as the work page and committed on its own: a failure on one case is
reported and does not undo the others."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from delegation import cases, engine
from delegation.actors import Actor
from delegation.errors import DomainError, Invalid
from delegation.models import Case, CaseMaterial
from delegation.workflow import Action, Mode, Role, allowed_actions
from persistence import db

BATCH_MAX = 100  # cases in one batch
# Why a case needs individual review, in the order they are checked (see the module docstring).
STATE, FORWARD_ONLY, NOT_RECOMMENDED, MATERIALS_MISSING, CREDIT_MARKED = (
    "state", "forward_only", "not_recommended", "materials_missing", "credit_marked")


def review_and_decide(actor: Actor, case_no: str, decision: str, opinion: str, certificate_no: str | None = None,
                      reasons: Iterable[str] = ()) -> Case:
    """The decision of a `direct` item resting on this opinion: the opinion is recorded first (review) when it
    is new, then approve or deny; the caller's unit of work holds both."""
    case = cases.get_case(actor, case_no)
    if decision == Action.APPROVE.value:
        payload = {"certificate_no": certificate_no, "comment": opinion}
    else:
        payload = {"reasons": list(reasons), "comment": opinion}
    if opinion != (case.review_opinion or ""):
        cases.perform(actor, case_no, Action.REVIEW.value, {"opinion": opinion})
    return cases.perform(actor, case_no, decision, payload)


def batch_blockers(case: Case, has_credit_marks: bool, materials_missing: bool | None = None) -> list[str]:
    """Why this case needs individual review (empty: it may be approved in a batch). `materials_missing`: whether
    a required material is missing, when the caller looked it up for a whole page (cases_missing_materials)."""
    if Action.APPROVE not in allowed_actions(case.state, Role.CITY_APPROVER, case.mode):
        return [STATE]
    if materials_missing is None:
        materials_missing = any(m.required and not m.present for m in case.materials)
    checks = ((case.mode != Mode.DELEGATED_REVIEW, FORWARD_ONLY),
              (case.review_recommendation != "approve", NOT_RECOMMENDED),
              (materials_missing, MATERIALS_MISSING),
              (has_credit_marks, CREDIT_MARKED))
    return [code for failed, code in checks if failed]


def cases_missing_materials(case_ids) -> set[int]:
    """Which of these cases lack a required material: one query for a list page (loading every case's materials
    to look was most of the city desk's time)."""
    ids = list(case_ids)
    if not ids:
        return set()
    return set(db.session.execute(sa.select(CaseMaterial.case_id).where(
        CaseMaterial.case_id.in_(ids), CaseMaterial.required, sa.not_(CaseMaterial.present)).distinct()).scalars())


@dataclass
class BatchResult:
    case_no: str
    ok: bool
    blockers: list[str] = field(default_factory=list)
    error: DomainError | None = None


def approve_batch(actor: Actor, case_nos: Iterable[str], comment: str,
                  credit_marked: Callable[[str | None], bool]) -> list[BatchResult]:
    """Approve each case the batch rule admits, one transaction per case (committed here: a later failure cannot
    undo an approval already given). Only a city approver approves, and at most BATCH_MAX cases at a time."""
    case_nos = list(dict.fromkeys(case_nos))  # a case named twice is approved once
    if actor.role is not Role.CITY_APPROVER:
        raise engine.role_forbidden(actor, Action.APPROVE)
    if len(case_nos) > BATCH_MAX:
        raise Invalid("batch_too_large", f"一次最多批量审批 {BATCH_MAX} 件", f"at most {BATCH_MAX} cases in one batch",
                      field="case_nos")
    results = []
    for case_no in case_nos:
        try:
            case = cases.get_case(actor, case_no)
            blockers = batch_blockers(case, credit_marked(case.applicant_id_code))
            if blockers:
                db.session.rollback()
                results.append(BatchResult(case_no, False, blockers))
                continue
            cases.perform(actor, case_no, Action.APPROVE.value, {"comment": comment})
            db.session.commit()
            results.append(BatchResult(case_no, True))
        except DomainError as exc:
            db.session.rollback()
            results.append(BatchResult(case_no, False, error=exc))
    return results
