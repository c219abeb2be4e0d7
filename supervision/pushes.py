"""The double push (双推送) and what follows it: claim (认领), feedback (监管反馈), closure, and the claim-deadline job.

How it flows, whatever the deployment:

- An approval on the deciding node (the county bureau for `direct`, the city department otherwise) writes a
  `SupervisionPush` and a `supervision.push` message to the supervising authority the mode names, in the approval's
  own transaction (listener on the workflow's "approve" event). A denial pushes nothing.
- The regulator's node applies the message: it creates its copy of the push (or, when the regulator lives on the
  deciding node, finds the very row), stamps `received_at` and the claim deadline (`SUPERVISION_CLAIM_DAYS` working
  days, 3 by default). Regulators see a push only once it has arrived through the bus.
- The regulator claims, feeds back (several times) and closes; each step writes a `supervision.claim` or
  `supervision.feedback` message back to the deciding node, which updates its copy and adds a line to the case's
  timeline, so the approvers see what supervision found. Closing travels as a feedback marked `supervision_done`
  (a new final feedback, or the latest one again: the receiver knows it by its `feedback_id`).
- `sweep(now)` warns the regulator once, one working day before the claim deadline, and escalates once, past it,
  to the regulator's supervisor and to the city administration.

Service functions flush; callers commit (the sweep commits per push).
"""
from __future__ import annotations

import logging
import os
import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask import current_app

from persistence import db, utcnow
from delegation import clock, deadlines, events
from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, CaseEvent, Item, Org
from delegation.responsibility import CITY, county_org, responsible_parties
from delegation.workflow import Mode, Role
from exchange.errors import ExchangeRejected
from exchange.handlers import applies, on_receipt
from exchange.outbox import enqueue
from supervision.models import FEEDBACK_KINDS, SupervisionAlert, SupervisionFeedback, SupervisionPush

log = logging.getLogger(__name__)

CLAIM_DAYS_DEFAULT = 3
CLAIM_DAYS_VARIABLE = "SUPERVISION_CLAIM_DAYS"
CITY_ADMIN_ORG = f"{CITY}-bureau"
CITY_INDUSTRY_ORG = f"{CITY}-industry"
FEEDBACK_ZH = {"inspection": "检查", "rectification": "责令整改", "penalty": "行政处罚", "no_issue": "未发现问题"}
STATE_ZH = {"pushed": "待认领", "claimed": "已认领", "closed": "已办结"}
TIMELINE_ACTIONS = frozenset({"supervision_claim", "supervision_feedback", "supervision_closed"})
TEXT_MAX = 4000
NAME_MAX = 200


# -- configuration --------------------------------------------------------------------------------------------

def claim_days(app=None) -> int:
    """Working days a regulator has to claim a push: `SUPERVISION_CLAIM_DAYS` (settings.extra, else the
    environment), 3 when unset. A bad value is a configuration error that names the variable."""
    from config.settings import ConfigError

    app = app or current_app
    extra = getattr(app.config.get("TONGQUAN"), "extra", None) or {}
    raw = extra.get(CLAIM_DAYS_VARIABLE, extra.get(CLAIM_DAYS_VARIABLE.lower(), os.environ.get(CLAIM_DAYS_VARIABLE)))
    if raw in (None, ""):
        return CLAIM_DAYS_DEFAULT
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{CLAIM_DAYS_VARIABLE} must be a whole number of working days, got {raw!r}") from None
    if not 1 <= value <= 60:
        raise ConfigError(f"{CLAIM_DAYS_VARIABLE} must be between 1 and 60 working days, got {value}")
    return value


# -- small helpers --------------------------------------------------------------------------------------------

def _org(code: str) -> Org | None:
    return db.session.execute(sa.select(Org).filter_by(code=code)).scalar_one_or_none()


def _node_id() -> str:
    from exchange.bus import get_bus

    return get_bus().node_id


def _iso(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def supervisor_of(org: Org) -> str | None:
    """Who answers for a regulator that does not claim: its parent organisation; for a county industry authority,
    the city's industry authority."""
    if org.parent is not None:
        return org.parent.code
    if org.level == "county":
        return CITY_INDUSTRY_ORG
    return None


# -- the push, on the deciding node ---------------------------------------------------------------------------

def _responsible(case: Case) -> list[dict]:
    """Who answers for what (from the mode), with the people who did it (from the case)."""
    parties = responsible_parties(case)
    accepted = next((e for e in case.events if e.action in ("accept", "accept_with_commitment")), None)
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
    }


@events.subscribe("approve")
def on_approve(event: events.CaseEvent) -> None:
    """双推送: the approval goes to the authority that supervises it, in the approval's own transaction."""
    case = event.case
    if case.decision != "approve":
        return
    parties = responsible_parties(case)
    supervising = _org(parties["supervising"])
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
        deciding_org=case.decided_org or event.actor.org_code, deciding_node=_node_id(),
        supervising_org=supervising.code, supervising_node=supervising.node_id, responsible=_responsible(case),
        accepted_at=case.accepted_at, decided_at=case.decided_at or event.at, pushed_at=event.at, state="pushed",
    )
    db.session.add(push)
    db.session.flush()
    enqueue("supervision.push", from_org=push.deciding_org, to_node=push.supervising_node,
            to_org=push.supervising_org, body=_push_body(push, case), case_no=case.case_no)


# -- visibility -----------------------------------------------------------------------------------------------

def visible_filter(actor: Actor):
    """Regulators see the pushes addressed to their own organisation once they have arrived; administrators
    see every push on this node; nobody else sees any."""
    if actor.role is Role.REGULATOR:
        return sa.and_(SupervisionPush.supervising_org == actor.org_code, SupervisionPush.received_at.is_not(None))
    if actor.role is Role.ADMIN:
        return sa.true()
    return sa.false()


def _not_found(push_id) -> NotFound:
    return NotFound("push_not_found", f"监管推送 {push_id} 不存在", f"supervision push {push_id} not found",
                    field="push_id")


def get_push(actor: Actor, push_id: int, for_update: bool = False) -> SupervisionPush:
    query = sa.select(SupervisionPush).where(SupervisionPush.id == push_id, visible_filter(actor))
    if for_update:
        query = query.with_for_update(of=SupervisionPush)
    push = db.session.execute(query).scalar_one_or_none()
    if push is None:
        raise _not_found(push_id)
    return push


def _staff_may_list(actor: Actor) -> None:
    if actor.role not in (Role.REGULATOR, Role.ADMIN):
        raise Forbidden("role_forbidden", "只有监管人员和管理员可以查看监管推送",
                        "only regulators and administrators see supervision pushes")


def list_pushes(actor: Actor, *, state=None, case_no=None, overdue=None, after_id=None, limit=50,
                now: datetime | None = None):
    _staff_may_list(actor)
    now = now or utcnow()
    query = sa.select(SupervisionPush).where(visible_filter(actor))
    if state:
        query = query.where(SupervisionPush.state == state)
    if case_no:
        query = query.where(SupervisionPush.case_no == case_no)
    if overdue is True:
        query = query.where(SupervisionPush.state == "pushed", SupervisionPush.claim_due_at < now)
    elif overdue is False:
        query = query.where(sa.or_(SupervisionPush.state != "pushed", SupervisionPush.claim_due_at.is_(None),
                                   SupervisionPush.claim_due_at >= now))
    if after_id:
        query = query.where(SupervisionPush.id < after_id)
    rows = db.session.execute(query.order_by(SupervisionPush.id.desc()).limit(limit + 1)).scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def _regulator_only(actor: Actor, what_zh: str, what_en: str) -> None:
    if actor.role is not Role.REGULATOR:
        raise Forbidden("role_forbidden", f"只有监管人员可以{what_zh}", f"only regulators may {what_en}")


# -- claim, feedback, close (the regulator's node) ------------------------------------------------------------

def claim(actor: Actor, push_id: int, now: datetime | None = None) -> SupervisionPush:
    _regulator_only(actor, "认领监管推送", "claim a supervision push")
    now = now or utcnow()
    push = get_push(actor, push_id, for_update=True)
    if push.state != "pushed":
        raise Conflict("already_claimed", f"该推送已于 {_local(push.claimed_at)} 由 {push.claimed_by} 认领",
                       f"the push was already claimed by {push.claimed_by}", field="push_id", state=push.state)
    push.state, push.claimed_at, push.claimed_by = "claimed", now, actor.label
    db.session.flush()
    enqueue("supervision.claim", from_org=push.supervising_org, to_node=push.deciding_node, to_org=push.deciding_org,
            body={"by": actor.label, "at": now}, case_no=push.case_no)
    return push


def _closed(push: SupervisionPush) -> Conflict:
    return Conflict("supervision_closed",
                    f"该推送的监管已办结（{_local(push.closed_at)}），不能再反馈或变更；如发现新问题，请另行立案处理",
                    "supervision of this push is closed; no further feedback is accepted", field="push_id",
                    state=push.state)


def _open_for_feedback(push: SupervisionPush) -> None:
    if push.state == "closed":
        raise _closed(push)
    if push.state == "pushed":
        raise Conflict("not_claimed", "请先认领该推送，再反馈监管结果", "claim the push before feeding back",
                       field="push_id", state=push.state)


def _text(data: dict, key: str, zh: str, required: bool, limit: int = TEXT_MAX) -> str | None:
    value = data.get(key)
    value = value.strip() if isinstance(value, str) else value
    if not value:
        if required:
            raise Invalid("required", f"请填写{zh}", f"{key} is required", field=key)
        return None
    if not isinstance(value, str):
        raise Invalid("invalid", f"{zh}应为文本", f"{key} must be text", field=key)
    if len(value) > limit:
        raise Invalid("too_long", f"{zh}不能超过{limit}字", f"{key} is longer than {limit}", field=key)
    return value


def _amount(raw) -> str | None:
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) \
            or value >= Decimal("1e13"):
        raise Invalid("invalid_amount", "罚款金额应为不小于 0 的金额（元），最多两位小数",
                      "amount must be a non-negative sum in yuan with at most 2 decimals", field="amount")
    return str(value.quantize(Decimal("0.01")))


def validate_feedback(data: dict, now: datetime) -> dict:
    """The feedback's fields, checked for its kind. Returns the normalised values."""
    kind = data.get("kind")
    if kind not in FEEDBACK_KINDS:
        raise Invalid("invalid_choice", "请选择反馈类型（检查、责令整改、行政处罚、未发现问题）",
                      f"kind must be one of {', '.join(FEEDBACK_KINDS)}", field="kind")
    on_date = data.get("date")
    if isinstance(on_date, str):
        try:
            on_date = date.fromisoformat(on_date)
        except ValueError:
            on_date = None
    if not isinstance(on_date, date):
        raise Invalid("required", "请填写监管日期（YYYY-MM-DD）", "date is required (YYYY-MM-DD)", field="date")
    if on_date > now.astimezone(SHANGHAI).date():
        raise Invalid("date_in_future", "监管日期不能晚于今天", "date may not be in the future", field="date")
    if kind == "penalty" and not str(data.get("decision_no") or "").strip():
        raise Invalid("required", "行政处罚须填写处罚决定书文号", "a penalty needs its decision number (decision_no)",
                      field="decision_no")
    out = {"kind": kind, "on_date": on_date,
           "result": _text(data, "result", "监管结果", required=True),
           "comment": _text(data, "comment", "备注", required=False) or "",
           "decision_no": _text(data, "decision_no", "决定书文号", required=False, limit=NAME_MAX),
           "amount": _amount(data.get("amount")),
           "rectification_ordered": bool(data.get("rectification_ordered")) or kind == "rectification"}
    if out["amount"] is not None and kind != "penalty":
        raise Invalid("amount_not_allowed", "只有行政处罚可以填写罚款金额", "only a penalty carries an amount",
                      field="amount")
    if out["decision_no"] and kind not in ("penalty", "rectification"):
        raise Invalid("decision_no_not_allowed", "只有行政处罚或责令整改可以填写决定书文号",
                      "only a penalty or a rectification order carries a decision number", field="decision_no")
    return out


def _penalty_detail(fb: SupervisionFeedback) -> str:
    amount = f"，罚款{fb.amount}元" if fb.amount else ""
    return f"行政处罚决定书{fb.decision_no}（{fb.on_date.isoformat()}）{amount}：{fb.result}"[:TEXT_MAX]


def _record_penalty(push: SupervisionPush, fb: SupervisionFeedback, by: Actor | str) -> None:
    if fb.kind != "penalty":
        return
    from supervision import credit

    credit.record_penalty(by, push.applicant_id_code, push.applicant_name, push.case_no, _penalty_detail(fb),
                          at=fb.created_at)


def _feedback_body(fb: SupervisionFeedback, done: bool) -> dict:
    body = {"kind": fb.kind, "date": fb.on_date, "result": fb.result, "comment": fb.comment or None,
            "decision_no": fb.decision_no, "amount": fb.amount, "rectification_ordered": fb.rectification_ordered,
            "feedback_id": fb.feedback_uid}
    if done:
        body["supervision_done"] = True
    return body


def _send_feedback(push: SupervisionPush, fb: SupervisionFeedback, done: bool) -> None:
    enqueue("supervision.feedback", from_org=push.supervising_org, to_node=push.deciding_node,
            to_org=push.deciding_org, body=_feedback_body(fb, done), case_no=push.case_no)


def _close(push: SupervisionPush, by: str, at: datetime) -> None:
    push.state, push.closed_at, push.closed_by = "closed", at, by


def add_feedback(actor: Actor, push_id: int, data: dict, now: datetime | None = None) -> SupervisionFeedback:
    """One feedback (there may be several); with `close` it is the last one and closes supervision."""
    _regulator_only(actor, "反馈监管结果", "feed back")
    now = now or utcnow()
    push = get_push(actor, push_id, for_update=True)
    _open_for_feedback(push)
    values = validate_feedback(data, now)
    fb = SupervisionFeedback(feedback_uid=str(uuid.uuid4()), push=push, created_by=actor.label, created_at=now,
                             **values)
    db.session.add(fb)
    done = bool(data.get("close"))
    if done:
        _close(push, actor.label, now)
    db.session.flush()
    _record_penalty(push, fb, actor)
    _send_feedback(push, fb, done)
    return fb


def close(actor: Actor, push_id: int, now: datetime | None = None) -> SupervisionPush:
    """Supervision done (监管办结). Needs at least one feedback; the latest travels again, marked final."""
    _regulator_only(actor, "办结监管", "close supervision")
    now = now or utcnow()
    push = get_push(actor, push_id, for_update=True)
    if push.state == "closed":
        raise _closed(push)
    if push.state == "pushed":
        raise Conflict("not_claimed", "请先认领该推送并反馈监管结果，再办结", "claim the push and feed back first",
                       field="push_id", state=push.state)
    if not push.feedback:
        raise Conflict("feedback_missing", "请先反馈至少一条监管结果，再办结监管",
                       "feed back at least once before closing", field="push_id")
    _close(push, actor.label, now)
    db.session.flush()
    _send_feedback(push, push.feedback[-1], done=True)
    return push


# -- what the approvers see -----------------------------------------------------------------------------------

def feedback_view(fb: SupervisionFeedback) -> dict:
    return {"id": fb.feedback_uid, "kind": fb.kind, "kind_zh": FEEDBACK_ZH[fb.kind], "date": fb.on_date,
            "result": fb.result, "comment": fb.comment, "rectification_ordered": fb.rectification_ordered,
            "decision_no": fb.decision_no, "amount": fb.amount, "by": fb.created_by, "at": fb.created_at}


def view(push: SupervisionPush, now: datetime | None = None) -> dict:
    """A push as the API shows it (datetimes as datetimes; see `for_case` for the JSON-ready form)."""
    now = now or utcnow()
    overdue = push.state == "pushed" and push.claim_due_at is not None and push.claim_due_at < now
    return {
        "id": push.id, "case_no": push.case_no, "item_code": push.item_code, "item_name": push.item_name,
        "mode": push.mode, "county_code": push.county_code, "applicant_name": push.applicant_name,
        "applicant_id_code": push.applicant_id_code, "decision": push.decision,
        "certificate_no": push.certificate_no, "accepting_org": push.accepting_org,
        "deciding_org": push.deciding_org, "deciding_node": push.deciding_node,
        "supervising_org": push.supervising_org, "supervising_node": push.supervising_node,
        "responsible": push.responsible, "accepted_at": push.accepted_at, "decided_at": push.decided_at,
        "pushed_at": push.pushed_at, "received_at": push.received_at, "claim_due_at": push.claim_due_at,
        "overdue": overdue, "state": push.state, "state_zh": STATE_ZH[push.state],
        "claimed_at": push.claimed_at, "claimed_by": push.claimed_by, "warned_at": push.warned_at,
        "escalated_at": push.escalated_at, "closed_at": push.closed_at, "closed_by": push.closed_by,
        "feedback": [feedback_view(fb) for fb in push.feedback],
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return _iso(value)


def _case_views(case_no: str) -> list[dict]:
    rows = db.session.execute(
        sa.select(SupervisionPush).filter_by(case_no=case_no).order_by(SupervisionPush.id)
    ).scalars().all()
    now = utcnow()
    return [view(p, now) for p in rows]


def for_case(case_no: str) -> list[dict]:
    """Every push of a case known on this node, with its claim and feedback, JSON-ready (for the case view)."""
    return [_jsonable(v) for v in _case_views(case_no)]


def sees_supervision(actor: Actor, case: Case) -> bool:
    """The one rule of who reads what supervision found on a case the actor may see (cases.get_case): its
    approvers (the county bureau for `direct`, the city otherwise) and the administrators. Windows and the county
    reviewers of a city decision handle the case, not its supervision: regulators' comments, decision numbers and
    amounts are not theirs. The supervision view and the case view (API and page) all ask this."""
    if actor.role is Role.ADMIN:
        return True
    direct = Mode(case.mode) is Mode.DIRECT
    return (actor.role is Role.REVIEWER and direct) or (actor.role is Role.CITY_APPROVER and not direct)


def is_supervision_line(action: str) -> bool:
    """A line of the case's timeline that carries what supervision did (claim, feedback, closure)."""
    return action in TIMELINE_ACTIONS


def case_supervision(actor: Actor, case_no: str) -> list[dict]:
    """The supervision of a case, for those `sees_supervision` admits."""
    from delegation.cases import get_case

    if actor.role is Role.ADMIN:
        known = db.session.execute(sa.select(Case.id).filter_by(case_no=case_no)).first() or \
            db.session.execute(sa.select(SupervisionPush.id).filter_by(case_no=case_no)).first()
        if not known:
            raise NotFound("case_not_found", f"办件 {case_no} 不存在", f"case {case_no} not found", field="case_no")
        return _case_views(case_no)
    case = get_case(actor, case_no)  # another county's case, or one not forwarded to the city: 404
    if not sees_supervision(actor, case):
        raise Forbidden("role_forbidden", "只有作出审批决定的审批人员可以查看监管反馈",
                        "only the approvers who decided the case see its supervision")
    return _case_views(case_no)


# -- alerts ---------------------------------------------------------------------------------------------------

def _addressed_to(org_code: str):
    pattern = '%"' + org_code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    return sa.cast(SupervisionAlert.recipients, sa.Text).like(pattern, escape="\\")


def list_alerts(actor: Actor, *, kind=None, after_id=None, limit=50):
    """Alerts addressed to the caller's organisation; administrators see all."""
    query = sa.select(SupervisionAlert, SupervisionPush.case_no).join(
        SupervisionPush, SupervisionPush.id == SupervisionAlert.push_id)
    if actor.role is not Role.ADMIN:
        query = query.where(_addressed_to(actor.org_code))
    if kind:
        query = query.where(SupervisionAlert.kind == kind)
    if after_id:
        query = query.where(SupervisionAlert.id < after_id)
    rows = db.session.execute(query.order_by(SupervisionAlert.id.desc()).limit(limit + 1)).all()
    items = [{"id": a.id, "push_id": a.push_id, "case_no": case_no, "kind": a.kind, "recipients": a.recipients,
              "message": a.message, "created_at": a.created_at} for a, case_no in rows[:limit]]
    return items, (rows[limit - 1][0].id if len(rows) > limit else None)


# -- the claim-deadline job -----------------------------------------------------------------------------------

def _stamp(push_id: int, column, now: datetime) -> bool:
    """Set warned_at / escalated_at if still unset and the push still unclaimed; True if this call did it.
    One conditional UPDATE: of two concurrent sweeps exactly one wins, on either backend."""
    result = db.session.execute(
        sa.update(SupervisionPush)
        .where(SupervisionPush.id == push_id, column.is_(None), SupervisionPush.state == "pushed")
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


def _alert(push: SupervisionPush, kind: str, recipients: list[str], message: str, now: datetime) -> None:
    db.session.add(SupervisionAlert(push_id=push.id, kind=kind, recipients=recipients, message=message,
                                    created_at=now))


def _warn(push: SupervisionPush, now: datetime) -> None:
    _alert(push, "warning", [push.supervising_org],
           f"办件 {push.case_no}（{push.item_name}）的监管推送尚未认领，认领期限为 {_local(push.claim_due_at)}，"
           f"请及时认领", now)


def _escalate(push: SupervisionPush, now: datetime) -> None:
    regulator = _org(push.supervising_org)
    name = regulator.name if regulator else push.supervising_org
    recipients = [c for c in (supervisor_of(regulator) if regulator else None, CITY_ADMIN_ORG)
                  if c and c != push.supervising_org]
    recipients = list(dict.fromkeys(recipients))
    _alert(push, "escalation", recipients,
           f"{name}未在期限（{_local(push.claim_due_at)}）内认领办件 {push.case_no}（{push.item_name}）的监管推送，"
           f"已逾期，请督促其认领", now)


def sweep(now: datetime | None = None) -> dict:
    """Warn once a working day before the claim deadline, escalate once past it. Commits per push; running it
    again (or twice at once) adds nothing."""
    now = now or utcnow()
    cal = clock.load_calendar()
    threshold = deadlines.add_working_days(cal, now, 1, clock.office_hours())
    base = sa.select(SupervisionPush.id).where(SupervisionPush.state == "pushed",
                                                SupervisionPush.claim_due_at.is_not(None))
    overdue = db.session.execute(
        base.where(SupervisionPush.claim_due_at < now, SupervisionPush.escalated_at.is_(None))
        .order_by(SupervisionPush.id)).scalars().all()
    due_soon = db.session.execute(
        base.where(SupervisionPush.claim_due_at >= now, SupervisionPush.claim_due_at <= threshold,
                   SupervisionPush.warned_at.is_(None), SupervisionPush.escalated_at.is_(None))
        .order_by(SupervisionPush.id)).scalars().all()
    db.session.rollback()  # end the read; each push below is its own unit of work
    counts = {"warned": 0, "escalated": 0}
    for ids, column, act, key in ((overdue, SupervisionPush.escalated_at, _escalate, "escalated"),
                                  (due_soon, SupervisionPush.warned_at, _warn, "warned")):
        for push_id in ids:
            try:
                if _stamp(push_id, column, now):
                    act(db.session.get(SupervisionPush, push_id), now)
                    counts[key] += 1
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("supervision push %s: %s not recorded", push_id, key)
    return counts


# -- applying what arrives ------------------------------------------------------------------------------------

def _sender(env) -> Org:
    org = _org(env.from_org)
    if org is None or org.node_id != env.from_node:
        raise ExchangeRejected("unknown_sender_org",
                               f"organisation {env.from_org} does not live on node {env.from_node}")
    return org


def _recipient(env) -> Org:
    org = _org(env.to_org)
    if org is None or org.node_id != _node_id():
        raise ExchangeRejected("wrong_recipient", f"organisation {env.to_org} is not on this node")
    return org


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
    window = _org(body["accepting_org"])
    if window is None or window.kind != "window" or not env.case_no.startswith(f"{window.division_code}-"):
        raise ExchangeRejected("unknown_org", f"window {body['accepting_org']} did not accept case {env.case_no}")
    county = window.division_code
    if item.mode == Mode.DIRECT.value:
        allowed = sender.level == "county" and sender.division_code == county and sender.kind == "approval_bureau"
        expected = county_org(county, "industry")
    else:
        department = _org(item.department_code)
        allowed = sender.level == "city" and sender.code in (
            {item.department_code} | ({department.parent.code} if department and department.parent else set()))
        expected = CITY_INDUSTRY_ORG
    if not allowed:
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} does not decide {item.mode} cases of {item.code}")
    if env.to_org != expected:
        raise ExchangeRejected("wrong_recipient", f"case {env.case_no} is supervised by {expected}, not {env.to_org}")
    return _recipient(env), item


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
        window = _org(body["accepting_org"])
        push = SupervisionPush(
            case_no=env.case_no, item_code=item.code, item_name=body["item"]["name"], mode=body["item"]["mode"],
            county_code=window.division_code, applicant_name=body["applicant"]["name"],
            applicant_id_code=body["applicant"]["id_code"], decision=body["decision"],
            certificate_no=body.get("certificate_no"), accepting_org=body["accepting_org"],
            deciding_org=env.from_org, deciding_node=env.from_node, supervising_org=recipient.code,
            supervising_node=_node_id(),
            responsible=[{"role": p["role"], "org": p["org"], "person": p.get("person")}
                         for p in body["responsible_parties"]],
            accepted_at=datetime.fromisoformat(body["accepted_at"]),
            decided_at=datetime.fromisoformat(body["decided_at"]), pushed_at=env.created_at, state="pushed",
        )
        db.session.add(push)
    elif push.deciding_org != env.from_org:
        raise ExchangeRejected("sender_not_allowed", f"case {env.case_no} was pushed by {push.deciding_org}")
    if push.received_at is None:
        push.received_at = now
        push.claim_due_at = clock.add_limit(clock.load_calendar(), now, deadlines.WORKING_DAYS, claim_days())
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
    """A line on the case's timeline, where the case is (the deciding node)."""
    if case is None:
        return
    # through the relationship, so that a later message of the same receive batch sees this line in case.events
    case.events.append(CaseEvent(at=utcnow(), action=action, from_state=case.state, to_state=case.state,
                                 actor=f"{env.from_org}@{env.from_node}", actor_org=env.from_org, comment=comment,
                                 data={"message_id": env.message_id, **data}))


@applies("supervision.claim")
def apply_claim(env, attachments) -> None:
    push = _pushed_to_sender(env)
    by, at = env.body["by"], datetime.fromisoformat(env.body["at"])
    if push.state == "pushed":
        push.state, push.claimed_at, push.claimed_by = "claimed", at, by
    _timeline(_case_of(env), env, "supervision_claim", f"监管部门已认领：{by}", {"by": by, "at": env.body["at"]})


@applies("supervision.feedback")
def apply_feedback(env, attachments) -> None:
    push = _pushed_to_sender(env)
    body = env.body
    if push.state == "pushed":
        raise ExchangeRejected("state_conflict", f"the push of case {env.case_no} has not been claimed")
    uid = body.get("feedback_id") or env.message_id
    fb = db.session.execute(sa.select(SupervisionFeedback).filter_by(feedback_uid=uid)).scalar_one_or_none()
    by = f"{env.from_org}@{env.from_node}"
    if fb is None:
        if push.state == "closed":
            raise ExchangeRejected("state_conflict", f"supervision of case {env.case_no} is closed")
        fb = SupervisionFeedback(
            feedback_uid=uid, push=push, kind=body["kind"], on_date=date.fromisoformat(body["date"][:10]),
            result=body["result"], comment=body.get("comment") or "",
            rectification_ordered=bool(body.get("rectification_ordered")) or body["kind"] == "rectification",
            decision_no=body.get("decision_no"), amount=body.get("amount"), created_by=by, created_at=env.created_at)
        db.session.add(fb)
        db.session.flush()
        _record_penalty(push, fb, by)
    elif fb.push_id != push.id:
        raise ExchangeRejected("state_conflict", f"feedback {uid} belongs to another push")
    done = bool(body.get("supervision_done"))
    if done and push.state != "closed":
        _close(push, by, env.created_at)
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
