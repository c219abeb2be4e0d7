"""The public pages (no login): the service guides of delegated items, the case lookup with its number and query
code, the applicant's rating (好差评), the rate limit on query-code guesses, and the home page."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.integration.support import COUNTY, ENTERPRISE

CST = ZoneInfo("Asia/Shanghai")
WINDOW, REVIEWER = f"window-{COUNTY}", f"review-{COUNTY}"
NEUTRAL = "未找到该办件，请核对办件编号和查询码"


@pytest.fixture
def application(database_url, tmp_path):
    from app.extensions import db

    app = make_app(database_url, tmp_path / "instance")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(application):
    """A browser-like client: no application context held open across requests."""
    return application.test_client()


def csrf_token(client, path="/lookup") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def login(client, username="admin", password="demo"):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


def a_case(application, conclude: bool = True) -> dict:
    """A direct-mode case driven through the services as the county's window and reviewer."""
    from app.extensions import db
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Item, User

    def actor(username):
        return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())

    with application.app_context():
        item = db.session.execute(sa.select(Item).filter_by(mode="direct", limit_unit="working_days")
                                  ).unique().scalars().first()
        now = datetime(2026, 3, 2, 10, tzinfo=CST)
        case = cases.create_case(actor(WINDOW), item.code, dict(ENTERPRISE),
                                 [{"code": m.code, "present": True} for m in item.materials], now=now)
        cases.perform(actor(WINDOW), case.case_no, "accept", now=now)
        cases.perform(actor(REVIEWER), case.case_no, "review", {"opinion": "符合条件"}, now=now)
        cases.perform(actor(REVIEWER), case.case_no, "approve", now=now)
        if conclude:
            cases.perform(actor(WINDOW), case.case_no, "hand_out", {"method": "pickup"}, now=now)
        db.session.commit()
        return {"case_no": case.case_no, "query_code": case.query_code, "item_name": item.name, "id": case.id}


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def lookup(client, case_no, query_code):
    return client.post("/lookup", data={"case_no": case_no, "query_code": query_code,
                                        "csrf_token": csrf_token(client)})


def rate(client, case_no, query_code, score=None, comment=""):
    data = {"query_code": query_code, "comment": comment,
            "csrf_token": csrf_token(client, f"/lookup/{case_no}/rating")}
    if score is not None:
        data["score"] = str(score)
    return client.post(f"/lookup/{case_no}/rating", data=data)


def ratings_of(application, case_id) -> list[int]:
    from app.extensions import db
    from delegation.models import CaseRating

    with application.app_context():
        return db.session.execute(sa.select(CaseRating.score).filter_by(case_id=case_id)).scalars().all()


# -- service guides ---------------------------------------------------------------------------------------------

def test_guide_lists_delegated_items_and_shows_a_guide(application, client):
    from app.extensions import db
    from delegation.models import Item

    with application.app_context():
        item = db.session.execute(sa.select(Item).where(Item.code == "GZ-TZSB-001")).unique().scalar_one()
        materials = [(m.code, m.name, m.core) for m in item.materials]
        promised, statutory = item.promised_limit, item.statutory_limit
    r = client.get("/guide")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "办事指南" in page and "GZ-TZSB-001" in page and "特种设备使用登记（电梯）" in page
    assert 'href="/guide/GZ-TZSB-001"' in page

    r = client.get("/guide/GZ-TZSB-001")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    for _code, name, _core in materials:
        assert name in page
    assert any(core for *_, core in materials) and "核心" in page
    assert re.search(rf'data-testid="guide-promised">\s*{promised} 个工作日', page)
    assert re.search(rf'data-testid="guide-statutory">\s*{statutory} 个工作日', page)
    assert "《中华人民共和国特种设备安全法》第三十三条" in page and "不收费" in page
    assert "下放实质性审核权" in page and "宁都县" in page and "受理条件" in page
    assert client.get("/guide/NO-SUCH-ITEM").status_code == 404


def test_guide_search_by_code_and_name(client):
    page = client.get("/guide?q=gz-tzsb-001").get_data(as_text=True)
    assert 'data-code="GZ-TZSB-001"' in page
    assert page.count('data-testid="guide-item"') == 1
    page = client.get("/guide?q=特种设备使用登记&by=mode").get_data(as_text=True)
    assert 'data-code="GZ-TZSB-001"' in page and "下放实质性审核权" in page
    page = client.get("/guide?q=%25_no-such-thing").get_data(as_text=True)
    assert 'data-testid="guide-item"' not in page and "没有找到" in page


def test_a_revoked_county_is_no_longer_listed_where_to_apply(application, client):
    from app.extensions import db
    from delegation import grants
    from delegation.actors import Actor
    from delegation.models import User

    with application.app_context():
        admin = Actor.for_user(db.session.execute(sa.select(User).filter_by(username="admin")).unique().scalar_one())
        grants.revoke(admin, "GZ-TZSB-001", COUNTY, "抽查发现违法审批")
        db.session.commit()
    page = client.get("/guide/GZ-TZSB-001").get_data(as_text=True)
    places = re.findall(r'data-testid="guide-place">([^<]*)<', page)
    assert places and not any("宁都县" in p for p in places)


# -- lookup -----------------------------------------------------------------------------------------------------

def test_lookup_shows_state_in_chinese_and_no_staff_or_applicant_details(application, client):
    case = a_case(application)
    assert client.get("/lookup").status_code == 200
    r = lookup(client, case["case_no"], case["query_code"])
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "已办结" in page and case["item_name"] in page and "宁都县市县同权窗口" in page
    assert "受理" in page and "准予许可" in page and "出件" in page  # the public timeline
    for secret in (WINDOW, REVIEWER, "宁都县窗口人员", "宁都县审批人员", ENTERPRISE["id_code"], ENTERPRISE["phone"]):
        assert secret not in page, secret
    assert f'>{case["query_code"]}<' not in page  # the code is carried hidden, never shown
    assert 'data-testid="rate-link"' in page


def test_wrong_code_or_number_gets_the_same_404(application, client):
    case = a_case(application)
    bad_code = lookup(client, case["case_no"], wrong(case["query_code"]))
    bad_number = lookup(client, f"{COUNTY}-2026-999999", case["query_code"])
    assert bad_code.status_code == bad_number.status_code == 404
    for r in (bad_code, bad_number):
        page = r.get_data(as_text=True)
        assert NEUTRAL in page and 'data-testid="lookup-form"' in page and "已办结" not in page


def test_lookup_bad_input_names_the_field(client):
    r = lookup(client, "", "12ab")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "办件编号" in page and "请输入办件编号" in page and "查询码为6位数字" in page
    r = client.post("/lookup", data={"case_no": "x", "query_code": "123456"})  # no CSRF token
    assert r.status_code == 400


def test_too_many_wrong_codes_are_stopped(application, client):
    case = a_case(application)
    for _ in range(10):
        assert lookup(client, case["case_no"], wrong(case["query_code"])).status_code == 404
    r = lookup(client, case["case_no"], case["query_code"])  # even the right code, now
    assert r.status_code == 429
    assert "操作过于频繁" in r.get_data(as_text=True)
    assert rate(client, case["case_no"], case["query_code"], 5).status_code == 429
    api = client.post(f"/api/v1/public/cases/{case['case_no']}/rating",
                      json={"query_code": case["query_code"], "score": 5})
    assert api.status_code == 429 and api.mimetype == "application/problem+json"
    assert ratings_of(application, case["id"]) == []
    assert client.get("/lookup").status_code == 200  # the form itself stays readable


def guess_from(client, case, ip):
    token = csrf_token(client)
    return client.post("/lookup", data={"case_no": case["case_no"], "query_code": wrong(case["query_code"]),
                                        "csrf_token": token}, headers={"X-Forwarded-For": ip})


def test_behind_nginx_each_client_ip_has_its_own_budget(database_url, tmp_path):
    """PROXY_HOPS=1 (nginx in front): the limit counts per X-Forwarded-For client, not per proxy address."""
    from app.extensions import db

    app = make_app(database_url, tmp_path / "instance", PROXY_HOPS="1")
    try:
        case, other, client = a_case(app), a_case(app), app.test_client()
        for _ in range(10):
            assert guess_from(client, case, "203.0.113.5").status_code == 404
        assert guess_from(client, other, "203.0.113.5").status_code == 429
        # another citizen is not locked out (at another case: this one's own budget is spent, issue 12)
        assert guess_from(client, other, "203.0.113.6").status_code == 404
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_without_a_trusted_proxy_a_forged_forwarded_header_does_not_reset_the_budget(application, client):
    case = a_case(application)
    for n in range(10):
        assert guess_from(client, case, f"198.51.100.{n}").status_code == 404
    assert guess_from(client, case, "198.51.100.99").status_code == 429


# -- rating -----------------------------------------------------------------------------------------------------

def test_rating_a_concluded_case_once(application, client):
    case = a_case(application)
    # from the lookup result: the query code comes along hidden
    start = client.post(f"/lookup/{case['case_no']}/rating",
                        data={"query_code": case["query_code"], "start": "1", "csrf_token": csrf_token(client)})
    assert start.status_code == 200
    page = start.get_data(as_text=True)
    assert f'type="hidden" name="query_code" value="{case["query_code"]}"' in page and "非常满意" in page

    r = rate(client, case["case_no"], case["query_code"], 4, "窗口办事很快")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "感谢您的评价" in r.get_data(as_text=True) and "满意" in r.get_data(as_text=True)
    again = rate(client, case["case_no"], case["query_code"], 1, "改主意了")  # a bad rating gives its reason
    assert again.status_code == 409
    assert "该办件已评价，每件办件只能评价一次" in again.get_data(as_text=True)
    assert ratings_of(application, case["id"]) == [4]
    page = lookup(client, case["case_no"], case["query_code"]).get_data(as_text=True)
    assert 'data-testid="rate-link"' not in page and "您已评价" in page


def test_rating_a_case_not_concluded_is_refused(application, client):
    case = a_case(application, conclude=False)
    page = lookup(client, case["case_no"], case["query_code"]).get_data(as_text=True)
    assert "已决定" in page and 'data-testid="rate-link"' not in page
    r = rate(client, case["case_no"], case["query_code"], 5)
    assert r.status_code == 409 and "办件办结后才能评价" in r.get_data(as_text=True)
    assert ratings_of(application, case["id"]) == []


def test_rating_bad_input_and_wrong_code(application, client):
    case = a_case(application)
    r = rate(client, case["case_no"], case["query_code"])  # no score chosen
    assert r.status_code == 422 and "评价：请选择评价等级" in r.get_data(as_text=True)
    r = rate(client, case["case_no"], case["query_code"], 5, "好" * 501)
    assert r.status_code == 422 and "评价内容" in r.get_data(as_text=True)
    r = rate(client, case["case_no"], wrong(case["query_code"]), 5)
    assert r.status_code == 404 and NEUTRAL in r.get_data(as_text=True)
    assert ratings_of(application, case["id"]) == []


# -- home -------------------------------------------------------------------------------------------------------

def test_anonymous_home_links_to_the_public_pages(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    for href in ('href="/guide"', 'href="/lookup"', 'href="/public/spot-checks"', 'href="/login"'):
        assert href in page, href


def test_staff_visiting_home_go_to_their_desk(client):
    assert login(client).status_code == 302
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin")
