"""The idle-timeout warning of the staff pages (issue 14): a staff page carries the dialog and the keep-alive
address, a public page does not; 继续登录 is one POST that needs the CSRF token and restarts the idle clock."""
from __future__ import annotations

import re

from app.web import LAST_SEEN
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)

WINDOW = "window-360730"


def _dialog(page: str) -> str | None:
    found = re.search(r'<dialog id="idle-warning".*?</dialog>', page, flags=re.S)
    return found.group(0) if found else None


def test_staff_pages_carry_the_warning_and_public_pages_do_not(client):
    log_in(client, WINDOW)
    dialog = _dialog(client.get("/window").get_data(as_text=True))
    assert dialog is not None
    assert 'data-idle="1800"' in dialog and 'data-url="/account/keep-alive"' in dialog
    assert "继续登录" in dialog and "草稿" in dialog
    for public in ("/", "/guide", "/lookup"):
        page = client.get(public).get_data(as_text=True)
        assert _dialog(page) is None and "idle.js" not in page, public
    client.get("/lang/en?next=/window")
    dialog = _dialog(client.get("/window").get_data(as_text=True))
    assert "Stay signed in" in dialog and "draft" in dialog and "继续登录" not in dialog


def test_keep_alive_refuses_without_csrf_and_restarts_the_idle_clock_with_it(client):
    log_in(client, WINDOW)
    token = csrf_token(client, "/window")
    with client.session_transaction() as session:
        session[LAST_SEEN] -= 29 * 60
        stale = session[LAST_SEEN]
    r = client.post("/account/keep-alive")
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    with client.session_transaction() as session:
        assert session[LAST_SEEN] == stale  # refused: the clock did not move
    r = client.post("/account/keep-alive", data={"csrf_token": token})
    assert r.status_code == 204
    with client.session_transaction() as session:
        assert session[LAST_SEEN] >= stale + 29 * 60 - 5
        session[LAST_SEEN] -= 29 * 60  # another 29 minutes: 58 since the last page, still signed in
    assert client.get("/window").status_code == 200


def test_keep_alive_after_the_timeout_leads_to_the_login_page(client):
    log_in(client, WINDOW)
    token = csrf_token(client, "/window")
    with client.session_transaction() as session:
        session[LAST_SEEN] -= 31 * 60
    r = client.post("/account/keep-alive", data={"csrf_token": token})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/window").status_code == 302  # signed out
