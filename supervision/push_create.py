"""The double push (双推送) on the deciding node: an approval writes a `SupervisionPush` and a `supervision.push`
message to the supervising authority the mode names, in the approval's own transaction (listener on the workflow's
"approve" event). A denial pushes nothing. The push starts in push_states.INITIAL_STATE (the column's default)."""
from __future__ import annotations

import sqlalchemy as sa

from delegation import events
from delegation.errors import Conflict
from delegation.models import Case
from delegation.responsibility import responsible_parties
from delegation.window_decision_models import CommitmentRecord
from delegation.workflow import Mode
from exchange.outbox import enqueue
from persistence import db
from supervision.models import SupervisionPush
from supervision.push_common import org, this_node


# the timeline lines that accepted the case (the window's decisions on the spot accept it too, issue 17)
ACCEPTING_ACTIONS = ("accept", "accept_with_commitment", "approve_on_commitment", "decide_instant", "file")
# what is pushed: approvals, and the filings of items exempt from approval (备案, issue 17)
PUSHED_DECISIONS = ("approve", "file")


def _responsible(case: Case) -> list[dict]:
    """Who answers for what (from the mode), with the people who did it (from the case)."""
    parties = responsible_parties(case)
    accepted = next((e for e in case.events if e.action in ACCEPTING_ACTIONS), None)
    decider = case.decided_org or parties["deciding"]
    if Mode(case.mode) is Mode.FORWARD_ONLY:  # the city reviews and decides in one
        review = {"role": "review", "org": decider, "person": case.decided_by}
    else:
        review = {"role": "review", "org": parties["reviewing"], "person": case.reviewed_by}
    return [{"role": "accept", "org": parties["accepting"], "person": accepted.actor if accepted else None},
            review,
            {"role": "decide", "org": decider, "person": case.decided_by},
            {"role": "supervise", "org": parties["supervising"], "person": None}]


def _push_body(push: SupervisionPush, case: Case) -> dict:
    applicant = {"kind": case.applicant_kind, "name": case.applicant_name, "id_code": case.applicant_id_code,
                 "phone": case.applicant_phone}
    return {
        "item": {"code": push.item_code, "name": push.item_name, "mode": push.mode},
        "applicant": {k: v for k, v in applicant.items() if v is not None},
        "accepting_org": push.accepting_org, "accepted_at": push.accepted_at,
        "decision": push.decision, "certificate_no": push.certificate_no,
        "deciding_org": push.deciding_org, "decided_at": push.decided_at,
        "responsible_parties": [{k: v for k, v in p.items() if v is not None} for p in push.responsible],
        "commitment": _commitment(case),
    }


def _commitment(case: Case) -> dict | None:
    """告知承诺: what the regulator verifies, carried so that a regulator on another node has its task too."""
    record = db.session.execute(sa.select(CommitmentRecord).filter_by(case_id=case.id)).scalar_one_or_none()
    if record is None:
        return None
    return {"text": record.commitment_text, "signer": record.signer_name, "signed_by": record.signed_by,
            "signed_at": record.signed_at, "verify_due_at": record.verify_due_at}


@events.subscribe("approve")
@events.subscribe("approve_on_commitment")
@events.subscribe("decide_instant")
@events.subscribe("file")
def on_approve(event: events.CaseEvent) -> None:
    """双推送: the approval goes to the authority that supervises it, in the approval's own transaction."""
    case = event.case
    if case.decision not in PUSHED_DECISIONS:
        return
    parties = responsible_parties(case)
    supervising = org(parties["supervising"])
    if supervising is None:
        raise Conflict("supervisor_unknown", f"监管部门 {parties['supervising']} 不存在，无法推送",
                       f"the supervising authority {parties['supervising']} is unknown here")
    existing = db.session.execute(
        sa.select(SupervisionPush).filter_by(case_no=case.case_no, supervising_org=supervising.code)
    ).scalar_one_or_none()
    if existing is not None:
        return
    push = SupervisionPush(
        case_no=case.case_no, item_code=case.item.code, item_name=case.item.name, mode=case.mode,
        county_code=case.county_code, applicant_name=case.applicant_name, applicant_id_code=case.applicant_id_code,
        decision=case.decision, certificate_no=case.certificate_no, accepting_org=parties["accepting"],
        deciding_org=case.decided_org or event.actor.org_code, deciding_node=this_node(),
        supervising_org=supervising.code, supervising_node=supervising.node_id, responsible=_responsible(case),
        accepted_at=case.accepted_at, decided_at=case.decided_at or event.at, pushed_at=event.at,
    )
    db.session.add(push)
    db.session.flush()
    enqueue("supervision.push", from_org=push.deciding_org, to_node=push.supervising_node,
            to_org=push.supervising_org, body=_push_body(push, case), case_no=case.case_no)
