"""A list page costs a constant number of SQL statements, whatever its length (no N+1), and pages by keyset
(never OFFSET); GET /api/v1/cases for county staff and for the city approver, first and later pages."""
from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.integration.support import COUNTY, Api

WINDOW = f"window-{COUNTY}"
CITY = "city-approver"


@pytest.fixture
def api(client):
    return Api(client)


@contextlib.contextmanager
def statements():
    seen: list[str] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", grab)


def page(api, user, query):
    db.session.remove()  # each request starts from nothing, as in a worker: no object already in the session
    with statements() as seen:
        r = api.get(f"/api/v1/cases?{query}", user=user)
    assert r.status_code == 200, r.get_json()
    return r.get_json(), seen


def test_case_list_costs_the_same_statements_for_5_and_50_rows_and_pages_by_keyset(api):
    direct = api.item("direct")
    forward = api.item("forward_only")
    for _ in range(30):
        api.create(direct)
    for _ in range(30):
        api.act(api.create(forward)["case_no"], WINDOW, "accept")  # forwarded to the city at once
    api.token(WINDOW), api.token(CITY)  # tokens made outside the counted requests

    for user, query in ((WINDOW, ""), (WINDOW, "state=forwarded&"), (CITY, ""), (CITY, "state=forwarded&")):
        small, few = page(api, user, f"{query}limit=5")
        large, many = page(api, user, f"{query}limit=50")
        assert len(small["items"]) == 5 and len(large["items"]) in (30, 50), (user, query, len(large["items"]))
        assert len(few) == len(many), (user, query, few, many)
        # a later page: the cursor is the last id seen; the same statements again, none with OFFSET
        later, more = page(api, user, f"{query}limit=5&after={small['next_after']}")
        assert len(more) == len(few), (user, query, more)
        assert later["items"] and {c["case_no"] for c in later["items"]}.isdisjoint(
            c["case_no"] for c in small["items"])
        for statement, parameters in few + many + more:
            # SQLite's compiler writes LIMIT ? OFFSET ? with 0: a keyset page all the same
            assert " OFFSET " not in statement.upper() or (db.engine.dialect.name == "sqlite"
                                                           and list(parameters)[-1] == 0), statement
            assert "COUNT(" not in statement.upper(), statement
        assert len(few) <= 3, few  # the user behind the token, the page (its item and window joined)


def test_every_case_of_a_long_list_is_seen_once_across_keyset_pages(api):
    direct = api.item("direct")
    made = [api.create(direct)["case_no"] for _ in range(12)]
    seen, after = [], None
    while True:
        body, _ = page(api, WINDOW, "limit=5" + (f"&after={after}" if after else ""))
        seen += [c["case_no"] for c in body["items"]]
        after = body["next_after"]
        if after is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
