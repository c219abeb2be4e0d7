"""CSRF on every form: each page route that accepts a change (POST, as the application's url_map lists them), posted
by a signed-in member of staff who may use it, with the valid body the authorisation matrix sends but without a
CSRF token (or with the token of another session), gets the "request invalid" page (400) — or, on the window desk,
whose clerks meet a stale form after an idle half hour, a redirect back to the page the form belongs to with a
warning that nothing was submitted — changes nothing, and leaves the session as it was (a refused POST /logout does
not log out).

The routes come from url_map: a form route the matrix table (route_matrix.TABLE) does not classify fails here."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.security.route_matrix import PUBLIC, TABLE, app_routes, body_for_cell, is_api, url_for_cell
from tests.security.world import ROLES, changed_tables, world  # noqa: F401  (fixture)

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _is_form(key: str) -> bool:
    return not is_api(key) and key.split(" ", 1)[0] in CHANGING


FORMS = sorted(k for k in TABLE if _is_form(k))


def test_every_form_route_is_covered(world):  # noqa: F811
    in_app = {k for k in app_routes(world.app) if _is_form(k)}
    missing = sorted(in_app - set(FORMS))
    assert not missing, f"form routes not classified in route_matrix.TABLE, so not checked for CSRF: {missing}"


def _poster(entry) -> str:
    """A signed-in role that may use the route (public routes: a county window clerk)."""
    if entry.allow == PUBLIC:
        return "window"
    return next(r for r in ROLES if r != "anonymous" and entry.allowed(r, "own"))


def _signed_in(client) -> bool:
    r = client.get("/")
    return r.status_code == 302 and urlsplit(r.headers["Location"]).path != "/login"


@pytest.mark.parametrize("token", ["missing", "foreign"])
@pytest.mark.parametrize("key", FORMS)
def test_form_without_a_valid_csrf_token_is_refused_and_changes_nothing(world, key, token):  # noqa: F811
    entry, rule = TABLE[key], app_routes(world.app)[key]
    role = _poster(entry)
    params = world.params["own"]
    data = dict(body_for_cell(entry, params) or {})
    if token == "foreign":
        data["csrf_token"] = world.csrf("anonymous")  # valid, but for another session
    client = world.pages[role]
    before = world.fingerprint()

    r = client.open(url_for_cell(rule, entry, params), method=key.split(" ", 1)[0], data=data,
                    content_type="multipart/form-data" if entry.multipart else None)

    page = r.get_data(as_text=True)
    if key.startswith("POST /window") and r.status_code == 303:
        back = urlsplit(r.headers["Location"]).path
        assert back.startswith("/window"), (key, back)
        assert "未提交成功" in client.get(back).get_data(as_text=True)
    else:
        assert r.status_code == 400 and r.mimetype == "text/html", (role, r.status_code, page[:300])
        assert "CSRF" in page and "请求无效" in page, page[:500]
    assert changed_tables(before, world.fingerprint()) == []
    assert _signed_in(client), f"{role} lost the session through a refused {key}"
