"""The authorisation matrix: every route of the application × every role × an object of the caller's own county and
of another county, each answered as tests/security/route_matrix.py declares — and a refused request changes
nothing in the database.

The routes come from the application's own url_map: a route without a declared expectation fails here, so a new
route cannot ship unclassified. The cells share one application and database (world.py): first every refused cell
and every read, then the permitted changes (they may change what a later cell reads, never what it may do)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.security.route_matrix import (CHANGE_OK, LAST, PUBLIC, TABLE, app_routes, body_for_cell, is_api,
                                         url_for_cell)
from tests.security.world import COUNTY_LEVEL, ROLES, SCOPES, changed_tables, world  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def routes(world):  # noqa: F811
    return app_routes(world.app)


def test_every_route_of_the_application_is_classified(routes):
    missing = sorted(set(routes) - set(TABLE))
    assert not missing, ("routes with no declared expectation in tests/security/route_matrix.py TABLE "
                         f"(say who may use them): {missing}")


def test_every_classified_route_exists(routes):
    stale = sorted(set(TABLE) - set(routes))
    assert not stale, f"TABLE entries for routes the application no longer has: {stale}"


# -- one cell ----------------------------------------------------------------------------------------------------

def _scopes(entry):
    return SCOPES if entry.scoped else ("own",)


def _request(world, key, rule, entry, role, scope):  # noqa: F811
    method = key.split(" ", 1)[0]
    params = world.params[scope]
    url = url_for_cell(rule, entry, params)
    body = body_for_cell(entry, params)
    if is_api(key):
        client = world.api_client()
        headers = {"Authorization": f"Bearer {world.tokens[role]}"} if role != "anonymous" else {}
        if entry.multipart:
            return url, client.open(url, method=method, headers=headers, data=body,
                                    content_type="multipart/form-data")
        return url, client.open(url, method=method, headers=headers, json=body)
    client = world.pages[role]
    if method == "GET":
        return url, client.get(url)
    data = {**(body or {}), "csrf_token": world.csrf(role)}
    return url, client.open(url, method=method, data=data,
                            content_type="multipart/form-data" if entry.multipart else None)


def _to_login(response) -> bool:
    return response.status_code in (302, 303) and urlsplit(response.headers.get("Location", "")).path == "/login"


def _judge(key, entry, role, scope, response) -> str | None:
    """None when the answer is the declared one, else what is wrong with it."""
    status, method = response.status_code, key.split(" ", 1)[0]
    if status >= 500:
        return f"server error {status}"
    if entry.allowed(role, scope):
        ok = entry.ok or ({200} if method == "GET" else CHANGE_OK)
        if entry.allow != PUBLIC and _to_login(response):
            return "permitted, but sent to the login page"
        return None if status in ok else f"permitted, expected one of {sorted(ok)}"
    if role == "anonymous":
        if is_api(key):
            return None if status == 401 else "anonymous API call, expected 401"
        return None if _to_login(response) else "anonymous page, expected a redirect to /login"
    refusal = entry.refusal(role, scope)
    return None if status in refusal else f"refused role, expected one of {sorted(refusal)}"


def _run(world, routes, key, cells):  # noqa: F811
    """Run the cells; return the complaints (one line per wrong cell)."""
    if key not in routes:
        pytest.fail(f"{key} is in TABLE but not in the application's url_map")
    rule, entry = routes[key], TABLE[key]
    problems = []
    for role, scope in cells:
        refused = not entry.allowed(role, scope)
        if not is_api(key) and key.split(" ", 1)[0] != "GET":
            world.csrf(role)  # read first: what its landing page writes (the dashboard's calendar) is not the call's
        before = world.fingerprint() if refused else None
        url, response = _request(world, key, rule, entry, role, scope)
        complaint = _judge(key, entry, role, scope, response)
        if refused:
            changed = changed_tables(before, world.fingerprint())
            if changed:
                complaint = (complaint + "; " if complaint else "") + f"a refused call changed {changed}"
        if complaint:
            text = response.get_data(as_text=True)[:160].replace("\n", " ")
            problems.append(f"{role:16} {scope:5} {key.split(' ')[0]} {url} -> {response.status_code}: "
                            f"{complaint} | {text}")
    return problems


# -- the matrix ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(TABLE))
def test_refusals_and_reads_are_as_declared(world, routes, key):  # noqa: F811
    """Every refused cell (anonymous, wrong role, another county's object) and every read."""
    entry = TABLE[key]
    method = key.split(" ", 1)[0]
    cells = [(role, scope) for role in ROLES for scope in _scopes(entry)
             if method == "GET" or not entry.allowed(role, scope)]
    problems = _run(world, routes, key, cells)
    assert not problems, f"{key}:\n" + "\n".join(problems)


@pytest.mark.parametrize("key", sorted(k for k, e in TABLE.items() if e.scoped))
def test_another_countys_object_answers_as_a_missing_one(world, routes, key):  # noqa: F811
    """No oracle: county staff get for another county's object exactly the answer an object that does not exist
    gets, so a refusal does not tell which case numbers, pushes or spot checks exist. (The city level serves every
    county: it may know that an object exists and still be refused an action on it.)"""
    entry, rule = TABLE[key], routes[key]
    problems = []
    for role in sorted(COUNTY_LEVEL):
        before = world.fingerprint()
        url, other = _request(world, key, rule, entry, role, "other")
        missing_url, missing = _request(world, key, rule, entry, role, "missing")
        changed = changed_tables(before, world.fingerprint())
        if other.status_code != missing.status_code or changed:
            problems.append(f"{role:16} {url} -> {other.status_code}, {missing_url} -> {missing.status_code}"
                            + (f"; changed {changed}" if changed else ""))
    assert not problems, f"{key}:\n" + "\n".join(problems)


CHANGES = sorted((k for k in TABLE if not k.startswith("GET ")), key=lambda k: (k in LAST, k))


@pytest.mark.parametrize("key", CHANGES)
def test_permitted_changes_are_accepted(world, routes, key):  # noqa: F811
    """The permitted callers of each changing route get through (2xx, 409 or 422, never 401/403/404): this also
    proves that the objects the refused cells were tried on exist."""
    entry = TABLE[key]
    cells = [(role, scope) for role in ROLES for scope in _scopes(entry) if entry.allowed(role, scope)]
    problems = _run(world, routes, key, cells)
    assert not problems, f"{key}:\n" + "\n".join(problems)


def test_the_fingerprint_sees_a_committed_change(world):  # noqa: F811
    """The harness itself: a change the application commits shows in the fingerprint, or "a refused call changed
    nothing" above would prove nothing."""
    from tests.security.route_matrix import _case_create

    before = world.fingerprint()
    r = world.api_client().post("/api/v1/cases", headers={"Authorization": f"Bearer {world.tokens['window']}"},
                                json=_case_create(world.params["own"]))
    assert r.status_code == 201, r.get_json()
    assert "case_file" in changed_tables(before, world.fingerprint())
