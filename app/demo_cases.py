"""Demo cases for `make run` (`flask --app wsgi seed-demo --cases`): a day's work waiting on every desk of one
county, made through the same services the desks call, the exchange bus carrying each hand-off.

宁都县 (360730): two applications waiting at the window, one case in county review, a delegated-review and a
forward-only case in the city's queue, two approved cases waiting to be handed out (their approvals pushed to the
regulators), and a concluded case its applicant rated 不满意, whose 差评整改 waits at the county bureau. The county
bureau gets one unit (审批一股, with `review2-360730`, password `demo`) so that a county 转办 has a target, and the
window a second clerk (`window2-360730`) to 分派 a case to or name as stand-in (委托代办). Only on a
database without cases: it never adds to real work."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from delegation import cases, grants, ratings
from delegation.actors import Actor
from delegation.models import Case, Item, Org, User
from delegation.seed import DEMO_PASSWORD
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
    """Items of this mode delegated to the county and in effect, in code order; approved the ordinary way (an item
    under 告知承诺 or filed is concluded at the window in one step: its own demo, delegation/window_decision_demo)."""
    from delegation.models import Division
    from delegation.window_decisions import kinds_by_item

    county = db.session.get(Division, COUNTY)
    items = db.session.execute(sa.select(Item).where(Item.mode == mode.value, Item.active.is_(True))
                               .order_by(Item.code)).unique().scalars().all()
    special = kinds_by_item(it.id for it in items)
    return [it for it in items if it.id not in special and grants.state(it, county)["granted"]]


def _bureau_unit() -> None:
    """A unit (股) of the county bureau with a reviewer: the target of a county 转办 (delegation/transfer.py). Its
    kind is not approval_bureau, so the bureau stays the county's one deciding authority."""
    from delegation.passwords import hash_password

    bureau = db.session.execute(sa.select(Org).filter_by(code=f"{COUNTY}-bureau")).scalar_one()
    unit = Org(code=f"{COUNTY}-bureau-1", name="宁都县行政审批局审批一股", kind="approval_unit", level="county",
               division_code=COUNTY, node_id=bureau.node_id, parent_id=bureau.id)
    db.session.add(unit)
    db.session.flush()
    password_hash = hash_password(DEMO_PASSWORD)
    db.session.add(User(username=f"review2-{COUNTY}", display_name="宁都县审批一股审批人员", role="reviewer",
                        org_id=unit.id, password_hash=password_hash))
    # a second clerk at the window: someone to 分派 a case to and to name as 委托代办 stand-in
    window = db.session.execute(sa.select(Org).filter_by(code=f"{COUNTY}-window")).scalar_one()
    db.session.add(User(username=f"window2-{COUNTY}", display_name="宁都县窗口人员（二）", role="window",
                        org_id=window.id, password_hash=password_hash))
    db.session.commit()


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
    if db.session.execute(sa.select(Org.id).filter_by(code=f"{COUNTY}-bureau-1")).first() is None:
        _bureau_unit()
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
    # concluded and rated 不满意: the bureau that decided it has a 差评整改 to answer
    no = new(direct[3 % len(direct)], APPLICANTS[2])
    act(window, no, "accept")
    act(reviewer, no, "review", opinion="材料齐全，符合条件")
    act(reviewer, no, "approve")
    act(window, no, "hand_out", method="pickup")
    query_code = db.session.execute(sa.select(Case.query_code).filter_by(case_no=no)).scalar_one()
    ratings.rate(no, query_code, 2, "窗口让我来回跑了三次，每次要的材料都不一样")
    db.session.commit()
    from app import demo_representation  # 帮办代办 and credit records (issue 17)

    demo_representation.seed(COUNTY, APPLICANTS, made)
    from app import demo_inspections  # 现场踏勘 and 问责 (issue 17)

    demo_inspections.seed(COUNTY, APPLICANTS, direct, made)
    return {"cases": len(made), "case_nos": made}
