"""What the review, city and regulator desks and the case page say, read as their users read them (issue 14): names
of organisations and staff, never codes (`360730-bureau`), accounts (`name (review-360730)`) or `org@node`; no
English in Chinese mode and no Chinese system lines in English mode; the exchange panel for administrators only."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_review_city_pages import CITY, REVIEWER, Api, run_bus

REGULATOR = "reg-360730"
ORG_CODE = re.compile(r"\b\d{6}-[a-z]")  # 360730-bureau, 360700-industry, 360700-sec-market (not case numbers)
ACCOUNT = re.compile(r"[(（](?:window|review|reg|city|admin)[-\w]*[)）]")  # "宁都县审批人员 (review-360730)"
ENGLISH_WORD = re.compile(r"\b[a-z]{4,}\b")  # rectification, applied, acknowledged, system, receipt …


def main_text(page: str) -> str:
    """The visible text of the page's top bar and <main>: the top bar names the user and their organisation, never
    the account name."""
    start = page.index("<header") if "<header" in page else page.index("<main") if "<main" in page else 0
    main = page[start:page.rindex("</main>")] if "<main" in page else page[start:]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def _get(client, path) -> str:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return r.get_data(as_text=True)


def _as(client, user, lang="zh"):
    client.delete_cookie("session")
    log_in(client, user)
    client.get(f"/lang/{lang}?next=/login")


def _supervised_direct_case(client) -> tuple[str, int]:
    """A direct case decided at the county, pushed to the county regulator, claimed and fed back with an order to
    rectify (through the pages), each step carried back to the deciding bureau by the bus."""
    from app.extensions import db
    from supervision.models import SupervisionPush

    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    item = api.item("direct")
    api.act(case_no, REVIEWER, "request_correction",
            items=[{"material_code": item["materials"][0]["code"], "problem": "需加盖公章"}])
    api.act(case_no, f"window-{case_no[:6]}", "resubmit",
            materials=[{"code": m["code"], "present": True} for m in item["materials"]])
    api.act(case_no, REVIEWER, "review", opinion="材料齐全")
    api.act(case_no, REVIEWER, "approve", certificate_no="NDX-2026-0001")
    run_bus(app)
    with app.app_context():
        push_id = db.session.execute(sa.select(SupervisionPush.id).filter_by(case_no=case_no)).scalar_one()
        db.session.remove()
    _as(client, REGULATOR)
    token = csrf_token(client, "/regulator")
    assert client.post(f"/regulator/pushes/{push_id}/claim", data={"csrf_token": token}).status_code == 302
    r = client.post(f"/regulator/pushes/{push_id}/feedback", data={
        "csrf_token": token, "kind": "rectification", "date": "2026-01-05", "result": "消防通道堵塞，限期整改",
        "decision_no": "宁监责〔2026〕1号"})
    assert r.status_code == 302, r.get_data(as_text=True)
    run_bus(app)
    return case_no, push_id


def _city_case(client) -> str:
    app = client.application
    api = Api(app)
    case_no = api.create("delegated_review")
    api.act(case_no, REVIEWER, "review", opinion="经审核，符合条件", recommendation="approve")
    run_bus(app)
    return case_no


def _plain(text: str, where: str) -> None:
    assert not ORG_CODE.search(text), (where, ORG_CODE.findall(text), text[:3000])
    assert "@36" not in text, (where, text[:3000])
    assert not ACCOUNT.search(text), (where, ACCOUNT.findall(text))
    assert not ENGLISH_WORD.findall(text), (where, ENGLISH_WORD.findall(text))


def test_staff_pages_show_names_and_no_codes_or_english(client):
    case_no, push_id = _supervised_direct_case(client)
    at_city = _city_case(client)

    _as(client, REVIEWER)
    for path in ("/review", f"/cases/{case_no}", f"/cases/{at_city}"):
        _plain(main_text(_get(client, path)), path)
    header = main_text(_get(client, "/review").split("<main")[0] + "<main></main>")
    assert "宁都县审批人员" in header and "宁都县行政审批局" in header  # the person and the organisation, by name
    page = main_text(_get(client, f"/cases/{case_no}"))
    # the bus's lines name the county regulator's organisation and the regulator, the kind in words
    assert "宁都县行业主管部门" in page and "宁都县监管人员" in page and "监管部门已认领" in page
    assert "责令整改" in page and "消防通道堵塞，限期整改" in page and "宁监责〔2026〕1号" in page
    assert "系统" in page and "宁都县审批人员" in page
    # the correction notice names the material beside its code
    item = Api(client.application).item("direct")
    first = item["materials"][0]
    assert re.search(rf"{re.escape(first['name'])}\s*{first['code']}\s*：\s*需加盖公章", page), page[-3000:]

    _as(client, CITY)
    for path in ("/city", f"/city/cases/{at_city}", f"/cases/{at_city}"):
        _plain(main_text(_get(client, path)), path)

    _as(client, REGULATOR)
    for path in ("/regulator", "/regulator?tab=claimed", "/regulator?tab=all", f"/regulator/pushes/{push_id}"):
        _plain(main_text(_get(client, path)), path)
    page = main_text(_get(client, f"/regulator/pushes/{push_id}"))
    assert "宁都县市县同权窗口" in page and "宁都县行政审批局" in page and "宁都县监管人员" in page


def test_english_mode_has_no_chinese_system_lines(client):
    case_no, _push = _supervised_direct_case(client)
    _as(client, REVIEWER, "en")
    page = _get(client, f"/cases/{case_no}")
    timeline = main_text(page[page.index('data-testid="timeline"'):])
    for line in ("转县级审批", "监管部门已认领", "监管反馈（", "系统", "一次性告知补正", "宁都县审批人员 ("):
        assert line not in timeline, (line, timeline)
    assert "System" in timeline and "Claimed by the supervising department" in timeline
    assert "Order to rectify" in timeline and "消防通道堵塞，限期整改" in timeline  # the regulator's own words stay
    # the review work page's timeline too
    assert "转县级审批" not in main_text(_get(client, "/review"))


def test_the_exchange_panel_is_for_administrators_only(client):
    at_city = _city_case(client)
    for user in (REVIEWER, CITY, f"window-{at_city[:6]}"):
        _as(client, user)
        page = _get(client, f"/cases/{at_city}")
        assert 'data-testid="messages"' not in page and "case.forward" not in page, user
    _as(client, "admin")
    page = _get(client, f"/cases/{at_city}")
    panel = main_text(page[page.index('data-testid="messages"'):])
    assert "转报" in panel and "case.forward" in panel and "已确认" in panel
    assert "acknowledged" not in panel and "queued" not in panel


def test_review_and_city_work_pages_show_the_timeline_and_the_step_deadline(client):
    from app.extensions import db
    from delegation.models import Case

    app = client.application
    at_city = _city_case(client)
    _as(client, CITY)
    page = _get(client, f"/city/cases/{at_city}")
    assert 'data-testid="timeline"' in page
    timeline = main_text(page[page.index('data-testid="timeline"'):])
    assert "经审核，符合条件" in timeline and "市级收到转报件" in timeline
    with app.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=at_city)).unique().scalar_one()
        step_due = case.step_due_at
        db.session.remove()
    step = main_text(page[page.index('data-testid="step-deadline"'):])[:80]
    if step_due is not None:  # the item's city step limit: the step's deadline to the minute
        from app.web.common import local_time

        assert "市级审查" in step and local_time(step_due) in step, step
    else:
        assert "同办件期限" in step

    api = Api(app)
    hourly = _hour_limited_case(app, api)
    _as(client, REVIEWER)
    page = _get(client, f"/review/cases/{hourly}")
    assert 'data-testid="timeline"' in page and "转县级审批" in main_text(page[page.index('data-testid="timeline"'):])
    due = re.search(r'data-testid="due-hour">([^<]+)<', page)
    assert due and re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", due.group(1)), "an hour item's deadline has its hour"


def _hour_limited_case(app, api) -> str:
    """A case of an hour-limited item at the county review desk (the item is made hour-limited for the test)."""
    from app.extensions import db
    from delegation.models import Item

    item = api.item("direct")
    with app.app_context():
        db.session.execute(sa.update(Item).where(Item.code == item["code"]).values(limit_unit="hours"))
        db.session.commit()
        db.session.remove()
    return api.create("direct", item=item)


def test_credit_warnings_name_their_kind_in_the_page_language(client):
    from app.extensions import db
    from supervision import credit
    from tests.integration.test_review_city_pages import ENTERPRISE

    app = client.application
    case_no = Api(app).create("direct")
    with app.app_context():
        credit.record_penalty("宁都县监管人员 (reg-360730)", ENTERPRISE["id_code"], ENTERPRISE["name"], None,
                              "行政处罚决定书宁监罚〔2026〕2号")
        db.session.commit()
        db.session.remove()
    _as(client, REVIEWER)
    warnings = main_text(_get(client, f"/review/cases/{case_no}").split('data-testid="credit-warnings"')[1][:600])
    assert "行政处罚：行政处罚决定书宁监罚〔2026〕2号" in warnings
    _as(client, REVIEWER, "en")
    warnings = main_text(_get(client, f"/review/cases/{case_no}").split('data-testid="credit-warnings"')[1][:600])
    assert "Administrative penalty：" in warnings and "行政处罚：" not in warnings
