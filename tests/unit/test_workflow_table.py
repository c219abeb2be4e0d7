"""The transition table itself: every row can run, every state can be left, every row of the system has a caller,
and no change of a case's state goes around the engine."""
from __future__ import annotations

import inspect
import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine():
    # The guards and effects are registered by the modules that own them: importing them fills the registries.
    import delegation.cases  # noqa: F401
    import delegation.messaging  # noqa: F401
    from delegation import engine

    return engine


def _rows():
    from delegation.workflow import TRANSITIONS

    return TRANSITIONS


def test_every_guard_named_by_a_row_exists(engine):
    named = {t.guard for t in _rows() if t.guard}
    assert named and named <= set(engine.GUARDS), sorted(named - set(engine.GUARDS))


def test_every_action_has_an_effect_and_a_row(engine):
    from delegation.workflow import Action, SystemAction

    actions = set(Action) | set(SystemAction)
    assert actions <= set(engine.EFFECTS), sorted(a.value for a in actions - set(engine.EFFECTS))
    assert {t.action for t in _rows()} == actions


def test_every_state_not_final_has_a_way_out():
    from delegation.workflow import FINAL_STATES, State

    for state in set(State) - FINAL_STATES:
        exits = [t for t in _rows() if t.source is state and t.target is not state]
        assert exits, f"a case in {state.value} could never leave it"


def test_final_states_are_left_by_no_row():
    from delegation.workflow import FINAL_STATES

    leaving = [t for t in _rows() if t.source in FINAL_STATES and t.target is not t.source]
    assert leaving == []


def test_no_two_rows_answer_the_same_state_action_role_and_mode():
    key = lambda t: (t.source, t.action, t.role)  # noqa: E731
    for (source, action, role), rows in itertools.groupby(sorted(_rows(), key=lambda t: tuple(map(str, key(t)))),
                                                          key=key):
        rows = list(rows)
        for a, b in itertools.combinations(rows, 2):
            assert not (a.modes & b.modes), f"{source.value} {action.value} {role.value}: two rows for one mode"


def test_system_rows_are_the_systems_only():
    from delegation.workflow import Role, SystemAction

    for t in _rows():
        if isinstance(t.action, SystemAction) or t.automatic:
            assert t.role is Role.SYSTEM, t


def test_every_system_row_is_used_by_a_bus_handler_a_job_or_the_engine(engine):
    """A SYSTEM row nobody applies is dead; a handler that changes a case without a row goes around the table."""
    from delegation import cases
    from delegation.workflow import Role
    from exchange import handlers

    callers = [fn for kind, fn in itertools.chain(handlers._apply.items(), handlers._on_receipt.items())
               if kind.startswith("case.")] + [cases.sweep]
    source = "\n".join(inspect.getsource(fn) for fn in callers)
    for t in _rows():
        if t.role is not Role.SYSTEM or t.automatic:  # automatic rows are applied by the engine itself
            continue
        name = f"{type(t.action).__name__}.{t.action.name}"
        assert name in source, f"no handler or job applies {name} ({t.source.value})"


def test_routing_after_acceptance_is_a_row_chosen_by_the_mode():
    from delegation.workflow import Mode, State, automatic_after

    assert automatic_after(State.ACCEPTED, Mode.DIRECT).target is State.COUNTY_REVIEW
    assert automatic_after(State.ACCEPTED, Mode.DELEGATED_REVIEW).target is State.COUNTY_REVIEW
    assert automatic_after(State.ACCEPTED, Mode.FORWARD_ONLY).target is State.FORWARDED
    assert automatic_after(State.COUNTY_REVIEW, Mode.DIRECT) is None


STATE_ASSIGNMENT = re.compile(r"\bcase\.state\s*=(?!=)")


def test_no_state_is_assigned_outside_the_engine():
    offenders = []
    for package in ("app", "delegation", "supervision", "exchange"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "delegation" / "engine.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if STATE_ASSIGNMENT.search(line.split("#")[0]):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
