"""The code that moves a supervision push, held to its table (supervision.push_states): the regulator's claim /
feedback / close and the deciding node's handlers of supervision.claim / .feedback move a push exactly as a row
says, refuse (and leave it where it was) where no row admits them, and between them use every row."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from delegation.workflow import Role
from supervision.push_states import GUARDS, PUSH_TRANSITIONS, PushAction, PushState

REGULATOR_ORG, DECIDING_ORG, NODE = "360730-industry", "360730-bureau", "360700"
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)


def _expected(state: PushState, steps, role: Role, facts: dict):
    """Fold the steps through the table: (rows used, final state), or None where no row admits a step."""
    used = []
    for action, has_feedback in steps:
        rows = [t for t in PUSH_TRANSITIONS if t.source is state and t.action is action and t.role is role]
        if not rows:
            return None
        (row,) = rows
        push = SimpleNamespace(feedback=[object()] if has_feedback else [])
        if row.guard and not GUARDS[row.guard](push, facts):
            return None
        used.append(row)
        state = row.target
    return used, state


def _push(state: PushState, feedback_uid: str | None = None):
    from app.extensions import db
    from supervision.models import SupervisionFeedback, SupervisionPush

    claimed = state is not PushState.PUSHED
    push = SupervisionPush(
        case_no=f"360730-T-{uuid.uuid4().hex[:10]}", item_code="T-1", item_name="测试事项", mode="direct",
        county_code="360730", applicant_name="测试企业", applicant_id_code="91360730MA00000000",
        decision="approve", accepting_org="360730-window", deciding_org=DECIDING_ORG, deciding_node=NODE,
        supervising_org=REGULATOR_ORG, supervising_node=NODE, responsible=[], decided_at=NOW - timedelta(days=2),
        pushed_at=NOW - timedelta(days=2), received_at=NOW - timedelta(days=2), claim_due_at=NOW + timedelta(days=1),
        state=state.value, claimed_at=NOW - timedelta(days=1) if claimed else None,
        claimed_by="宁都县监管人员 (reg-360730)" if claimed else None,
        closed_at=NOW if state is PushState.CLOSED else None,
        closed_by="宁都县监管人员 (reg-360730)" if state is PushState.CLOSED else None)
    db.session.add(push)
    if feedback_uid:
        db.session.add(SupervisionFeedback(feedback_uid=feedback_uid, push=push, kind="inspection",
                                           on_date=NOW.date(), result="现场检查", created_by="reg", created_at=NOW))
    db.session.flush()
    return push


def _regulator():
    from app.extensions import db
    from delegation.actors import Actor
    from delegation.models import User

    user = db.session.execute(sa.select(User).filter_by(username="reg-360730")).unique().scalar_one()
    return Actor.for_user(user)


FEEDBACK = {"kind": "inspection", "date": "2026-01-05", "result": "现场检查，符合许可条件"}
# what the regulator does → the rows it takes (action, whether the push then has a feedback)
REGULATOR_CALLS = {
    "claim": [(PushAction.CLAIM, False)],
    "feedback": [(PushAction.FEEDBACK, False)],
    "feedback and close": [(PushAction.FEEDBACK, False), (PushAction.CLOSE, True)],
    "close without feedback": [(PushAction.CLOSE, False)],
    "close after feedback": [(PushAction.CLOSE, True)],
}


def _call(name: str, actor, push_id: int):
    from supervision import push_actions

    if name == "claim":
        return push_actions.claim(actor, push_id, now=NOW)
    if name.startswith("feedback"):
        return push_actions.add_feedback(actor, push_id, {**FEEDBACK, "close": name.endswith("close")}, now=NOW)
    return push_actions.close(actor, push_id, now=NOW)


def test_the_regulator_moves_a_push_only_by_its_rows(app):
    from app.extensions import db
    from delegation.errors import Conflict

    actor, used = _regulator(), set()
    for state in PushState:
        for name, steps in REGULATOR_CALLS.items():
            push = _push(state, feedback_uid=str(uuid.uuid4()) if name == "close after feedback" else None)
            expected = _expected(state, steps, Role.REGULATOR, {})
            try:
                _call(name, actor, push.id)
                outcome = PushState(push.state)
            except Conflict:
                assert PushState(push.state) is state, (state, name)
                outcome = None
            db.session.rollback()
            assert outcome == (expected and expected[1]), (state, name, outcome)
            used.update(expected[0] if expected else [])
    assert used == {t for t in PUSH_TRANSITIONS if t.role is Role.REGULATOR}, "a REGULATOR row no action takes"


# message → (type, the row's action, whether the feedback it names is already known here)
MESSAGES = {
    "claim": ("supervision.claim", PushAction.CLAIM_RECEIVED, False),
    "new feedback": ("supervision.feedback", PushAction.FEEDBACK_RECEIVED, False),
    "known feedback": ("supervision.feedback", PushAction.FEEDBACK_RECEIVED, True),
    "new closing feedback": ("supervision.feedback", PushAction.CLOSE_RECEIVED, False),
    "known feedback, closing": ("supervision.feedback", PushAction.CLOSE_RECEIVED, True),
}


def _envelope(message_type: str, push, action: PushAction, uid: str):
    from exchange.envelope import Envelope

    if message_type == "supervision.claim":
        body = {"by": "宁都县监管人员 (reg-360730)", "at": NOW.isoformat()}
    else:
        body = {**FEEDBACK, "comment": None, "feedback_id": uid}
        if action is PushAction.CLOSE_RECEIVED:
            body["supervision_done"] = True
    return Envelope(message_id=str(uuid.uuid4()), type=message_type, from_node=NODE, from_org=REGULATOR_ORG,
                    to_node=NODE, to_org=DECIDING_ORG, created_at=NOW, body=body, case_no=push.case_no)


def test_every_handler_moves_a_push_only_by_its_rows(app):
    """On the deciding node, supervision.claim and supervision.feedback (plain or closing, of a feedback new here
    or already known: the regulator's own row when it lives on this node) move the push as the SYSTEM row says;
    where no row admits them, the message is refused and the push stays where it was."""
    from app.extensions import db
    from exchange.errors import ExchangeRejected
    from exchange.handlers import handler_for

    used = set()
    for state in PushState:
        for name, (message_type, action, known) in MESSAGES.items():
            uid = str(uuid.uuid4())
            push = _push(state, feedback_uid=uid if known else None)
            expected = _expected(state, [(action, known)], Role.SYSTEM, {"feedback": object() if known else None})
            try:
                handler_for(message_type)(_envelope(message_type, push, action, uid), None)
                outcome = PushState(push.state)
            except ExchangeRejected:
                assert PushState(push.state) is state, (state, name)
                outcome = None
            db.session.rollback()
            assert outcome == (expected and expected[1]), (state, name, outcome)
            used.update(expected[0] if expected else [])
    assert used == {t for t in PUSH_TRANSITIONS if t.role is Role.SYSTEM}, "a SYSTEM row no handler takes"
