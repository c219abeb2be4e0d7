"""Helpers of the desk browser tests (tests/e2e/test_desks_browser.py): the served app with the exchange bus run
in-process between steps, logging in through the login page, valid applicant codes, a tiny PDF, and the checks
every desk page must pass (no server error, the user's name in the top bar, no script error)."""
from __future__ import annotations

import io
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "demo"

# The demo accounts' display names (delegation/seed.py seed_users), as the top bar shows them.
DISPLAY_NAME = {
    "admin": "市行政审批局管理员",
    "city-approver": "市级审批员",
    "reg-city": "市级监管员",
    "window-360730": "宁都县窗口人员",
    "review-360730": "宁都县审批人员",
    "reg-360730": "宁都县监管人员",
}
SERVER_ERROR_MARKS = ("Traceback", "Internal Server Error", "服务器内部错误")


@contextmanager
def serving(app, name: str):
    """The app served by werkzeug on loopback in a thread for a module's tests; yields its base address."""
    from werkzeug.serving import make_server

    from app.extensions import db

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        with app.app_context():
            db.engine.dispose()


@dataclass
class Served:
    """The app served by werkzeug on loopback; `bus()` runs the exchange bus in-process (as the worker would)."""

    app: object
    base: str
    background: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    def bus(self, rounds: int = 2) -> dict:
        from app.extensions import db
        from exchange.jobs import run_once

        with self._lock, self.app.app_context():
            try:
                return run_once(rounds)
            finally:
                db.session.remove()

    @contextmanager
    def ctx(self):
        from app.extensions import db

        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()


@dataclass
class Session:
    """One user's browser context and page, with the script errors and failed responses seen so far."""

    context: object
    page: object
    username: str | None
    problems: list[str]

    @property
    def display_name(self) -> str:
        return DISPLAY_NAME[self.username]

    def close(self):
        self.context.close()


def new_session(browser, base: str, username: str | None = None) -> Session:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None)
    session = Session(context, page, username, problems)
    if username:
        page.goto(f"{base}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/login" not in page.url, f"{username} could not log in: {page.inner_text('main')}"
    return session


def check_page(session: Session, response=None, *, name: str | None = None) -> None:
    """The page rendered without a server error, with the logged-in user's name in the top bar; `name` also saves
    a screenshot (viewport 1366×768) under tests/artifacts/."""
    page = session.page
    if response is not None:
        assert response.status < 500, f"{page.url}: HTTP {response.status}"
        assert response.status < 400, f"{page.url}: HTTP {response.status}: {page.inner_text('main')[:300]}"
    html = page.content()
    for mark in SERVER_ERROR_MARKS:
        assert mark not in html, f"{page.url} shows {mark!r}"
    if session.username:
        who = page.inner_text("[data-testid=who]")
        assert session.display_name in who, f"{page.url}: top bar says {who!r}"
    assert session.problems == [], (page.url, session.problems)
    if name:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def flash_text(page) -> str:
    return " ".join(page.locator("main .flash").all_inner_texts())


def credit_code(serial: int) -> str:
    """A valid 18-character unified social credit code (GB 32100), registered in 宁都县, distinct per serial."""
    from delegation.identifiers import credit_code_check_char, validate_credit_code

    first17 = f"91360730MA{serial:07d}"
    code = first17 + credit_code_check_char(first17)
    return validate_credit_code(code)


def tiny_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_text(data: bytes) -> str:
    """The text of a PDF with all whitespace removed (a long material name may wrap inside its table cell)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in reader.pages))


def case_no_from_url(url: str) -> str:
    match = re.search(r"/window/cases/([^/?#]+)", url)
    assert match, url
    return match.group(1)
