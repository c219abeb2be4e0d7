"""Demo data of the approval kinds decided at the window (issue 17, part A), so that a clerk can try each rule
after `make run`: GZ-LWPQ-001 劳务派遣经营许可 under 告知承诺制, GZ-HPDJ-001 建设项目环境影响登记表 as an exempt
item taking a filing (备案), the instant items as they are (e.g. GZ-RQJY-002), and window-360730 holding both
on-the-spot authorities (window2-360730, made by `seed-demo --cases`, holds none: the refusal can be tried too)."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.catalog_io import ItemSpec, MaterialSpec, import_catalog
from delegation.models import Item, User
from delegation.window_decision_models import Authority, StaffAuthority
from delegation import window_decisions
from persistence import db, utcnow

COMMITMENT_ITEM = "GZ-LWPQ-001"
COMMITMENT_TEXT = (
    "本单位郑重承诺：一、所填写的信息和提交的材料真实、准确、完整、有效；二、已知晓并符合劳务派遣经营许可的条件："
    "注册资本不少于人民币二百万元，有与开展业务相适应的固定经营场所和设施，有符合法律、行政法规规定的劳务派遣管理制度；"
    "三、愿意接受行政机关的核查，承诺内容与实际不符的，自愿承担撤销行政许可、列入失信黑名单等法律责任。")
FILING = ItemSpec(
    code="GZ-HPDJ-001", name="建设项目环境影响登记表备案", mode="direct", department_code="360700-sec-ecology",
    kind="instant", limit_unit="working_days", promised_limit=0, statutory_limit=0, baseline_materials=5,
    baseline_steps=4, baseline_days=5, fee="不收费",
    legal_basis="《中华人民共和国环境影响评价法》第十六条、第二十二条；《建设项目环境影响登记表备案管理办法》",
    conditions="依法应当填报环境影响登记表的建设项目，豁免环境影响评价审批，实行网上或窗口备案",
    materials=[MaterialSpec("M01", "建设项目环境影响登记表"), MaterialSpec("M02", "营业执照或身份证明"),
               MaterialSpec("M03", "建设项目所在地位置图"),
               MaterialSpec("M04", "授权委托书及经办人身份证明（委托办理时提供）", core=False, required=False)],
    approval_kind="filing")
AUTHORISED = ("window-360730",)


def seed_kinds(counties: list[str]) -> None:
    """Reference data: the 告知承诺 item's commitment and the exempt item (created once, granted to every county)."""
    item = db.session.execute(sa.select(Item).filter_by(code=COMMITMENT_ITEM)).unique().scalar_one_or_none()
    if item is not None and window_decisions.approval_of(item) is None:
        window_decisions.set_kind(item, "commitment", COMMITMENT_TEXT, 20)
    import_catalog(db.session, [FILING], counties, only_new=True)
    db.session.flush()


def seed_authorities() -> None:
    """Demo accounts: the clerks who may decide on the spot."""
    for username in AUTHORISED:
        user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one_or_none()
        if user is None or db.session.execute(sa.select(StaffAuthority).filter_by(user_id=user.id)).first():
            continue
        for authority in Authority:
            db.session.add(StaffAuthority(user_id=user.id, authority=authority.value, granted_by="演示数据",
                                          granted_at=utcnow()))
    db.session.flush()
