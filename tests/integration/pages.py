"""What the page tests share: a browser-like test client, the CSRF token of a form, logging in through the form.

Import the fixture into a test module (`from tests.integration.pages import client`): it replaces the shared
`client` fixture of tests/conftest.py, whose application context stays open across requests (which would make
`g`, and with it Flask-WTF's token cache, outlive a request)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import make_app


@pytest.fixture
def client(database_url, tmp_path):
    """A browser-like client of an app of its own: no application context held open across requests."""
    from app.extensions import db

    application = make_app(database_url, tmp_path / "instance")
    yield application.test_client()
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def csrf_token(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(client, username: str, password: str = "demo"):
    """Log in through the form; the login must succeed (a redirect to the user's desk)."""
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)})
    assert r.status_code == 302, r.get_data(as_text=True)
    return r


def refused(client, response, page: str):
    """A desk's refused form (post/redirect/get): 303 back to its page, opened at the error summary; the page as the
    user then sees it (GET), with what was typed and the errors."""
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    assert response.headers["Location"].endswith(f"{page}#error-summary"), response.headers["Location"]
    return client.get(page)


def follow(client, response, page: str):
    """A desk's answer by post/redirect/get: 303 to `page` (whatever its anchor or query string); the page as the
    user then sees it (GET)."""
    from urllib.parse import urlsplit

    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    location = response.headers["Location"]
    assert urlsplit(location).path == page, location
    return client.get(location)
