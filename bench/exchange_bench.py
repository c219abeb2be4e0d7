"""Exchange throughput over loopback SFTP, measured against issue 7's target; one run appends its rows to
bench/RESULTS.md.

    .venv/bin/python bench/exchange_bench.py                    # 10,000 messages, as `make bench` runs it
    .venv/bin/python bench/exchange_bench.py --messages 500 --no-record        # a quick try
    .venv/bin/python bench/exchange_bench.py --messages 500 --no-record --profile /tmp/prof   # pyinstrument

Messages per second county -> city -> receipt over loopback SFTP (a real sshd, tests/sftpserver.py), two 100 KB
attachments each: two nodes built as tests/integration/test_two_nodes.py builds them (SQLite files, county->city in
XML, city->county in JSON); N forward_only cases accepted on the county (their case.forward messages sit signed in the
outbox; not timed). Then each node runs its exchange loop (send_due, receive) in a process of its own, as two
machines would, and the clock runs until every county outbox row is acknowledged. Nothing may be lost: the city
applied exactly N and holds N cases in city_review, the county applied N receipts, no dead letters, nothing
quarantined, no file left on the store. Target: 200 msg/s for 10,000 messages (issue 7).

The envelope signing figures (openssl speed, XML/JSON sign+verify) are bench/signing_bench.py's; it reuses
openssl_ecdsa(), combined(), forward_envelope() and survived() from here.
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (bench/ is then sys.path[0]) as well as with -m
    sys.path.insert(0, str(ROOT))

RESULTS = Path(__file__).with_name("RESULTS.md")
DEFAULT_MESSAGES = 10_000
COUNTY, CITY = "360730", "360700"  # 宁都县 and 赣州市, as in the two-node test
ENTERPRISE = {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43",
              "phone": "0797-8123456"}
ATTACHMENT_BYTES = 100 * 1024
TARGET_XML_PCT, TARGET_JSON_PCT, TARGET_MSGS = 25.0, 50.0, 200.0

RESULTS_HEADER = """\
# Exchange benchmark results

Written by `bench/exchange_bench.py` (`make bench`); every run appends one table. Columns:

- **Date** — when the run started (local time of the machine).
- **Machine** — `platform.node()` · CPU model from /proc/cpuinfo · number of cores.
- **Figure** — what was measured:
  - *raw ECDSA P-256* — `openssl speed -seconds 3 ecdsap256` on one core; combined sign+verify rate
    = 1 / (1/sign + 1/verify), the floor cost of signing and verifying one message;
  - *XML / JSON envelope* — a realistic `case.forward` (6 materials, 2 attachments) signed and verified per second
    on one core with `exchange.xmlform` / `exchange.jsonform`, and that rate as a percentage of the raw rate;
  - *SFTP county→city→receipt* — messages per second drained end to end over a loopback sshd, each with two
    100 KB attachments: county sends, city verifies/applies/stores and answers a receipt, county applies the
    receipt; both nodes in one process, SQLite. N is the number of messages of the run.
  - rows marked *info* are context (no target).
- **Measured** — the figure of this run.
- **Target** — the project's target (XML ≥ 25 % and JSON ≥ 50 % of the raw rate; 200 msg/s for 10,000 messages,
  issue 7).
- **Result** — pass / FAIL against the target, *info* for context rows.

Notes under a table say what state of the code it measured.
"""


# ---------------------------------------------------------------------------------------------- machine, results


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    return f"{platform.node()} · {cpu_model()} · {os.cpu_count()} cores"


@dataclass
class Row:
    figure: str
    measured: str
    target: str = "—"
    result: str = "info"


def record(path: Path, started: datetime, rows: list[Row], note: str | None) -> None:
    if not path.exists():
        path.write_text(RESULTS_HEADER, encoding="utf-8")
    date, host = started.strftime("%Y-%m-%d %H:%M"), machine()
    lines = ["", f"## {date} — {platform.node()}", "",
             "| Date | Machine | Figure | Measured | Target | Result |", "|---|---|---|---|---|---|"]
    lines += [f"| {date} | {host} | {r.figure} | {r.measured} | {r.target} | {r.result} |" for r in rows]
    if note:
        lines += ["", f"Note: {note}"]
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


# ---------------------------------------------------------------------------------------------- (a) raw ECDSA


def openssl_ecdsa(seconds: int) -> tuple[float, float]:
    """(sign/s, verify/s) of ECDSA P-256 by `openssl speed` on one core."""
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "ecdsap256"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"cannot read the output of openssl speed:\n{out}")
    return float(m.group(1)), float(m.group(2))


def combined(sign: float, verify: float) -> float:
    return 1 / (1 / sign + 1 / verify)


# ---------------------------------------------------------------------------------------------- (b) envelope forms


def forward_item(materials: int = 6) -> tuple[str, str, list[tuple[str, str, bool]]]:
    """The first forward_only item of the demo catalogue with `materials` materials: (code, name, materials)."""
    from delegation.catalog_io import DEMO_CATALOG

    items: dict[str, tuple[str, str, list]] = {}
    with open(DEMO_CATALOG, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["mode"] == "forward_only":
                items.setdefault(row["item_code"], (row["item_code"], row["item_name"], []))[2].append(
                    (row["material_code"], row["material_name"], row["material_core"] == "true"))
    for item in items.values():
        if len(item[2]) == materials:
            return item
    raise RuntimeError(f"no forward_only item with {materials} materials in {DEMO_CATALOG}")


def forward_envelope():
    """A case.forward as `delegation.messaging.send_forward` writes one: 6 materials, two files attached."""
    import hashlib

    from exchange.envelope import SHANGHAI, Attachment, Envelope

    code, name, materials = forward_item()
    rng = random.Random(7)
    files = [hashlib.sha256(rng.randbytes(64)).hexdigest() for _ in range(2)]
    accepted = datetime.now(SHANGHAI).replace(microsecond=0)
    body = {
        "item": {"code": code, "name": name, "mode": "forward_only"},
        "applicant": dict(ENTERPRISE),
        # datetime objects, as send_forward puts case.accepted_at and case.due_at: the senders' real path
        "acceptance": {"org": f"{COUNTY}-window", "by": f"宁都县窗口人员 (window-{COUNTY})", "at": accepted},
        "materials": [{"code": c, "name": n, "core": core, "present": True, "files": [files[i]] if i < 2 else []}
                      for i, (c, n, core) in enumerate(materials)],
        "due_at": accepted + timedelta(days=14),
    }
    attachments = [Attachment("营业执照.pdf", "application/pdf", ATTACHMENT_BYTES, files[0]),
                   Attachment("场地平面图.pdf", "application/pdf", ATTACHMENT_BYTES, files[1])]
    return Envelope.new("case.forward", COUNTY, f"{COUNTY}-window", CITY, "360700-sec-market", body,
                        case_no=f"{COUNTY}-{accepted.year}-000001", sequence=1, attachments=attachments)


def survived(sent, received) -> bool:
    """The received envelope is the sent one: the body's datetimes arrive as their ISO text."""
    body = dict(sent.body, acceptance=dict(sent.body["acceptance"], at=sent.body["acceptance"]["at"].isoformat()),
                due_at=sent.body["due_at"].isoformat())
    return received.body == body and received.attachments == sent.attachments


# ---------------------------------------------------------------------------------------------- (c) SFTP pipeline


class Node:
    def __init__(self, app):
        self.app = app

    def run(self, fn, *args, **kw):
        from app.extensions import db

        with self.app.app_context():
            try:
                return fn(*args, **kw)
            finally:
                db.session.remove()


def build_node(tmp: Path, node_id: str, server, remote=()):
    """As tests/integration/test_two_nodes.py: its own SQLite file, instance folder and key; the SFTP store."""
    import flask_migrate

    from app.extensions import db
    from delegation.seed import seed_demo
    from tests.conftest import make_app

    sftp_env = {"EXCHANGE_TRANSPORT": "sftp", "EXCHANGE_SFTP_HOST": "127.0.0.1",
                "EXCHANGE_SFTP_PORT": str(server.port), "EXCHANGE_SFTP_USER": server.user,
                "EXCHANGE_SFTP_KEY": str(server.client_key), "EXCHANGE_SFTP_KNOWN_HOSTS": str(server.known_hosts),
                "EXCHANGE_SFTP_ROOT": str(server.root)}
    app = make_app(f"sqlite:///{tmp / f'node-{node_id}.db'}", tmp / f"instance-{node_id}", NODE_ID=node_id,
                   **sftp_env)
    with app.app_context():
        flask_migrate.upgrade()
        seed_demo(node_id, set(remote))
        db.session.commit()
        db.session.remove()
    return app


def connect_nodes(tmp: Path, county, city, server) -> None:
    """The operators trust each other's certificates; the city answers the county over SFTP, in JSON."""
    pems = {node: (tmp / f"instance-{node}" / "keys" / "node.crt") for node in (COUNTY, CITY)}
    for app, peer in ((county, CITY), (city, COUNTY)):
        result = app.test_cli_runner().invoke(args=["exchange", "trust", peer, str(pems[peer])])
        assert result.exit_code == 0, result.output
    result = city.test_cli_runner().invoke(args=[
        "exchange", "peer-set", COUNTY, "--transport", "sftp", "--format", "json", "--host", "127.0.0.1",
        "--port", str(server.port), "--user", server.user, "--key", str(server.client_key),
        "--known-hosts", str(server.known_hosts), "--root", str(server.root)])
    assert result.exit_code == 0, result.output


def build_pair(tmp: Path, server, apps: list):
    """The county and the city node on the SFTP store, trusting each other (connect_nodes); each app is appended to
    `apps` as soon as it exists, so the caller's cleanup disposes of it whatever fails next."""
    logging.disable(logging.INFO)  # migrations and key generation log at INFO
    try:
        county_app = build_node(tmp, COUNTY, server)
        apps.append(county_app)
        city_app = build_node(tmp, CITY, server, remote=[COUNTY])
        apps.append(city_app)
    finally:
        logging.disable(logging.NOTSET)
    quiet_logs()
    connect_nodes(tmp, county_app, city_app, server)
    return county_app, city_app


def pdf(rng: random.Random, size: int = ATTACHMENT_BYTES) -> bytes:
    head, tail = b"%PDF-1.4\n%tongquan bench\n", b"\n%%EOF\n"
    return head + rng.randbytes(size - len(head) - len(tail)) + tail


def enqueue_forwards(n: int, seed: int = 1) -> None:
    """n forward_only cases registered, two 100 KB PDFs each, and accepted: n signed case.forward in the outbox."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation import cases, uploads
    from delegation.actors import Actor
    from delegation.models import User

    code, _, materials = forward_item()
    user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
    actor = Actor.for_user(user)
    rng = random.Random(seed)
    for _ in range(n):
        case = cases.create_case(actor, code, ENTERPRISE, [{"code": c, "present": True} for c, _, _ in materials])
        uploads.attach(actor, case.case_no, materials[0][0], "营业执照.pdf", "application/pdf", io.BytesIO(pdf(rng)))
        uploads.attach(actor, case.case_no, materials[1][0], "场地平面图.pdf", "application/pdf", io.BytesIO(pdf(rng)))
        cases.perform(actor, case.case_no, "accept")
        db.session.commit()


def outbox_states() -> dict:
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.models import OutboxMessage

    rows = db.session.execute(sa.select(OutboxMessage.type, OutboxMessage.state, sa.func.count())
                              .group_by(OutboxMessage.type, OutboxMessage.state)).all()
    return {(t, s): c for t, s, c in rows}


def inbound_states() -> dict:
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.models import InboundMessage

    rows = db.session.execute(sa.select(InboundMessage.type, InboundMessage.state, sa.func.count())
                              .group_by(InboundMessage.type, InboundMessage.state)).all()
    return {(t, s): c for t, s, c in rows}


def unacknowledged() -> int:
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.models import OutboxMessage

    return db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.type != "receipt", OutboxMessage.state != "acknowledged")).scalar_one()


def case_states() -> dict:
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import Case

    return dict(db.session.execute(sa.select(Case.state, sa.func.count()).group_by(Case.state)).all())


def close_transports() -> None:
    from exchange.bus import get_bus

    bus = get_bus()
    for transport in [bus.transport, *bus._peer_transports.values()]:
        close = getattr(transport, "close_all", None)
        if close:
            close()


def quiet_logs() -> None:
    """Warnings and errors of the bus stay visible (a quarantined message must show); INFO chatter does not.

    Alembic's fileConfig disables the loggers that existed before the migrations ran: enable ours again."""
    logging.getLogger().setLevel(logging.WARNING)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("app", "exchange", "delegation"):
            logger.disabled = False


def node_app(tmp: Path, node_id: str, server: dict):
    """The app of a node already built by build_node(), in a worker process."""
    from tests.conftest import make_app

    sftp_env = {"EXCHANGE_TRANSPORT": "sftp", "EXCHANGE_SFTP_HOST": "127.0.0.1",
                "EXCHANGE_SFTP_PORT": str(server["port"]), "EXCHANGE_SFTP_USER": server["user"],
                "EXCHANGE_SFTP_KEY": server["client_key"], "EXCHANGE_SFTP_KNOWN_HOSTS": server["known_hosts"],
                "EXCHANGE_SFTP_ROOT": server["root"]}
    return make_app(f"sqlite:///{tmp / f'node-{node_id}.db'}", tmp / f"instance-{node_id}", NODE_ID=node_id,
                    **sftp_env)


def worker(role: str, tmp: Path, profile: Path | None = None) -> int:
    """One node's exchange loop in its own process (county: send, then take the receipts; city: receive and apply,
    then send the receipts) until the main process says stop; its phase times go to phases-<role>.json."""
    import json

    from app.extensions import db
    from exchange.inbox import receive
    from exchange.outbox import send_due

    server = json.loads((tmp / "server.json").read_text())
    logging.disable(logging.INFO)
    app = node_app(tmp, COUNTY if role == "county" else CITY, server)
    logging.disable(logging.NOTSET)
    quiet_logs()
    steps = [("send", send_due), ("receive", receive)] if role == "county" else \
        [("receive", receive), ("send", send_due)]
    phases = {name: 0.0 for name, _ in steps} | {"idle": 0.0}
    counts = {name: 0 for name, _ in steps}
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
    (tmp / f"ready-{role}").touch()
    while not (tmp / "go").exists():
        time.sleep(0.01)
    if profiler:
        profiler.start()
    cpu0 = time.process_time()
    pause = 0.01
    while not (tmp / "stop").exists():
        moved = 0
        for name, fn in steps:
            t = time.perf_counter()
            with app.app_context():
                try:
                    done = fn()
                finally:
                    db.session.remove()
            phases[name] += time.perf_counter() - t
            counts[name] += done
            moved += done
        if moved:
            pause = 0.01
        else:  # an idle node polls less and less often (up to 4 times a second), leaving the CPU to the other
            t = time.perf_counter()
            time.sleep(pause)
            phases["idle"] += time.perf_counter() - t
            pause = min(pause * 2, 0.25)
    cpu = time.process_time() - cpu0
    if profiler:
        profiler.stop()
        profile.mkdir(parents=True, exist_ok=True)
        (profile / f"{role}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
        (profile / f"{role}.html").write_text(profiler.output_html())
    with app.app_context():
        close_transports()
    (tmp / f"phases-{role}.json").write_text(json.dumps({"phases": phases, "counts": counts, "cpu": cpu}))
    return 0


def sshd_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by sshd's per-connection processes (and the listener)."""
    from tests.sftpserver import _descendants

    direct, deeper = _descendants(pid)
    total = 0
    for p in [pid, *direct, *deeper]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def delivery_counts(county, city, server) -> dict:
    """What both nodes and the store hold after a run: case.forward acknowledged at the county and applied at the
    city, receipts applied at the county, dead or rejected outbox rows, quarantined messages, files left on the
    store, the city's cases by state."""
    out_county, out_city = county.run(outbox_states), city.run(outbox_states)
    in_county, in_city = county.run(inbound_states), city.run(inbound_states)
    return {
        "acknowledged": out_county.get(("case.forward", "acknowledged"), 0),
        "applied": in_city.get(("case.forward", "applied"), 0),
        "receipts_applied": in_county.get(("receipt", "applied"), 0),
        "dead": sum(c for states in (out_county, out_city) for (_, s), c in states.items() if s in ("dead", "rejected")),
        "quarantined": sum(c for states in (in_county, in_city) for (_, s), c in states.items() if s == "quarantined"),
        "leftover": [p for p in server.root.rglob("*") if p.is_file()],
        "city_cases": city.run(case_states),
    }


def losses(n: int, counts: dict) -> list[str]:
    """What "nothing lost" forbids, after n case.forward were sent (counts: delivery_counts()): each applied once at
    the city, acknowledged at the county, none dead or quarantined, nothing left on the store, every case in the
    city's review."""
    problems = []
    if counts["applied"] != n:
        problems.append(f"city applied {counts['applied']} case.forward, expected {n}")
    if counts["acknowledged"] != n:
        problems.append(f"county has {counts['acknowledged']}/{n} case.forward acknowledged")
    if counts["dead"]:
        problems.append(f"{counts['dead']} dead or rejected outbox rows")
    if counts["quarantined"]:
        problems.append(f"{counts['quarantined']} quarantined inbound messages")
    if counts["leftover"]:
        problems.append(f"{len(counts['leftover'])} files left on the SFTP store")
    if counts["city_cases"].get("city_review", 0) != n:
        problems.append(f"city has {counts['city_cases']} cases, expected {n} in city_review")
    return problems


def transfer(n: int, max_seconds: float, keep: bool = False, profile: Path | None = None) -> dict:
    """Returns messages/s, the workers' phase seconds and the integrity checks."""
    import json

    from app.extensions import db
    from tests.sftpserver import SftpServer

    tmp = Path(tempfile.mkdtemp(prefix="tongquan-bench-"))
    server = SftpServer(tmp / "sftp")
    apps: list = []
    procs: list[subprocess.Popen] = []
    try:
        server.start()
        county_app, city_app = build_pair(tmp, server, apps)
        county, city = Node(county_app), Node(city_app)

        t0 = time.perf_counter()
        county.run(enqueue_forwards, n)
        setup = time.perf_counter() - t0
        queued = county.run(outbox_states).get(("case.forward", "queued"), 0)
        assert queued == n, f"{queued} case.forward queued on the county, expected {n}"
        print(f"  {n} cases accepted on the county, case.forward signed and queued in {setup:.1f} s "
              f"({n / setup:.1f}/s)", flush=True)
        for app in apps:
            Node(app).run(close_transports)

        (tmp / "server.json").write_text(json.dumps({
            "port": server.port, "user": server.user, "client_key": str(server.client_key),
            "known_hosts": str(server.known_hosts), "root": str(server.root)}))
        for role in ("county", "city"):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", role, "--dir", str(tmp)]
            if profile:
                cmd += ["--profile", str(profile)]
            procs.append(subprocess.Popen(cmd, cwd=ROOT))
        deadline = time.monotonic() + 120
        while not all((tmp / f"ready-{role}").exists() for role in ("county", "city")):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("a node's worker did not start")
            time.sleep(0.05)

        sshd0 = sshd_cpu(server.proc.pid)
        (tmp / "go").touch()
        start = time.perf_counter()
        left, last_print = n, start
        while True:
            left = county.run(unacknowledged)
            now = time.perf_counter()
            if not left or now - start > max_seconds or any(p.poll() is not None for p in procs):
                break
            if now - last_print >= 10:
                print(f"  {n - left}/{n} acknowledged after {now - start:.0f} s", flush=True)
                last_print = now
            time.sleep(0.5)  # the count costs the county's database some CPU: not too often
        elapsed = time.perf_counter() - start
        sshd = sshd_cpu(server.proc.pid) - sshd0  # before the workers close their connections
        (tmp / "stop").touch()
        for p in procs:
            p.wait(timeout=120)
        workers = {role: json.loads((tmp / f"phases-{role}.json").read_text())
                   for role in ("county", "city") if (tmp / f"phases-{role}.json").exists()}

        counts = delivery_counts(county, city, server)
        acknowledged = counts["acknowledged"]
        problems = []
        if any(p.returncode for p in procs):
            problems.append(f"a worker failed (exit {[p.returncode for p in procs]})")
        if counts["receipts_applied"] != n:
            problems.append(f"county applied {counts['receipts_applied']} receipts, expected {n}")
        problems += losses(n, counts)
        return {"n": n, "seconds": elapsed, "rate": acknowledged / elapsed if elapsed else 0.0, "workers": workers,
                "sshd_cpu": sshd,
                "setup": setup, "problems": problems, "complete": left == 0}
    finally:
        if procs:
            (tmp / "stop").touch()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        for app in apps:
            try:
                Node(app).run(close_transports)
                with app.app_context():
                    db.engine.dispose()
            except Exception as exc:  # never keep sshd running because of a clean-up error
                print(f"  clean-up of {app.name}: {exc}", file=sys.stderr)
        server.stop()
        if keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def describe_workers(workers: dict) -> str:
    parts = []
    for role, w in workers.items():
        ph = w["phases"]
        parts.append(f"{role}: " + ", ".join(f"{k} {v:.1f} s" for k, v in ph.items()))
    return "; ".join(parts)


def cpu_budget(t: dict) -> tuple[str, float]:
    """CPU milliseconds per message by process, and the rate two fully busy cores would give at that cost."""
    n = t["n"] or 1
    per = {role: 1000 * w.get("cpu", 0.0) / n for role, w in t["workers"].items()}
    per["sshd"] = 1000 * t.get("sshd_cpu", 0.0) / n
    total = sum(per.values())
    cores = os.cpu_count() or 1
    ceiling = 1000 * cores / total if total else 0.0
    text = ", ".join(f"{k} {v:.1f}" for k, v in per.items()) + f" = {total:.1f} ms CPU per message"
    return text, ceiling


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES,
                        help=f"messages of the run (default {DEFAULT_MESSAGES:,})")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="stop the drain after this long, and report it as incomplete")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file to append to")
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    parser.add_argument("--note", help="a note line under this run's table (e.g. what state of the code)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder of the run")
    parser.add_argument("--profile", type=Path, help="profile both workers with pyinstrument into this folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed, not only on loss")
    parser.add_argument("--worker", choices=("county", "city"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.dir, args.profile)

    started = datetime.now()
    load = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows: list[Row] = []
    print(f"{args.messages} messages county -> city -> receipt over loopback SFTP, 2 x 100 KB attachments, "
          "county and city in a process each", flush=True)
    t = transfer(args.messages, args.max_seconds, args.keep, args.profile)
    where = describe_workers(t["workers"])
    print(f"  {t['rate']:.1f} msg/s: {t['n']} messages in {t['seconds']:.1f} s ({where})")
    budget, ceiling = cpu_budget(t)
    print(f"  CPU: {budget}; at that cost {os.cpu_count()} busy cores give at most {ceiling:.0f} msg/s")
    end_load = os.getloadavg()
    lost = bool(t["problems"]) or not t["complete"]
    for p in t["problems"]:
        print(f"  PROBLEM: {p}")
    ok = t["rate"] >= TARGET_MSGS and not lost
    rows.append(Row(f"SFTP county→city→receipt, 2×100 KB attachments, N={t['n']:,} (loopback sshd, SQLite, "
                    "county and city in a process each)", f"{t['rate']:.1f} msg/s ({t['n']:,} in {t['seconds']:.1f} s)",
                    f"≥ {TARGET_MSGS:g} msg/s (10,000 msgs)",
                    verdict(ok) + (" — LOST: " + "; ".join(t["problems"]) if lost else "")))
    rows.append(Row(f"SFTP run, where each worker's {t['seconds']:.1f} s went", where
                    + f"; enqueue of the N cases beforehand {t['setup']:.1f} s (not timed)"))
    rows.append(Row("SFTP run, CPU per message by process (county worker, city worker, sshd), and the rate "
                    f"{os.cpu_count()} cores fully busy would give at that cost (the ceiling of this machine)",
                    f"{budget} → ceiling {ceiling:.0f} msg/s"))
    rows.append(Row("load average (1, 5, 15 min) at the start / at the end of the run: other work on the machine "
                    "lowers the figure", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} / "
                    f"{end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}"))
    if not args.no_record:
        record(args.results, started, rows, args.note)
        print(f"appended to {args.results}")
    if lost:
        return 1
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
