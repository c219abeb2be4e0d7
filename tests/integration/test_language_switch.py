"""The page language: Simplified Chinese unless a user switches; /lang/<code>?next=… stores the choice in the session
and goes back to a page of this site (never another host); the desks then speak English."""
from __future__ import annotations

import re

from tests.integration.test_login_pages import client, login  # noqa: F401  (the page-client fixture)

WINDOW_CLERK = "window-360730"


def _page(client, path):  # noqa: F811
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return r.get_data(as_text=True)


def test_the_login_page_speaks_chinese_by_default(client):  # noqa: F811
    page = _page(client, "/login")
    assert '<html lang="zh-CN">' in page
    assert "用户名" in page and "工作人员登录" in page and "密码" in page
    assert "Username" not in page
    assert 'hreflang="en"' in page  # the switch to English is offered


def test_switching_to_english_and_back(client):  # noqa: F811
    r = client.get("/lang/en?next=/login")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    page = _page(client, "/login")
    assert '<html lang="en">' in page
    assert "Username" in page and "Password" in page and "Staff login" in page and "Log in" in page
    assert "用户名" not in page
    # the choice sticks across requests, on other pages too
    page = _page(client, "/")
    assert '<html lang="en">' in page and "Service guide" in page and "Case lookup" in page
    assert '<html lang="en">' in _page(client, "/login")
    # and back to Chinese
    client.get("/lang/zh?next=/login")
    page = _page(client, "/login")
    assert '<html lang="zh-CN">' in page and "用户名" in page and "Username" not in page


def test_form_errors_in_english(client):  # noqa: F811
    from tests.integration.test_login_pages import csrf_token

    client.get("/lang/en?next=/login")
    r = client.post("/login", data={"username": "", "password": "", "csrf_token": csrf_token(client)})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Please enter your username" in page and "Please enter your password" in page
    r = login(client, password="wrong")
    assert r.status_code == 401
    assert "用户名或密码错误" not in r.get_data(as_text=True)  # the domain's message in the page language


def test_an_unknown_language_code_is_ignored(client):  # noqa: F811
    r = client.get("/lang/xx?next=/login")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    with client.session_transaction() as session:
        assert "lang" not in session
    page = _page(client, "/login")
    assert '<html lang="zh-CN">' in page and "用户名" in page
    # a code that is not offered does not replace a choice already made either
    client.get("/lang/en?next=/login")
    client.get("/lang/fr?next=/login")
    assert '<html lang="en">' in _page(client, "/login")


def test_next_never_leads_to_another_host(client):  # noqa: F811
    home = ("/", "http://localhost/")
    for target in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "/\t/evil.example",
                   "http:/evil.example", "evil.example/x", "javascript:alert(1)"):
        r = client.get("/lang/en", query_string={"next": target})
        assert r.status_code == 302, target
        assert r.headers["Location"] in home, (target, r.headers["Location"])  # the home page instead
    r = client.get("/lang/en")  # no next: the home page
    assert r.status_code == 302 and r.headers["Location"] in home
    r = client.get("/lang/en", query_string={"next": "/guide?q=a b"})  # a path of this site is followed
    assert r.status_code == 302 and "/guide?q=a" in r.headers["Location"]
    # the language was switched all the same
    assert '<html lang="en">' in _page(client, "/login")


def test_the_window_desk_in_english(client):  # noqa: F811
    r = login(client, WINDOW_CLERK)
    assert r.status_code == 302 and r.headers["Location"].endswith("/window")
    page = _page(client, "/window")
    assert '<html lang="zh-CN">' in page and "窗口受理" in page and "登记新办件" in page

    r = client.get("/lang/en?next=/window")
    assert r.status_code == 302 and r.headers["Location"].endswith("/window")
    page = _page(client, "/window")
    assert '<html lang="en">' in page
    assert "Window desk" in page and "Register a new case" in page and "Case number" in page
    assert "窗口受理" not in page and "登记新办件" not in page
    # the top bar: the desk's name, the role and the logout button
    nav = re.search(r'<nav data-testid="desks">(.*?)</nav>', page, re.S).group(1)
    assert re.search(r'<a href="/window" aria-current="page">Window desk</a>', nav), nav
    assert "County window clerk" in page and "Log out" in page
    # the queues of the desk
    assert "To accept" in page and "Awaiting corrections" in page and "Returned" in page and "In progress" in page
    # still logged in, still English on the next request
    page = _page(client, "/window?queue=recent")
    assert '<html lang="en">' in page and "Window desk" in page


def test_the_dashboard_in_english_with_english_figure_names(client):  # noqa: F811
    import json

    login(client)  # the city administrator
    client.get("/lang/en?next=/dashboard")
    page = _page(client, "/dashboard")
    assert '<html lang="en">' in page and "<h1>Statistics</h1>" in page
    for name in ("Total cases", "On-time rate", "Mean processing time (working days)", "Satisfaction",
                 "Overdue now", "County ranking", "Delegation mode", "Direct", "Delegated review", "Forward only"):
        assert name in page, name
    assert "办件总数" not in page and "按时办结率" not in page and "统计分析" not in page
    charts = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', page, re.S).group(1))
    assert charts["labels"] == {"total_cases": "Total cases", "concluded": "Concluded",
                                "on_time_rate": "On-time rate"}
    # a bad filter is named in English
    assert "from must be a date" in _page(client, "/dashboard?from=2026-13-01")
    # the downloads are records in Chinese whatever the page language, as the API's exports
    r = client.get("/dashboard/export.csv?by=mode")
    assert r.status_code == 200 and "办件总数" in r.data.decode("utf-8-sig").splitlines()[0]
