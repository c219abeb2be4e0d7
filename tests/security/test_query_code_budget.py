"""Issue 12, finding 4: the 6-digit query code of a case is guarded per case number, whatever the source address,
in the database (every worker and host counts against the same rows); the per-address limits count an IPv6
client by its /64; several gunicorn workers refuse to start with per-process (memory://) limit counters."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_public_pages import a_case, application, csrf_token, wrong  # noqa: F401  fixtures

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CASE_BUDGET = 10  # checks of a code per case number per 10 minutes (app.public.CASE_BUDGET)
LOCKED = "该办件查询次数过多"


def ask(client, endpoint: str, case_no: str, code: str, address: str, token: str):
    """One guess at a case's query code, through one of the three doors that check it."""
    env = {"REMOTE_ADDR": address}
    if endpoint == "lookup":
        return client.post("/lookup", data={"case_no": case_no, "query_code": code, "csrf_token": token},
                           environ_base=env)
    if endpoint == "rating":
        return client.post(f"/lookup/{case_no}/rating", data={"query_code": code, "score": "5",
                                                              "csrf_token": token}, environ_base=env)
    return client.post(f"/api/v1/public/cases/{case_no}/rating", json={"query_code": code, "score": 5},
                       environ_base=env)


@pytest.fixture
def client(application):  # noqa: F811  a browser-like client, no application context held open
    return application.test_client()


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """Every guess of a test in one budget window: the windows are fixed (10 minutes, aligned), and a slow run
    that crossed an edge would rightly get a second budget."""
    from types import SimpleNamespace

    from app import throttle

    start = int(time.time()) // 600 * 600 + 1
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: start))


def test_a_thousand_guesses_from_a_hundred_addresses_get_only_the_case_budget(application, client):
    case = a_case(application)
    token = csrf_token(client)
    doors = ("lookup", "rating", "api")
    codes = {}
    for n in range(1000):
        address = f"127.0.{n % 100 // 50}.{n % 100 + 1}"  # 100 loopback addresses, 10 guesses each
        guess = f"{(n * 7919) % 1000000:06d}"
        if guess == case["query_code"]:
            guess = wrong(case["query_code"])
        status = ask(client, doors[n % 3], case["case_no"], guess, address, token).status_code
        codes[status] = codes.get(status, 0) + 1
    assert codes.get(404, 0) <= CASE_BUDGET, codes  # a 404 is a code checked and found wrong
    assert codes.get(429, 0) >= 1000 - CASE_BUDGET, codes
    # The case now refuses even its right code, from a fresh address, at every door, until the window ends.
    fresh = "127.0.9.9"
    page = ask(client, "lookup", case["case_no"], case["query_code"], fresh, token)
    assert page.status_code == 429 and LOCKED in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) <= 600
    api = ask(client, "api", case["case_no"], case["query_code"], fresh, token)
    assert api.status_code == 429 and api.mimetype == "application/problem+json"
    assert api.get_json()["code"] == "case_query_locked" and LOCKED in api.get_json()["detail"]
    english = client.post(f"/api/v1/public/cases/{case['case_no']}/rating", headers={"Accept-Language": "en"},
                          json={"query_code": case["query_code"], "score": 5}, environ_base={"REMOTE_ADDR": fresh})
    assert english.status_code == 429 and "too many" in english.get_json()["detail"].lower()


def test_the_budget_is_per_case_and_a_right_code_within_it_works(application, client):
    locked, other = a_case(application), a_case(application)
    token = csrf_token(client)
    for n in range(CASE_BUDGET - 1):
        assert ask(client, "api", locked["case_no"], wrong(locked["query_code"]), f"127.1.0.{n + 1}",
                   token).status_code == 404
    right = ask(client, "lookup", locked["case_no"], locked["query_code"], "127.1.1.1", token)
    assert right.status_code == 200 and locked["case_no"] in right.get_data(as_text=True)  # the 10th check
    assert ask(client, "lookup", locked["case_no"], locked["query_code"], "127.1.1.2", token).status_code == 429
    # Another case is untouched by the first one's lock.
    assert ask(client, "lookup", other["case_no"], other["query_code"], "127.1.1.3", token).status_code == 200


def test_a_case_number_that_does_not_exist_locks_the_same_way(application, client):
    """The lock must not tell which case numbers exist: an unknown number spends and locks like a real one."""
    token = csrf_token(client)
    answers = [ask(client, "lookup", "NOSUCHCASE-1", "123456", f"127.2.0.{n + 1}", token).status_code
               for n in range(CASE_BUDGET + 1)]
    assert answers == [404] * CASE_BUDGET + [429]


def test_ipv6_clients_are_counted_by_their_64(application, client):
    """One subscriber holds a whole /64: changing the last 64 bits must not buy a fresh per-address budget."""
    token = csrf_token(client)
    for n in range(10):  # ten different cases, so only the per-address limit can stop the next guess
        assert ask(client, "lookup", f"NOSUCH-{n}", "123456", f"2001:db8:1:2::{n + 1:x}", token).status_code == 404
    blocked = ask(client, "lookup", "NOSUCH-10", "123456", "2001:db8:1:2:ffff:ffff:ffff:fffe", token)
    assert blocked.status_code == 429 and LOCKED not in blocked.get_data(as_text=True)
    assert ask(client, "lookup", "NOSUCH-11", "123456", "2001:db8:1:3::1", token).status_code == 404


def test_the_case_budget_is_kept_in_the_database(application, client):
    """What a second worker would see: the count is a rate_counter row, not a number in this process."""
    import sqlalchemy as sa

    from app.extensions import db

    case = a_case(application)
    token = csrf_token(client)
    for n in range(3):
        ask(client, "api", case["case_no"], wrong(case["query_code"]), f"127.3.0.{n + 1}", token)
    with application.app_context():
        hits = db.session.execute(sa.text("SELECT sum(hits) FROM rate_counter WHERE subject = :s"),
                                  {"s": case["case_no"]}).scalar()
    assert hits == 3


def _gunicorn_env(tmp_path, **values) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "INSTANCE_PATH": str(tmp_path / "instance"), "TONGQUAN_ENV": "production",
           "SECRET_KEY": "production-secret-key-0123456789", "DATABASE_URL": "postgresql://u@127.0.0.1:1/tq",
           "GUNICORN_BIND": "127.0.0.1:0"}
    env.update(values)
    return env


def test_several_gunicorn_workers_refuse_per_process_limit_counters(tmp_path):
    """No database needed: gunicorn stops in its master, before any worker starts."""
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                            env=_gunicorn_env(tmp_path, WEB_CONCURRENCY="3", RATELIMIT_STORAGE_URI="memory://"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # it started serving: stop it and every worker it forked
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 4, err
    assert len(lines) == 1 and lines[0].startswith("tongquan: configuration error: RATELIMIT_STORAGE_URI"), lines
    assert "WEB_CONCURRENCY" in lines[0] and "Traceback" not in err


def test_the_worker_forgets_windows_older_than_a_day(app):
    """What a guesser left in rate_counter (case numbers, addresses) does not stay for ever."""
    import sqlalchemy as sa

    from app import throttle
    from app.extensions import db
    from app.worker import worker_cmd

    throttle.hit("query-code-case", "OLD-CASE", 600, now=time.time() - 2 * 86400)
    throttle.hit("query-code-case", "NEW-CASE", 600)
    db.session.commit()
    result = app.test_cli_runner().invoke(worker_cmd, ["--once", "--job", "rate-counters"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    subjects = db.session.execute(sa.text("SELECT subject FROM rate_counter")).scalars().all()
    assert subjects == ["NEW-CASE"]


_SECOND_WORKER = """
import sys
from tests.conftest import make_app
from tests.integration.test_public_pages import csrf_token
app = make_app(sys.argv[1], sys.argv[2], RATELIMIT_STORAGE_URI=sys.argv[3])
client = app.test_client()
token = csrf_token(client)
r = client.post("/lookup", data={"case_no": sys.argv[5], "query_code": sys.argv[6], "csrf_token": token},
                environ_base={"REMOTE_ADDR": sys.argv[4]})
print(r.status_code)
"""


@pytest.mark.parametrize("store,eleventh", [("database://", 429), ("memory://", 200)])
def test_a_second_process_on_the_database_store_shares_the_address_budget(database_url, tmp_path, store, eleventh):
    """RATELIMIT_STORAGE_URI=database:// (production's default): another process serving the same database — a
    second gunicorn worker or host — counts one address's wrong codes together with the first, so several
    workers need no Redis to hold the limit. memory:// (one process only) is shown for contrast."""
    from app.extensions import db
    from tests.conftest import make_app

    first = make_app(database_url, tmp_path / "instance", RATELIMIT_STORAGE_URI=store)
    try:
        cases = [a_case(first) for _ in range(6)]
        client = first.test_client()
        token = csrf_token(client)
        for n in range(10):  # 2 wrong codes at each of 5 cases: their own budgets stay far from spent
            case = cases[n // 2]
            r = ask(client, "lookup", case["case_no"], wrong(case["query_code"]), "192.0.2.10", token)
            assert r.status_code == 404, r.get_data(as_text=True)
    finally:
        with first.app_context():
            db.session.remove()
            db.engine.dispose()
    last = cases[5]
    second = subprocess.run([sys.executable, "-c", _SECOND_WORKER, database_url, str(tmp_path / "instance2"),
                             store, "192.0.2.10", last["case_no"], last["query_code"]],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert int(second.stdout.strip().splitlines()[-1]) == eleventh
