"""Finding 6: a session cookie copied before logout (or before a password change) no longer opens anything."""
from __future__ import annotations

import pytest

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)


def _replay(client, cookie: str):
    """A second browser holding a copy of the saved cookie (as an attacker who copied it would)."""
    thief = client.application.test_client()
    thief.set_cookie("session", cookie)
    return thief


def _log_out(client):
    r = client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")


@pytest.mark.parametrize("username,page,content", [("admin", "/admin", 'data-testid="admin-tabs"'),
                                                    ("window-360730", "/window", "宁都县窗口人员")])
def test_logout_ends_a_copied_session_cookie(client, username, page, content):
    log_in(client, username)
    saved = client.get_cookie("session").value
    assert content in _replay(client, saved).get(page).get_data(as_text=True)  # the copy works while logged in
    _log_out(client)
    r = _replay(client, saved).get(page)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert content not in r.get_data(as_text=True)


def test_logging_out_elsewhere_ends_this_session_too(client):
    """Logout ends every session of the account (the generation is the user's, not the browser's)."""
    log_in(client, "window-360730")
    other = client.application.test_client()
    log_in(other, "window-360730")
    _log_out(other)
    r = client.get("/window")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_changing_ones_password_ends_copied_sessions_and_keeps_ones_own(client):
    log_in(client, "window-360730")
    saved = client.get_cookie("session").value
    form = {"csrf_token": csrf_token(client, "/account/password"), "current_password": "demo",
            "new_password": "new-secret-42", "confirm_password": "new-secret-42"}
    r = client.post("/account/password", data=form)
    assert r.status_code == 302
    assert client.get("/window").status_code == 200  # the browser that changed it stays logged in
    r = _replay(client, saved).get("/window")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
