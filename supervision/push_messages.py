"""Applying what the bus carries (bus handlers):

- `supervision.push`, on the regulator's node: its copy of the push (or, when the regulator lives on the deciding
  node, the very row), stamped `received_at` with the claim deadline (`SUPERVISION_CLAIM_DAYS` working days, 3 by
  default). Regulators see a push only once it has arrived through the bus.
- `supervision.claim` and `supervision.feedback`, on the deciding node: the copy moves by the SYSTEM rows of
  push_states and the case's timeline gets a line, so the approvers see what supervision found.
- a push carrying a 告知承诺 gives the regulator's node its verification task; `supervision.commitment_result`
  brings the finding back to the deciding node (supervision/commitment_checks.py).
"""
from __future__ import annotations

import logging
from datetime import date, datetime

import sqlalchemy as sa

from delegation import clock, deadlines, engine
from delegation.models import Case, Item, Org
from delegation.responsibility import county_org
from delegation.workflow import Mode, Role
from exchange.bus import get_bus
from exchange.errors import ExchangeRejected
from exchange.handlers import applies, on_receipt
from persistence import db, utcnow
from supervision.models import SupervisionFeedback, SupervisionPush
from supervision import commitment_checks
from supervision.push_actions import record_penalty
from supervision.push_common import CITY_INDUSTRY_ORG, FEEDBACK_ZH, org, rectification_ordered, this_node
from supervision.push_states import PushAction, PushState, fire

log = logging.getLogger(__name__)


def claim_days() -> int:
    """Working days a regulator has to claim a push: `SUPERVISION_CLAIM_DAYS`, validated with the other settings
    at start-up (config/settings.py) and held by this node's bus."""
    return get_bus().settings.supervision_claim_days


# -- who may send what ----------------------------------------------------------------------------------------

def _sender(env) -> Org:
    sender = org(env.from_org)
    if sender is None or sender.node_id != env.from_node:
        raise ExchangeRejected("unknown_sender_org",
                               f"organisation {env.from_org} does not live on node {env.from_node}")
    return sender


def _recipient(env) -> Org:
    recipient = org(env.to_org)
    if recipient is None or recipient.node_id != this_node():
        raise ExchangeRejected("wrong_recipient", f"organisation {env.to_org} is not on this node")
    return recipient


def _authorize_push(env, body: dict) -> tuple[Org, Item]:
    """Only the organisation that decides cases of this item in this mode may push them, and only to the authority
    the mode names."""
    sender = _sender(env)
    if body["deciding_org"] != env.from_org:
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} pushes a decision of {body['deciding_org']}")
    item = db.session.execute(sa.select(Item).filter_by(code=body["item"]["code"])).unique().scalar_one_or_none()
    if item is None:
        raise ExchangeRejected("unknown_item", f"item {body['item']['code']} is not in this node's catalogue")
    if body["item"]["mode"] != item.mode:
        raise ExchangeRejected("mode_mismatch", f"item {item.code} is {item.mode} here, not {body['item']['mode']}")
    window = org(body["accepting_org"])
    if window is None or window.kind != "window" or not env.case_no.startswith(f"{window.division_code}-"):
        raise ExchangeRejected("unknown_org", f"window {body['accepting_org']} did not accept case {env.case_no}")
    county = window.division_code
    if item.mode == Mode.DIRECT.value:
        allowed = sender.level == "county" and sender.division_code == county and sender.kind == "approval_bureau"
        expected = county_org(county, "industry")
    else:
        department = org(item.department_code)
        allowed = sender.level == "city" and sender.code in (
            {item.department_code} | ({department.parent.code} if department and department.parent else set()))
        expected = CITY_INDUSTRY_ORG
    if not allowed:
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} does not decide {item.mode} cases of {item.code}")
    if env.to_org != expected:
        raise ExchangeRejected("wrong_recipient", f"case {env.case_no} is supervised by {expected}, not {env.to_org}")
    return _recipient(env), item


# -- supervision.push, on the regulator's node ----------------------------------------------------------------

@applies("supervision.push")
def apply_push(env, attachments) -> None:
    """On the regulator's node: its copy of the push (or the deciding node's own row), with the claim deadline."""
    body = env.body
    recipient, item = _authorize_push(env, body)
    now = utcnow()
    push = db.session.execute(
        sa.select(SupervisionPush).filter_by(case_no=env.case_no, supervising_org=recipient.code)
        .with_for_update()
    ).scalar_one_or_none()
    if push is None:
        window = org(body["accepting_org"])
        push = SupervisionPush(
            case_no=env.case_no, item_code=item.code, item_name=body["item"]["name"], mode=body["item"]["mode"],
            county_code=window.division_code, applicant_name=body["applicant"]["name"],
            applicant_id_code=body["applicant"]["id_code"], decision=body["decision"],
            certificate_no=body.get("certificate_no"), accepting_org=body["accepting_org"],
            deciding_org=env.from_org, deciding_node=env.from_node, supervising_org=recipient.code,
            supervising_node=this_node(),
            responsible=[{"role": p["role"], "org": p["org"], "person": p.get("person")}
                         for p in body["responsible_parties"]],
            accepted_at=datetime.fromisoformat(body["accepted_at"]),
            decided_at=datetime.fromisoformat(body["decided_at"]), pushed_at=env.created_at,
        )
        db.session.add(push)
    elif push.deciding_org != env.from_org:
        raise ExchangeRejected("sender_not_allowed", f"case {env.case_no} was pushed by {push.deciding_org}")
    if push.received_at is None:
        push.received_at = now
        push.claim_due_at = clock.add_limit(clock.load_calendar(), now, deadlines.WORKING_DAYS, claim_days())
    if body.get("commitment"):
        commitment_checks.task_from_push(env.case_no, recipient.code, body["commitment"])
    db.session.flush()


@on_receipt("supervision.push")
def push_acknowledged(outbox_row, status: str) -> None:
    """The deciding node learns that the regulator's node has the push (or refused it: logged, shown to operators
    in the exchange view)."""
    if status != "accepted":
        log.error("supervision push of case %s refused by %s: %s", outbox_row.case_no, outbox_row.to_org,
                  outbox_row.receipt_reason)
        return
    push = db.session.execute(
        sa.select(SupervisionPush).filter_by(case_no=outbox_row.case_no, supervising_org=outbox_row.to_org)
    ).scalar_one_or_none()
    if push is not None and push.received_at is None:
        push.received_at = outbox_row.acked_at or utcnow()


# -- supervision.claim and supervision.feedback, on the deciding node -----------------------------------------

def _pushed_to_sender(env) -> SupervisionPush:
    """claim / feedback: only the supervising authority of the push may send them, to the deciding organisation."""
    _sender(env)
    push = db.session.execute(
        sa.select(SupervisionPush).filter_by(case_no=env.case_no, supervising_org=env.from_org).with_for_update()
    ).scalar_one_or_none()
    if push is None:
        raise ExchangeRejected("unknown_push", f"case {env.case_no} was not pushed to {env.from_org} from here")
    if env.to_org != push.deciding_org:
        raise ExchangeRejected("wrong_recipient", f"case {env.case_no} was decided by {push.deciding_org}")
    return push


def _case_of(env) -> Case | None:
    return db.session.execute(sa.select(Case).filter_by(case_no=env.case_no)).unique().scalar_one_or_none()


def _timeline(case: Case | None, env, action: str, comment: str, data: dict) -> None:
    """A line on the case's timeline, where the case is (the deciding node), naming the regulator's organisation."""
    if case is None:
        return
    engine.note(case, action, utcnow(), comment, {"message_id": env.message_id, **data},
                by=engine.Peer(f"{env.from_org}@{env.from_node}", env.from_org))


@applies("supervision.claim")
def apply_claim(env, attachments) -> None:
    push = _pushed_to_sender(env)
    by, at = env.body["by"], datetime.fromisoformat(env.body["at"])
    fire(push, PushAction.CLAIM_RECEIVED, Role.SYSTEM, lambda row: _not_moved(env, push), by=by, at=at)
    _timeline(_case_of(env), env, "supervision_claim", f"监管部门已认领：{by}", {"by": by, "at": env.body["at"]})


@applies("supervision.commitment_result")
def apply_commitment_result(env, attachments) -> None:
    """告知承诺 (issue 17): the push's regulator verified the commitment on its node; the consequences are here."""
    push = _pushed_to_sender(env)
    commitment_checks.result_received(env.case_no, push.supervising_org, env.body,
                                      by=engine.Peer(f"{env.from_org}@{env.from_node}", env.from_org))


def _not_moved(env, push: SupervisionPush) -> ExchangeRejected:
    """A message no row admits: the push has not been claimed, or its supervision is closed to new feedback."""
    if push.state == PushState.CLOSED:
        return ExchangeRejected("state_conflict", f"supervision of case {env.case_no} is closed")
    return ExchangeRejected("state_conflict", f"the push of case {env.case_no} has not been claimed")


def _new_feedback(env, push: SupervisionPush, uid: str, by: str) -> SupervisionFeedback:
    body = env.body
    fb = SupervisionFeedback(
        feedback_uid=uid, push=push, kind=body["kind"], on_date=date.fromisoformat(body["date"][:10]),
        result=body["result"], comment=body.get("comment") or "",
        rectification_ordered=rectification_ordered(body["kind"], body.get("rectification_ordered")),
        decision_no=body.get("decision_no"), amount=body.get("amount"), created_by=by, created_at=env.created_at)
    db.session.add(fb)
    db.session.flush()
    record_penalty(push, fb, by)
    return fb


@applies("supervision.feedback")
def apply_feedback(env, attachments) -> None:
    push = _pushed_to_sender(env)
    body = env.body
    uid = body.get("feedback_id") or env.message_id
    known = db.session.execute(sa.select(SupervisionFeedback).filter_by(feedback_uid=uid)).scalar_one_or_none()
    by = f"{env.from_org}@{env.from_node}"
    done = bool(body.get("supervision_done"))
    action = PushAction.CLOSE_RECEIVED if done else PushAction.FEEDBACK_RECEIVED
    # a known feedback is checked first: a closed push takes it again (its row's guard), but never another push's
    if known is not None and known.push_id != push.id:
        raise ExchangeRejected("state_conflict", f"feedback {uid} belongs to another push")
    fire(push, action, Role.SYSTEM, lambda row: _not_moved(env, push), by=by, at=env.created_at, feedback=known)
    if known is None:
        _new_feedback(env, push, uid, by)
    _feedback_line(env, uid, done)


def _feedback_line(env, uid: str, done: bool) -> None:
    body = env.body
    case = _case_of(env)
    shown = case is not None and any(e.action == "supervision_feedback" and (e.data or {}).get("feedback_id") == uid
                                     for e in case.events)
    if shown:  # the closing message repeats a feedback the timeline already shows
        if done:
            _timeline(case, env, "supervision_closed", "监管已办结", {"feedback_id": uid})
        return
    data = {k: body[k] for k in ("kind", "date", "decision_no", "amount", "rectification_ordered")
            if body.get(k) is not None}
    data["feedback_id"] = uid
    if done:
        data["supervision_done"] = True
    _timeline(case, env, "supervision_feedback",
              f"监管反馈（{FEEDBACK_ZH[body['kind']]}）：{body['result']}" + ("；监管已办结" if done else ""), data)
