"""Demo data of issue 17 part B for `make run` (called by app.demo_cases): a window assistant of 宁都县
(`helper-360730`, password `demo`, 帮办人员), an application waiting at the window brought by an agent with the
authorisation letter and taken by that assistant, and three credit records: 张三's blacklisting in force (against his case: the lookup of
that case shows it, and 容缺 is refused him), an expired penalty and a lifted one (the administrator's page,
/admin/credit, lists all three)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from delegation import representation
from delegation.actors import Actor
from delegation.models import Case, Org, User
from delegation.passwords import hash_password
from delegation.seed import DEMO_PASSWORD
from persistence import utcnow

ASSISTANT = "helper-360730"
AGENT = {"name": "李四", "id_code": "11010519491231002X", "phone": "13900000000"}


def _actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def seed(county: str, applicants: list[dict], made: list[str]) -> None:
    from supervision import credit, credit_admin

    window_org = db.session.execute(sa.select(Org).filter_by(code=f"{county}-window")).scalar_one()
    db.session.add(User(username=ASSISTANT, display_name="宁都县窗口帮办员", role="window", org_id=window_org.id,
                        password_hash=hash_password(DEMO_PASSWORD), assistant=True))
    db.session.flush()
    window, admin = _actor(f"window-{county}"), _actor("admin")
    # an application waiting at the window, brought by an agent with the letter and taken by the assistant (the
    # columns intake.register_with_files writes, checked by the same rule; no extra case: the demo keeps its count)
    for case in db.session.execute(sa.select(Case).where(Case.case_no.in_(made))).unique().scalars():
        letter = representation.authorisation_material(case.materials)
        if case.state == "submitted" and letter is not None and letter.present:
            case.agent_name, case.agent_id_code, case.agent_phone = AGENT["name"], AGENT["id_code"], AGENT["phone"]
            representation.check_agent(case)
            representation.record_assistant(window, case, ASSISTANT)
            break
    person = applicants[2]
    own_case = made[1] if len(made) > 1 else None  # 张三's application waiting at the window
    credit.record_false_commitment(admin, person["id_code"], person["name"], own_case,
                                   "告知承诺“已取得消防验收”不实，经核查列入失信黑名单（演示数据）")
    firm = applicants[0]
    credit.record_penalty(admin, firm["id_code"], firm["name"], None, "未按规定办理变更登记，罚款（演示数据，已过期）",
                          at=utcnow() - timedelta(days=credit.EXPIRY_DAYS["penalty"] + 30))
    lifted = credit.record_penalty(admin, applicants[1]["id_code"], applicants[1]["name"], None,
                                   "逾期未年报（演示数据）")
    credit_admin.lift(admin, lifted.id, "已补报年报并完成信用修复")
    db.session.commit()
