"""Issue 12, finding 9: security headers on every response — pages, the API, static files, error pages — a
Content-Security-Policy that allows no inline script, no framing, HSTS in production only, and no server version
banner from the development server (gunicorn's is checked in tests/integration/test_production_profile.py)."""
from __future__ import annotations

import re
import threading
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import make_app
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  the page client fixture

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


def csp_of(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def assert_protected(response) -> None:
    csp = csp_of(response)
    assert csp, f"no Content-Security-Policy on {response.request.path}"
    script = csp.get("script-src", csp.get("default-src"))
    assert script and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, csp
    assert csp.get("frame-ancestors") == ["'none'"] and csp.get("object-src") == ["'none'"], csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")
    assert "Strict-Transport-Security" not in response.headers  # not outside production
    assert "Server" not in response.headers  # the application never names itself (the server adds its own)


def test_pages_api_static_files_and_error_pages_carry_the_headers(client):  # noqa: F811
    answers = {
        "public page": client.get("/lookup", headers=BROWSER),
        "login page": client.get("/login", headers=BROWSER),
        "api": client.get("/api/v1/items"),
        "api problem": client.get("/api/v1/cases/NOSUCH"),
        "openapi": client.get("/api/v1/openapi.json"),
        "static file": client.get("/static/css/app.css"),
        "swagger file": client.get("/api/v1/_swagger/swagger-ui-bundle.js"),
        "404 page": client.get("/no-such-page", headers=BROWSER),
        "csrf error page": client.post("/lookup", data={"case_no": "x", "query_code": "123456"}, headers=BROWSER),
        "health": client.get("/healthz"),
    }
    expected = {"public page": 200, "login page": 200, "api": 401, "api problem": 401, "openapi": 200,
                "static file": 200, "swagger file": 200, "404 page": 404, "csrf error page": 400,
                "health": 200}
    assert {name: r.status_code for name, r in answers.items()} == expected
    for name, response in answers.items():
        assert_protected(response)


def test_a_staff_page_and_an_unexpected_error_carry_the_headers(client, monkeypatch):  # noqa: F811
    from delegation import worklist

    log_in(client, "window-360730")
    assert_protected(client.get("/window", headers=BROWSER))
    forbidden = client.get("/admin", headers=BROWSER)
    assert forbidden.status_code == 403
    assert_protected(forbidden)

    def boom(*_a, **_k):
        raise RuntimeError("internals")

    monkeypatch.setattr(worklist, "worklist", boom)  # the window desk's list (issue 14)
    failed = client.get("/window", headers=BROWSER)
    assert failed.status_code == 500
    assert_protected(failed)


def test_no_template_has_inline_script_or_event_handlers():
    """The policy forbids inline script, so a template that still had some would silently stop working."""
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.I):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {tag}")
        offenders += [f"{path.relative_to(TEMPLATES)}: {m}" for m in
                      re.findall(r"<[^>]*\son[a-z]+\s*=\s*[\"']", text, flags=re.I)]
        offenders += [f"{path.relative_to(TEMPLATES)}: javascript: URL" for _ in
                      re.findall(r"javascript:", text, flags=re.I)]
    assert offenders == []


def test_the_dashboard_and_the_api_docs_run_their_scripts_from_files(client):  # noqa: F811
    log_in(client, "admin")
    dashboard = client.get("/dashboard", headers=BROWSER)
    assert dashboard.status_code == 200
    scripts = re.findall(r"<script\b([^>]*)>", dashboard.get_data(as_text=True))
    assert scripts and all("src=" in s or 'type="application/json"' in s for s in scripts), scripts
    assert any("js/dashboard.js" in s for s in scripts)
    assert client.get("/static/js/dashboard.js").status_code == 200
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert_protected(docs)
    scripts = re.findall(r"<script\b([^>]*)>", docs.get_data(as_text=True))
    assert scripts and all("src=" in s or 'type="application/json"' in s for s in scripts), scripts


def test_hsts_in_the_production_profile_only(database_url, tmp_path):
    from app import create_app
    from app.extensions import db

    testing = make_app(database_url, tmp_path / "instance").config["TONGQUAN"]
    app = create_app(replace(testing, env="production"))
    try:
        for path in ("/lookup", "/api/v1/items", "/static/css/app.css"):
            response = app.test_client().get(path, base_url="https://tongquan.example")
            assert_hsts = response.headers.get("Strict-Transport-Security", "")
            assert re.fullmatch(r"max-age=(\d+)(; includeSubDomains)?", assert_hsts), (path, assert_hsts)
            assert int(re.search(r"\d+", assert_hsts).group()) >= 180 * 86400
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_development_server_names_no_version(database_url, tmp_path):
    """`make run` serves through Werkzeug's server, which by default answers `Server: Werkzeug/3.x Python/3.x`."""
    from werkzeug.serving import make_server

    from app.extensions import db

    app = make_app(database_url, tmp_path / "instance")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=10) as response:
            banner = response.headers.get("Server", "")
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.shutdown()
        thread.join(10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert not re.search(r"\d", banner) and "Python" not in banner and "Werkzeug" not in banner, banner


@pytest.mark.e2e
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_swagger_ui_and_the_public_pages_work_under_the_policy_in_chromium(database_url, tmp_path):
    """A real browser enforces the policy: Swagger UI must still draw the API's operations, and no page may log a
    Content-Security-Policy violation (the dashboard and the desks: tests/e2e)."""
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from app.extensions import db
    from tests.e2e.desk_support import CHROMIUM, CHROMIUM_ARGS

    app = make_app(database_url, tmp_path / "instance")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
                page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
                page.goto(f"{base}/api/v1/docs")
                page.wait_for_selector(".opblock-summary", timeout=20000)
                assert page.locator(".opblock-summary").count() > 10
                for path in ("/", "/lookup", "/guide", "/public/spot-checks", "/login"):
                    assert page.goto(f"{base}{path}").status == 200
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join(10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert problems == []
