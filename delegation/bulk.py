"""Bulk demo cases for the statistics benchmark: `flask --app wsgi seed-bulk N` (issue 6).

`seed_bulk(n)` adds n realistic cases on top of the demo data (`seed-demo` first: it uses its counties, windows,
items and accounts). The cases are spread over counties (weighted), items (weighted), the items' modes, states
(mostly concluded, some decided, open ones with their due flags, refused, withdrawn, terminated) and the last 24
months (more recent months busier), with timestamps in office hours; decisions are mostly approvals; every case has
its material list (required ones present, 容缺 ones committed and met or broken), decided ones the timeline the steps
are counted on (a few corrected or returned once); approvals have their supervision push (most claimed, some with
feedback), and concluded cases a rating (mostly satisfied, a few counties worse).

Every row satisfies the tables' CHECK constraints: the insert itself proves it. It is set-based: the case rows are
made in Python and sent per batch as one statement (PostgreSQL: INSERT ... SELECT FROM unnest(arrays); SQLite:
executemany); materials, pushes, feedback and ratings are derived from the batch's cases by one INSERT ... SELECT
each. Case numbers continue each county-year's CaseNoCounter, and the counters are advanced in the same
transaction, so running it twice adds 2n cases and real cases created afterwards get fresh numbers.
"""
from __future__ import annotations

import bisect
import json
import math
import random
import time
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from delegation.calendar import WorkCalendar
from delegation.identifiers import credit_code_check_char, resident_id_check_digit
from delegation.models import CaseNoCounter, Division, Item, ItemMaterial, Org, User
from persistence import db

CITY = "360700"
LOCAL_OFFSET = 8 * 3600  # Asia/Shanghai, no daylight saving
EPOCH_ORD = date(1970, 1, 1).toordinal()
MONTHS = 24
BATCH = 100_000
OPEN_MINUTE, CLOSE_MINUTE = 9 * 60, 17 * 60

# state -> share of all cases (open states only in the modes that have them)
STATE_SHARES = {
    "concluded": 0.80, "decided": 0.025, "refused": 0.03, "withdrawn": 0.02, "terminated": 0.01,
    "submitted": 0.01, "correction_requested": 0.01, "accepted": 0.005, "county_review": 0.035,
    "forwarded": 0.005, "city_review": 0.03, "returned": 0.005, "suspended": 0.015,
}
MODE_STATES = {
    "direct": {"forwarded", "city_review", "returned"},  # states a direct case never is in
    "forward_only": {"county_review", "returned"},
    "delegated_review": set(),
}
OPEN_CLOCK = ("accepted", "county_review", "forwarded", "city_review", "returned")
SUSPENSION_KINDS = ("site_inspection", "expert_review", "hearing", "intermediary")
REFUSALS = ("申请事项不属于本机关职权范围", "申请人不具备申请资格", "申请事项依法不需要取得行政许可")
WITHDRAWALS = ("申请人主动撤回申请", "申请人经营计划调整，撤回申请")
DENIALS = ("现场核查不符合条件", "申请材料与实际情况不符", "不符合法定条件和标准")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
TRADES = ("商贸", "科技", "建设", "物流", "餐饮", "医药", "农业", "旅游", "文化", "环保", "机电", "矿业")

CASE_COLUMNS = (
    "case_no", "query_code", "item_id", "mode", "state", "county_code", "window_org_id", "department_code",
    "applicant_kind", "applicant_name", "applicant_id_code", "applicant_phone", "created_at", "created_by",
    "limit_unit", "promised_limit", "accepted_at", "due_at", "due_basis", "due_flag", "paused_at",
    "clock_remaining", "paused_days", "resume_state", "correction_items", "refusal_reason", "refusal_redirect",
    "commitment_deadline", "commitment_met_at", "review_opinion", "review_recommendation", "reviewed_by",
    "reviewed_at", "forwarded_at", "received_at", "return_reasons", "suspension_kind", "suspension_expected_end",
    "decision", "decision_reasons", "certificate_no", "decided_by", "decided_org", "decided_at", "handout_method",
    "tracking_no", "concluded_at", "closed_reason", "version",
)
TIMESTAMPS = {"created_at", "accepted_at", "due_at", "paused_at", "commitment_deadline", "commitment_met_at",
              "reviewed_at", "forwarded_at", "received_at", "decided_at", "concluded_at"}
JSONS = {"correction_items", "return_reasons", "decision_reasons"}
INTS = {"item_id", "window_org_id", "promised_limit", "clock_remaining", "paused_days", "version"}
DATES = {"suspension_expected_end"}


class BulkError(RuntimeError):
    pass


# -- reference data -------------------------------------------------------------------------------------------

def _reference(session):
    divisions = session.execute(sa.select(Division.code, Division.name).where(Division.parent_code.is_not(None))
                                .order_by(Division.code)).all()
    windows = dict(session.execute(sa.select(Org.division_code, Org.id).where(Org.kind == "window")).all())
    users = {u.username: f"{u.display_name} ({u.username})"
             for u in session.execute(sa.select(User.username, User.display_name)).all()}
    counties = [(code, name, windows[code]) for code, name in divisions
                if code in windows and f"window-{code}" in users]
    items = session.execute(sa.select(Item).where(Item.active.is_(True)).order_by(Item.id)).unique().scalars().all()
    mats = session.execute(sa.select(ItemMaterial.item_id, ItemMaterial.code, ItemMaterial.core,
                                     ItemMaterial.required).order_by(ItemMaterial.item_id, ItemMaterial.position)
                           ).all()
    by_item: dict[int, list] = {}
    for m in mats:
        by_item.setdefault(m.item_id, []).append(m)
    items = [i for i in items if by_item.get(i.id)]
    if not counties or not items or "city-approver" not in users:
        raise BulkError("no demo counties, items or accounts: run `flask --app wsgi seed-demo` first")
    return counties, items, by_item, users


def _applicants(rng: random.Random, counties, n: int) -> list[tuple]:
    """A pool of applicants with valid credit codes / resident IDs: (kind, name, id_code, phone)."""
    pool = []
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for k in range(n):
        code, name, _ = counties[rng.randrange(len(counties))]
        area = code if code.isdigit() else CITY
        if rng.random() < 0.72:
            body = "91" + area + "".join(rng.choice(charset) for _ in range(9))
            firm = f"{name}{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{rng.choice(TRADES)}有限公司"
            pool.append(("enterprise", firm, body + credit_code_check_char(body), f"0797-{rng.randrange(10**7):07d}"))
        else:
            born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 52))
            body = f"{area}{born:%Y%m%d}{rng.randrange(1000):03d}"
            person = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if k % 2 else "")
            pool.append(("individual", person, body + resident_id_check_digit(body), f"13{rng.randrange(10**9):09d}"))
    return pool


class _Days:
    """Working days as indexes, so that 'n working days later at 10:30 local' is a list look-up."""

    def __init__(self, today: date, months: int):
        cal = WorkCalendar()
        first = today - timedelta(days=int(months * 30.5) + 45)
        last = today + timedelta(days=400)
        self.days: list[int] = []
        self.at_or_after: dict[int, int] = {}
        pending = []
        for o in range(first.toordinal(), last.toordinal() + 1):
            pending.append(o)
            if cal.is_workday(date.fromordinal(o)):
                for p in pending:
                    self.at_or_after[p] = len(self.days)
                pending = []
                self.days.append(o)
        self.today = self.at_or_after[today.toordinal()] - 1  # the last working day before today
        self.start = self.at_or_after[today.toordinal() - int(months * 30.5)]

    def ts(self, idx: int, minute: int) -> int:
        """Epoch seconds (UTC) of working day `idx` at `minute` past local midnight."""
        return (self.days[idx] - EPOCH_ORD) * 86400 + minute * 60 - LOCAL_OFFSET

    def day_of(self, ts: int) -> int:
        return self.at_or_after[(ts + LOCAL_OFFSET) // 86400 + EPOCH_ORD]


def _office_minute(rng: random.Random, lo: int = OPEN_MINUTE, hi: int = CLOSE_MINUTE - 1) -> int:
    m = rng.randint(lo, hi)
    return m if not 12 * 60 <= m < 13 * 60 else m + 60 if m + 60 <= hi else m - 60


def _cumulative(weights):
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out, total


# -- the cases ------------------------------------------------------------------------------------------------

def seed_bulk(n: int, seed: int | str | None = None, now: datetime | None = None, batch: int = BATCH,
              months: int = MONTHS, progress=None) -> dict:
    """Add n generated cases (with materials, pushes, feedback and ratings). Commits per batch."""
    session = db.session
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed if seed is not None else random.randrange(1 << 30))
    counties, items, by_item, users = _reference(session)
    dialect = session.get_bind().dialect.name
    node = CITY
    days = _Days((now + timedelta(seconds=LOCAL_OFFSET)).date(), months)
    now_ts = int(now.timestamp())

    # counties: a few big districts, a long tail; two or three do worse (late more often, lower ratings)
    c_weights = [rng.uniform(0.3, 1.0) * (3.0 if k < 3 else 1.0) for k in range(len(counties))]
    c_cum, c_total = _cumulative(c_weights)
    worse = set(rng.sample(range(len(counties)), k=min(3, len(counties))))
    late_share = [0.12 if k in worse else rng.uniform(0.02, 0.06) for k in range(len(counties))]
    i_weights = [1.0 / (1 + r) ** 0.8 for r in range(len(items))]
    rng.shuffle(i_weights)
    i_cum, i_total = _cumulative(i_weights)
    item_info = []
    for it in items:
        mats = by_item[it.id]
        if it.kind == "instant" or it.promised_limit == 0:
            span = 0
        elif it.limit_unit == "hours":
            span = max(1, math.ceil(it.promised_limit / 8))
        else:
            span = it.promised_limit
        can_commit = it.allows_commitment and any(m.required and not m.core for m in mats)
        states = [s for s in STATE_SHARES if s not in MODE_STATES[it.mode] and (s != "terminated" or can_commit)]
        s_cum, s_total = _cumulative([STATE_SHARES[s] for s in states])
        item_info.append((it, span, can_commit, states, s_cum, s_total, mats[0].code))
    pool = _applicants(rng, counties, min(max(n // 20, 200), 50_000))

    # phase 1: who, what, which state and when (then sorted by time, so that numbers rise with time)
    window = days.today - days.start
    skeleton = []
    for _ in range(n):
        ci = bisect.bisect(c_cum, rng.random() * c_total)
        ii = bisect.bisect(i_cum, rng.random() * i_total)
        it, span, can_commit, states, s_cum, s_total, _m = item_info[ii]
        state = states[bisect.bisect(s_cum, rng.random() * s_total)]
        if state == "submitted":
            day = days.today - rng.randint(0, 1)
        elif state in OPEN_CLOCK or state in ("correction_requested", "suspended"):
            back = rng.randint(0, span + 1) if rng.random() < 0.9 else span + rng.randint(1, 6)
            day = days.today - back
        elif state == "decided":
            day = days.today - span - rng.randint(0, 3)
        else:  # final: busier towards today (the reform ramps up)
            room = max(1, window - span - 10)
            day = days.start + int(room * math.sqrt(rng.random()))
        skeleton.append((day, _office_minute(rng, OPEN_MINUTE, CLOSE_MINUTE - 40), ci, ii, state))
    skeleton.sort(key=lambda s: (s[0], s[1]))

    counters = {(r.division_code, r.year): r.last for r in session.execute(sa.select(CaseNoCounter)).scalars()}
    totals = {"cases": 0, "materials": 0, "events": 0, "pushes": 0, "feedback": 0, "ratings": 0}
    for lo in range(0, n, batch):
        if dialect == "postgresql":
            session.execute(sa.text("LOCK TABLE case_no_counter IN EXCLUSIVE MODE"))
        rows = [_case_row(rng, days, now_ts, counties, item_info, users, pool, late_share, counters, sk)
                for sk in skeleton[lo:lo + batch]]
        first_id = session.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM case_file")).scalar()
        _insert_cases(session, dialect, rows)
        _save_counters(session, counters, {(r[5], int(r[0].split("-")[-2])) for r in rows})
        totals["cases"] += len(rows)
        for key, count in _derived(session, dialect, first_id, node, [counties[k][0] for k in worse]).items():
            totals[key] += count
        session.commit()
        if progress:
            progress(totals["cases"], time.perf_counter() - started)
    totals["seconds"] = round(time.perf_counter() - started, 1)
    totals["worse_counties"] = sorted(counties[k][0] for k in worse)
    return totals


def _case_row(rng, days: _Days, now_ts, counties, item_info, users, pool, late_share, counters, sk) -> tuple:
    day, minute, ci, ii, state = sk
    county, _cname, window_id = counties[ci]
    it, span, can_commit, _states, _c, _t, first_material = item_info[ii]
    mode = it.mode
    created = days.ts(day, minute)
    year = date.fromordinal(days.days[day]).year
    last = counters.get((county, year), 0) + 1
    counters[(county, year)] = last
    kind, name, id_code, phone = pool[rng.randrange(len(pool))]
    r = dict.fromkeys(CASE_COLUMNS)
    r.update(case_no=f"{county}-{year}-{last:06d}", query_code=f"{rng.randrange(10**6):06d}", item_id=it.id,
             mode=mode, state=state, county_code=county, window_org_id=window_id,
             department_code=it.department_code, applicant_kind=kind, applicant_name=name, applicant_id_code=id_code,
             applicant_phone=phone, created_at=created, created_by=f"window-{county}", limit_unit=it.limit_unit,
             promised_limit=it.promised_limit, due_flag="ok", paused_days=0, version=1)
    if state in ("submitted", "refused") or (state == "withdrawn" and rng.random() < 0.5):
        if state == "refused":
            reason = rng.choice(REFUSALS)
            r.update(refusal_reason=reason, refusal_redirect="请向有权机关申请", closed_reason=reason)
        elif state == "withdrawn":
            r["closed_reason"] = rng.choice(WITHDRAWALS)
        return tuple(r[c] for c in CASE_COLUMNS)
    if state == "correction_requested":
        r.update(correction_items=[{"material_code": first_material, "problem": "材料不清晰，需补正"}],
                 resume_state="submitted", paused_at=created + rng.randint(5, 60) * 60)
        return tuple(r[c] for c in CASE_COLUMNS)

    # accepted: the clock runs from acceptance
    accepted = created + rng.randint(3, 35) * 60
    if span == 0:
        due_day, due = day, days.ts(day, CLOSE_MINUTE)
    elif it.limit_unit == "hours":
        extra = (it.promised_limit % 8) * 60
        acc_minute = (accepted + LOCAL_OFFSET) % 86400 // 60
        due_day = day + it.promised_limit // 8 + (1 if acc_minute + extra > CLOSE_MINUTE else 0)
        due_minute = acc_minute + extra if acc_minute + extra <= CLOSE_MINUTE else acc_minute + extra - 480
        due = days.ts(due_day, due_minute)
    else:
        due_day, due = day + span, days.ts(day + span, CLOSE_MINUTE)
    r.update(accepted_at=accepted, due_at=due, due_basis=days_basis(days, due_day))
    city_mode = mode != "direct"
    if state == "terminated" or (can_commit and rng.random() < 0.2):
        cd = it.commitment_days or 10
        deadline = days.ts(day + cd, CLOSE_MINUTE)
        r["commitment_deadline"] = deadline
        if state != "terminated" and (state in ("decided", "concluded") or deadline < now_ts
                                      or rng.random() < 0.5):
            met = days.ts(day + rng.randint(1, cd), _office_minute(rng))
            if met <= accepted or met >= deadline:
                met = accepted + 600
            if met < now_ts:
                r["commitment_met_at"] = met
    if state == "terminated":
        r["closed_reason"] = "容缺承诺逾期未补齐材料"
        r["due_flag"] = "ok"
        return tuple(r[c] for c in CASE_COLUMNS)
    if state == "withdrawn":
        r["closed_reason"] = rng.choice(WITHDRAWALS)
        return tuple(r[c] for c in CASE_COLUMNS)

    late = rng.random() < late_share[ci]
    if state in ("decided", "concluded"):
        if late:
            d_day = due_day + rng.randint(1, 5)
            decided = days.ts(d_day, _office_minute(rng))
        else:
            d_day = day + int(span * rng.uniform(0.25, 0.9))
            decided = days.ts(d_day, _office_minute(rng))
            if decided <= accepted:
                decided = accepted + rng.randint(10, 90) * 60
            if decided > due:
                decided = max(accepted + 60, due - rng.randint(1, 30) * 60)
        if decided >= now_ts:
            decided = max(accepted + 60, now_ts - 3600)
        if rng.random() < 0.03 and span >= 5:  # a special procedure (expert review, site inspection) on the way
            r["paused_days"] = rng.randint(2, 10)
        reviewer = users.get(f"review-{county}")
        review_at = accepted + (decided - accepted) // 2
        approve = rng.random() < 0.95
        if mode == "direct":
            decider, org = reviewer, f"{county}-bureau"
            r.update(reviewed_by=reviewer, reviewed_at=review_at, review_opinion="材料齐全，符合条件")
        else:
            decider, org = users["city-approver"], it.department_code
            forwarded = accepted + 120 if mode == "forward_only" else review_at
            r.update(forwarded_at=forwarded, received_at=forwarded + 300)
            if mode == "delegated_review":
                r.update(reviewed_by=reviewer, reviewed_at=review_at, review_opinion="经审核，符合条件",
                         review_recommendation="approve" if approve else "deny")
        r.update(decision="approve" if approve else "deny", decided_by=decider, decided_org=org, decided_at=decided,
                 decision_reasons=[] if approve else [rng.choice(DENIALS)],
                 certificate_no=f"{r['case_no']}-Z" if approve else None, due_flag="overdue" if late else "ok")
        if state == "concluded":
            c_day = min(days.day_of(decided) + rng.randint(0, 2), days.today)
            concluded = max(days.ts(c_day, _office_minute(rng)), decided + 300,
                            (r["commitment_met_at"] or 0) + 300)
            method = "mail" if rng.random() < 0.3 else "pickup"
            r.update(concluded_at=min(concluded, now_ts - 60), handout_method=method,
                     tracking_no=f"SF{rng.randrange(10**12):012d}" if method == "mail" else None)
        return tuple(r[c] for c in CASE_COLUMNS)

    # open, the clock running or paused
    if state == "suspended":
        resume = "county_review" if mode != "forward_only" else "city_review"
        paused = min(accepted + rng.randint(1, 3) * 86400, now_ts - 3600)
        r.update(paused_at=paused, suspension_kind=rng.choice(SUSPENSION_KINDS), resume_state=resume,
                 clock_remaining=max(0, span - 1),
                 suspension_expected_end=date.fromordinal(days.days[days.today + rng.randint(3, 20)]))
        if resume == "city_review":
            r.update(forwarded_at=accepted + 120, received_at=accepted + 420)
        return tuple(r[c] for c in CASE_COLUMNS)
    if state in ("forwarded", "city_review", "returned"):
        forwarded = accepted + 120 if mode == "forward_only" else min(accepted + 86400, now_ts - 7200)
        r["forwarded_at"] = forwarded
        if state != "forwarded":
            r["received_at"] = forwarded + 300
        if mode == "delegated_review":
            r.update(reviewed_by=users.get(f"review-{county}"), reviewed_at=forwarded,
                     review_opinion="经审核，符合条件", review_recommendation="approve")
        if state == "returned":
            r["return_reasons"] = ["审核意见不完整，请补充现场核查情况"]
    if due < now_ts:
        r["due_flag"] = "overdue"
    elif days.day_of(due) <= days.today + 2:
        r["due_flag"] = "warning"
    return tuple(r[c] for c in CASE_COLUMNS)


_BASIS: dict[int, str] = {}


def days_basis(days: _Days, idx: int) -> str:
    """The calendar basis of the deadline's day (official notice, or weekends only beyond it)."""
    year = date.fromordinal(days.days[idx]).year
    if year not in _BASIS:
        _BASIS[year] = WorkCalendar().year_basis(year)
    return _BASIS[year]


# -- inserting ------------------------------------------------------------------------------------------------

def _iso(ts):
    if ts is None:
        return None
    return (datetime(1970, 1, 1) + timedelta(seconds=ts)).strftime("%Y-%m-%d %H:%M:%S.%f")


def _insert_cases(session, dialect: str, rows: list[tuple]) -> None:
    if not rows:
        return
    cols = ", ".join(CASE_COLUMNS)
    if dialect == "postgresql":
        columns = list(zip(*rows))
        params, exprs, args = {}, [], []
        for k, (name, values) in enumerate(zip(CASE_COLUMNS, columns)):
            if name in TIMESTAMPS:
                args.append(f"CAST(:p{k} AS bigint[])")
                exprs.append(f"to_timestamp(u.c{k}) AT TIME ZONE 'UTC'")
            elif name in JSONS:
                values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
                args.append(f"CAST(:p{k} AS text[])")
                exprs.append(f"CAST(u.c{k} AS json)")
            elif name in INTS:
                args.append(f"CAST(:p{k} AS int[])")
                exprs.append(f"u.c{k}")
            elif name in DATES:
                values = [None if v is None else v.isoformat() for v in values]
                args.append(f"CAST(:p{k} AS date[])")
                exprs.append(f"u.c{k}")
            else:
                args.append(f"CAST(:p{k} AS text[])")
                exprs.append(f"u.c{k}")
            params[f"p{k}"] = list(values)
        names = ", ".join(f"c{k}" for k in range(len(CASE_COLUMNS)))
        session.execute(sa.text(f"INSERT INTO case_file ({cols}) SELECT {', '.join(exprs)} "
                                f"FROM unnest({', '.join(args)}) AS u({names})"), params)
        return
    conv = []
    for name in CASE_COLUMNS:
        if name in TIMESTAMPS:
            conv.append(_iso)
        elif name in JSONS:
            conv.append(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        elif name in DATES:
            conv.append(lambda v: None if v is None else v.isoformat())
        else:
            conv.append(None)
    out = [tuple(f(v) if f else v for f, v in zip(conv, row)) for row in rows]
    marks = ", ".join("?" for _ in CASE_COLUMNS)
    session.connection().exec_driver_sql(f"INSERT INTO case_file ({cols}) VALUES ({marks})", out)


def _save_counters(session, counters: dict, touched: set) -> None:
    for county, year in sorted(touched):
        last = counters[(county, year)]
        updated = session.execute(sa.update(CaseNoCounter).where(CaseNoCounter.division_code == county,
                                                                 CaseNoCounter.year == year).values(last=last))
        if updated.rowcount == 0:
            session.execute(sa.insert(CaseNoCounter).values(division_code=county, year=year, last=last))


def _sql(dialect: str):
    """Dialect helpers: a timestamp plus seconds, the date of a timestamp plus days, JSON builders."""
    if dialect == "postgresql":
        return (lambda ts, secs: f"({ts} + ({secs}) * interval '1 second')",
                lambda ts, d: f"(CAST({ts} AS date) + {d})",
                "json_build_array", "json_build_object")
    return (lambda ts, secs: f"strftime('%Y-%m-%d %H:%M:%S.000000', {ts}, '+' || ({secs}) || ' seconds')",
            lambda ts, d: f"date({ts}, '+{d} days')",
            "json_array", "json_object")


def _derived(session, dialect: str, first_id: int, node: str, worse: list[str]) -> dict:
    """Materials, timelines, pushes, feedback and ratings of the cases with id > first_id, one INSERT ... SELECT
    each."""
    plus, date_plus, jarr, jobj = _sql(dialect)
    h = "((c.id * 2654435761) % 1000)"
    p = {"lo": first_id}
    counts = {}
    counts["materials"] = session.execute(sa.text(f"""
        INSERT INTO case_material (case_id, code, name, core, required, present, committed, position)
        SELECT c.id, m.code, m.name, m.core, m.required,
               CASE WHEN c.state = 'correction_requested' AND m.position = 0 THEN {_false(dialect)}
                    WHEN c.commitment_deadline IS NOT NULL AND m.required AND NOT m.core
                         THEN c.commitment_met_at IS NOT NULL
                    WHEN NOT m.required THEN ((c.id * 2654435761 + m.position * 2246822519) % 10) < 6
                    ELSE {_true(dialect)} END,
               c.commitment_deadline IS NOT NULL AND m.required AND NOT m.core,
               m.position
        FROM case_file c JOIN item_material m ON m.item_id = c.item_id
        WHERE c.id > :lo"""), p).rowcount

    counts["events"] = _timeline(session, dialect, p)

    responsible = (f"{jarr}({jobj}('role', 'accept', 'org', w.code, 'person', c.created_by), "
                   f"{jobj}('role', 'review', 'org', CASE c.mode WHEN 'forward_only' THEN c.decided_org "
                   f"ELSE c.county_code || '-bureau' END, 'person', COALESCE(c.reviewed_by, c.decided_by)), "
                   f"{jobj}('role', 'decide', 'org', c.decided_org, 'person', c.decided_by), "
                   f"{jobj}('role', 'supervise', 'org', s.code, 'person', NULL))")
    received = plus("c.decided_at", 60)
    claimed = plus(received, f"({h} % 4) * 86400 + ({h} % 180) * 60")
    counts["pushes"] = session.execute(sa.text(f"""
        INSERT INTO supervision_push (case_no, item_code, item_name, mode, county_code, applicant_name,
            applicant_id_code, decision, certificate_no, accepting_org, deciding_org, deciding_node,
            supervising_org, supervising_node, responsible, accepted_at, decided_at, pushed_at, received_at,
            claim_due_at, state, claimed_at, claimed_by, closed_at, closed_by)
        SELECT c.case_no, i.code, i.name, c.mode, c.county_code, c.applicant_name, c.applicant_id_code, c.decision,
               c.certificate_no, w.code, c.decided_org, :node, s.code, s.node_id, {responsible},
               c.accepted_at, c.decided_at, c.decided_at, {received}, {plus(received, 3 * 86400 + 2 * 86400)},
               CASE WHEN {h} < 350 THEN 'closed' WHEN {h} < 900 THEN 'claimed' ELSE 'pushed' END,
               CASE WHEN {h} < 900 THEN {claimed} END,
               CASE WHEN {h} < 900 THEN CASE WHEN c.mode = 'direct' THEN 'reg-' || c.county_code
                                             ELSE 'reg-city' END END,
               CASE WHEN {h} < 350 THEN {plus(claimed, f'(2 + {h} % 10) * 86400')} END,
               CASE WHEN {h} < 350 THEN CASE WHEN c.mode = 'direct' THEN 'reg-' || c.county_code
                                             ELSE 'reg-city' END END
        FROM case_file c
        JOIN item i ON i.id = c.item_id
        JOIN org w ON w.id = c.window_org_id
        JOIN org s ON s.code = CASE WHEN c.mode = 'direct' THEN c.county_code || '-industry'
                                    ELSE '{CITY}-industry' END
        WHERE c.id > :lo AND c.decision = 'approve'"""), {**p, "node": node}).rowcount

    hp = "((p.id * 2654435761) % 1000)"
    counts["feedback"] = session.execute(sa.text(f"""
        INSERT INTO supervision_feedback (feedback_uid, push_id, kind, on_date, result, comment,
            rectification_ordered, decision_no, amount, created_by, created_at)
        SELECT 'bulk-fb-' || p.id, p.id,
               CASE WHEN {hp} % 20 = 0 THEN 'penalty' WHEN {hp} % 5 = 1 THEN 'rectification'
                    WHEN {hp} % 2 = 0 THEN 'no_issue' ELSE 'inspection' END,
               {date_plus('p.claimed_at', 2)},
               CASE WHEN {hp} % 20 = 0 THEN '现场检查发现违法行为，依法处罚' WHEN {hp} % 5 = 1 THEN '责令限期整改'
                    WHEN {hp} % 2 = 0 THEN '未发现问题' ELSE '现场检查，符合许可条件' END,
               '', {hp} % 5 = 1,
               CASE WHEN {hp} % 20 = 0 THEN 'GZCF-' || p.id END,
               CASE WHEN {hp} % 20 = 0 THEN '5000.00' END,
               p.claimed_by, {plus('p.claimed_at', 2 * 86400)}
        FROM supervision_push p JOIN case_file c ON c.case_no = p.case_no
        WHERE c.id > :lo AND p.claimed_at IS NOT NULL AND ({hp} < 350 OR {hp} % 3 = 0)"""), p).rowcount

    if _has_table(session, "case_rating"):
        worse_list = ", ".join(f"'{w}'" for w in worse) or "''"
        hr = "((c.id * 3266489917) % 1000)"
        counts["ratings"] = session.execute(sa.text(f"""
            INSERT INTO case_rating (case_id, score, comment, created_at)
            SELECT c.id,
                   CASE WHEN c.county_code IN ({worse_list}) THEN
                            CASE WHEN {hr} < 60 THEN 1 WHEN {hr} < 110 THEN 2 WHEN {hr} < 250 THEN 3
                                 WHEN {hr} < 550 THEN 4 ELSE 5 END
                        ELSE CASE WHEN {hr} < 8 THEN 1 WHEN {hr} < 20 THEN 2 WHEN {hr} < 80 THEN 3
                                  WHEN {hr} < 300 THEN 4 ELSE 5 END END,
                   '', {plus('c.concluded_at', 3600)}
            FROM case_file c
            WHERE c.id > :lo AND c.state = 'concluded' AND (c.id * 2246822519) % 100 < 65"""), p).rowcount
    return counts


def _timeline(session, dialect: str, p: dict) -> int:
    """The timeline rows of the decided cases that the statistics' steps are counted on (issue 18): acceptance,
    the county's review (direct, delegated_review), the forward (delegated_review: the review forwards), the
    decision; about 8 % were corrected once at intake (告知 and resubmission) and 6 % of the city's cases were
    returned once (退回 and the forward again). Nothing else of a timeline (routing, receipts, hand-out)."""
    def plus(ts, secs):  # secs < 0 here: SQLite's modifier takes the sign as written
        if dialect == "postgresql":
            return f"({ts} + ({secs}) * interval '1 second')"
        return f"strftime('%Y-%m-%d %H:%M:%S.000000', {ts}, '{secs} seconds')"

    h = "((c.id * 2654435761) % 100)"
    via_city = "c.mode <> 'direct'"
    rows = [  # (action, from, to, at, actor, condition)
        ("request_correction", "'submitted'", "'correction_requested'", plus("c.accepted_at", -1800), "c.created_by",
         f"{h} < 8"),
        ("resubmit", "'correction_requested'", "'submitted'", plus("c.accepted_at", -600), "c.created_by", f"{h} < 8"),
        ("accept", "'submitted'", "'accepted'", "c.accepted_at", "c.created_by", "1 = 1"),
        ("forward", "'accepted'", "'forwarded'", "c.accepted_at", "'system'", "c.mode = 'forward_only'"),
        ("review", "'county_review'", "CASE c.mode WHEN 'direct' THEN 'county_review' ELSE 'forwarded' END",
         "COALESCE(c.reviewed_at, c.accepted_at)", "COALESCE(c.reviewed_by, c.decided_by)", "c.mode <> 'forward_only'"),
        ("return", "'city_review'", "'returned'", plus("c.decided_at", -7200), "c.decided_by",
         f"{via_city} AND {h} >= 90 AND {h} < 96"),
        ("resubmit", "'returned'", "'forwarded'", plus("c.decided_at", -3600), "c.created_by",
         f"{via_city} AND {h} >= 90 AND {h} < 96"),
        ("c.decision", "CASE c.mode WHEN 'direct' THEN 'county_review' ELSE 'city_review' END", "'decided'",
         "c.decided_at", "c.decided_by", "1 = 1"),
    ]
    selects = [f"""SELECT c.id, {at}, {action if action.startswith('c.') else f"'{action}'"}, {source}, {target},
                          COALESCE({actor}, 'bulk'), COALESCE(c.decided_org, c.county_code), ''
                   FROM case_file c
                   WHERE c.id > :lo AND c.decided_at IS NOT NULL AND c.accepted_at IS NOT NULL AND {condition}"""
               for action, source, target, at, actor, condition in rows]
    return session.execute(sa.text(
        "INSERT INTO case_event (case_id, at, action, from_state, to_state, actor, actor_org, comment) "
        + " UNION ALL ".join(selects)), p).rowcount


def _true(dialect):
    return "TRUE" if dialect == "postgresql" else "1"


def _false(dialect):
    return "FALSE" if dialect == "postgresql" else "0"


def _has_table(session, name: str) -> bool:
    return sa.inspect(session.connection()).has_table(name)
