"""Every line of a case's timeline is written by the workflow engine (delegation.engine): the steps of apply, the
first line of a case (at the window, or the city's own copy of a forward it did not have) and the lines that move
nothing (a regulator's claim, feedback and close, written where the case is)."""
from __future__ import annotations

from delegation import engine
from delegation.workflow import Mode, State
from tests.integration import factories


def test_a_line_that_moves_nothing_names_the_peer_and_is_in_the_case_at_once(app):
    case = factories.make_case(State.DECIDED, Mode.DIRECT)
    lines = len(case.events)
    engine.note(case, "supervision_claim", case.decided_at, "监管部门已认领：reg@360730", {"message_id": "m-1"},
                by=engine.Peer("360730-market@360730", "360730-market"))
    line = case.events[-1]  # before any flush: the next message of a receive batch sees it
    assert len(case.events) == lines + 1
    assert (line.action, line.from_state, line.to_state) == ("supervision_claim", "decided", "decided")
    assert (line.actor, line.actor_org, line.actor_username) == ("360730-market@360730", "360730-market", None)
    assert line.data == {"message_id": "m-1"} and line.comment == "监管部门已认领：reg@360730"


def test_a_first_line_from_a_peer_names_the_peer_not_the_system(app):
    case = factories.make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
    system = factories.system_at(case)
    engine.record(case, system, "receive", State.CITY_REVIEW, case.received_at, "市级收到转报件",
                  {"message_id": "m-2"}, by=engine.Peer("360730-window@360730", "360730-window"))
    line = case.events[-1]
    assert (line.action, line.from_state, line.to_state) == ("receive", None, "city_review")
    assert (line.actor, line.actor_org, line.actor_username) == ("360730-window@360730", "360730-window", None)
    assert line.data == {"message_id": "m-2"}
