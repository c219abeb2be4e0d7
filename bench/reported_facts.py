"""The city node fed from twenty county nodes' reports (issue 18): seeding and the timed dashboard, for
bench/stats_bench.py (``--reported N``).

The facts are written as the city stores what `stats.case_facts` brings (supervision/fact_reports.py): one row per
case in ``stats_reported_fact`` — from twenty county nodes, one per county, spread over the last twelve months, the
catalogue's items and the states with plausible figures — then the reported rollups are built from them exactly as
arriving messages build them (`fact_reports.rebuild_all`), and VACUUM ANALYZE. One INSERT … SELECT over
generate_series (PostgreSQL): signing and applying a million facts as 2,000 messages would measure the bus, which
bench/exchange_bench.py does; this measures the dashboard over what the messages leave behind."""
from __future__ import annotations

import time
from datetime import date, timedelta

COUNTY_NODES = 20

# figure -> SQL over the per-row draws r1 (the case's progress) and r2 (its luck); every other figure is 0
_FIGURES = {
    "total_cases": "1",
    "accepted": "(r1 < 0.95)::int",
    "decided": "(r1 < 0.80)::int",
    "approved": "(r1 < 0.76)::int",
    "concluded": "(r1 < 0.70)::int",
    "on_time_base": "(r1 < 0.80)::int",
    "on_time": "(r1 < 0.80 AND r2 < 0.93)::int",
    "processing_cases": "(r1 < 0.80)::int",
    "processing_sum": "CASE WHEN r1 < 0.80 THEN floor(r2 * 15) ELSE 0 END",
    "materials_sum": "CASE WHEN r1 < 0.80 THEN 0.23 ELSE 0 END",
    "materials_cases": "(r1 < 0.80)::int",
    "steps_sum": "CASE WHEN r1 < 0.80 THEN 0.11 ELSE 0 END",
    "steps_cases": "(r1 < 0.80)::int",
    "time_sum": "CASE WHEN r1 < 0.80 THEN 0.12 ELSE 0 END",
    "time_cases": "(r1 < 0.80)::int",
    "ratings": "(r1 < 0.70 AND r2 < 0.5)::int",
    "satisfied": "(r1 < 0.70 AND r2 < 0.48)::int",
    "commitment_cases": "(r2 > 0.97)::int",
    "commitment_met": "(r2 > 0.975 AND r1 < 0.80)::int",
    "pushes": "(r1 < 0.76)::int",
    "claimed": "(r1 < 0.76 AND r2 < 0.8)::int",
    "with_feedback": "(r1 < 0.76 AND r2 < 0.6)::int",
    "hours_sum": "CASE WHEN r1 < 0.76 AND r2 < 0.8 THEN r2 * 30 ELSE 0 END",
}
_STATE = ("CASE WHEN r1 < 0.70 THEN 'concluded' WHEN r1 < 0.80 THEN 'decided' WHEN r1 < 0.88 THEN 'county_review' "
          "WHEN r1 < 0.95 THEN 'accepted' ELSE 'submitted' END")


def seed_reported(n: int, today: date) -> dict:
    """N facts as if received from COUNTY_NODES county nodes, and their rollups. Returns what was written and the
    seconds it took."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import Division, Item
    from supervision import fact_reports
    from supervision.fact_report_models import StatsReportedFact

    counties = db.session.execute(sa.select(Division.code).where(Division.parent_code.is_not(None))
                                  .order_by(Division.code).limit(COUNTY_NODES)).scalars().all()
    items = db.session.execute(sa.select(Item.id, Item.mode).where(Item.active).order_by(Item.id)).all()
    start = today - timedelta(days=364)
    columns = [c.name for c in StatsReportedFact.__table__.columns]
    figures = {name: _FIGURES.get(name, "0") for name in fact_reports.FIGURES}
    values = {"case_no": "cty.code || '-R' || lpad(g::text, 9, '0')", "from_node": "cty.code", "version": "1",
              "applied_on": "s.d", "month": "to_char(s.d, 'YYYY-MM')", "county_code": "cty.code",
              "item_id": "it.item_id", "mode": "it.mode", "state": _STATE, "received_at": "now()",
              # open cases: a few flagged by the county's deadline job, a few 容缺 commitments pending
              "due_flag": "CASE WHEN r1 >= 0.80 AND r1 < 0.95 AND r2 < 0.10 THEN 'overdue' "
                          "WHEN r1 >= 0.80 AND r1 < 0.95 AND r2 < 0.20 THEN 'warning' END",
              "commitment_deadline": "CASE WHEN r2 > 0.97 AND r1 >= 0.80 THEN now() + interval '5 days' END",
              # a dissatisfied rating's 差评整改 task still open (some past due); a 告知承诺 approval's verification
              "follow_up_due": "CASE WHEN r1 < 0.70 AND r2 >= 0.48 AND r2 < 0.50 AND r1 > 0.65 "
                               "THEN now() + (r2 - 0.49) * interval '200 days' END",
              "check_state": "CASE WHEN r1 < 0.76 AND r2 > 0.96 THEN (CASE WHEN r1 < 0.60 THEN 'verified' "
                             "WHEN r1 < 0.61 THEN 'false' ELSE 'open' END) END",
              "check_due_at": "CASE WHEN r1 < 0.76 AND r1 >= 0.61 AND r2 > 0.96 "
                              "THEN now() + (r1 - 0.66) * interval '200 days' END",
              **figures}
    missing = set(columns) - set(values)
    assert not missing, f"seed_reported does not fill {missing}"
    item_rows = ", ".join(f"({i}, {item_id}, '{mode}')" for i, (item_id, mode) in enumerate(items))
    county_rows = ", ".join(f"({i}, '{code}')" for i, code in enumerate(counties))
    sql = (f"INSERT INTO stats_reported_fact ({', '.join(columns)}) "
           f"SELECT {', '.join(values[c] for c in columns)} FROM ("
           f"  SELECT g, random() AS r1, random() AS r2, g % {len(items)} AS ii, g % {len(counties)} AS ci,"
           f"         (DATE '{start.isoformat()}' + (random() * 364)::int) AS d"
           f"  FROM generate_series(1, :n) AS g) AS s"
           f" JOIN (VALUES {item_rows}) AS it(idx, item_id, mode) ON it.idx = s.ii"
           f" JOIN (VALUES {county_rows}) AS cty(idx, code) ON cty.idx = s.ci")
    t0 = time.perf_counter()
    for lo in range(0, n, 200_000):  # a transaction per 200,000 rows: the WAL of one huge INSERT is not needed
        db.session.execute(sa.text(sql.replace("generate_series(1, :n)", f"generate_series({lo + 1}, :n)")),
                           {"n": min(n, lo + 200_000)})
        db.session.commit()
    insert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fact_reports.rebuild_all()
    db.session.commit()
    rollup_s = time.perf_counter() - t0
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return {"facts": n, "counties": len(counties), "items": len(items), "insert_s": insert_s, "rollup_s": rollup_s}
