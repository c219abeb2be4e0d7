"""The supervision push's transition table (supervision.push_states) tested as a table: every action has a target
and a role, every guard named exists, every non-final state has a way out, every move records who and when, and
nothing but the engine assigns a push's state. No database: the code that moves pushes is held to the table in
tests/integration/test_push_engine.py."""
from __future__ import annotations

import ast
from pathlib import Path

from delegation.workflow import Role
from supervision.push_states import (FINAL_STATES, GUARDS, INITIAL_STATE, PUSH_TRANSITIONS, STAMPS, PushAction,
                                     PushState)

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "supervision" / "push_states.py"


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
