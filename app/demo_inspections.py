"""Demo data (make run) for issue 17 part C, called by app.demo_cases: a case of 宁都县 suspended for a 现场踏勘 at
the county bureau, whose inspection `review-360730` can record on the case page, and a spot check of the county's
approvals with a finding of illegal approval, so that `admin` finds an accountability record and its proposal to
revoke the county's delegation at 系统管理 → 问责记录. Made through the services the desks call."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from delegation import cases
from delegation.actors import Actor
from delegation.models import Item, User
from persistence import utcnow
from supervision import spotchecks


def _actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def seed(county: str, applicants: list[dict], direct: list[Item], made: list[str]) -> None:
    window, reviewer = _actor(f"window-{county}"), _actor(f"review-{county}")
    item = direct[4 % len(direct)]
    case = cases.create_case(window, item.code, applicants[1], [{"code": m.code, "present": True}
                                                                 for m in item.materials])
    db.session.commit()
    made.append(case.case_no)
    cases.perform(window, case.case_no, "accept")
    cases.perform(reviewer, case.case_no, "suspend", {"kind": "site_inspection",
                                                       "expected_end": (utcnow() + timedelta(days=10)).date()})
    db.session.commit()
    admin = _actor("admin")
    check = spotchecks.create(admin, title="宁都县直接下放事项双随机抽查（演示）", county=county, count=1,
                              seed="demo-accountability")
    spotchecks.record_finding(admin, check.id, check.entries[0].id, "illegal_approval",
                              "申请人经营场所不符合许可条件，审批人员未经现场核查即予批准")
    db.session.commit()
