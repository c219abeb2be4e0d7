"""Cookie flags in the production profile: every cookie the platform sets on the way to a staff desk — the session
before login (it holds the CSRF secret), at login and on each page after — is Secure, HttpOnly and SameSite=Lax,
so that it never travels over plain HTTP, no script reads it, and another site cannot post a form with it.

The production profile needs PostgreSQL (settings refuse SQLite there): these tests run on the suite's server."""
from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from tests.conftest import make_app

pytestmark = pytest.mark.postgresql

SECRET = "production-secret-key-0123456789"
BASE = "https://tongquan.example"  # production sits behind TLS
USERNAME, PASSWORD = "cookie-check", "cookie-check-password-0123"


@pytest.fixture
def production_app(database_url, tmp_path):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # the production profile logs JSON: put the test's back after
    app = make_app(database_url, tmp_path / "instance", TONGQUAN_ENV="production", SECRET_KEY=SECRET)
    _add_staff(app)
    yield app
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.NOTSET)


def _add_staff(app) -> None:
    """A county window clerk with a password of its own (not a demo account: production may refuse those)."""
    from app.auth import hash_password
    from app.extensions import db
    from delegation.models import Org, User

    with app.app_context():
        org = db.session.execute(sa.select(Org).filter_by(code="360730-bureau")).scalar_one()
        db.session.add(User(username=USERNAME, display_name="生产环境检查", role="window", org_id=org.id,
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()
        db.session.remove()


def _cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def _flags_wrong(header: str) -> list[str]:
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in header.split(";")[1:]}
    wrong = [flag for flag in ("secure", "httponly") if flag not in attributes]
    if attributes.get("samesite", "").lower() != "samesite=lax":
        wrong.append("samesite=Lax")
    return wrong


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # production refuses SQLite
def test_session_cookie_is_secure_httponly_and_lax_in_production(production_app):
    assert production_app.config["TONGQUAN"].env == "production"
    client = production_app.test_client()
    name = production_app.config["SESSION_COOKIE_NAME"]

    login_page = client.get("/login", base_url=BASE)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page.get_data(as_text=True)).group(1)
    signed_in = client.post("/login", base_url=BASE, headers={"Referer": f"{BASE}/login"},  # CSRF over https
                            data={"username": USERNAME, "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:300]
    desk = client.get(signed_in.headers["Location"], base_url=BASE)
    assert desk.status_code == 200

    set_cookies = {step: _cookies(r) for step, r in
                   (("login page", login_page), ("login", signed_in), ("desk", desk))}
    assert any(h.startswith(f"{name}=") for h in set_cookies["login"]), set_cookies  # login issues the session
    wrong = {f"{step}: {h.split(';')[0][:40]}…": _flags_wrong(h)
             for step, headers in set_cookies.items() for h in headers if _flags_wrong(h)}
    assert not wrong, wrong

