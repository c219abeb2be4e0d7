"""Issue 12, finding 10: hostile input gets a 400/422 that names the field, never a 500 — on SQLite and on
PostgreSQL (which refuses NUL in text and integers beyond its column types)."""
from __future__ import annotations

import pytest

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HUGE = "99999999999999999999"


def _token(client, username):  # noqa: F811
    from app.auth import issue_token
    from app.extensions import db
    from delegation.models import User

    with client.application.app_context():
        user = db.session.query(User).filter_by(username=username).one()
        return issue_token(user)


def _api(client, username=None, lang="zh-CN"):  # noqa: F811
    headers = {"Accept-Language": lang}
    if username:
        headers["Authorization"] = f"Bearer {_token(client, username)}"
    return headers


def _assert_problem(r, field, status=(400, 422)):
    assert r.status_code in status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.mimetype == "application/problem+json", r.mimetype
    body = r.get_json()
    assert body["field"] == field, body
    return body


def _assert_page_names(r, field):
    page = r.get_data(as_text=True)
    assert r.status_code in (400, 422), (r.status_code, page[:500])
    assert r.mimetype == "text/html" and field in page and "Traceback" not in page
    return page


# -- malformed JSON bodies --------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b'{"a":', b'\xff\xfe{"username": "x"}', b'["admin", "demo"]', b'"just a string"'])
def test_a_malformed_json_body_gets_a_problem_naming_the_body(client, body):  # noqa: F811
    r = client.post("/api/v1/auth/token", data=body, content_type="application/json", headers=_api(client))
    problem = _assert_problem(r, "json")
    assert problem["detail"] and "Traceback" not in problem["detail"]


def test_a_malformed_json_body_on_a_case_action_changes_nothing(client):  # noqa: F811
    r = client.post("/api/v1/cases/NO-SUCH/actions", data=b'{"action": "accept", ', content_type="application/json",
                    headers=_api(client, "window-360730", lang="en"))
    problem = _assert_problem(r, "json")
    assert "JSON" in problem["detail"]


# -- NUL and other control characters ---------------------------------------------------------------------------

def test_a_token_request_with_a_nul_username_names_the_field(client):  # noqa: F811
    r = client.post("/api/v1/auth/token", json={"username": "\u0000", "password": "demo"}, headers=_api(client))
    body = _assert_problem(r, "username", status=(422,))
    assert "控制字符" in body["detail"]


@pytest.mark.parametrize("payload,field", [
    ({"item_code": "A\u0000", "applicant": {"kind": "enterprise", "name": "x", "id_code": "1"}}, "item_code"),
    ({"item_code": "A", "applicant": {"kind": "enterprise", "name": "x", "id_code": "1", "phone": "\u0000"}},
     "applicant.phone"),
])
def test_nul_in_any_json_field_is_refused_before_the_database(client, payload, field):  # noqa: F811
    r = client.post("/api/v1/cases", json=payload, headers=_api(client, "window-360730", lang="en"))
    body = _assert_problem(r, field, status=(422,))
    assert "control characters" in body["detail"]


@pytest.mark.parametrize("path,field", [
    ("/api/v1/cases?item=%00", "item"),
    ("/api/v1/cases?county=a%01b", "county"),
    ("/api/v1/cases/%00", "case_no"),
])
def test_nul_in_a_query_parameter_or_path_is_refused(client, path, field):  # noqa: F811
    _assert_problem(client.get(path, headers=_api(client, "window-360730")), field)


def test_nul_on_an_anonymous_page_gets_a_page_naming_the_field(client):  # noqa: F811
    page = _assert_page_names(client.get("/guide?q=%00", headers=BROWSER), "q")
    assert "控制字符" in page


def test_nul_in_the_login_form_names_the_field(client):  # noqa: F811
    token = csrf_token(client)
    r = client.post("/login", data={"username": "\u0000", "password": "demo", "csrf_token": token}, headers=BROWSER)
    _assert_page_names(r, "username")


def test_tab_and_newline_stay_allowed_in_text(client):  # noqa: F811
    r = client.get("/guide?q=a%09b", headers=BROWSER)
    assert r.status_code == 200


# -- keyset cursors ---------------------------------------------------------------------------------------------

API_LISTS = [("/api/v1/cases", "window-360730"), ("/api/v1/supervision/pushes", "reg-360730"),
             ("/api/v1/supervision/alerts", "reg-360730"), ("/api/v1/spot-checks", "reg-city"),
             ("/api/v1/exchange/messages", "admin")]
PAGE_LISTS = [("/window", "window-360730"), ("/window?queue=recent", "window-360730"), ("/review", "review-360730"),
              ("/city", "city-approver"), ("/regulator", "reg-360730"), ("/admin/catalog", "admin"),
              ("/admin/users", "admin"), ("/admin/exchange?direction=out", "admin")]
BAD_CURSORS = [HUGE, "-1", "abc"]


@pytest.mark.parametrize("path,user", API_LISTS)
def test_a_bad_cursor_on_an_api_list_names_after(client, path, user):  # noqa: F811
    for cursor in BAD_CURSORS:
        sep = "&" if "?" in path else "?"
        _assert_problem(client.get(f"{path}{sep}after={cursor}", headers=_api(client, user)), "after")
    assert client.get(f"{path}?after=1", headers=_api(client, user)).status_code == 200


@pytest.mark.parametrize("path,user", PAGE_LISTS)
def test_a_bad_cursor_on_a_page_list_names_after(client, path, user):  # noqa: F811
    log_in(client, user)
    sep = "&" if "?" in path else "?"
    for cursor in BAD_CURSORS:
        _assert_page_names(client.get(f"{path}{sep}after={cursor}", headers=BROWSER), "after")
    assert client.get(f"{path}{sep}after=1", headers=BROWSER).status_code == 200


@pytest.mark.parametrize("year", [HUGE[:11], "-5"])
def test_a_year_out_of_range_on_the_holiday_page_names_year(client, year):  # noqa: F811
    log_in(client, "admin")
    _assert_page_names(client.get(f"/admin/holidays?year={year}", headers=BROWSER), "year")
