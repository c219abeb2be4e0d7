"""The staff login pages: CSRF on the forms, lock-out, logout, the 30-minute idle timeout, the 403 page."""
from __future__ import annotations

import re

import pytest

from app.web import LAST_SEEN
from tests.integration.pages import client, csrf_token  # noqa: F401  (client: the page-client fixture)

COUNTY_USER = "window-360730"


def login(client, username="admin", password="demo", **kw):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)}, **kw)


def test_login_form_rejects_a_post_without_csrf_token(client):
    r = client.post("/login", data={"username": "admin", "password": "demo"})
    assert r.status_code == 400
    assert r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "请求无效" in page and "CSRF" in page and "Traceback" not in page
    assert client.get("/dashboard").status_code == 302  # not logged in


def test_the_api_stays_exempt_from_csrf(client):
    r = client.post("/api/v1/auth/token", json={"username": "admin", "password": "demo"})
    assert r.status_code == 200, r.get_json()


def test_login_shows_who_is_logged_in_with_org_and_role(client):
    r = login(client)
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin")
    page = client.get("/dashboard").get_data(as_text=True)
    header = page[:page.index("<main")]  # the person, the organisation and the role by name, not the account
    assert "市行政审批局管理员" in header and "行政审批局" in header and "市级管理员" in header
    assert "admin" not in re.sub(r"<[^>]+>", " ", header)
    assert "退出登录" in page


def test_wrong_password_names_the_problem_in_chinese(client):
    r = login(client, password="wrong")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.get_data(as_text=True)
    r = client.post("/login", data={"username": "", "password": "", "csrf_token": csrf_token(client)})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "请输入用户名" in page and "请输入密码" in page


def test_lock_out_after_five_failures(client):
    for _ in range(5):
        assert login(client, COUNTY_USER, "wrong").status_code == 401
    r = login(client, COUNTY_USER, "demo")  # the right password, too late
    assert r.status_code == 401
    assert "用户名或密码错误" in r.get_data(as_text=True)  # a locked account reads like a wrong password
    assert client.get("/dashboard").status_code == 302  # not logged in


def test_logout_needs_the_csrf_token_and_ends_the_session(client):
    login(client, COUNTY_USER)
    assert client.post("/logout").status_code == 400  # a cross-site form cannot log anyone out
    token = csrf_token(client, "/dashboard")  # the 403 page: logged in, with the header's logout form
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    r = client.get("/dashboard")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert "您已安全退出" in client.get("/login").get_data(as_text=True)


def test_session_expires_after_thirty_idle_minutes(client):
    login(client, COUNTY_USER)
    assert client.get("/dashboard").status_code == 403  # still logged in
    assert client.application.permanent_session_lifetime.total_seconds() == 30 * 60
    with client.session_transaction() as session:
        session[LAST_SEEN] -= 29 * 60  # 29 minutes idle: still fine, and the clock restarts
    assert client.get("/dashboard").status_code == 403
    with client.session_transaction() as session:
        session[LAST_SEEN] -= 31 * 60
    r = client.get("/dashboard")
    assert r.status_code == 302 and "/login" in r.headers["Location"] and "next=" in r.headers["Location"]
    with client.session_transaction() as session:
        assert "_user_id" not in session
    assert "会话已超时" in client.get(r.headers["Location"]).get_data(as_text=True)


def test_unauthenticated_dashboard_redirects_to_login(client):
    r = client.get("/dashboard")
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]
    assert "请先登录" in client.get(r.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/export.xlsx", "/dashboard/export.csv"])
def test_county_staff_get_the_403_page(client, path):
    login(client, COUNTY_USER)
    r = client.get(path)
    assert r.status_code == 403 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "无权访问" in page and "宁都县窗口人员" in page and "县级窗口人员" in page


def test_next_never_leaves_the_site(client):
    r = client.post("/login?next=//evil.example/x", data={"username": "admin", "password": "demo",
                                                          "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin")


def test_admin_downloads_the_figures_from_the_browser_session(client):
    import io

    from openpyxl import load_workbook

    login(client)
    r = client.get("/dashboard/export.xlsx?county=360730")
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    wb = load_workbook(io.BytesIO(r.data))
    first = [[c for c in row if c is not None] for row in wb.worksheets[0].iter_rows(values_only=True)]
    assert any("360730" in str(v) for row in first for v in row)  # the filter is stated on the first sheet
    assert len(wb.worksheets) == 6  # the summary and one sheet per breakdown
    r = client.get("/dashboard/export.csv?by=mode")
    assert r.status_code == 200 and r.data.startswith("\ufeff".encode())
    assert "办件总数" in r.data.decode("utf-8-sig").splitlines()[0]
    r = client.get("/dashboard?from=2026-13-01")  # a bad date: the page says which field, and still answers
    assert r.status_code == 200 and "开始日期" in r.get_data(as_text=True)


def test_the_dashboard_downloads_are_the_api_exports(client):
    """One workbook and one CSV layout: the browser's download and the API's file hold the same cells."""
    import io

    from openpyxl import load_workbook

    login(client)
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": "demo"}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}

    def cells(data):
        wb = load_workbook(io.BytesIO(data))
        return {ws.title: [row for row in ws.iter_rows(values_only=True) if row[0] != "生成时间（北京时间）"]
                for ws in wb.worksheets}

    page = client.get("/dashboard/export.xlsx?mode=direct")
    api = client.get("/api/v1/stats/export.xlsx?mode=direct", headers=bearer)
    assert page.status_code == api.status_code == 200
    assert cells(page.data) == cells(api.data)
    page = client.get("/dashboard/export.csv?by=county")
    api = client.get("/api/v1/stats/export.csv?by=county", headers=bearer)
    assert page.data == api.data
