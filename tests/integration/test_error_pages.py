"""What a browser gets when something goes wrong on a page: an HTML page in the user's language, never a traceback
and never the API's JSON; the API keeps its problem+json."""
from __future__ import annotations

import pytest

from tests.integration.test_login_pages import client, login  # noqa: F401  (the page client fixture)

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_an_unknown_page_is_a_chinese_html_page_and_the_api_stays_json(client):  # noqa: F811
    r = client.get("/no-such-page", headers=BROWSER)
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "页面不存在" in r.get_data(as_text=True)
    r = client.get("/api/v1/no-such-thing", headers=BROWSER)
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_an_unexpected_error_on_a_page_shows_no_traceback(client, monkeypatch):  # noqa: F811
    from delegation import worklist

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(worklist, "worklist", boom)  # the window desk's list (issue 14)
    login(client, "window-360730")
    r = client.get("/window", headers=BROWSER)
    page = r.get_data(as_text=True)
    assert r.status_code == 500 and r.mimetype == "text/html"
    assert "系统出错" in page and "secret" not in page and "Traceback" not in page


@pytest.mark.parametrize("path", ["/lookup", "/login"])
def test_an_oversized_form_post_gets_a_page_naming_the_limit(client, path):  # noqa: F811
    r = client.post(path, data=b"x" * (21 * 1024 * 1024), headers={**BROWSER, "Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and r.mimetype == "text/html"
    assert "上传文件不能超过 20 MB" in r.get_data(as_text=True)
