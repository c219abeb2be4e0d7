"""Intake through HTTP against issue 7's target; one run appends its rows to bench/RESULTS.md.

    .venv/bin/python bench/intake_bench.py                         # make bench
    .venv/bin/python bench/intake_bench.py --seconds 10 --no-record    # a quick try
    .venv/bin/python bench/intake_bench.py --profile /tmp/intake.html  # the request path under pyinstrument

The production profile, on loopback: a throwaway PostgreSQL server (tests/pgserver.py), migrated and seeded with
the demo data; gunicorn started as `make serve-prod` starts it (`gunicorn -c gunicorn.conf.py wsgi:app`,
TONGQUAN_ENV=production: JSON logs, metrics, the connection pool; no jobs in the web workers — the exchange,
deadline and supervision jobs belong to `flask --app wsgi worker`, which is not started here: the case.forward
messages of forward_only cases are signed into the outbox by the request and wait there).

The load comes from other processes (--clients, each one HTTP/1.1 client asking for keep-alive, closed loop;
gunicorn's sync workers answer `Connection: close`, so each request opens a new loopback connection): each logs in as
the window user of a different county (POST /api/v1/auth/token, once) and then, until --seconds have passed,
registers a case (POST /api/v1/cases, every material present) and accepts it (POST /api/v1/cases/<no>/actions
{"action": "accept"}), over items of every mode of the demo catalogue. Figures: cases created and accepted per
second, and the latency of each request (P50 / P95 / P99). Target: 300 cases/s on 2 cores, P95 < 100 ms.
The client processes share the 2 cores with the server: on a separate load machine the server would have them.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.exchange_bench import RESULTS, Row, record, verdict  # noqa: E402
from bench.lists_bench import demo_database, percentile  # noqa: E402

TARGET_RATE, TARGET_P95_MS = 300.0, 100.0
NODE_ID = "360700"
DB_NAME = "tq_intake_bench"
ENTERPRISE = {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43",
              "phone": "0797-8123456"}


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, CPU seconds of its waited-for children) from /proc, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, (int(fields[13]) + int(fields[14])) / _TICK


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants, exited ones included once their
    parent has reaped them."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st:
                stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _own, _reaped) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1] + (stats[pid][2] if pid == root else 0.0)
            todo.extend(children.get(pid, []))
    return total


def postmaster_pid(server) -> int:
    return int((server.data / "postmaster.pid").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection (reopened if the server closes it)."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = None

    def request(self, method: str, path: str, body=None) -> tuple[int, dict, float]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt == 2:
                    raise
        elapsed = time.perf_counter() - t0
        return r.status, (json.loads(payload) if payload else {}), elapsed


def client_main(port: int, username: str, items: list[dict], start_at: float, warmup: float, seconds: float,
                out) -> None:
    """Closed loop from start_at for warmup + seconds; only what starts after the warm-up is counted."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    c = Client(port)
    status, body, _ = c.request("POST", "/api/v1/auth/token", {"username": username, "password": "demo"})
    assert status == 200, (status, body)
    c.token = body["token"]
    create_ms, accept_ms, done, errors = [], [], 0, []
    while time.time() < start_at:
        time.sleep(0.005)
    measure_from = start_at + warmup
    deadline = measure_from + seconds
    i = 0
    cpu0 = None
    while True:
        now = time.time()
        if now >= deadline:
            break
        counted = now >= measure_from
        if counted and cpu0 is None:
            cpu0 = time.process_time()
        item = items[i % len(items)]
        i += 1
        body = {"item_code": item["code"], "applicant": ENTERPRISE,
                "materials": [{"code": m["code"], "present": True} for m in item["materials"]]}
        status, case, elapsed = c.request("POST", "/api/v1/cases", body)
        if counted:
            create_ms.append(elapsed * 1000)
        if status != 201:
            errors.append(f"create {status} {case}")
            continue
        status, acted, elapsed = c.request("POST", f"/api/v1/cases/{case['case_no']}/actions", {"action": "accept"})
        if counted:
            accept_ms.append(elapsed * 1000)
        if status != 200:
            errors.append(f"accept {status} {acted}")
            continue
        if counted:
            done += 1
    out.put({"user": username, "create_ms": create_ms, "accept_ms": accept_ms, "done": done,
             "cpu": time.process_time() - (cpu0 if cpu0 is not None else time.process_time()),
             "errors": errors[:5], "error_count": len(errors)})


def settle(pid: int, timeout: float = 60.0) -> None:
    """Wait until every gunicorn worker has booted (the process tree stops using CPU): the timed window counts the
    requests' CPU, not the imports."""
    deadline = time.monotonic() + timeout
    last = tree_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu(pid)
        if now - last < 0.05:
            return
        last = now


def pick_items(url: str, counties: list[str]) -> list[dict]:
    """Items of every mode, delegated to every county of the run, without a per-hour limit."""
    import sqlalchemy as sa

    from bench.lists_bench import make_app

    app = make_app(url)
    with app.app_context():
        from app.extensions import db
        from delegation.models import Delegation, Item

        picked, modes = [], {}
        for item in db.session.execute(sa.select(Item).where(Item.active.is_(True)).order_by(Item.id)
                                       ).unique().scalars():
            granted = db.session.execute(sa.select(sa.func.count()).select_from(Delegation).where(
                Delegation.item_id == item.id, Delegation.division_code.in_(counties),
                Delegation.granted.is_(True))).scalar()
            if granted < len(counties) or modes.get(item.mode, 0) >= 4:
                continue
            modes[item.mode] = modes.get(item.mode, 0) + 1
            picked.append({"code": item.code, "mode": item.mode,
                           "materials": [{"code": m.code} for m in item.materials]})
        db.session.remove()
        db.engine.dispose()
    return picked


def window_users(url: str, n: int) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    from bench.lists_bench import make_app

    app = make_app(url)
    with app.app_context():
        from app.extensions import db
        from delegation.models import Org, User

        rows = db.session.execute(sa.select(User.username, Org.division_code).join(Org, Org.id == User.org_id)
                                  .where(User.role == "window").order_by(User.username)).all()
        db.session.remove()
        db.engine.dispose()
    return [(u, d) for u, d in rows][:n]


def production_env(url: str, instance: str) -> dict:
    """The web processes' environment: the production profile, as `make serve-prod` runs it."""
    return {"TONGQUAN_ENV": "production", "DATABASE_URL": url, "NODE_ID": NODE_ID,
            "SECRET_KEY": "bench-secret-key-0123456789abcdef", "INSTANCE_PATH": instance,
            "PROMETHEUS_MULTIPROC_DIR": str(Path(instance) / "metrics")}


def start_gunicorn(url: str, port: int, workers: int, instance: str, log: Path):
    env = {**os.environ, **production_env(url, instance),
           "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz")


def profile_in_process(url: str, username: str, items: list[dict], out: Path, seconds: float,
                       instance: str) -> None:
    """The request path of create + accept under pyinstrument, through the WSGI app in this process (the Flask
    test client: no gunicorn, no network) in the production profile (JSON request logs, written to
    INSTANCE/app.log here; metrics; the pool), for --seconds."""
    import logging

    from pyinstrument import Profiler

    env = production_env(url, instance)
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    from app import create_app
    from app.logging_setup import JsonFormatter
    from config import load_settings

    app = create_app(load_settings(env))
    handler = logging.FileHandler(Path(instance) / "app.log")
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)
    client = app.test_client()
    r = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    headers = {"Authorization": f"Bearer {r.get_json()['token']}"}

    def one(i):
        item = items[i % len(items)]
        body = {"item_code": item["code"], "applicant": ENTERPRISE,
                "materials": [{"code": m["code"], "present": True} for m in item["materials"]]}
        r = client.post("/api/v1/cases", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        r = client.post(f"/api/v1/cases/{r.get_json()['case_no']}/actions", json={"action": "accept"},
                        headers=headers)
        assert r.status_code == 200, r.get_json()

    for i in range(20):
        one(i)  # warm-up
    profiler = Profiler(interval=0.0005)
    n, t0 = 0, time.perf_counter()
    profiler.start()
    while time.perf_counter() - t0 < seconds:
        one(n)
        n += 1
    profiler.stop()
    elapsed = time.perf_counter() - t0
    n0, c0 = n, time.process_time()
    t1 = time.perf_counter()
    while time.perf_counter() - t1 < seconds / 2:
        one(n)
        n += 1
    cpu_ms = (time.process_time() - c0) / (n - n0) * 1000
    calls, trips = _counts_per_case(app, one, n)
    n = n0
    out.write_text(profiler.output_html(), encoding="utf-8")
    out.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    print(f"in process, one client, under the profiler: {n} cases in {elapsed:.1f} s ({n / elapsed:.1f}/s, "
          f"{elapsed / n * 1000:.1f} ms per case); without the profiler {cpu_ms:.1f} ms CPU per case in this process; "
          f"{calls:,.0f} Python function calls and {trips:.1f} database round trips per case (counts: they do not "
          f"move with the machine's other load); profile written to {out} and {out.with_suffix('.txt')}")


def _counts_per_case(app, one, start: int, cases: int = 30) -> tuple[float, float]:
    """Python function calls (cProfile's count) and database round trips per case (statements, pool pings,
    BEGIN, COMMIT and ROLLBACK) over `cases` more cases: figures that, unlike CPU time, the other sessions on a
    shared machine do not move."""
    import cProfile
    import pstats

    import sqlalchemy as sa

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    trips = [0]

    def count(*_args, **_kw):
        trips[0] += 1

    hooks = [(engine, name) for name in ("before_cursor_execute", "begin", "commit", "rollback")]
    hooks.append((engine.pool, "checkout"))  # pool_pre_ping: one round trip per checkout
    for target, name in hooks:
        sa.event.listen(target, name, count)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(start, start + cases):
        one(i)
    profiler.disable()
    for target, name in hooks:
        sa.event.remove(target, name, count)
    calls = sum(v[1] for v in pstats.Stats(profiler).stats.values())
    return calls / cases, trips[0] / cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the timed run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the timed run")
    parser.add_argument("--clients", type=int, default=8, help="client processes (one connection each)")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print the figures, do not append to RESULTS.md")
    parser.add_argument("--profile", type=Path, help="profile create + accept in this process instead (pyinstrument, HTML here, text beside it)")
    parser.add_argument("--note", help="a note under the table (what state of the code it measured)")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from tests.pgserver import PgServer, wait_ready

    started = datetime.now()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    workers = args.workers or min((os.cpu_count() or 1) + 1, 12)  # gunicorn.conf.py's default
    server = PgServer().start()
    gunicorn = None
    instance = tempfile.mkdtemp(prefix="tq-intake-bench-")
    log = Path(instance) / "gunicorn.log"
    try:
        wait_ready(server.url())
        url = demo_database(server, DB_NAME)
        users = window_users(url, args.clients)
        items = pick_items(url, sorted({d for _u, d in users}))
        port = free_port()
        if args.profile:
            profile_in_process(url, users[0][0], items, args.profile, args.seconds, instance)
            return 0
        gunicorn = start_gunicorn(url, port, workers, instance, log)
        print(f"gunicorn up on 127.0.0.1:{port} ({1 if args.profile else workers} workers); {len(users)} clients "
              f"({', '.join(u for u, _d in users)}); items {', '.join(i['code'] + '/' + i['mode'] for i in items)}",
              flush=True)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        settle(gunicorn.pid)
        start_at = time.time() + 3.0  # every client logged in first
        procs = [ctx.Process(target=client_main, args=(port, u, items, start_at, args.warmup, args.seconds, out))
                 for u, _d in users]
        for p in procs:
            p.start()
        while time.time() < start_at + args.warmup:
            time.sleep(0.001)
        cpu_web0, cpu_db0 = tree_cpu(gunicorn.pid), tree_cpu(postmaster_pid(server))
        while time.time() < start_at + args.warmup + args.seconds:
            time.sleep(0.001)
        cpu_web, cpu_db = tree_cpu(gunicorn.pid) - cpu_web0, tree_cpu(postmaster_pid(server)) - cpu_db0
        reports = []
        while len(reports) < len(procs):
            try:
                reports.append(out.get(timeout=1.0))
            except Exception:  # queue.Empty: check that the server still runs
                if gunicorn.poll() is not None:
                    raise RuntimeError(f"gunicorn exited during the run: {log.read_text()[-2000:]}") from None
                if time.time() > start_at + args.warmup + args.seconds + 120:
                    raise
        for p in procs:
            p.join(timeout=30)
        elapsed = args.seconds
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            cases_n = conn.execute(sa.text("SELECT count(*) FROM case_file")).scalar()
            accepted_n = conn.execute(sa.text("SELECT count(*) FROM case_file WHERE accepted_at IS NOT NULL")).scalar()
            outbox_n = conn.execute(sa.text("SELECT count(*) FROM outbox_message")).scalar() \
                if sa.inspect(conn).has_table("outbox_message") else None
        engine.dispose()
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            try:
                gunicorn.wait(timeout=60 if args.profile else 30)
            except subprocess.TimeoutExpired:
                os.killpg(gunicorn.pid, signal.SIGKILL)
        server.stop()

    done = sum(r["done"] for r in reports)
    errors = sum(r["error_count"] for r in reports)
    create_ms = [x for r in reports for x in r["create_ms"]]
    accept_ms = [x for r in reports for x in r["accept_ms"]]
    all_ms = create_ms + accept_ms
    rate = done / elapsed
    cpu_clients = sum(r["cpu"] for r in reports)
    per_case = {name: cpu / max(done, 1) * 1000 for name, cpu in
                (("gunicorn", cpu_web), ("PostgreSQL", cpu_db), ("clients", cpu_clients))}
    per_case_total = sum(per_case.values())
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / per_case_total if per_case_total else float("nan")
    cpu_text = ", ".join(f"{name} {ms:.1f} ms" for name, ms in per_case.items())
    p50, p95, p99 = (percentile(all_ms, p) for p in (0.5, 0.95, 0.99))
    for r in reports:
        if r["errors"]:
            print(f"{r['user']}: {r['error_count']} errors, e.g. {r['errors'][0]}")
    print(f"{done:,} cases created and accepted in {elapsed:.0f} s: {rate:.1f}/s; requests P50 {p50:.1f} ms, "
          f"P95 {p95:.1f} ms, P99 {p99:.1f} ms; {errors} errors; {cases_n:,} cases, {accepted_n:,} accepted in the "
          f"database; outbox {outbox_n}", flush=True)
    if args.profile:
        print(f"profile written to {args.profile}")
    setup = (f"gunicorn {1 if args.profile else workers} sync workers + PostgreSQL on loopback, {len(procs)} client "
             f"processes (HTTP/1.1, a new connection per request: sync workers close it; {len(items)} items of every mode, window users of {len(users)} counties), "
             f"{elapsed:.0f} s after a {args.warmup:.0f} s warm-up")
    rows = [
        Row(f"intake through HTTP: cases created and accepted per second (POST /api/v1/cases + POST …/actions "
            f"accept), {setup}; {done:,} cases, {errors} errors", f"{rate:.1f} cases/s", "≥ 300 cases/s (2 cores)",
            verdict(rate >= TARGET_RATE and errors == 0)),
        Row(f"intake request latency, {len(all_ms):,} requests: P95 (P50 {p50:.1f} ms, P99 {p99:.1f} ms; create P95 "
            f"{percentile(create_ms, 0.95):.1f} ms, accept P95 {percentile(accept_ms, 0.95):.1f} ms)",
            f"{p95:.1f} ms", "P95 < 100 ms", verdict(p95 < TARGET_P95_MS)),
        Row(f"CPU per case by process ({cpu_text}; the whole machine's {cores} cores busy with this work alone "
            f"would give {cores} × 1000 / {per_case_total:.1f} cases/s)", f"{per_case_total:.1f} ms/case; "
            f"ceiling {ceiling:.0f} cases/s", "—", "info"),
        Row("load average (1, 5, 15 min) when the run started", load),
    ]
    for r in rows:
        print(f"{r.figure}: {r.measured} [{r.target}] {r.result}")
    if not args.no_record and not args.profile:
        note = args.note or "intake benchmark (bench/intake_bench.py)."
        record(args.results, started, rows, note)
        print(f"appended to {args.results}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
