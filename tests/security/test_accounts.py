"""Finding 1: a production node has no account with a known password. Reference data and demo users are seeded
apart; seed-demo is refused in production; the first administrator is made with `users create`, and an account
created with an initial password (by the operator or the administrator) must change it at its first login."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import _with_database, make_app
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)

ROOT = Path(__file__).resolve().parents[2]
FLASK = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi"]
SECRET = "production-secret-key-0123456789"


@pytest.fixture
def empty_pg(pg_url):
    """A PostgreSQL database as a new operator gets it: empty, not even migrated."""
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"tq_prod_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield _with_database(pg_url, name)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _production(tmp_path, database_url):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "INSTANCE_PATH": str(tmp_path / "instance"), "NODE_ID": "360700", "TONGQUAN_ENV": "production",
           "SECRET_KEY": SECRET, "DATABASE_URL": database_url}

    def run(*args, expect=0):
        proc = subprocess.run(FLASK + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        if expect is not None:
            assert proc.returncode == expect, proc.stderr
        return proc

    return run


def _section(title: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(title)
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end > 0 else None]


def _user_count(app) -> int:
    from app.extensions import db
    from delegation.models import User

    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one()


@pytest.mark.postgresql
def test_a_production_node_set_up_by_the_readme_has_no_known_password(empty_pg, tmp_path):
    production, two_nodes = _section("## 生产部署 / Production deployment"), _section("### 两节点部署")
    for section in (production, two_nodes):  # what the operator is told to run
        assert "wsgi seed-demo" not in section  # never told to load the demo accounts
        assert "flask --app wsgi seed-reference" in section and "flask --app wsgi users create" in section
    run = _production(tmp_path, empty_pg)
    run("db", "upgrade")
    run("seed-reference")
    refused = run("seed-demo", expect=None)  # an operator who tries the demo data anyway
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(lines) == 1 and "seed-demo" in lines[0] and "production" in lines[0]
    created = run("users", "create", "chen.admin", "--org", "360700-bureau", "--role", "admin",
                  "--name", "陈管理员", "--generate")
    password = re.search(r"password: (\S+)", created.stdout).group(1)
    assert len(password) >= 16

    app = make_app(empty_pg, tmp_path / "check-instance")
    assert _user_count(app) == 1  # the administrator, and no demo account
    api = app.test_client()
    for username in ("admin", "window-360730", "city-approver", "reg-city", "chen.admin"):
        r = api.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
        assert r.status_code == 401, username
    r = api.post("/api/v1/auth/token", json={"username": "chen.admin", "password": password})
    assert r.status_code == 403 and r.get_json()["code"] == "password_change_required"
    browser = app.test_client()
    r = log_in(browser, "chen.admin", password)
    assert "/account/password" in r.headers["Location"]
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()


def test_seed_reference_loads_organisations_and_catalogue_without_accounts(tmp_path):
    import flask_migrate

    from app.extensions import db
    from delegation.models import Item, Org

    app = make_app(f"sqlite:///{tmp_path / 'ref.db'}", tmp_path / "instance")
    with app.app_context():
        flask_migrate.upgrade()
    result = app.test_cli_runner().invoke(args=["seed-reference"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Org)).scalar_one() > 60
        assert db.session.execute(sa.select(sa.func.count()).select_from(Item)).scalar_one() >= 30
    assert _user_count(app) == 0
    assert app.test_cli_runner().invoke(args=["seed-reference"]).exit_code == 0  # idempotent


def test_users_create_prompts_for_a_hidden_confirmed_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "li.window", "--org", "360730-window", "--role", "window"],
                           input="long-enough-1\nlong-enough-1\n")
    assert result.exit_code == 0, result.output
    assert "long-enough-1" not in result.output  # typed, never echoed
    api = app.test_client()
    r = api.post("/api/v1/auth/token", json={"username": "li.window", "password": "long-enough-1"})
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "password_change_required" and "修改" in r.get_json()["detail"]


@pytest.mark.parametrize("args,field", [
    (["li-window", "--org", "360730-window", "--role", "admin"], "role"),
    (["li-window", "--org", "360799-window", "--role", "window"], "org"),
    (["admin", "--org", "360700-bureau", "--role", "admin"], "username"),
    (["x", "--org", "360730-window", "--role", "window"], "username"),
], ids=["role-for-level", "unknown-org", "taken", "too-short-name"])
def test_users_create_refuses_bad_input_naming_the_field(app, args, field):
    before = _user_count(app)
    result = app.test_cli_runner().invoke(args=["users", "create", *args, "--generate"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{field}:" in result.output, result.output
    assert _user_count(app) == before


def test_users_create_refuses_a_short_password(app):
    before = _user_count(app)
    result = app.test_cli_runner().invoke(args=["users", "create", "li.window", "--org", "360730-window",
                                                "--role", "window"], input="short\nshort\n")
    assert result.exit_code != 0 and "password:" in result.output and "8" in result.output
    assert _user_count(app) == before


def _admin_creates(client, username, password):
    log_in(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf_token(client, "/admin/users"), "username": username,
                                          "display_name": "新窗口人员", "org": "360730-window", "role": "window",
                                          "password": password})
    assert r.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin")})


def test_an_account_the_administrator_created_changes_its_password_first(client):
    _admin_creates(client, "new-window", "given-by-admin-1")
    r = client.post("/login?next=/window/new", data={"username": "new-window", "password": "given-by-admin-1",
                                                     "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and "/account/password" in r.headers["Location"]
    r = client.get("/window")  # nothing else until the password is changed
    assert r.status_code == 302 and "/account/password" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "修改密码" in page and "初始密码" in page
    token = csrf_token(client, "/account/password")
    form = {"csrf_token": token, "current_password": "given-by-admin-1", "new_password": "short",
            "confirm_password": "short"}
    r = client.post("/account/password?next=/window/new", data=form)
    assert r.status_code == 422 and "密码至少需要8个字符" in r.get_data(as_text=True)
    r = client.post("/account/password?next=/window/new",
                    data={**form, "new_password": "given-by-admin-1", "confirm_password": "given-by-admin-1"})
    assert r.status_code == 422 and "新密码不能与当前密码相同" in r.get_data(as_text=True)
    r = client.post("/account/password?next=/window/new",
                    data={**form, "new_password": "mine-only-77", "confirm_password": "mine-only-78"})
    assert r.status_code == 422 and "两次输入的新密码不一致" in r.get_data(as_text=True)
    r = client.post("/account/password?next=/window/new",
                    data={**form, "current_password": "wrong", "new_password": "mine-only-77",
                          "confirm_password": "mine-only-77"})
    assert r.status_code == 422 and "当前密码不正确" in r.get_data(as_text=True)
    r = client.post("/account/password?next=/window/new",
                    data={**form, "new_password": "mine-only-77", "confirm_password": "mine-only-77"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/window/new")  # where the user was going
    assert client.get("/window").status_code == 200
    api = client.application.test_client()
    assert api.post("/api/v1/auth/token", json={"username": "new-window",
                                                "password": "mine-only-77"}).status_code == 200


def test_a_password_the_administrator_reset_must_be_changed(client):
    from app.extensions import db
    from delegation.models import User

    log_in(client, "admin")
    with client.application.app_context():
        uid = db.session.execute(sa.select(User.id).filter_by(username="window-360730")).scalar_one()
    r = client.post(f"/admin/users/{uid}/password", data={"csrf_token": csrf_token(client, "/admin/users"),
                                                          "password": "reset-by-admin-3"})
    assert r.status_code == 302
    other = client.application.test_client()
    r = log_in(other, "window-360730", "reset-by-admin-3")
    assert "/account/password" in r.headers["Location"]
    r = other.post("/api/v1/auth/token", json={"username": "window-360730", "password": "reset-by-admin-3"})
    assert r.status_code == 403 and r.get_json()["code"] == "password_change_required"


def test_demo_accounts_need_no_change(client):
    r = log_in(client, "window-360730")
    assert r.headers["Location"].endswith("/window")
