"""Finding 2: the lock-out holds under parallel requests, a locked account looks like a wrong password, and one
address cannot spray guesses over many accounts (a per-address budget on both login doors)."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.integration.pages import client, csrf_token  # noqa: F401  (client: the page-client fixture)

USER = "window-360730"
TOKEN = "/api/v1/auth/token"


class CountingHasher:
    """Wraps the platform's argon2 hasher to count the argon2 computations a request costs, and how many
    guesses were really checked against one account's password hash."""

    def __init__(self, inner, target_hash: str | None = None):
        self.inner, self.target_hash = inner, target_hash
        self.computations = self.checked = 0
        self._lock = threading.Lock()

    def verify(self, stored, password):
        with self._lock:
            self.computations += 1
            self.checked += stored == self.target_hash
        return self.inner.verify(stored, password)

    def hash(self, password, *args, **kwargs):
        with self._lock:
            self.computations += 1
        return self.inner.hash(password, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _password_hash(app, username: str) -> str:
    from app.extensions import db
    from delegation.models import User

    with app.app_context():
        return db.session.execute(sa.select(User.password_hash).filter_by(username=username)).scalar_one()


def _token(client, username, password, address="192.0.2.10"):
    return client.post(TOKEN, json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # real parallel writers: a server database
def test_forty_parallel_wrong_passwords_do_not_get_past_the_lock(database_url, tmp_path, monkeypatch):
    from app import auth

    application = make_app(database_url, tmp_path / "instance")
    counting = CountingHasher(auth._hasher, _password_hash(application, USER))
    monkeypatch.setattr(auth, "_hasher", counting)
    start = threading.Barrier(40)
    answers = []

    def attacker(n: int):
        browser = application.test_client()  # every request runs in an application context of its own
        start.wait()
        answers.append(_token(browser, USER, f"guess-{n}", address=f"10.1.{n}.1").status_code)

    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [401] * 40
    assert counting.checked <= 5  # at most the five tries the lock-out allows were checked against the hash
    r = _token(application.test_client(), USER, "demo", address="10.2.0.1")
    wrong = _token(application.test_client(), USER, "still-wrong", address="10.2.0.2")
    assert r.status_code == 401 and r.get_json() == wrong.get_json()  # the right password, too late


def test_a_locked_account_answers_exactly_like_a_wrong_password(app, monkeypatch):
    from app import auth

    api = app.test_client()
    unknown = _token(api, "nobody-here", "demo")
    for n in range(5):
        assert _token(api, USER, f"wrong-{n}").status_code == 401
    counting = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", counting)
    locked = _token(api, USER, "demo")
    assert locked.status_code == unknown.status_code == 401
    assert locked.get_json() == unknown.get_json()
    assert locked.get_json()["code"] == "bad_credentials"
    assert counting.computations == 1  # the same argon2 cost as checking a wrong password


def test_the_login_page_of_a_locked_account_reads_like_a_wrong_password(client):
    def attempt(username, password):
        return client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client)})

    wrong = attempt("nobody-here", "demo")
    for n in range(5):
        attempt(USER, f"wrong-{n}")
    locked = attempt(USER, "demo")
    assert locked.status_code == wrong.status_code == 401

    def message(r):
        page = r.get_data(as_text=True)
        return page[page.index('data-testid="login-error"'):].split("</div>")[0]

    assert message(locked) == message(wrong) and "用户名或密码错误" in message(locked)
    assert client.get("/dashboard").status_code == 302  # not logged in


def test_one_address_gets_a_budget_of_failures_over_all_accounts(app):
    from app.auth import ADDRESS_FAILURES

    api = app.test_client()
    for n in range(ADDRESS_FAILURES):  # a different account each time: no account is locked
        assert _token(api, f"nobody-{n}", "guess", address="203.0.113.9").status_code == 401
    r = _token(api, USER, "demo", address="203.0.113.9")
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "too_many_attempts" and "15分钟" in r.get_json()["detail"]
    assert _token(api, USER, "demo", address="203.0.113.10").status_code == 200  # another address is not held
    page = app.test_client()
    token = csrf_token(page)
    r = page.post("/login", data={"username": USER, "password": "demo", "csrf_token": token},
                  environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert r.status_code == 429 and "登录尝试过于频繁" in r.get_data(as_text=True)


def test_ipv6_addresses_count_by_their_64(app):
    from app.auth import ADDRESS_FAILURES

    api = app.test_client()
    for n in range(ADDRESS_FAILURES):  # a new address of the same /64 for every guess
        assert _token(api, f"nobody-{n}", "guess", address=f"2001:db8:1:2::{n + 1:x}").status_code == 401
    assert _token(api, USER, "demo", address="2001:db8:1:2:ffff::1").status_code == 429
    assert _token(api, USER, "demo", address="2001:db8:1:3::1").status_code == 200


def test_a_busy_county_hall_behind_one_address_still_logs_in(app):
    """Successful logins do not use up the budget: a whole hall behind one NAT logs in at opening time, with
    a few typing mistakes among them."""
    api = app.test_client()
    staff = [f"{kind}-{code}" for code in ("360730", "360731", "360732", "360733", "360734")
             for kind in ("window", "review", "reg")]
    for n, username in enumerate(staff * 2):
        if n % 3 == 0:
            assert _token(api, username, "typo", address="198.51.100.1").status_code == 401
        assert _token(api, username, "demo", address="198.51.100.1").status_code == 200, username
