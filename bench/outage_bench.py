"""An hour-long outage of the city node under steady county intake (issue 7, benchmark 6); one run appends its rows
to bench/RESULTS.md.

    .venv/bin/python bench/outage_bench.py                       # 60 simulated minutes down, as `make bench` runs it
    .venv/bin/python bench/outage_bench.py --outage-minutes 90 --per-minute 4 --no-record

Two nodes as bench/exchange_bench.py builds them (SQLite, a real sshd on loopback as the exchange host, county->city
in XML, receipts in JSON). The clock is compressed: every exchange cycle is EXCHANGE_INTERVAL_SECONDS (5 s) of
simulated time, passed to the bus as `now` (send_due, expire_receipts: retries, backoff and receipt timeouts all
follow it), and the county accepts --per-minute forward_only cases, two 100 KB attachments each, every simulated
minute throughout. After --warmup-minutes of normal traffic the SFTP server is stopped and the city node is down
(it runs no cycle) for --outage-minutes; the county keeps accepting and trying. Then the server starts again, the
city comes back, and the cycles go on until every county message is acknowledged (at most --drain-minutes).

Pass: every message delivered after recovery and acknowledged, the city applied each exactly once (N applied, N
cases in city_review), none dead-lettered, none quarantined, nothing left on the store. The figure is how long after
recovery the backlog took to drain (simulated and real), and the most attempts any message used.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (bench/ is then sys.path[0]) as well as with -m
    sys.path.insert(0, str(ROOT))

from bench.exchange_bench import (  # noqa: E402
    CITY,
    COUNTY,
    RESULTS,
    Node,
    Row,
    build_pair,
    close_transports,
    delivery_counts,
    enqueue_forwards,
    losses,
    machine,
    outbox_states,
    record,
    unacknowledged,
    verdict,
)

STEP_SECONDS = 5  # one exchange cycle, as EXCHANGE_INTERVAL_SECONDS


def store_files(server) -> set[str]:
    return {str(p.relative_to(server.root)) for p in server.root.rglob("*") if p.is_file()}


def max_attempts_used() -> int:
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.models import OutboxMessage

    return db.session.execute(sa.select(sa.func.coalesce(sa.func.max(OutboxMessage.attempts), 0))
                              .where(OutboxMessage.type == "case.forward")).scalar_one()


def configured_max_attempts() -> int:
    from exchange.bus import get_bus

    return get_bus().max_attempts


def simulate(args) -> dict:
    from app.extensions import db, utcnow
    from exchange.inbox import receive
    from exchange.outbox import expire_receipts, send_due
    from tests.sftpserver import SftpServer

    tmp = Path(tempfile.mkdtemp(prefix="tongquan-outage-"))
    server = SftpServer(tmp / "sftp")
    apps: list = []
    try:
        server.start()
        county_app, city_app = build_pair(tmp, server, apps)
        # Every failed try logs a warning: hundreds in an hour of outage. Errors (a dead letter) still show.
        for name in ("exchange.outbox", "exchange.inbox"):
            logging.getLogger(name).setLevel(logging.ERROR)
        county, city = Node(county_app), Node(city_app)

        def county_cycle(now):
            county.run(expire_receipts, now)
            county.run(send_due, now)
            county.run(receive)

        def city_cycle(now):
            city.run(receive)
            city.run(send_due, now)
            city.run(expire_receipts, now)

        now = utcnow()
        cycles, accepted, seed = 0, 0, 1
        stats = {"accepted_before": 0, "accepted_during": 0, "accepted_after": 0}

        def step(phase: str, city_up: bool):
            nonlocal now, cycles, accepted, seed
            now += timedelta(seconds=STEP_SECONDS)
            cycles += 1
            k = int(cycles * STEP_SECONDS * args.per_minute / 60 + 1e-9) - accepted  # steady: so many a minute
            if k:
                county.run(enqueue_forwards, k, seed)
                seed += 1
                accepted += k
                stats[f"accepted_{phase}"] += k
            county_cycle(now)
            if city_up:
                city_cycle(now)

        real0 = time.perf_counter()
        steps = int(args.warmup_minutes * 60 / STEP_SECONDS)
        for _ in range(steps):
            step("before", True)
        backlog_at_outage = county.run(unacknowledged)
        print(f"  warm-up: {args.warmup_minutes:g} simulated minutes, {accepted} accepted, "
              f"{accepted - backlog_at_outage} acknowledged", flush=True)

        if not args.store_up:
            server.stop()
        on_store_at_stop = store_files(server)
        steps = int(args.outage_minutes * 60 / STEP_SECONDS)
        real_outage = time.perf_counter()
        for i in range(steps):
            step("during", False)
        # A real outage: nothing reaches a stopped store (issue 21: the test server once let a reconnecting
        # client keep a session past its stop()). With the store up, the county's messages pile up there.
        reached = len(store_files(server) - on_store_at_stop) if not args.store_up else None
        waiting = county.run(unacknowledged)
        out_states = county.run(outbox_states)
        attempts_during = county.run(max_attempts_used)
        dead_during = sum(c for (_, s), c in out_states.items() if s == "dead")
        print(f"  outage: {args.outage_minutes:g} simulated minutes ({time.perf_counter() - real_outage:.0f} s real), "
              f"{stats['accepted_during']} accepted meanwhile; {waiting} waiting, {dead_during} dead, "
              f"most attempts used {attempts_during}", flush=True)

        if not args.store_up:
            server.start()
        recovered_at, real_recovered = now, time.perf_counter()
        drained_at = None
        steps = int(args.drain_minutes * 60 / STEP_SECONDS)
        for _ in range(steps):
            step("after", True)
            if not county.run(unacknowledged):
                drained_at = now
                break
        real_drain = time.perf_counter() - real_recovered
        # The last messages' receipts: a few more cycles without intake, so that the city's outbox is empty too.
        for _ in range(3):
            now += timedelta(seconds=STEP_SECONDS)
            county_cycle(now)
            city_cycle(now)
        real_total = time.perf_counter() - real0

        problems = []
        if reached:
            problems.append(f"{reached} files reached the store while it was stopped")
        if dead_during:
            problems.append(f"{dead_during} dead-lettered during the outage")
        if drained_at is None:
            problems.append(f"not drained {args.drain_minutes:g} simulated minutes after recovery: "
                            f"{county.run(unacknowledged)} unacknowledged")
        problems += losses(accepted, delivery_counts(county, city, server))
        return {"accepted": accepted, **stats, "waiting_at_recovery": waiting, "dead_during": dead_during,
                "reached_during": reached,
                "attempts_during": attempts_during, "max_attempts": county.run(max_attempts_used),
                "configured_max": county.run(configured_max_attempts),
                "drain_sim": (drained_at - recovered_at).total_seconds() if drained_at else None,
                "drain_real": real_drain, "real_total": real_total, "problems": problems}
    finally:
        for app in apps:
            try:
                Node(app).run(close_transports)
                with app.app_context():
                    db.engine.dispose()
            except Exception as exc:  # never keep sshd running because of a clean-up error
                print(f"  clean-up of {app.name}: {exc}", file=sys.stderr)
        server.stop()
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-minutes", type=float, default=60, help="simulated minutes the city is down (60)")
    parser.add_argument("--warmup-minutes", type=float, default=10, help="simulated minutes of normal traffic first")
    parser.add_argument("--drain-minutes", type=float, default=30,
                        help="simulated minutes after recovery within which everything must be acknowledged")
    parser.add_argument("--per-minute", type=float, default=2, help="cases the county accepts per simulated minute")
    parser.add_argument("--store-up", action="store_true",
                        help="only the city node is down; the SFTP server stays up (the county's messages pile up "
                             "unread in the city's inbox, their receipts overdue)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file to append to")
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    parser.add_argument("--note", help="a note line under this run's table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    started = datetime.now()
    load = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    which = " (the store up)" if args.store_up else ""
    print(f"outage of the city node{which}: {args.outage_minutes:g} simulated "
          f"minutes, county intake {args.per_minute:g} case(s) a simulated minute, a cycle every {STEP_SECONDS} "
          "simulated seconds", flush=True)
    r = simulate(args)
    ok = not r["problems"]
    for p in r["problems"]:
        print(f"  PROBLEM: {p}")
    drain = (f"drained {r['drain_sim'] / 60:.1f} simulated min after recovery ({r['drain_real']:.1f} s real)"
             if r["drain_sim"] is not None else "NOT drained")
    measured = (f"{r['accepted']} messages ({r['accepted_during']} accepted during the outage, "
                f"{r['waiting_at_recovery']} waiting at recovery): {drain}; {r['dead_during']} dead during the outage; "
                + (f"{r['reached_during']} files reached the stopped store; " if r["reached_during"] is not None else "")
                + f"most attempts used {r['max_attempts']} of {r['configured_max']}")
    print(f"  {measured}; {r['real_total']:.0f} s real in all")
    end_load = os.getloadavg()
    rows = [
        Row(f"city node down {args.outage_minutes:g} simulated min ("
            + ("SFTP server up, the city runs no cycle" if args.store_up else "SFTP server stopped")
            + ", compressed clock, a cycle "
            f"every {STEP_SECONDS} s), county intake {args.per_minute:g}/min, 2×100 KB attachments, SQLite",
            measured, "every message delivered after recovery, none dead-lettered, none lost",
            verdict(ok) + ("" if ok else " — " + "; ".join(r["problems"]))),
        Row("load average (1, 5, 15 min) at the start / at the end of the run",
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} / {end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f}"),
    ]
    if not args.no_record:
        record(args.results, started, rows, args.note)
        print(f"appended to {args.results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
