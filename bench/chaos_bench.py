"""The exchange under random kills (issue 21): two nodes exchange while their workers are killed with SIGKILL at
random; at the end nothing may be lost, applied twice or left behind. One run appends its rows to bench/RESULTS.md.

    .venv/bin/python bench/chaos_bench.py                          # 3 minutes of kills, as issue 21 records it
    .venv/bin/python bench/chaos_bench.py --minutes 1 --cases 40 --no-record     # a quick try

Two nodes, the county (360730) and the city (360700), each on its own PostgreSQL database (tests/pgserver.py starts
a throwaway server), a real sshd as the SFTP exchange store (tests/sftpserver.py). The exchange runs in real
`flask --app wsgi worker --job exchange --job leftovers` processes: one for the county, two for the city (they
share its inbox and its outbox, SKIP LOCKED). During --minutes the county accepts --cases forward_only cases (two
attachments of --attachment-kib each), the city decides every case it has received (approve or deny), and a killer
kills each worker with SIGKILL a random 0.2 s to --max-life seconds after it is up (first SIGUSR1: faulthandler writes the worker's stack to its log,
which says where the kill landed), restarting it at once; halfway the SFTP server is stopped for --outage-seconds
(a full outage: tests/sftpserver.py). Then the kills stop and the workers drain until everything is acknowledged.

Invariants checked at the end: every case.forward applied once at the city and acknowledged at the county, every
decision applied once at the county and acknowledged at the city, no timeline step of a case recorded twice, no
dead letter, nothing quarantined; nothing left on the store (no envelope, attachments folder, temporary name or
tombstone) and no temporary file in either blob store. Leftovers are counted twice: when the workers are quiet
(--leftover-grace seconds after the last activity, the sweep's grace), and after one more worker start (its
start-up sweep).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (bench/ is then sys.path[0]) as well as with -m
    sys.path.insert(0, str(ROOT))

from bench.exchange_bench import (  # noqa: E402
    CITY,
    COUNTY,
    ENTERPRISE,
    RESULTS,
    Node,
    Row,
    case_states,
    close_transports,
    connect_nodes,
    forward_item,
    inbound_states,
    machine,
    outbox_states,
    pdf,
    quiet_logs,
    record,
    verdict,
)

RECEIPT_TIMEOUT = 30  # the smallest EXCHANGE_RECEIPT_TIMEOUT_SECONDS allows, as in the run
LAUNCH = """
import faulthandler, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=False)  # the killer asks where we are just before SIGKILL
from flask.cli import main
sys.argv = ["flask", "--app", "wsgi", *sys.argv[1:]]
main()
"""
FRAME = re.compile(r'File "([^"]+)", line \d+ in (\S+)')


# ------------------------------------------------------------------------------------------------- the two nodes


def sftp_env(server) -> dict:
    return {"EXCHANGE_TRANSPORT": "sftp", "EXCHANGE_SFTP_HOST": "127.0.0.1",
            "EXCHANGE_SFTP_PORT": str(server.port), "EXCHANGE_SFTP_USER": server.user,
            "EXCHANGE_SFTP_KEY": str(server.client_key), "EXCHANGE_SFTP_KNOWN_HOSTS": str(server.known_hosts),
            "EXCHANGE_SFTP_ROOT": str(server.root)}


def node_env(tmp: Path, node_id: str, url: str, server) -> dict:
    return {"TONGQUAN_ENV": "testing", "DATABASE_URL": url, "INSTANCE_PATH": str(tmp / f"instance-{node_id}"),
            "NODE_ID": node_id, "SECRET_KEY": "chaos-bench-secret-0123456789",
            "EXCHANGE_RECEIPT_TIMEOUT_SECONDS": str(RECEIPT_TIMEOUT), **sftp_env(server)}


def build_node(env: dict, remote=()):
    import flask_migrate

    from app import create_app
    from app.extensions import db
    from config import load_settings
    from delegation.seed import seed_demo

    app = create_app(load_settings(env))
    with app.app_context():
        flask_migrate.upgrade()
        seed_demo(env["NODE_ID"], set(remote))
        db.session.commit()
        db.session.remove()
    return app


# ------------------------------------------------------------------------------------------------- the workers


class Worker:
    def __init__(self, name: str, env: dict, log: Path, grace: float):
        self.name, self.env, self.log, self.grace = name, env, log, grace
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.offset = 0  # where this run's lines start in the log
        self.kill_at: float | None = None  # set once the worker is up: killing it while it imports proves nothing

    def start(self, once: bool = False) -> None:
        args = ["worker", "--job", "exchange", "--job", "leftovers", "--exchange-interval", "0.5",
                "--leftover-grace", str(self.grace)] + (["--once"] if once else [])
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        self.kill_at = None
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *args], cwd=ROOT, stdin=subprocess.DEVNULL,
                                         stdout=fh, stderr=fh, env={**os.environ, **self.env})
        self.starts += 1

    def up(self) -> bool:
        """Whether the worker has started its loop (it logs "worker started")."""
        with self.log.open("rb") as fh:
            fh.seek(self.offset)
            return b"worker started" in fh.read()

    def kill(self) -> str:
        """SIGKILL, after SIGUSR1 has had the worker write its stack: where the kill landed."""
        size = self.log.stat().st_size
        try:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.05)
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        with self.log.open("rb") as fh:
            fh.seek(size)
            return landed(fh.read().decode("utf-8", "replace"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def landed(dump: str) -> str:
    """The frames of our own code in a faulthandler dump, innermost first, e.g. `sftp.reply < sftp.op <
    sftp._run < sftp.publish < outbox.send_due < ...`; `starting` before the app runs any of it."""
    own = [f"{Path(path).stem}.{function}" for path, function in FRAME.findall(dump)
           if path.startswith(str(ROOT)) and "/.venv/" not in path]
    if own:
        return " < ".join(own)
    return "starting" if dump.strip() else "unknown (no stack written)"


PLACES = [  # (label, frames that mean it): the first that matches the innermost own frame
    ("blob store write (BlobStore.put)", ("blobs.put",)),
    ("SFTP publish", ("sftp._publish_pipelined", "sftp.publish", "sftp._makedirs")),
    ("SFTP removal", ("sftp._remove_pipelined", "sftp.remove_many", "sftp._rmtree")),
    ("SFTP read / list", ("sftp._read_files", "sftp.read", "sftp.read_attachments", "sftp.list_inbox",
                          "sftp.exists")),
    ("SFTP connect", ("sftp._connect", "sftp._sftp", "sftp._request_sizes")),
    ("leftover sweep", ("sftp.sweep", "blobs.sweep_parts", "jobs.sweep_leftovers")),
    ("send_due (claim, sign, commit)", ("outbox.",)),
    ("receive (verify, apply, commit)", ("inbox.", "messaging.", "engine.", "xmlform.", "jsonform.", "keyring.",
                                         "handlers.")),
    ("idle between cycles", ("worker.run ",)),  # (the loop itself: not run_step)
]


def place(stack: str) -> str:
    """The first PLACES entry that one of the stack's frames (innermost first) means."""
    for frame in stack.split(" < "):
        for label, prefixes in PLACES:
            if f"{frame} ".startswith(prefixes):
                return label
    return "start-up (importing, connecting)" if stack != "unknown (no stack written)" else stack


# ------------------------------------------------------------------------------------------------- the traffic


def accept_forwards(n: int, rng: random.Random, size: int) -> list[str]:
    import sqlalchemy as sa

    from app.extensions import db
    from delegation import cases, uploads
    from delegation.actors import Actor
    from delegation.models import User

    code, _, materials = forward_item()
    user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
    actor = Actor.for_user(user)
    made = []
    for _ in range(n):
        case = cases.create_case(actor, code, ENTERPRISE, [{"code": c, "present": True} for c, _, _ in materials])
        uploads.attach(actor, case.case_no, materials[0][0], "营业执照.pdf", "application/pdf",
                       io.BytesIO(pdf(rng, size)))
        uploads.attach(actor, case.case_no, materials[1][0], "场地平面图.pdf", "application/pdf",
                       io.BytesIO(pdf(rng, size)))
        cases.perform(actor, case.case_no, "accept")
        db.session.commit()
        made.append(case.case_no)
    return made


def decide_received(rng: random.Random, approve_share: float, state: dict) -> int:
    """The city decides every case waiting in its review: approve (a share) or deny."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Case, User

    user = db.session.execute(sa.select(User).filter_by(username="city-approver")).unique().scalar_one()
    actor = Actor.for_user(user)
    waiting = db.session.execute(sa.select(Case.case_no).filter_by(state="city_review")).scalars().all()
    done = 0
    for case_no in waiting:
        approve = state["approve_ok"] and rng.random() < approve_share
        try:
            if approve:
                cases.perform(actor, case_no, "approve", {"certificate_no": f"赣特登2026-{state['n']:05d}"})
            else:
                cases.perform(actor, case_no, "deny", {"reasons": ["经审查，不符合许可条件"]})
            db.session.commit()
            state["n"] += 1
            state["approved" if approve else "denied"] += 1
            done += 1
        except Exception as exc:
            db.session.rollback()
            if approve:  # the approval path failed here: say so once, decide by denials from now on
                print(f"  approve refused ({type(exc).__name__}: {exc}); denying instead", flush=True)
                state["approve_ok"] = False
            else:
                raise
    return done


# ------------------------------------------------------------------------------------------------- the checks


def twice_recorded() -> int:
    """Timeline steps recorded more than once for one case (a message applied twice would show here)."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import CaseEvent

    rows = db.session.execute(sa.select(CaseEvent.case_id, CaseEvent.action, sa.func.count())
                              .group_by(CaseEvent.case_id, CaseEvent.action).having(sa.func.count() > 1)).all()
    return len(rows)


def resends() -> dict:
    """Per message type: messages, sends beyond the first (attempts - 1), rows not acknowledged."""
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.models import OutboxMessage

    rows = db.session.execute(sa.select(OutboxMessage.type, sa.func.count(), sa.func.sum(OutboxMessage.attempts),
                                        sa.func.sum(sa.case((OutboxMessage.state != "acknowledged", 1), else_=0)))
                              .where(OutboxMessage.type != "receipt").group_by(OutboxMessage.type)).all()
    return {t: {"n": n, "resent": int(a or 0) - n, "open": int(o or 0)} for t, n, a, o in rows}


def quiet() -> bool:
    """Nothing waiting in this node's outbox: every message acknowledged, every receipt sent."""
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.models import OutboxMessage

    return not db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        sa.or_(sa.and_(OutboxMessage.type != "receipt", OutboxMessage.state != "acknowledged"),
               sa.and_(OutboxMessage.type == "receipt", OutboxMessage.state != "sent")))).scalar_one()


def store_leftovers(server) -> list[str]:
    """Every entry in the mailboxes on the store (dot-names included), the inbox folders themselves aside."""
    return sorted(str(p.relative_to(server.root)) for p in server.root.glob("*/inbox/**/*"))


def blob_parts(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in tmp.glob("instance-*/**/*.part"))


def log_levels(logs: list[Path]) -> Counter:
    counts: Counter = Counter()
    for log in logs:
        for line in log.read_text("utf-8", "replace").splitlines():
            for level in ("WARNING", "ERROR"):
                if line.startswith(level[:5]) or f" {level} " in line or f'"level": "{level}"' in line:
                    counts[level] += 1
    return counts


# ------------------------------------------------------------------------------------------------- the run


def run(args) -> dict:
    from app.extensions import db
    from tests.pgserver import PgServer, create_database, wait_ready
    from tests.sftpserver import SftpServer

    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="tongquan-chaos-"))
    pg = PgServer()
    server = SftpServer(tmp / "sftp")
    apps, workers = [], []
    try:
        pg.start()
        wait_ready(pg.url())
        server.start()
        envs = {node: node_env(tmp, node, create_database(pg.url(), f"chaos_{node}"), server)
                for node in (COUNTY, CITY)}
        import logging

        logging.disable(logging.INFO)  # migrations and key generation log at INFO
        try:
            county_app = build_node(envs[COUNTY])
            apps.append(county_app)
            city_app = build_node(envs[CITY], remote=[COUNTY])
            apps.append(city_app)
        finally:
            logging.disable(logging.NOTSET)
        quiet_logs()
        connect_nodes(tmp, county_app, city_app, server)
        county, city = Node(county_app), Node(city_app)
        for app in apps:
            Node(app).run(close_transports)

        workers = [Worker("county", envs[COUNTY], tmp / "worker-county.log", args.leftover_grace),
                   Worker("city-1", envs[CITY], tmp / "worker-city-1.log", args.leftover_grace),
                   Worker("city-2", envs[CITY], tmp / "worker-city-2.log", args.leftover_grace)]
        for w in workers:
            w.start()

        kills: list[tuple[str, str]] = []
        decisions = {"n": 1, "approved": 0, "denied": 0, "approve_ok": args.approve_share > 0}
        accepted, t0 = 0, time.monotonic()
        end = t0 + args.minutes * 60
        outage_at, outage_done = t0 + args.minutes * 30, args.outage_seconds <= 0
        print(f"  kills for {args.minutes:g} min: {args.cases} cases, 2 × {args.attachment_kib} KiB attachments each",
              flush=True)
        last_print = t0
        while time.monotonic() < end:
            now = time.monotonic()
            due = int(args.cases * min(1.0, (now - t0) / (args.minutes * 60 * 0.7))) - accepted  # in 70 % of it
            if due > 0:
                county.run(accept_forwards, min(due, 10), rng, args.attachment_kib * 1024)
                accepted += min(due, 10)
            city.run(decide_received, rng, args.approve_share, decisions)
            if not outage_done and now >= outage_at:
                server.stop()
                print(f"  SFTP store stopped for {args.outage_seconds:g} s", flush=True)
                outage_end = time.monotonic() + args.outage_seconds
                while time.monotonic() < outage_end:
                    time.sleep(0.2)
                server.start()
                outage_done = True
            for w in workers:  # each worker lives a random while once up, then is killed and started again
                if w.kill_at is None and w.up():
                    w.kill_at = time.monotonic() + rng.uniform(0.2, args.max_life)
                elif w.kill_at is not None and time.monotonic() >= w.kill_at:
                    kills.append((w.name, w.kill()))
                    w.start()
            for w in workers:  # a worker that died by itself is a finding too: restarted, and counted
                if w.proc.poll() is not None:
                    kills.append((w.name, f"exited by itself ({w.proc.returncode})"))
                    w.start()
            if time.monotonic() - last_print >= 20:
                print(f"  {time.monotonic() - t0:.0f} s: {accepted} accepted, {decisions['n'] - 1} decided, "
                      f"{len(kills)} kills", flush=True)
                last_print = time.monotonic()
            time.sleep(0.2)
        print(f"  kills over: {len(kills)}; draining", flush=True)

        # Drain: the rest of the intake, every case decided, everything acknowledged on both sides.
        if accepted < args.cases:
            county.run(accept_forwards, args.cases - accepted, rng, args.attachment_kib * 1024)
            accepted = args.cases
        drain_end = time.monotonic() + args.drain_minutes * 60
        drained = False
        while time.monotonic() < drain_end:
            city.run(decide_received, rng, args.approve_share, decisions)
            if decisions["n"] - 1 >= accepted and county.run(quiet) and city.run(quiet):
                drained = True
                break
            time.sleep(1)
        drain_seconds = time.monotonic() - (drain_end - args.drain_minutes * 60)
        for w in workers:
            w.stop()
        # The sweep's grace after the last activity, then what is left; then one more start (its start-up sweep).
        time.sleep(args.leftover_grace + 1)
        left_quiet, parts_quiet = store_leftovers(server), blob_parts(tmp)
        for w in workers:
            w.start(once=True)
        for w in workers:
            w.proc.wait(120)
        left_end, parts_end = store_leftovers(server), blob_parts(tmp)

        out_c, out_y = county.run(outbox_states), city.run(outbox_states)
        in_c, in_y = county.run(inbound_states), city.run(inbound_states)
        decided = decisions["n"] - 1
        figures = {
            "cases": accepted, "decided": decided, "approved": decisions["approved"], "denied": decisions["denied"],
            "kills": kills, "starts": {w.name: w.starts for w in workers}, "drained": drained,
            "drain_seconds": drain_seconds,
            "forward_applied": in_y.get(("case.forward", "applied"), 0),
            "forward_acked": out_c.get(("case.forward", "acknowledged"), 0),
            "decision_applied": in_c.get(("case.decision", "applied"), 0),
            "decision_acked": out_y.get(("case.decision", "acknowledged"), 0),
            "dead": sum(c for o in (out_c, out_y) for (_, s), c in o.items() if s in ("dead", "rejected")),
            "quarantined": sum(c for i in (in_c, in_y) for (_, s), c in i.items() if s == "quarantined"),
            "twice": county.run(twice_recorded) + city.run(twice_recorded),
            "resends": {"county": county.run(resends), "city": city.run(resends)},
            "city_cases": city.run(case_states), "county_cases": county.run(case_states),
            "left_quiet": left_quiet, "parts_quiet": parts_quiet, "left_end": left_end, "parts_end": parts_end,
            "log_levels": log_levels([w.log for w in workers]),
        }
        figures["problems"] = problems(figures)
        if args.keep or figures["problems"]:
            print(f"  worker logs and stores kept in {tmp}")
            args.keep = True
        return figures
    finally:
        for w in workers:
            w.stop()
        for app in apps:
            try:
                Node(app).run(close_transports)
                with app.app_context():
                    db.engine.dispose()
            except Exception as exc:  # never keep sshd or PostgreSQL running because of a clean-up error
                print(f"  clean-up of {app.name}: {exc}", file=sys.stderr)
        server.stop()
        pg.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def problems(f: dict) -> list[str]:
    found = []
    n, d = f["cases"], f["decided"]
    if not f["drained"]:
        found.append("not drained in time")
    if f["forward_applied"] != n:
        found.append(f"city applied {f['forward_applied']} case.forward, expected {n}")
    if f["forward_acked"] != n:
        found.append(f"county has {f['forward_acked']}/{n} case.forward acknowledged")
    if d != n:
        found.append(f"{d}/{n} cases decided")
    if f["decision_applied"] != d:
        found.append(f"county applied {f['decision_applied']} case.decision, expected {d}")
    if f["decision_acked"] != d:
        found.append(f"city has {f['decision_acked']}/{d} case.decision acknowledged")
    if f["twice"]:
        found.append(f"{f['twice']} timeline steps recorded twice")
    if f["dead"]:
        found.append(f"{f['dead']} dead or rejected outbox rows")
    if f["quarantined"]:
        found.append(f"{f['quarantined']} quarantined messages")
    if f["left_end"]:
        found.append(f"{len(f['left_end'])} entries left on the store: {f['left_end'][:5]}")
    if f["parts_end"]:
        found.append(f"{len(f['parts_end'])} temporary files left in the blob stores: {f['parts_end'][:5]}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3, help="minutes of random kills (3)")
    parser.add_argument("--cases", type=int, default=120, help="case.forward the county sends meanwhile (120)")
    parser.add_argument("--attachment-kib", type=int, default=256, help="size of each of the two attachments")
    parser.add_argument("--approve-share", type=float, default=0.5, help="share of cases approved (else denied)")
    parser.add_argument("--outage-seconds", type=float, default=10, help="the SFTP store stopped halfway (0: none)")
    parser.add_argument("--drain-minutes", type=float, default=6, help="most minutes to drain after the kills")
    parser.add_argument("--leftover-grace", type=float, default=15,
                        help="the workers' --leftover-grace (seconds): the sweep's grace period")
    parser.add_argument("--max-life", type=float, default=8,
                        help="a worker is killed 0.2 s to this many seconds after it is up (8)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file to append to")
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    parser.add_argument("--note", help="a note line under this run's table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (kept anyway on a problem)")
    args = parser.parse_args(argv)

    started = datetime.now()
    load = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    f = run(args)
    ok = not f["problems"]
    for p in f["problems"]:
        print(f"  PROBLEM: {p}")
    where = Counter(place(frame) for _, frame in f["kills"])
    frames = Counter(stack.split(" < ")[0] for _, stack in f["kills"])
    who = Counter(name for name, _ in f["kills"])
    resent = {f"{node} {t}": f"{r['resent']}/{r['n']}" for node, by in f["resends"].items() for t, r in by.items()}
    rows = [
        Row(f"chaos: {args.minutes:g} min of SIGKILL at random (each worker 0.2–{args.max_life:g} s after it is up) to 3 real workers (county ×1, city ×2), "
            f"two nodes on PostgreSQL, sshd store, {args.outage_seconds:g} s store outage halfway, "
            f"{f['cases']} case.forward × 2 × {args.attachment_kib} KiB, decisions back",
            f"{len(f['kills'])} kills ({', '.join(f'{k} {v}' for k, v in who.most_common())}); drained "
            f"{f['drain_seconds']:.0f} s after the kills; {f['forward_applied']} forward applied / "
            f"{f['forward_acked']} acknowledged; {f['decided']} decided ({f['approved']} approved, {f['denied']} "
            f"denied), {f['decision_applied']} applied / {f['decision_acked']} acknowledged; "
            f"{f['twice']} steps twice, {f['dead']} dead, {f['quarantined']} quarantined",
            "nothing lost, nothing applied twice, every message acknowledged",
            verdict(ok) + ("" if ok else " — " + "; ".join(f["problems"]))),
        Row("where the kills landed (from the worker's faulthandler dump just before SIGKILL; then the innermost "
            "own frames)",
            "; ".join(f"{k} {v}" for k, v in where.most_common())
            + " — frames: " + ", ".join(f"{k} {v}" for k, v in frames.most_common(12))),
        Row("left behind: store entries / blob-store .part files, when quiet (grace passed) → after the next start",
            f"{len(f['left_quiet'])} / {len(f['parts_quiet'])} → {len(f['left_end'])} / {len(f['parts_end'])}"
            + (f" (quiet: {f['left_quiet'][:4]} {f['parts_quiet'][:4]})" if f["left_quiet"] or f["parts_quiet"]
               else ""),
            "nothing left", verdict(not f["left_end"] and not f["parts_end"])),
        Row("re-sends (sends beyond the first / messages), WARNING / ERROR lines in the worker logs",
            f"{resent}; {f['log_levels'].get('WARNING', 0)} / {f['log_levels'].get('ERROR', 0)}"),
        Row("load average (1, 5, 15 min) at the start / at the end of the run",
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} / " + " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]
    for r in rows:
        print(f"  {r.figure}: {r.measured}" + (f" [{r.result}]" if r.result else ""))
    if not args.no_record:
        record(args.results, started, rows, args.note)
        print(f"appended to {args.results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
