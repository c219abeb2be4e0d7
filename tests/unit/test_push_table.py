"""The supervision push's transition table (supervision.push_states) tested as a table, and against the code that
moves pushes: every action has a target and a role, every guard named exists, every non-final state has a way out,
the regulator's claim / feedback / close and the deciding node's handlers of supervision.claim / .feedback move a
push exactly as a row says (and refuse where no row admits them), every row is used by one of them, and nothing
else assigns a push's state."""
from __future__ import annotations

import ast
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from delegation.workflow import Role
from supervision.push_states import (FINAL_STATES, GUARDS, INITIAL_STATE, PUSH_TRANSITIONS, STAMPS, PushAction,
                                     PushState)

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "supervision" / "push_states.py"
REGULATOR_ORG, DECIDING_ORG, NODE = "360730-industry", "360730-bureau", "360700"
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)


# -- the table on its own ---------------------------------------------------------------------------------------

def test_every_action_has_a_target_and_a_role():
    for action in PushAction:
        rows = [t for t in PUSH_TRANSITIONS if t.action is action]
        assert rows, f"no row for {action}"
        for row in rows:
            assert isinstance(row.source, PushState) and isinstance(row.target, PushState), row
            assert isinstance(row.role, Role) and row.role in (Role.REGULATOR, Role.SYSTEM), row


def test_one_row_per_state_action_and_role():
    keys = [(t.source, t.action, t.role) for t in PUSH_TRANSITIONS]
    assert len(keys) == len(set(keys)), "two rows for the same state, action and role: which one applies?"


def test_every_guard_named_exists():
    for row in PUSH_TRANSITIONS:
        assert row.guard is None or row.guard in GUARDS, row


def test_every_move_records_who_and_when():
    """The table's checks of supervision_push ask a claimed push for claimed_at/by and a closed one for closed_at."""
    for row in PUSH_TRANSITIONS:
        if row.moves:
            assert row.target in STAMPS, row
    from supervision.models import SupervisionPush

    assert all(hasattr(SupervisionPush, column) for columns in STAMPS.values() for column in columns)


def test_every_non_final_state_has_a_way_out():
    """From the initial state every state is reachable, and from every non-final state a final one."""
    def reachable(start):
        seen, todo = {start}, [start]
        while todo:
            state = todo.pop()
            for row in PUSH_TRANSITIONS:
                if row.source is state and row.target not in seen:
                    seen.add(row.target)
                    todo.append(row.target)
        return seen

    assert reachable(INITIAL_STATE) == set(PushState)
    for state in set(PushState) - FINAL_STATES:
        assert any(t.source is state and t.target is not state for t in PUSH_TRANSITIONS), f"{state} is a dead end"
        assert reachable(state) & FINAL_STATES, f"no final state reachable from {state}"
    for state in FINAL_STATES:
        assert all(t.target is state for t in PUSH_TRANSITIONS if t.source is state), f"{state} is left again"


def test_every_state_has_its_title():
    assert len({s.title_zh for s in PushState}) == len(PushState)
    assert all(s.title_zh and str(s.label) for s in PushState)


def _assigns_state(node: ast.AST) -> bool:
    """`x.state = …`, `x.state, … = …`, `SupervisionPush(…, state=…)`, `.values(state=…)` or `{"state": …}` in
    `.values(…)`."""
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
        return any(isinstance(t, ast.Attribute) and t.attr == "state" for t in flat)
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in ("SupervisionPush", "values"):
            keys = [k.arg for k in node.keywords]
            keys += [k.value for a in node.args if isinstance(a, ast.Dict) for k in a.keys
                     if isinstance(k, ast.Constant)]
            return "state" in keys
    return False


def test_nothing_but_the_engine_assigns_a_push_state():
    """grep, as an AST walk: in the supervision package (which owns the pushes) only push_states.py assigns a
    state."""
    found = []
    for path in sorted((ROOT / "supervision").rglob("*.py")):
        if path == ENGINE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _assigns_state(node):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], "a push's state is assigned outside supervision/push_states.py: " + ", ".join(found)


# -- the code that moves pushes, against the table ------------------------------------------------------------

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
