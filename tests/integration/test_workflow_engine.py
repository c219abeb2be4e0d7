"""The workflow engine without HTTP: cases built through `engine.apply` by the factories, in every state a case
rests in, the system's steps written on the timeline like the users', and refusals that change nothing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import engine
from delegation.errors import Conflict, Forbidden
from delegation.models import Case, CaseEvent
from delegation.workflow import Action, Mode, State, SystemAction
from tests.integration import factories

pytestmark = pytest.mark.usefixtures("app")

RESTING = [(s, m) for s in State if s is not State.ACCEPTED
           for m in ((Mode.DIRECT, Mode.DELEGATED_REVIEW, Mode.FORWARD_ONLY)
                     if s in (State.SUBMITTED, State.DECIDED, State.CONCLUDED) else (None,))]


def _reloaded(case_no: str) -> Case:
    db.session.commit()
    db.session.expire_all()
    return db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()


@pytest.mark.parametrize("state,mode", RESTING, ids=lambda v: getattr(v, "value", "any"))
def test_a_case_is_built_in_any_state_through_the_engine(state, mode):
    case = factories.make_case(state, mode)
    again = _reloaded(case.case_no)
    assert again.state is state and isinstance(again.mode, Mode)
    if mode is not None:
        assert again.mode is mode
    timeline = db.session.execute(sa.select(CaseEvent).filter_by(case_id=again.id).order_by(CaseEvent.id)
                                  ).scalars().all()
    # every change is one line of the timeline, each from where the one before left the case
    assert timeline[0].action == "submit" and timeline[-1].to_state == state.value
    for before, after in zip(timeline, timeline[1:]):
        assert after.from_state == before.to_state, (before.action, after.action)


def test_routing_after_acceptance_is_the_systems_line_of_the_timeline():
    case = factories.make_case(State.FORWARDED, Mode.FORWARD_ONLY)
    lines = [(e.action, e.from_state, e.to_state, e.actor) for e in _reloaded(case.case_no).events]
    assert lines[1:] == [("accept", "submitted", "accepted", lines[1][3]),
                         ("forward", "accepted", "forwarded", "系统 (system)")]


def test_a_step_the_bus_applies_names_the_peer_that_caused_it():
    case = factories.make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
    line = _reloaded(case.case_no).events[-1]
    assert (line.action, line.from_state, line.to_state) == ("receive", "forwarded", "city_review")
    assert line.actor == f"{case.window_org.code}@{case.window_org.node_id}" and line.data == {"message_id": "factory"}
    assert line.comment == "市级收到转报件"


def test_an_action_no_row_allows_changes_nothing():
    case = factories.make_case(State.DECIDED, Mode.DIRECT)
    version, lines = case.version, len(_reloaded(case.case_no).events)
    case = _reloaded(case.case_no)
    with pytest.raises(Conflict) as refused:
        engine.apply(case, factories.window(), Action.ACCEPT, {})
    assert refused.value.code == "state_forbids" and refused.value.field == "action"
    db.session.rollback()
    with pytest.raises(Forbidden):  # the system's rows are not a user's
        engine.apply(_reloaded(case.case_no), factories.window(), SystemAction.RECEIVE_DECISION, {})
    db.session.rollback()
    again = _reloaded(case.case_no)
    assert again.state is State.DECIDED and again.version == version and len(again.events) == lines


def test_a_broken_commitment_ends_the_case_through_the_jobs_row():
    case = _reloaded(factories.terminated().case_no)
    line = case.events[-1]
    assert case.state is State.TERMINATED and case.closed_reason == "容缺承诺逾期未补齐材料"
    assert (line.action, line.to_state, line.actor) == ("terminate", "terminated", "系统 (system)")
