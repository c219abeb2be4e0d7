"""Demo cases for `make run` (`flask --app wsgi seed-demo --cases`): a day's work waiting on every desk of one
county, made through the same services the desks call, the exchange bus carrying each hand-off.

宁都县 (360730): two applications waiting at the window, one case in county review, a delegated-review and a
forward-only case in the city's queue, two approved cases waiting to be handed out (their approvals pushed to the
regulators). Only on a database without cases: it never adds to real work."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from delegation import cases, grants
from delegation.actors import Actor
from delegation.models import Case, Item, User
from delegation.workflow import Mode

COUNTY = "360730"
APPLICANTS = [
    {"kind": "enterprise", "name": "宁都县示范农业发展有限公司", "id_code": "91360730MA00000019", "phone": "0797-6830001"},
    {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43", "phone": "0797-8123456"},
    {"kind": "individual", "name": "张三", "id_code": "11010519491231002X", "phone": "13800000000"},
]


def _actor(username: str) -> Actor:
    user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
    return Actor.for_user(user)


def _items(mode: Mode) -> list[Item]:
    """Items of this mode delegated to the county and in effect, in code order."""
    from delegation.models import Division

    county = db.session.get(Division, COUNTY)
    items = db.session.execute(sa.select(Item).where(Item.mode == mode.value, Item.active.is_(True))
                               .order_by(Item.code)).unique().scalars().all()
    return [it for it in items if grants.state(it, county)["granted"]]


def _bus() -> None:
    from exchange.jobs import run_once

    for _ in range(3):  # forward, apply, receipt
        run_once()
    db.session.commit()


def seed_demo_cases() -> dict:
    """Create the demo cases and commit; nothing when any case exists or the county is not on this node."""
    if db.session.execute(sa.select(Case.id).limit(1)).first() is not None:
        return {"cases": 0, "skipped": "the database already holds cases"}
    if db.session.execute(sa.select(User.id).filter_by(username=f"window-{COUNTY}")).first() is None:
        return {"cases": 0, "skipped": f"county {COUNTY} is not on this node"}
    window, reviewer, city = _actor(f"window-{COUNTY}"), _actor(f"review-{COUNTY}"), _actor("city-approver")
    direct, reviewed, forward = _items(Mode.DIRECT), _items(Mode.DELEGATED_REVIEW), _items(Mode.FORWARD_ONLY)
    made = []

    def new(item: Item, applicant: dict) -> str:
        materials = [{"code": m.code, "present": True} for m in item.materials]
        case = cases.create_case(window, item.code, applicant, materials)
        db.session.commit()
        made.append(case.case_no)
        return case.case_no

    def act(actor: Actor, case_no: str, action: str, **payload) -> None:
        cases.perform(actor, case_no, action, payload)
        db.session.commit()

    # waiting at the window
    new(direct[0], APPLICANTS[0])
    new(forward[0], APPLICANTS[2])
    # in county review
    no = new(direct[1 % len(direct)], APPLICANTS[1])
    act(window, no, "accept")
    # in the city's queue: delegated review (county opinion given) and forward only
    no = new(reviewed[0], APPLICANTS[1])
    act(window, no, "accept")
    act(reviewer, no, "review", opinion="材料齐全，经审核符合许可条件，建议准予许可", recommendation="approve")
    no = new(forward[1 % len(forward)], APPLICANTS[0])
    act(window, no, "accept")
    _bus()
    # approved, waiting to be handed out; the approvals are pushed to the regulators
    no = new(direct[2 % len(direct)], APPLICANTS[0])
    act(window, no, "accept")
    act(reviewer, no, "review", opinion="材料齐全，符合条件")
    act(reviewer, no, "approve")
    no = new(forward[2 % len(forward)], APPLICANTS[1])
    act(window, no, "accept")
    _bus()
    act(city, no, "approve")
    _bus()
    return {"cases": len(made), "case_nos": made}
