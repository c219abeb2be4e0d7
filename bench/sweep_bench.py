"""The deadline sweep over 1,000,000 open cases against issue 7's target; one run appends its rows to bench/RESULTS.md.

    .venv/bin/python bench/sweep_bench.py                          # 1,000,000 open cases (make bench)
    .venv/bin/python bench/sweep_bench.py --cases 50000 --no-record    # a quick try

A throwaway PostgreSQL server is started the way the tests start theirs (tests/pgserver.py), migrated with
Alembic and seeded with the demo data. Then N cases whose clock runs (accepted, county_review, forwarded,
city_review), made by one INSERT ... SELECT FROM generate_series: deadlines spread from 10 days ago to 30 days
ahead, every flag still "ok" (as if the sweep had not run for weeks), 2 % of them 容缺 cases whose commitment is
met, and --broken whose commitment deadline has passed with the materials still missing. VACUUM ANALYZE.

First, untimed for the target, a catch-up `sweep_flags` as of the previous working day (every flag was "ok": a
quarter of the cases change at once; its time is an info row). Then, timed, each a call of
`delegation.cases.sweep(now)` (what the worker runs every 5 minutes):
  1. the sweep a working day after the last one: a day's worth of cases turn warning or overdue, and the broken
     容缺 commitments are terminated, each case on its own (claim, event, commit);
  2. the regular sweep 5 minutes later: what almost every run of the job is.
Target: each under 5 s (issue 7).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.exchange_bench import RESULTS, Row, record, verdict  # noqa: E402
from bench.lists_bench import demo_database, make_app  # noqa: E402

TARGET_S = 5.0
DB_NAME = "tq_sweep_bench"

OPEN_CASES_SQL = """
INSERT INTO case_file (case_no, query_code, item_id, mode, state, county_code, window_org_id, department_code,
    applicant_kind, applicant_name, applicant_id_code, created_at, created_by, limit_unit, promised_limit,
    accepted_at, due_at, due_basis, due_flag, paused_days, forwarded_at, received_at, commitment_deadline,
    commitment_met_at, version)
SELECT w.county_code || '-B-' || lpad(g::text, 8, '0'), lpad((g % 1000000)::text, 6, '0'), it.id, it.mode,
       CASE WHEN it.mode = 'direct' THEN (ARRAY['accepted', 'county_review'])[1 + g % 2]
            ELSE (ARRAY['forwarded', 'city_review'])[1 + g % 2] END,
       w.county_code, w.id, it.department_code, 'enterprise', '批量测试企业' || g, '91360700MA' || lpad(g::text, 8, '0'),
       :now - interval '20 days', 'bench', it.limit_unit, it.promised_limit,
       :now - interval '19 days',
       :now - interval '10 days' + (g % 40000) * interval '1 second' * 86.4, 'official', 'ok', 0,
       CASE WHEN it.mode <> 'direct' THEN :now - interval '18 days' END,
       CASE WHEN it.mode <> 'direct' AND g % 2 = 1 THEN :now - interval '18 days' END,
       CASE WHEN g % 50 = 0 OR g % :broken_every = 7 THEN :now - interval '1 day' * (1 + g % 5) END,
       CASE WHEN g % 50 = 0 AND g % :broken_every <> 7 THEN :now - interval '3 days' END,
       1
FROM generate_series(1, :n) AS g
JOIN LATERAL (SELECT id, mode, department_code, limit_unit, promised_limit FROM item
              ORDER BY id OFFSET (g % (SELECT count(*) FROM item)) LIMIT 1) it ON true
JOIN LATERAL (SELECT o.id, o.division_code AS county_code FROM org o
              WHERE o.kind = 'window' ORDER BY o.id
              OFFSET (g % (SELECT count(*) FROM org WHERE kind = 'window')) LIMIT 1) w ON true
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--broken", type=int, default=100, help="容缺 commitments broken at the first sweep")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print the figures, do not append to RESULTS.md")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the sweep's statements")
    parser.add_argument("--note", help="a note under the table (what state of the code it measured)")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from tests.pgserver import PgServer, wait_ready

    started = datetime.now()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    server = PgServer().start()
    try:
        wait_ready(server.url())
        url = demo_database(server, DB_NAME)
        app = make_app(url)
        with app.app_context():
            from app.extensions import db
            from delegation import cases
            from delegation.models import Case, CaseEvent

            # A Monday 10:00 in Shanghai, so that "one working day later" is the Tuesday.
            now = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
            t0 = time.perf_counter()
            db.session.execute(sa.text("SET LOCAL work_mem = '256MB'"))
            db.session.execute(sa.text(OPEN_CASES_SQL), {"now": now, "n": args.cases,
                                                          "broken_every": max(1, args.cases // args.broken)})
            db.session.commit()
            insert_s = time.perf_counter() - t0
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE case_file"))
            open_n = db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar()
            broken_n = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
                Case.commitment_deadline < now, Case.commitment_met_at.is_(None))).scalar()
            db.session.rollback()
            print(f"{open_n:,} open cases ({broken_n:,} broken commitments) inserted in {insert_s:.1f} s", flush=True)

            def timed_sweep(at):
                t0 = time.perf_counter()
                result = cases.sweep(at)
                db.session.commit()
                return time.perf_counter() - t0, result

            # Catch-up: the flags as the sweep of the previous working day left them (every one was "ok").
            from delegation import clock

            before = now - timedelta(days=3)  # the Friday before, same time
            t0 = time.perf_counter()
            caught_up = clock.sweep_flags(before)
            db.session.commit()
            catchup_s = time.perf_counter() - t0
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE case_file"))
            print(f"catch-up: {caught_up:,} flags in {catchup_s:.1f} s", flush=True)
            if args.explain:
                _explain_sweep(db, now)
            day_s, day = timed_sweep(now)
            print(f"a working day later: {day_s:.2f} s {day}", flush=True)
            steady_s, steady = timed_sweep(now + timedelta(minutes=5))
            print(f"steady sweep: {steady_s:.2f} s {steady}", flush=True)
            terminated = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent).where(
                CaseEvent.action == "terminate")).scalar()
            assert terminated == broken_n == day["terminated"], (terminated, broken_n, day)
            flags = dict(db.session.execute(sa.select(Case.due_flag, sa.func.count()).where(
                Case.state.in_(("accepted", "county_review", "forwarded", "city_review")))
                .group_by(Case.due_flag)).all())
            migration = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()

    target = "< 5 s (1,000,000 open cases)"
    rows = [
        Row(f"deadline sweep a working day after the last one (the worker was down for a day): "
            f"{day['flags_changed']:,} flags changed in one UPDATE and {day['terminated']} broken 容缺 commitments "
            f"terminated (one transaction each), {open_n:,} open cases, PostgreSQL", f"{day_s:.2f} s", target,
            verdict(day_s < TARGET_S)),
        Row(f"deadline sweep, the regular run 5 minutes later ({steady['flags_changed']:,} flags changed, "
            f"{steady['terminated']} terminated; open cases now "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(flags.items())) + ")",
            f"{steady_s:.2f} s", target, verdict(steady_s < TARGET_S)),
        Row(f"catch-up sweep_flags after weeks without a sweep (every flag still ok: {caught_up:,} change at once; "
            f"cost is the row and index writes)", f"{catchup_s:.1f} s"),
        Row(f"insert of the {open_n:,} open cases (one INSERT … SELECT), then VACUUM ANALYZE", f"{insert_s:.1f} s"),
        Row("load average (1, 5, 15 min) when the run started", load),
    ]
    for r in rows:
        print(f"{r.figure}: {r.measured} [{r.target}] {r.result}")
    if not args.no_record:
        note = args.note or f"deadline sweep benchmark (bench/sweep_bench.py), schema at migration {migration}."
        record(args.results, started, rows, note)
        print(f"appended to {args.results}")
    return 0


def _explain_sweep(db, now) -> None:
    """EXPLAIN ANALYZE of the sweep's statements (in a transaction rolled back: nothing changes)."""
    import sqlalchemy as sa

    from bench.lists_bench import capture_statements, explain
    from delegation import clock

    statements = []

    def grab(conn_, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", grab)
    try:
        clock.sweep_flags(now)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", grab)
        db.session.rollback()
    from delegation.cases import broken_commitments_query

    statements = [s for s in statements if s[0].lstrip().upper().startswith("UPDATE")]
    statements += capture_statements(lambda: db.session.execute(broken_commitments_query(now)).all())
    db.session.rollback()
    print(explain(statements), flush=True)


if __name__ == "__main__":
    sys.exit(main())
