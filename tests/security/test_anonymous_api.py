"""Issue 12 security suite: an anonymous request to any staff endpoint of the API is answered 401 before its
arguments are read — a malformed body or query gets the same 401 as a valid one, never a 422 that shows the
request was parsed (generated from the route table: a new staff endpoint is covered as soon as it exists)."""
from __future__ import annotations

import re

import pytest

PUBLIC = {"/api/v1/auth/token", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/public/cases/<case_no>/rating"}
HOSTILE = ('{"a":', "[1, 2]", '{"reasons": ["\\u0000"], "after": 99999999999999999999}')


def _value(converter) -> str:
    from werkzeug.routing import AnyConverter, IntegerConverter

    if isinstance(converter, IntegerConverter):
        return "1"
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    return "x1"


def _staff_api_routes(app):
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if not path.startswith("/api/v1/") or path in PUBLIC or path.startswith("/api/v1/_swagger/"):
            continue
        values = {name: _value(conv) for name, conv in rule._converters.items()}
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values[m.group(1)], path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_anonymous_staff_requests_get_401_whatever_their_body_or_query(app, client):
    routes = list(_staff_api_routes(app))
    assert len(routes) > 30  # the route table was read
    for method, path in routes:
        for body in HOSTILE:
            r = client.open(f"{path}?after=abc&id_code=%00", method=method, data=body,
                            content_type="application/json")
            problem = r.get_json(silent=True) or {}
            assert r.status_code == 401 and problem.get("code") == "unauthenticated", (method, path, r.status_code,
                                                                                        problem)
