"""Exchange throughput, measured against the project's targets; one run appends its rows to bench/RESULTS.md.

    .venv/bin/python -m bench.exchange_bench              # or: .venv/bin/python bench/exchange_bench.py, make bench
    .venv/bin/python -m bench.exchange_bench --messages 200 --results /tmp/r.md   # a quick try, kept out of RESULTS.md

(a) raw ECDSA P-256 sign+verify rate of this machine (`openssl speed -seconds 3 ecdsap256`, one core):
    combined = 1 / (1/sign + 1/verify), what one sign and one verify of a message cost at the very least.
(b) envelopes signed and verified per second on one core, a realistic case.forward (6 materials, 2 attachments),
    with exchange.xmlform and exchange.jsonform, as a percentage of (a). Targets: XML >= 25 %, JSON >= 50 %.
(c) messages per second county -> city -> receipt over loopback SFTP (a real sshd), two 100 KB attachments each:
    two nodes built as tests/integration/test_two_nodes.py builds them (SQLite files, county->city in XML,
    city->county in JSON), N forward_only cases accepted on the county (their case.forward messages sit signed in
    the outbox), then the clock runs while the bus drains: county send -> city receive/apply/receipt -> county
    receives the receipts, until every county outbox row is acknowledged. Nothing may be lost: the city applied
    exactly N, no dead letters, nothing quarantined. Target: 200 msg/s (issue 7, for 10,000 messages).

Both nodes run in this one process, one after the other; on separate machines they would overlap.
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


def python_ecdsa(seconds: float) -> tuple[float, float]:
    """The same primitive through `cryptography` (its own bundled OpenSSL), for context."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pub, data, algo = key.public_key(), b"x" * 200, ec.ECDSA(hashes.SHA256())
    sig = key.sign(data, algo)
    return (rate(lambda: key.sign(data, algo), seconds / 2), rate(lambda: pub.verify(sig, data, algo), seconds / 2))


def rate(fn, seconds: float) -> float:
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    deadline = t0 + seconds
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - t0)


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
        "acceptance": {"org": f"{COUNTY}-window", "by": f"宁都县窗口人员 (window-{COUNTY})", "at": accepted.isoformat()},
        "materials": [{"code": c, "name": n, "core": core, "present": True, "files": [files[i]] if i < 2 else []}
                      for i, (c, n, core) in enumerate(materials)],
        "due_at": (accepted + timedelta(days=14)).isoformat(),
    }
    attachments = [Attachment("营业执照.pdf", "application/pdf", ATTACHMENT_BYTES, files[0]),
                   Attachment("场地平面图.pdf", "application/pdf", ATTACHMENT_BYTES, files[1])]
    return Envelope.new("case.forward", COUNTY, f"{COUNTY}-window", CITY, "360700-sec-market", body,
                        case_no=f"{COUNTY}-{accepted.year}-000001", sequence=1, attachments=attachments)


def bench_form(form, seconds: float) -> dict:
    """sign+verify/s of one envelope form on one core, and sign/s, verify/s alone."""
    from exchange.keys import generate_node_key

    env = forward_envelope()
    key, cert = generate_node_key(COUNTY)

    def trusted(node):
        return [cert]

    data = form.sign(env, key, COUNTY)
    back, _ = form.verify(data, trusted, CITY)
    assert back.body == env.body and back.attachments == env.attachments, "the envelope did not survive the trip"

    def both():
        form.verify(form.sign(env, key, COUNTY), trusted, CITY)

    return {"both": rate(both, seconds), "sign": rate(lambda: form.sign(env, key, COUNTY), seconds / 3),
            "verify": rate(lambda: form.verify(data, trusted, CITY), seconds / 3), "bytes": len(data)}


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


def transfer(n: int, max_seconds: float, keep: bool = False) -> dict:
    """(c): returns messages/s, the phases' seconds and the integrity checks."""
    from app.extensions import db
    from exchange.inbox import receive
    from exchange.outbox import send_due
    from tests.sftpserver import SftpServer

    tmp = Path(tempfile.mkdtemp(prefix="tongquan-bench-"))
    server = SftpServer(tmp / "sftp")
    apps: list = []
    try:
        server.start()
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
        county, city = Node(county_app), Node(city_app)

        t0 = time.perf_counter()
        county.run(enqueue_forwards, n)
        setup = time.perf_counter() - t0
        queued = county.run(outbox_states).get(("case.forward", "queued"), 0)
        assert queued == n, f"{queued} case.forward queued on the county, expected {n}"
        print(f"  {n} cases accepted on the county, case.forward signed and queued in {setup:.1f} s "
              f"({n / setup:.1f}/s)", flush=True)

        phases = {"county send": 0.0, "city receive+apply": 0.0, "city send receipts": 0.0,
                  "county receive receipts": 0.0}

        def timed(phase, node, fn):
            t = time.perf_counter()
            result = node.run(fn)
            phases[phase] += time.perf_counter() - t
            return result

        start = time.perf_counter()
        rounds, idle, left = 0, 0, n
        while left:
            rounds += 1
            moved = timed("county send", county, send_due)
            moved += timed("city receive+apply", city, receive)
            moved += timed("city send receipts", city, send_due)
            moved += timed("county receive receipts", county, receive)
            left = county.run(unacknowledged)
            elapsed = time.perf_counter() - start
            print(f"  round {rounds}: {n - left}/{n} acknowledged after {elapsed:.1f} s", flush=True)
            idle = 0 if moved else idle + 1
            if idle >= 3 or elapsed > max_seconds:
                break
        elapsed = time.perf_counter() - start

        out_county, out_city = county.run(outbox_states), city.run(outbox_states)
        in_county, in_city = county.run(inbound_states), city.run(inbound_states)
        acknowledged = out_county.get(("case.forward", "acknowledged"), 0)
        applied = in_city.get(("case.forward", "applied"), 0)
        dead = sum(c for states in (out_county, out_city) for (_, s), c in states.items() if s in ("dead", "rejected"))
        quarantined = sum(c for states in (in_county, in_city) for (_, s), c in states.items() if s == "quarantined")
        leftover = [p for p in server.root.rglob("*") if p.is_file()]
        problems = []
        if applied != n:
            problems.append(f"city applied {applied} case.forward, expected {n}")
        if acknowledged != n:
            problems.append(f"county has {acknowledged}/{n} case.forward acknowledged")
        if in_county.get(("receipt", "applied"), 0) != n:
            problems.append(f"county applied {in_county.get(('receipt', 'applied'), 0)} receipts, expected {n}")
        if dead:
            problems.append(f"{dead} dead or rejected outbox rows")
        if quarantined:
            problems.append(f"{quarantined} quarantined inbound messages")
        if leftover:
            problems.append(f"{len(leftover)} files left on the SFTP store")
        city_cases = city.run(case_states)
        if city_cases.get("city_review", 0) != n:
            problems.append(f"city has {city_cases} cases, expected {n} in city_review")
        return {"n": n, "seconds": elapsed, "rate": acknowledged / elapsed if elapsed else 0.0, "phases": phases,
                "rounds": rounds, "setup": setup, "problems": problems, "complete": left == 0}
    finally:
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


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="messages of the SFTP run (default 500)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per sign+verify measurement")
    parser.add_argument("--max-seconds", type=float, default=240.0,
                        help="stop the SFTP drain after this long, and report it as incomplete")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file to append to")
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    parser.add_argument("--note", help="a note line under this run's table (e.g. what state of the code)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder of the SFTP run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, not only on loss")
    args = parser.parse_args(argv)

    from cryptography.hazmat.backends.openssl.backend import backend

    from exchange import jsonform, xmlform

    started = datetime.now()
    load = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows: list[Row] = []

    print("(a) openssl speed -seconds 3 ecdsap256 ...", flush=True)
    sign, verify = openssl_ecdsa(3)
    raw = combined(sign, verify)
    print(f"  sign {sign:,.0f}/s, verify {verify:,.0f}/s -> sign+verify {raw:,.0f}/s")
    rows.append(Row("raw ECDSA P-256 sign+verify/s, one core (openssl speed; "
                    f"sign {sign:,.0f}/s, verify {verify:,.0f}/s)", f"{raw:,.0f}/s"))
    py_sign, py_verify = python_ecdsa(args.seconds)
    py_raw = combined(py_sign, py_verify)
    print(f"  through cryptography ({backend.openssl_version_text()}): sign {py_sign:,.0f}/s, "
          f"verify {py_verify:,.0f}/s -> {py_raw:,.0f}/s ({100 * py_raw / raw:.0f} % of openssl speed)")
    rows.append(Row(f"ECDSA P-256 sign+verify/s through Python `cryptography` ({backend.openssl_version_text()})",
                    f"{py_raw:,.0f}/s ({100 * py_raw / raw:.0f} % of raw)"))

    figures_ok = True
    for label, form, target in (("XML", xmlform, TARGET_XML_PCT), ("JSON", jsonform, TARGET_JSON_PCT)):
        print(f"(b) {label} case.forward envelope sign+verify, {args.seconds:g} s ...", flush=True)
        r = bench_form(form, args.seconds)
        pct = 100 * r["both"] / raw
        print(f"  {r['both']:,.0f}/s = {pct:.1f} % of raw (sign alone {r['sign']:,.0f}/s, verify alone "
              f"{r['verify']:,.0f}/s, {r['bytes']:,} bytes signed)")
        ok = pct >= target
        figures_ok &= ok
        rows.append(Row(f"{label} case.forward (6 materials) signed+verified per second, one core "
                        f"(sign {r['sign']:,.0f}/s, verify {r['verify']:,.0f}/s, {r['bytes']:,} B)",
                        f"{pct:.1f} % ({r['both']:,.0f}/s)", f"≥ {target:g} %", verdict(ok)))

    print(f"(c) {args.messages} messages county -> city -> receipt over loopback SFTP, 2 x 100 KB attachments",
          flush=True)
    t = transfer(args.messages, args.max_seconds, args.keep)
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in t["phases"].items())
    print(f"  {t['rate']:.1f} msg/s: {t['n']} messages in {t['seconds']:.1f} s, {t['rounds']} rounds ({phases})")
    lost = bool(t["problems"]) or not t["complete"]
    for p in t["problems"]:
        print(f"  PROBLEM: {p}")
    ok = t["rate"] >= TARGET_MSGS and not lost
    figures_ok &= ok
    rows.append(Row(f"SFTP county→city→receipt, 2×100 KB attachments, N={t['n']} (loopback sshd, SQLite, "
                    f"one process)", f"{t['rate']:.1f} msg/s ({t['n']} in {t['seconds']:.1f} s)",
                    f"≥ {TARGET_MSGS:g} msg/s (10,000 msgs)",
                    verdict(ok) + (" — LOST: " + "; ".join(t["problems"]) if lost else "")))
    rows.append(Row(f"SFTP run, where the {t['seconds']:.1f} s went", phases
                    + f"; enqueue of the N cases beforehand {t['setup']:.1f} s"))

    rows.append(Row("load average (1, 5, 15 min) when the run started: other work on the machine lowers every "
                    "figure", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"))
    if not args.no_record:
        record(args.results, started, rows, args.note)
        print(f"appended to {args.results}")
    if lost:
        return 1
    return 1 if args.strict and not figures_ok else 0


if __name__ == "__main__":
    sys.exit(main())
