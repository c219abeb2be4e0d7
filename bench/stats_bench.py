"""The statistics dashboard on many cases, against issue 6's target; one run appends its rows to bench/RESULTS.md.

    .venv/bin/python bench/stats_bench.py                      # 1,000,000 cases (make bench)
    .venv/bin/python bench/stats_bench.py --cases 50000 --no-record    # a quick try
    .venv/bin/python bench/stats_bench.py --only-reported --reported 20000 --runs 3 --no-record   # the city row, small

A throwaway PostgreSQL server is started the way the tests start theirs (tests/pgserver.py), migrated with
Alembic, seeded with the demo data and then `seed_bulk(N)` (delegation/bulk.py, timed), VACUUM ANALYZE. Then the
dashboard's default view: summary + breakdown by month, mode and county over the last 12 months, no other filter,
exactly what the page asks for. One warm-up, then --runs timed runs: P50 / P95. Target: < 1 s (issue 6).

The city fed from twenty county nodes (issue 18, --reported N, 1,000,000 by default, 0 to skip): a second database
with the demo data and N case facts as the city stores them from `stats.case_facts` (bench/reported_facts.py), and
the same default view on it. Target: < 1 s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.exchange_bench import RESULTS, Row, machine, record, verdict  # noqa: E402
from bench.lists_bench import make_app, percentile, seeded_database  # noqa: E402

from delegation.deadlines import SHANGHAI  # noqa: E402

TARGET_S = 1.0
DIRTY = 5000


def dashboard(filters, now):
    from supervision.statistics import rating_follow_ups, report

    figures = report(filters, ("month", "mode", "county"), now)  # what the dashboard asks for: one call
    rating_follow_ups(now)  # and its 差评整改 line (the city's own tasks and those the county nodes reported)
    return figures["summary"], [figures["by"][by] for by in ("month", "mode", "county")]


def default_filters(now: datetime):
    from supervision.statistics import Filters

    today = (now + timedelta(hours=8)).date()
    return Filters(date_from=date(today.year - 1, today.month, 1) if today.month < 12 else date(today.year, 1, 1),
                   date_to=today)


def explain(conn, filters, now) -> str:
    """EXPLAIN ANALYZE of each statement the default view runs (captured through the engine's events)."""
    import sqlalchemy as sa

    from app.extensions import db

    captured = []

    def grab(conn_, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", grab)
    try:
        dashboard(filters, now)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", grab)
    out = []
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in captured:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            out.append(statement[:200].replace("\n", " ") + "\n" + "\n".join(r[0] for r in cur.fetchall()))
    finally:
        raw.close()
    return "\n\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print the figures, do not append to RESULTS.md")
    parser.add_argument("--explain", type=Path, help="write EXPLAIN ANALYZE of the default view's statements here")
    parser.add_argument("--note", help="a note under the table (what state of the code it measured)")
    parser.add_argument("--reported", type=int, default=1_000_000,
                        help="case facts reported by 20 county nodes to the city (issue 18); 0: skip that row")
    parser.add_argument("--only-reported", action="store_true", help="only the city fed from county nodes")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from tests.pgserver import PgServer, wait_ready

    started = datetime.now()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    server = PgServer().start()
    try:
        wait_ready(server.url())
        city_rows = reported_rows(server, args.reported, args.runs,
                                  args.explain if args.only_reported else None) if args.reported else []
        if args.only_reported:
            rows = city_rows + [Row("load average (1, 5, 15 min) when the run started", load)]
            return finish(args, started, rows, "(none)")
        url, seeded, seed_s, vacuum_s = seeded_database(server, "tq_stats_bench", args.cases, args.seed)
        app = make_app(url)
        with app.app_context():
            from app.extensions import db
            from delegation.models import Case
            from supervision import rollup

            rollup.mark_all_dirty()  # seed_bulk writes with plain INSERTs, which the change tracking does not see
            db.session.commit()
            t0 = time.perf_counter()
            rollup.refresh()
            db.session.commit()
            rollup_s = time.perf_counter() - t0
            size = db.session.execute(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
            print(f"seeded {seeded} in {seed_s:.1f} s, VACUUM ANALYZE {vacuum_s:.1f} s, database {size}", flush=True)

            now = datetime.now(timezone.utc)
            filters = default_filters(now)
            from supervision.statistics import ensure_calendar

            ensure_calendar(now)
            t0 = time.perf_counter()
            total, _ = dashboard(filters, now)  # warm-up (and the calendar, if the first call fills it)
            warm_s = time.perf_counter() - t0
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                dashboard(filters, now)
                times.append(time.perf_counter() - t0)
                db.session.rollback()
            p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
            # Windows at work: cases changed since the last refresh (which runs every minute) are read from the
            # cases; here the DIRTY newest cases (a minute of 80 changes a second).
            newest = sa.select(Case.id).order_by(Case.id.desc()).limit(DIRTY)
            db.session.execute(sa.insert(rollup.StatsDirty).from_select(["case_id"], newest))
            db.session.commit()
            dirty_times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                dashboard(filters, now)
                dirty_times.append(time.perf_counter() - t0)
                db.session.rollback()
            dirty_p50, dirty_p95 = percentile(dirty_times, 0.5), percentile(dirty_times, 0.95)
            t0 = time.perf_counter()
            rollup.refresh()
            db.session.commit()
            month_refresh_s = time.perf_counter() - t0
            print(f"dashboard default view: warm-up {warm_s:.3f} s, P50 {p50:.3f} s, P95 {p95:.3f} s "
                  f"({total['total_cases']:,} cases in the period)", flush=True)
            if args.explain:
                args.explain.write_text(explain(None, filters, now), encoding="utf-8")
                print(f"EXPLAIN ANALYZE written to {args.explain}")
            migration = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()

    n = args.cases
    rate = n / seed_s if seed_s else 0
    rows = [
        Row(f"statistics dashboard default view (summary + by month, mode, county; last 12 months "
            f"{filters.date_from}…{filters.date_to}, {total['total_cases']:,} cases in the period), PostgreSQL, "
            f"N={n:,}, {args.runs} runs after a warm-up: P50 (P95 {p95:.3f} s)",
            f"{p50:.3f} s", "< 1 s (1,000,000 cases, issue 6)", verdict(p95 < TARGET_S)),
        Row(f"seed-bulk {n:,} cases (+ {seeded['materials']:,} materials, {seeded['pushes']:,} pushes, "
            f"{seeded['feedback']:,} feedback, {seeded['ratings']:,} ratings), then VACUUM ANALYZE {vacuum_s:.1f} s; "
            f"database {size}", f"{seed_s:.1f} s ({rate:,.0f} cases/s)"),
        Row("dashboard first call after VACUUM ANALYZE (cold caches)", f"{warm_s:.3f} s"),
        Row(f"the same view with {DIRTY:,} cases changed since the last rollup refresh (read from the cases): "
            f"P50 (P95 {dirty_p95:.3f} s)",
            f"{dirty_p50:.3f} s"),
        Row("rollup build over every month (`stats refresh` after seed-bulk)", f"{rollup_s:.1f} s"),
        Row(f"rollup refresh of {DIRTY:,} changed cases", f"{month_refresh_s:.2f} s"),
        *city_rows,
        Row("load average (1, 5, 15 min) when the run started", load),
    ]
    return finish(args, started, rows, migration)


def reported_rows(server, n: int, runs: int, explain_to: Path | None = None) -> list:
    """The city's dashboard over N facts reported by twenty county nodes (bench/reported_facts.py)."""
    from bench.lists_bench import demo_database
    from bench.reported_facts import COUNTY_NODES, seed_reported

    app = make_app(demo_database(server, "tq_stats_reported"))
    with app.app_context():
        from app.extensions import db
        from supervision.statistics import ensure_calendar

        now = datetime.now(timezone.utc)
        fed = seed_reported(n, (now + timedelta(hours=8)).date())
        filters = default_filters(now)
        ensure_calendar(now)
        db.session.commit()
        t0 = time.perf_counter()
        total, by = dashboard(filters, now)
        warm_s = time.perf_counter() - t0
        assert len(by[2]) >= COUNTY_NODES, "every reporting county in the county breakdown"
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            dashboard(filters, now)
            times.append(time.perf_counter() - t0)
            db.session.rollback()
        if explain_to:
            explain_to.write_text(explain(None, filters, now), encoding="utf-8")
            print(f"EXPLAIN ANALYZE written to {explain_to}")
        db.session.remove()
        db.engine.dispose()
    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
    print(f"city fed from {fed['counties']} county nodes: {n:,} facts written in {fed['insert_s']:.1f} s, reported "
          f"rollups {fed['rollup_s']:.1f} s; dashboard warm-up {warm_s:.3f} s, P50 {p50:.3f} s, P95 {p95:.3f} s "
          f"({total['total_cases']:,} cases in the period)", flush=True)
    return [
        Row(f"city dashboard default view fed from {fed['counties']} county nodes' reports (stats.case_facts, issue "
            f"18; {total['total_cases']:,} of N={n:,} reported cases in the period, no local case), PostgreSQL, "
            f"{runs} runs after a warm-up: P50 (P95 {p95:.3f} s)",
            f"{p50:.3f} s", "< 1 s (1,000,000 cases, issue 18)", verdict(p95 < TARGET_S)),
        Row(f"writing {n:,} reported facts {fed['insert_s']:.1f} s, then the reported rollups",
            f"{fed['rollup_s']:.1f} s"),
    ]


def finish(args, started, rows: list, migration: str) -> int:
    for r in rows:
        print(f"{r.figure}: {r.measured} [{r.target}] {r.result}")
    if not args.no_record:
        note = args.note or f"statistics benchmark (bench/stats_bench.py), schema at migration {migration}."
        record(args.results, started, rows, note)
        print(f"appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
