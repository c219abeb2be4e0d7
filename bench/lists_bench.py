"""The case lists at 1,000,000 cases against issue 7's target; one run appends its rows to bench/RESULTS.md.

    .venv/bin/python bench/lists_bench.py                          # 1,000,000 cases (make bench)
    .venv/bin/python bench/lists_bench.py --cases 50000 --no-record    # a quick try
    .venv/bin/python bench/lists_bench.py --keep --no-record        # leave the seeded server running (prints its URL)
    .venv/bin/python bench/lists_bench.py --url postgresql+psycopg://postgres@127.0.0.1:PORT/tq_lists_bench --no-record
                                                                    # time again on a database seeded before

A throwaway PostgreSQL server is started the way the tests start theirs (tests/pgserver.py), migrated with
Alembic, seeded with the demo data and then `seed_bulk(N)` (delegation/bulk.py), VACUUM ANALYZE. Then, through the
whole Flask stack in this process (the test client: routing, authentication, the query, serialisation / the
template), each list --runs times after a warm-up, first page and a keyset-deep page (the cursor of the row
--depth rows down): a county window's case list (GET /api/v1/cases as its window user, and the window desk
/window) and the city approver's queue (GET /api/v1/cases?state=city_review as city-approver, and the city desk
/city). P50 / P95 per list. Target: P95 < 50 ms (issue 7). --explain writes EXPLAIN ANALYZE of every statement.

Issue 14/15's desks too: the window worklist's queues, filters, sorts and search, the county review desk /review,
/work (我的待办 and 本单位未分配) of a window clerk, a county reviewer and the city approver, and the bar of both
counts that every desk draws (assignment.counts, timed alone). So that 我的待办 has a history to read, the staff of
the largest county and the city approver are given their share of the cases first (assign_share: every
ASSIGN_EVERY-th case, all of them in its organisation's history, open or closed, as a unit of ASSIGN_EVERY clerks
would have had; once per database).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.exchange_bench import RESULTS, Row, record, verdict  # noqa: E402

TARGET_MS = 50.0
NODE_ID = "360700"
DB_NAME = "tq_lists_bench"


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def make_app(url: str):
    from app import create_app
    from config import load_settings

    env = {"TONGQUAN_ENV": "testing", "DATABASE_URL": url, "NODE_ID": NODE_ID,
           "INSTANCE_PATH": tempfile.mkdtemp(prefix="tq-bench-"), "SECRET_KEY": "bench-secret-key-0123456789"}
    return create_app(load_settings(env))


def demo_database(server, name: str) -> str:
    """Create `name` on the server, migrate it and load the demo data (as `make run` does); its URL."""
    import flask_migrate

    from tests.pgserver import create_database

    url = create_database(server.url(), name)
    app = make_app(url)
    with app.app_context():
        from app.extensions import db
        from delegation.seed import seed_demo

        flask_migrate.upgrade()
        seed_demo(NODE_ID)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return url


def seeded_database(server, name: str, cases: int, seed: str) -> tuple[str, dict, float, float]:
    """demo_database(server, name), then `seed_bulk(cases)` and VACUUM ANALYZE.
    Returns (url, what seed_bulk added, seconds it took, seconds of the VACUUM ANALYZE)."""
    import sqlalchemy as sa

    url = demo_database(server, name)
    app = make_app(url)
    with app.app_context():
        from app.extensions import db
        from delegation.bulk import seed_bulk

        t0 = time.perf_counter()
        seeded = seed_bulk(cases, seed=seed,
                           progress=lambda done, s: print(f"  seeded {done:,} in {s:.0f} s", flush=True))
        seed_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        vacuum_s = time.perf_counter() - t0
        db.session.remove()
        db.engine.dispose()
    return url, seeded, seed_s, vacuum_s


ASSIGN_EVERY = 10


def assign_share(county_code: str) -> int:
    """Give window-<county>, review-<county> and city-approver every ASSIGN_EVERY-th case their organisation ever
    held (the window: every case of the county; the bureau: those it accepted in direct and delegated_review mode;
    the city: those forwarded to it, in the case's department), unless they have assignments already. The number
    of assignments added."""
    import sqlalchemy as sa

    from app.extensions import db

    users = dict(db.session.execute(sa.text("SELECT username, id FROM app_user WHERE username IN (:w, :r, :c)"),
                                    {"w": f"window-{county_code}", "r": f"review-{county_code}",
                                     "c": "city-approver"}).all())
    if db.session.execute(sa.text("SELECT count(*) FROM case_assignment WHERE user_id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)), {"ids": list(users.values())}).scalar():
        return 0
    insert = ("INSERT INTO case_assignment (case_id, org_code, user_id, assigned_by, assigned_at) "
              "SELECT id, {org}, :user, 'bench', created_at FROM case_file WHERE {where} AND id % :every = 0 "
              "ON CONFLICT DO NOTHING")
    added = 0
    for org, where, user in (
            ("county_code || '-window'", "county_code = :county", f"window-{county_code}"),
            ("county_code || '-bureau'", "county_code = :county AND accepted_at IS NOT NULL AND mode <> 'forward_only'",
             f"review-{county_code}"),
            ("department_code", "forwarded_at IS NOT NULL AND mode <> 'direct'", "city-approver")):
        added += db.session.execute(sa.text(insert.format(org=org, where=where)),
                                    {"user": users[user], "county": county_code, "every": ASSIGN_EVERY}).rowcount
    mark_held()
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE case_assignment"))
    return added


def mark_held() -> int:
    """case_assignment.held as the engine keeps it (delegation.assignment_held): true only for the organisation
    holding an open case. The rows above were written around the engine, and a database seeded before migration
    0031 has its backfill (every open case's rows). The number of rows changed."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.assignment import holder_expr
    from delegation.assignment_models import CaseAssignment
    from delegation.models import Case
    from delegation.workflow import FINAL_STATES

    held = sa.and_(Case.state.not_in([s.value for s in FINAL_STATES]), CaseAssignment.org_code == holder_expr())
    return db.session.execute(sa.update(CaseAssignment).where(CaseAssignment.case_id == Case.id,
                                                              CaseAssignment.held != held)
                              .values(held=held).execution_options(synchronize_session=False)).rowcount


def login(client, username: str, password: str = "demo") -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


def capture_statements(fn):
    """The SELECT statements fn() sends, with their parameters."""
    import sqlalchemy as sa

    from app.extensions import db

    captured = []

    def grab(conn_, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", grab)
    try:
        fn()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", grab)
    return captured


def explain(statements) -> str:
    from app.extensions import db

    out = []
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, parameters in statements:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            out.append(statement.replace("\n", " ") + "\n" + repr(parameters) + "\n"
                       + "\n".join(r[0] for r in cur.fetchall()))
        raw.rollback()
    finally:
        raw.close()
    return "\n\n".join(out)


def _service_rows(app, username: str, lists, runs: int) -> list[tuple[str, str, list[float], int]]:
    """Time worklist.worklist + worklist.queue_counts for each window desk list's query string, as its page calls
    them (a fresh session each time, as a request has)."""
    from urllib.parse import parse_qs, urlsplit

    import sqlalchemy as sa

    from app.extensions import db, utcnow
    from delegation import worklist
    from delegation.actors import Actor
    from delegation.models import User

    user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
    actor = Actor.for_user(user)
    db.session.remove()
    out = []
    for _who, label, path, _api in lists:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        kwargs = {"queue": query.get("queue", "submitted"), "q": query.get("q"), "due": query.get("due"),
                  "sort": query.get("sort", "registered"),
                  "after": int(query["after"]) if "after" in query else None,
                  "before": int(query["before"]) if "before" in query else None}

        def call():
            page = worklist.worklist(actor, **kwargs, limit=30)
            worklist.queue_counts(actor, utcnow())
            db.session.remove()
            return page

        n_rows = len(call().rows)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        name = f"worklist service (worklist + queue_counts, no page) for: {label}"
        out.append((name, path, times, n_rows))
        print(f"{name}: P50 {percentile(times, 0.5):.1f} ms, P95 {percentile(times, 0.95):.1f} ms", flush=True)
    return out


def _assignment_count_rows(usernames, runs: int) -> list[tuple[str, str, list[float], int]]:
    """Time assignment.counts (the 我的待办 / 本单位未分配 bar every desk draws) for each user, as a page calls it."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation import assignment
    from delegation.actors import Actor
    from delegation.models import User

    out = []
    for username in usernames:
        actor = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())
        db.session.remove()

        def call():
            found = assignment.counts(actor)
            db.session.remove()
            return found

        found = call()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        name = (f"assignment counts (the desks' bar: 我的待办 {found['mine']:,}, 本单位未分配 {found['unassigned']:,}"
                f"{'+' if found['unassigned_more'] else ''}) as {username}")
        out.append((name, "assignment.counts", times, 0))
        print(f"{name}: P50 {percentile(times, 0.5):.1f} ms, P95 {percentile(times, 0.95):.1f} ms", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=100, help="timed requests per list (after one warm-up)")
    parser.add_argument("--depth", type=int, default=5_000, help="rows down the list for the deep page's cursor")
    parser.add_argument("--seed", default="bench")
    parser.add_argument("--url", help="an already seeded database (skips starting a server and seeding)")
    parser.add_argument("--keep", action="store_true", help="leave the server running at the end (prints its URL)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print the figures, do not append to RESULTS.md")
    parser.add_argument("--explain", type=Path, help="write EXPLAIN ANALYZE of each list's statements here")
    parser.add_argument("--note", help="a note under the table (what state of the code it measured)")
    parser.add_argument("--only", help="time only the lists whose label matches this regular expression")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from tests.pgserver import PgServer, wait_ready

    started = datetime.now()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    server = None
    seeded, seed_s = None, None
    try:
        if args.url:
            url = args.url
        else:
            server = PgServer().start()
            wait_ready(server.url())
            url, seeded, seed_s, _ = seeded_database(server, DB_NAME, args.cases, args.seed)
            print(f"seeded {args.cases:,} cases in {seed_s:.1f} s; database {url}", flush=True)
        app = make_app(url)
        results: list[tuple[str, str, list[float], int]] = []
        explains = []
        with app.app_context():
            from app.extensions import db
            from delegation.models import Case
            from app.web.city import _queue_filter

            total = db.session.execute(sa.text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'case_file'")
                                       ).scalar()
            county = db.session.execute(sa.select(Case.county_code, sa.func.count()).group_by(Case.county_code)
                                        .order_by(sa.func.count().desc()).limit(1)).first()
            county_code, county_cases = county
            assigned = assign_share(county_code)
            if assigned:
                print(f"assigned {assigned:,} cases to the staff of {county_code} and the city approver", flush=True)
            # Deep cursors: the id of the row --depth rows down each list, in the list's own order.
            window_deep = db.session.execute(sa.select(Case.id).where(Case.county_code == county_code)
                                             .order_by(Case.id.desc()).offset(min(args.depth, county_cases // 2))
                                             .limit(1)).scalar()
            recent_deep = window_deep
            city_where = (Case.mode != "direct", Case.forwarded_at.is_not(None))
            city_review_n = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
                *city_where, Case.state == "city_review")).scalar()
            city_deep = db.session.execute(sa.select(Case.id).where(*city_where, Case.state == "city_review")
                                           .order_by(Case.id.desc()).offset(min(args.depth, city_review_n // 2))
                                           .limit(1)).scalar()
            queue_n = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
                *city_where, _queue_filter())).scalar()
            queue_deep = db.session.execute(sa.select(Case.id).where(*city_where, _queue_filter()).order_by(
                Case.due_at.is_(None), Case.due_at, Case.id).offset(min(args.depth, queue_n // 2)).limit(1)).scalar()
            # the 在办 queue's deep page in deadline order (issue 14): the row --depth down that queue
            in_progress = ("accepted", "county_review", "forwarded", "city_review", "suspended")
            in_progress_n = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
                Case.county_code == county_code, Case.state.in_(in_progress))).scalar()
            in_progress_deep = db.session.execute(sa.select(Case.id).where(
                Case.county_code == county_code, Case.state.in_(in_progress)).order_by(
                Case.due_at.is_(None), Case.due_at, Case.id).offset(min(args.depth, in_progress_n // 2)).limit(1)
            ).scalar()
            # the county review desk's queue (app/web/review.py) and the row --depth down it in deadline order
            from app.web.review import _queue_filter as review_filter
            review_n = db.session.execute(sa.select(sa.func.count()).select_from(Case).where(
                Case.county_code == county_code, review_filter())).scalar()
            review_deep = db.session.execute(sa.select(Case.id).where(
                Case.county_code == county_code, review_filter()).order_by(
                Case.due_at.is_(None), Case.due_at, Case.id).offset(min(args.depth, review_n // 2)).limit(1)
            ).scalar()
            # the window worklist's search (issue 14): the particulars of one case halfway down the county's list
            probe = db.session.execute(sa.select(Case.case_no, Case.applicant_id_code, Case.applicant_phone,
                                                 Case.applicant_name).where(Case.id == window_deep)).one()
            db.session.remove()

            window_user, city_user, review_user = f"window-{county_code}", "city-approver", f"review-{county_code}"
            from app.auth import issue_token
            from delegation.models import User

            def token(username):
                user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
                t = issue_token(user)
                db.session.remove()
                return t

            api_headers = {"window": {"Authorization": f"Bearer {token(window_user)}"},
                           "city": {"Authorization": f"Bearer {token(city_user)}"}}
        clients = {"window": app.test_client(), "city": app.test_client(), "review": app.test_client()}
        login(clients["window"], window_user)
        login(clients["city"], city_user)
        login(clients["review"], review_user)

        lists = [
            ("window", f"API county window list, first page (GET /api/v1/cases as {window_user}, 50 rows)",
             "/api/v1/cases", True),
            ("window", f"API county window list, deep page (after the row {min(args.depth, county_cases // 2):,} down)",
             f"/api/v1/cases?after={window_deep}", True),
            ("window", "window desk /window, first page (queue 待受理, 30 rows)", "/window", False),
            ("window", f"window desk /window?queue=all, deep page (after the row {min(args.depth, county_cases // 2):,} down)",
             f"/window?queue=all&after={recent_deep}", False),
            # the window worklist (issue 14): each queue with its counts, the filters, both sorts and the search
            *[("window", f"window worklist /window?queue={q}, first page (with every queue's count)",
               f"/window?queue={q}", False)
              for q in ("submitted", "correction", "returned", "commitment", "in_progress", "handout", "concluded",
                        "all")],
            ("window", "window worklist, 在办 by deadline, first page", "/window?queue=in_progress&sort=deadline",
             False),
            ("window", f"window worklist, 全部 by deadline, deep page (after the row "
                       f"{min(args.depth, county_cases // 2):,} of registration order)",
             f"/window?queue=all&sort=deadline&after={recent_deep}", False),
            *([("window", f"window worklist, 在办 by deadline, deep page (after the row "
                          f"{min(args.depth, in_progress_n // 2):,} of {in_progress_n:,})",
                f"/window?queue=in_progress&sort=deadline&after={in_progress_deep}", False)]
              if in_progress_deep is not None else []),  # (none when the county has no open case)
            ("window", "window worklist, 全部 by deadline, page back (before a row deep down)",
             f"/window?queue=all&sort=deadline&before={recent_deep}", False),
            ("window", f"window worklist, 已办结, deep page (after the row {min(args.depth, county_cases // 2):,} "
                       "of the county's registration order)", f"/window?queue=concluded&after={recent_deep}", False),
            ("window", "window worklist, 全部 overdue filter", "/window?queue=all&due=overdue", False),
            ("window", "window worklist, 全部 page back (before a row deep down)",
             f"/window?queue=all&before={recent_deep}", False),
            ("window", "window worklist search: credit code / ID number",
             f"/window?queue=all&q={probe.applicant_id_code}", False),
            ("window", "window worklist search: case number", f"/window?queue=all&q={probe.case_no}", False),
            ("window", "window worklist search: phone", f"/window?queue=all&q={probe.applicant_phone}", False),
            ("window", f"window worklist search: part of a name ({probe.applicant_name[:4]})",
             f"/window?queue=all&q={probe.applicant_name[:4]}", False),
            ("window", f"window worklist search: two characters of a name ({probe.applicant_name[1:3]})",
             f"/window?queue=all&q={probe.applicant_name[1:3]}", False),
            ("window", "window worklist search: an item's name (特种设备)", "/window?queue=all&q=特种设备", False),
            ("city", f"API city approver's queue, first page (GET /api/v1/cases?state=city_review as {city_user}, "
                     f"50 rows of {city_review_n:,})", "/api/v1/cases?state=city_review", True),
            ("city", "API city approver's queue, deep page (after the row "
                     f"{min(args.depth, city_review_n // 2):,} down)",
             f"/api/v1/cases?state=city_review&after={city_deep}", True),
            ("city", f"city desk /city, first page (deadline order, 30 rows of {queue_n:,})", "/city", False),
            ("city", f"city desk /city, deep page (after the row {min(args.depth, queue_n // 2):,} down)",
             f"/city?after={queue_deep}", False),
            # the county review desk and /work (issue 15's 我的待办 and 本单位未分配) of each kind of unit
            ("review", f"review desk /review as {review_user}, first page (deadline order, 30 rows of {review_n:,})",
             "/review", False),
            *([("review", f"review desk /review, deep page (after the row {min(args.depth, review_n // 2):,} down)",
                f"/review?after={review_deep}", False)] if review_deep is not None else []),
            *[(who, f"/work (我的待办 and 本单位未分配, 50 rows each) as {user}", "/work", False)
              for who, user in (("window", window_user), ("review", review_user), ("city", city_user))],
        ]
        if args.only:
            lists = [entry for entry in lists if re.search(args.only, entry[1])]
        for who, label, path, api in lists:
            client = clients[who]
            headers = api_headers[who] if api else {}

            def call():
                r = client.get(path, headers=headers)
                assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])
                return r

            with app.app_context():
                warm = call()
                if api:
                    n_rows = len(warm.get_json()["items"])
                else:
                    n_rows = warm.get_data(as_text=True).count("/case/")  # rough: links to cases
                if args.explain:
                    statements = capture_statements(call)
                    explains.append(f"==== {label} ({path})\n\n" + explain(statements))
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                call()
                times.append((time.perf_counter() - t0) * 1000)
            results.append((label, path, times, n_rows))
            print(f"{label}: P50 {percentile(times, 0.5):.1f} ms, P95 {percentile(times, 0.95):.1f} ms", flush=True)
        # The worklist's own statements (issue 14's target is delegation/worklist.py's queues and search): the
        # same window lists as the service calls them, the page's rows and every queue's count, without the page
        # around them (whose other parts — the header's counters, other panels — are timed by the rows above).
        with app.app_context():
            results += _service_rows(app, window_user, [entry for entry in lists if entry[2].startswith("/window")],
                                     args.runs)
            if not args.only or re.search(args.only, "assignment counts"):
                results += _assignment_count_rows((window_user, review_user, city_user), args.runs)
        if args.explain:
            args.explain.write_text("\n\n".join(explains), encoding="utf-8")
            print(f"EXPLAIN ANALYZE written to {args.explain}")
        with app.app_context():
            from app.extensions import db

            migration = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            db.session.remove()
            db.engine.dispose()
    finally:
        if server is not None:
            if args.keep:
                print(f"server left running: {url} (stop: pg_ctl -D {server.data} stop)")
            else:
                server.stop()

    rows = []
    for label, path, times, n_rows in results:
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        rows.append(Row(f"{label}, {int(total):,} cases in the database, county {county_code} with "
                        f"{county_cases:,}; {args.runs} requests after a warm-up: P95 (P50 {p50:.1f} ms)",
                        f"{p95:.1f} ms", "P95 < 50 ms (1,000,000 cases)", verdict(p95 < TARGET_MS)))
    if seed_s is not None:
        rows.append(Row(f"seed-bulk {args.cases:,} cases, then VACUUM ANALYZE", f"{seed_s:.1f} s"))
    rows.append(Row("load average (1, 5, 15 min) when the run started", load))
    for r in rows:
        print(f"{r.figure}: {r.measured} [{r.target}] {r.result}")
    if not args.no_record:
        note = args.note or f"list benchmark (bench/lists_bench.py), schema at migration {migration}."
        record(args.results, started, rows, note)
        print(f"appended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
