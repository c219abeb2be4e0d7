"""Cases in any state, built through the workflow engine (`engine.apply`) as users and the system would move them,
without HTTP: for domain tests that need a case somewhere in its life and not the pages that led there.

    case = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)

The city's steps happen on the embedded node (one database for county and city): a forward is received by the
SYSTEM row the bus applies, as a peer (`engine.Peer`) named on the timeline.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db, utcnow
from delegation import cases, engine
from delegation.actors import Actor
from delegation.models import Case, Item, User
from delegation.workflow import Action, Mode, State, SystemAction
from tests.integration.support import COUNTY, ENTERPRISE

CITY = "city-approver"


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def window(county: str = COUNTY) -> Actor:
    return actor(f"window-{county}")


def reviewer(county: str = COUNTY) -> Actor:
    return actor(f"review-{county}")


def system_at(case: Case) -> Actor:
    return Actor.system(case.department_code, "360700", "city")


def item_of(mode: Mode, commitment: bool = False) -> Item:
    query = sa.select(Item).filter_by(mode=mode.value, active=True).order_by(Item.id)
    if commitment:
        query = query.filter_by(allows_commitment=True)
    return next(i for i in db.session.execute(query).unique().scalars()
                if not commitment or any(not m.core and m.required for m in i.materials))


def submitted(mode: Mode = Mode.DIRECT, county: str = COUNTY, commitment: bool = False, now=None,
              missing_all_optional: bool = False) -> Case:
    """A case just registered: every material present, or (commitment) the non-core required ones missing."""
    item = item_of(mode, commitment)
    present = [m.code for m in item.materials if m.core or not commitment]
    return cases.create_case(window(county), item.code, dict(ENTERPRISE),
                             [{"code": c, "present": True} for c in present], now=now)


def _apply(case: Case, who: Actor, action, now: datetime, **payload) -> Case:
    return engine.apply(case, who, action, payload, now)


def _receive(case: Case, now: datetime) -> Case:
    """What the bus does when the forward arrives at the city."""
    peer = engine.Peer(f"{case.window_org.code}@{case.window_org.node_id}", case.window_org.code)
    return engine.apply(case, system_at(case), SystemAction.RECEIVE, {}, now, by=peer, data={"message_id": "factory"})


def _to_city(case: Case, now: datetime) -> Case:
    if case.state is State.COUNTY_REVIEW:  # delegated review: the county reviews, which forwards
        _apply(case, reviewer(case.county_code), Action.REVIEW, now, opinion="符合条件", recommendation="approve")
    return _receive(case, now)


def _decided(case: Case, now: datetime) -> Case:
    if case.mode is Mode.DIRECT:
        _apply(case, reviewer(case.county_code), Action.REVIEW, now, opinion="符合条件")
        return _apply(case, reviewer(case.county_code), Action.APPROVE, now)
    return _apply(_to_city(case, now), actor(CITY), Action.APPROVE, now)


def _routed(case: Case, now: datetime) -> Case:
    return _apply(case, window(case.county_code), Action.ACCEPT, now)


# Each state from the one before it on the usual road; `now` is the time of every step.
_ROADS = {
    State.SUBMITTED: lambda c, now: c,
    State.CORRECTION_REQUESTED: lambda c, now: _apply(c, window(c.county_code), Action.REQUEST_CORRECTION, now,
                                                      items=[{"material_code": c.materials[0].code,
                                                              "problem": "复印件不清晰"}]),
    State.REFUSED: lambda c, now: _apply(c, window(c.county_code), Action.REFUSE, now, reason="不属于本事项",
                                         redirect="市场监管局"),
    State.WITHDRAWN: lambda c, now: _apply(c, window(c.county_code), Action.WITHDRAW, now, comment="申请人撤回"),
    State.COUNTY_REVIEW: _routed,
    State.FORWARDED: _routed,
    State.CITY_REVIEW: lambda c, now: _to_city(_routed(c, now), now),
    State.RETURNED: lambda c, now: _apply(_to_city(_routed(c, now), now), actor(CITY), Action.RETURN, now,
                                          reasons=["材料与事实不符"]),
    State.SUSPENDED: lambda c, now: _apply(_routed(c, now), reviewer(c.county_code), Action.SUSPEND, now,
                                           kind="site_inspection", expected_end=(now + timedelta(days=20)).date()),
    State.DECIDED: lambda c, now: _decided(_routed(c, now), now),
    State.CONCLUDED: lambda c, now: _apply(_decided(_routed(c, now), now), window(c.county_code), Action.HAND_OUT,
                                           now, method="pickup"),
}
# The modes a state is reached in on its usual road (a forward-only case is never at the county bureau).
_MODES = {State.COUNTY_REVIEW: (Mode.DIRECT, Mode.DELEGATED_REVIEW), State.FORWARDED: (Mode.FORWARD_ONLY,),
          State.SUSPENDED: (Mode.DIRECT, Mode.DELEGATED_REVIEW)}


def make_case(state: State, mode: Mode | None = None, county: str = COUNTY, now: datetime | None = None) -> Case:
    """A case of `mode` in `state`, flushed (the caller commits or not). ACCEPTED is never at rest (the engine
    routes the case on at once); TERMINATED comes from a broken 容缺 commitment, see `terminated`."""
    if state is State.TERMINATED:
        return terminated(county=county, now=now)
    if state not in _ROADS:
        raise ValueError(f"no case rests in {state.value}")
    mode = mode or _MODES.get(state, (Mode.FORWARD_ONLY,) if state in (State.CITY_REVIEW, State.RETURNED)
                              else (Mode.DIRECT,))[0]
    now = now or utcnow()
    case = _ROADS[state](submitted(mode, county, now=now), now)
    db.session.flush()
    return case


def terminated(county: str = COUNTY, now: datetime | None = None) -> Case:
    """A 容缺 case whose commitment was broken, ended by the deadline job's row."""
    now = now or utcnow()
    case = submitted(Mode.DIRECT, county, commitment=True, now=now)
    _apply(case, window(county), Action.ACCEPT_WITH_COMMITMENT, now)
    later = case.commitment_deadline + timedelta(minutes=1)
    system = Actor.system(case.window_org.code, case.county_code, "county")
    return engine.apply(case, system, Action.TERMINATE, {}, later)
