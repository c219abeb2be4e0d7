"""The regulator's actions on its node: claim (认领), feedback (监管反馈, several times) and close (监管办结). Each
moves the push by its REGULATOR row (push_states.fire) and writes a `supervision.claim` or `supervision.feedback`
message back to the deciding node. Closing travels as a feedback marked `supervision_done` (a new final feedback, or
the latest one again: the receiver knows it by its `feedback_id`). They flush; callers commit."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.errors import Conflict, Forbidden, Invalid
from delegation.workflow import Role
from exchange import field_rules
from exchange.outbox import enqueue
from persistence import db, utcnow
from supervision.models import FEEDBACK_KINDS, SupervisionFeedback, SupervisionPush
from supervision.push_common import FEEDBACK_ZH, NAME_MAX, TEXT_MAX, local_minute, rectification_ordered
from supervision.push_queries import get_push
from supervision.push_states import PushAction, PushState, fire, open_rectification


def _regulator_only(actor: Actor, what_zh: str, what_en: str) -> None:
    if actor.role is not Role.REGULATOR:
        raise Forbidden("role_forbidden", f"只有监管人员可以{what_zh}", f"only regulators may {what_en}")


# -- refusals, in the regulator's words -----------------------------------------------------------------------

def _already_claimed(push: SupervisionPush) -> Conflict:
    return Conflict("already_claimed", f"该推送已于 {local_minute(push.claimed_at)} 由 {push.claimed_by} 认领",
                    f"the push was already claimed by {push.claimed_by}", field="push_id", state=push.state)


def _closed(push: SupervisionPush) -> Conflict:
    return Conflict("supervision_closed",
                    f"该推送的监管已办结（{local_minute(push.closed_at)}），不能再反馈或变更；如发现新问题，请另行立案处理",
                    "supervision of this push is closed; no further feedback is accepted", field="push_id",
                    state=push.state)


def _feedback_refused(push: SupervisionPush, row=None) -> Conflict:
    if push.state == PushState.CLOSED:
        return _closed(push)
    return Conflict("not_claimed", "请先认领该推送，再反馈监管结果", "claim the push before feeding back",
                    field="push_id", state=push.state)


def _close_refused(push: SupervisionPush, row=None) -> Conflict:
    if row is not None and push.feedback:  # the guard: an order to rectify whose result is not recorded yet
        order = open_rectification(push)
        number = f"（{order.decision_no}）" if order.decision_no else ""
        return Conflict("rectification_result_missing",
                        f"办结监管：{order.on_date.isoformat()} 已责令整改{number}，请先反馈整改结果（如复查的检查结果），再办结监管",
                        f"close: rectification was ordered on {order.on_date.isoformat()}; record its result "
                        "(e.g. the re-inspection) before closing supervision", field="close", state=push.state)
    if row is not None:  # the guard: nothing fed back yet
        return Conflict("feedback_missing", "请先反馈至少一条监管结果，再办结监管",
                        "feed back at least once before closing", field="push_id")
    if push.state == PushState.CLOSED:
        return _closed(push)
    return Conflict("not_claimed", "请先认领该推送并反馈监管结果，再办结", "claim the push and feed back first",
                    field="push_id", state=push.state)


# -- claim ----------------------------------------------------------------------------------------------------

def claim(actor: Actor, push_id: int, now: datetime | None = None) -> SupervisionPush:
    _regulator_only(actor, "认领监管推送", "claim a supervision push")
    now = now or utcnow()
    push = get_push(actor, push_id, for_update=True)
    fire(push, PushAction.CLAIM, Role.REGULATOR, lambda row: _already_claimed(push), by=actor.label, at=now)
    db.session.flush()
    enqueue("supervision.claim", from_org=push.supervising_org, to_node=push.deciding_node, to_org=push.deciding_org,
            body={"by": actor.label, "at": now}, case_no=push.case_no)
    return push


# -- feedback -------------------------------------------------------------------------------------------------

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
    value = field_rules.amount_value(raw)  # tq:Amount's precision: what is stored can be sent
    if value is None:
        raise Invalid("invalid_amount", "罚款金额应为不小于 0 的金额（元），最多两位小数",
                      "amount must be a non-negative sum in yuan with at most 2 decimals", field="amount")
    return value


def validate_feedback(data: dict, now: datetime) -> dict:
    """The feedback's fields, checked for its kind. Returns the normalised values."""
    kind = data.get("kind")
    if kind not in FEEDBACK_KINDS:
        raise Invalid("invalid_choice", f"请选择反馈类型（{'、'.join(FEEDBACK_ZH.values())}）",
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
           "rectification_ordered": rectification_ordered(kind, data.get("rectification_ordered"))}
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


def record_penalty(push: SupervisionPush, fb: SupervisionFeedback, by: Actor | str) -> None:
    """A penalty marks the applicant's credit, on each node that learns of it."""
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


def add_feedback(actor: Actor, push_id: int, data: dict, now: datetime | None = None) -> SupervisionFeedback:
    """One feedback (there may be several); with `close` it is the last one and closes supervision."""
    _regulator_only(actor, "反馈监管结果", "feed back")
    now = now or utcnow()
    push = get_push(actor, push_id, for_update=True)
    refused = lambda row: _feedback_refused(push, row)  # noqa: E731
    fire(push, PushAction.FEEDBACK, Role.REGULATOR, refused, by=actor.label, at=now)
    values = validate_feedback(data, now)
    fb = SupervisionFeedback(feedback_uid=str(uuid.uuid4()), push=push, created_by=actor.label, created_at=now,
                             **values)
    db.session.add(fb)
    done = bool(data.get("close"))
    if done:
        fire(push, PushAction.CLOSE, Role.REGULATOR, lambda row: _close_refused(push, row), by=actor.label, at=now)
    db.session.flush()
    record_penalty(push, fb, actor)
    _send_feedback(push, fb, done)
    return fb


# -- close ----------------------------------------------------------------------------------------------------

def close(actor: Actor, push_id: int, now: datetime | None = None) -> SupervisionPush:
    """Supervision done (监管办结). Needs at least one feedback and, after an order to rectify, a feedback with its
    result (push_states' `closable`); the latest travels again, marked final."""
    _regulator_only(actor, "办结监管", "close supervision")
    now = now or utcnow()
    push = get_push(actor, push_id, for_update=True)
    fire(push, PushAction.CLOSE, Role.REGULATOR, lambda row: _close_refused(push, row), by=actor.label, at=now)
    db.session.flush()
    _send_feedback(push, push.feedback[-1], done=True)
    return push
