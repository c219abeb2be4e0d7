"""The figures the city reports (issue 6), computed in SQL for any period, county, item or mode.

Every figure is an aggregate of one of a constant number of statements per call (GROUP BY, FILTER, CASE, window
functions; GROUPING SETS and `percentile_cont` on PostgreSQL); no case is ever loaded into Python. Only the group rows
(one per county, item, …) are put together here. :func:`report` gives the summary and any number of breakdowns from
the same four statements (a calendar check, the cases, the pushes, the percentiles; on PostgreSQL also
`SET LOCAL jit = off`); :func:`summary` and :func:`breakdown` are its two common cases.

Definitions
-----------
The population is the cases whose **application date** (``created_at``, as a date in Asia/Shanghai) lies in
``[date_from, date_to]``, optionally of one county, one item (code) and one mode.

- ``total_cases``: cases applied for. ``accepted``: of them, accepted (``accepted_at`` set). ``decided``: with a
  decision (approve or deny, ``decided_at`` set); ``approved``: approvals among them. ``concluded``: in the final
  state 已办结 (result handed out).
- ``on_time_rate``: among the decided cases that have a due time, the share decided at or before it
  (``decided_at <= due_at``; a suspension moves ``due_at`` by the paused time). ``on_time_base`` / ``on_time``
  are the counts. None when there is no such case.
- **Processing time** of a decided case, in working days: the working days strictly after the acceptance day up to
  and including the decision day (the acceptance day is not counted, as for time limits; a case decided on the day
  of acceptance took 0), minus the working days its clock stood still (``paused_days``: special procedures
  特别程序 and returns to the applicant for correction; each pause counts the working days after the pause day up
  to and including the resume day, i.e. exactly the days by which the deadline moved). Days are local
  (Asia/Shanghai) dates; working days come from the ``calendar_day`` table (official calendar, the admin's holiday
  table, weekends-only fallback; see :func:`refresh_calendar`). ``processing_days_mean`` / ``_median`` /
  ``_p90`` are over the decided cases (``processing_cases`` of them); the percentiles interpolate linearly between
  ranks (PostgreSQL ``percentile_cont``; the same formula on SQLite with window functions).
- **Reductions against the pre-reform baseline** (the city's −23 % / −11 % / −12 %), measured on each case, over
  the decided cases: each the mean of the per-case relative reduction ``(baseline − actual) / baseline``, the
  baselines being the item's (``item.baseline_materials``, ``baseline_steps``, ``baseline_days``) as they stood when
  the case was registered (copied to ``case_file.baseline_*``: a later catalogue version governs new cases only):

  * ``materials_reduction``: actual = the required materials on the case's own list (``case_material``,
    ``required``: the item's list as it stood when the case was created). ``materials_received_mean`` says how
    many materials of that list (required or not) the cases received on average — a file uploaded or the paper
    recorded (``present``; a 容缺 material counts once supplied) — ``materials_required_mean`` how many they
    required, ``materials_baseline_mean`` the baseline.
  * ``steps_reduction``: actual = the steps on the case's timeline (``case_event``): one per acceptance, county
    review, forward to the city (each time), 一次性告知补正 (each notice) and return (each 退回), and one for the
    decision (see STEP_ACTIONS). Without detours direct 3, delegated_review 4, forward_only 3; a correction or a
    return adds itself and the steps taken again. ``steps_taken_mean`` / ``steps_baseline_mean``.
  * ``time_reduction``: actual = the processing time above; ``time_used_mean`` / ``time_baseline_mean``, in
    working days.

  A case whose item has no baseline for a figure (0) is left out of that figure (its mean and its means of actual
  and baseline); ``materials_cases``, ``steps_cases``, ``time_cases`` say how many cases each is over, and
  ``excluded_no_baseline`` how many decided cases were left out of at least one of the three for want of a
  baseline. A positive value is a reduction. Every per-case value is a column of the case's facts
  (supervision.rollup.StatsCaseFact: ``*_sum`` and ``*_cases``), so that they add up across months and nodes.
- **Supervision pushes** (双推送) of the population's cases: ``pushes``; ``claim_rate`` = claimed (认领) / pushes;
  ``feedback_rate`` = pushes with at least one feedback / pushes; ``mean_hours_to_claim`` = mean of
  ``claimed_at − received_at`` (when the push reached the regulator; ``pushed_at`` if it never recorded arrival)
  over the claimed pushes, in clock hours. None when there is no push (no claimed push for the mean).
- **Satisfaction** (好差评): ``ratings`` = ratings given to the population's cases; ``satisfaction`` = the share
  satisfied (score ≥ 3: 非常满意, 满意, 基本满意); None without ratings. In the county breakdown a county under 95 %
  carries ``satisfaction_flag: true`` (to be rectified, 整改).
- ``overdue_now`` / ``warning_now``: cases whose clock runs now (accepted … city review or returned, not paused)
  flagged overdue (超期, red) / warning (预警, yellow) by the deadline job.
- 容缺 (acceptance with deficiencies): ``commitment_cases`` = cases accepted on a commitment; ``commitment_due`` = of
  them, those whose deadline has passed (as of ``now``) or that were met; ``commitment_met`` = those whose missing
  materials were supplied; ``commitment_completion_rate`` = met / due (None when none is due).

Rates are fractions rounded to 4 decimals; days and hours are rounded to 2 decimals.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from delegation.clock import OPEN_CLOCK_STATES, load_calendar
from delegation.deadlines import SHANGHAI
from delegation.errors import Invalid, NotFound
from delegation.models import MODES, STATES, CalendarDay, Case, CaseEvent, CaseMaterial, CaseRating, Division, Item
from delegation.workflow import Mode, State
from persistence import db, utcnow
from supervision.fact_reports import counted_here, now_part, source_parts
from supervision.models import SupervisionFeedback, SupervisionPush

DIMENSIONS = ("county", "item", "mode", "month", "state")
DIMENSION_ZH = {"county": "县（市、区）", "item": "事项", "mode": "下放方式", "month": "月份", "state": "办件状态"}
# The exports are Chinese records: the enums' Chinese titles, whatever the page language.
MODE_ZH = {mode.value: mode.title_zh for mode in Mode}
STATE_ZH = {state.value: state.title_zh for state in State}
SATISFIED_SCORE = 3
SATISFACTION_THRESHOLD = 0.95

# (key, Chinese name, kind): kind is count | rate | days | hours | mean (a mean number of materials or steps).
# The order of the API, the exports and the dashboard.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("total_cases", "办件总数", "count"),
    ("accepted", State.ACCEPTED.title_zh, "count"),
    ("decided", "已作出决定", "count"),
    ("approved", "准予许可", "count"),
    ("concluded", State.CONCLUDED.title_zh, "count"),
    ("on_time_base", "有时限的已决定办件", "count"),
    ("on_time", "按时决定", "count"),
    ("on_time_rate", "按时办结率", "rate"),
    ("processing_cases", "计算办理时长的办件", "count"),
    ("processing_days_mean", "平均办理时长（工作日）", "days"),
    ("processing_days_median", "办理时长中位数（工作日）", "days"),
    ("processing_days_p90", "办理时长90分位（工作日）", "days"),
    ("materials_reduction", "材料压减率", "rate"),
    ("steps_reduction", "环节压减率", "rate"),
    ("time_reduction", "时间压减率", "rate"),
    ("materials_cases", "计入材料压减的办件", "count"),
    ("steps_cases", "计入环节压减的办件", "count"),
    ("time_cases", "计入时间压减的办件", "count"),
    ("excluded_no_baseline", "无改革前基准而未计入压减的办件", "count"),
    ("materials_baseline_mean", "改革前平均材料数", "mean"),
    ("materials_required_mean", "平均应交材料数", "mean"),
    ("materials_received_mean", "平均实收材料数", "mean"),
    ("steps_baseline_mean", "改革前平均环节数", "mean"),
    ("steps_taken_mean", "平均实际环节数", "mean"),
    ("time_baseline_mean", "改革前平均办理时间（工作日）", "days"),
    ("time_used_mean", "平均实际办理时间（工作日）", "days"),
    ("pushes", "监管推送数", "count"),
    ("claimed", "已认领推送", "count"),
    ("claim_rate", "认领率", "rate"),
    ("feedback_rate", "反馈率", "rate"),
    ("mean_hours_to_claim", "平均认领用时（小时）", "hours"),
    ("ratings", "评价数", "count"),
    ("satisfied", "满意评价数", "count"),
    ("satisfaction", "满意率", "rate"),
    ("overdue_now", "当前超期", "count"),
    ("warning_now", "当前预警", "count"),
    ("commitment_cases", "容缺受理办件", "count"),
    ("commitment_due", "容缺承诺已到期或已履行", "count"),
    ("commitment_met", "容缺材料已补齐", "count"),
    ("commitment_completion_rate", "容缺补齐率", "rate"),
)
FIGURE_KEYS = tuple(k for k, _, _ in FIGURES)
FIGURE_ZH = {k: zh for k, zh, _ in FIGURES}
FIGURE_KIND = {k: kind for k, _, kind in FIGURES}


# -- filters --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    county: str | None = None
    item: str | None = None
    mode: str | None = None

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


def _date(raw: str | None, field: str, zh: str) -> date | None:
    if raw is None or not str(raw).strip():
        return None
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise Invalid("invalid_date", f"{zh}（{field}）应为 YYYY-MM-DD 格式的日期，收到“{raw}”",
                      f"{field} must be a date (YYYY-MM-DD), got {raw!r}", field=field) from None


def parse_filters(args) -> Filters:
    """Filters from request arguments (from, to, county, item, mode; blanks mean "all"), checked: a bad date, a
    period that ends before it starts, an unknown county, item or mode is a 422 naming the field."""
    def text(name):
        value = args.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    date_from = _date(args.get("from"), "from", "开始日期")
    date_to = _date(args.get("to"), "to", "结束日期")
    if date_from and date_to and date_from > date_to:
        raise Invalid("period_reversed", f"结束日期（to）{date_to} 早于开始日期（from）{date_from}",
                      "to must not be before from", field="to")
    county, item, mode = text("county"), text("item"), text("mode")
    if mode is not None and mode not in MODES:
        raise Invalid("mode_unknown", f"下放方式（mode）“{mode}”不存在，应为 direct、delegated_review 或 forward_only",
                      f"unknown mode {mode!r}", field="mode")
    if county is not None:
        known = db.session.execute(sa.select(Division.code).where(Division.code == county,
                                                                  Division.parent_code.is_not(None))).first()
        if known is None:
            raise Invalid("county_unknown", f"县（市、区）代码（county）“{county}”不存在",
                          f"unknown county {county!r}", field="county")
    if item is not None:
        if db.session.execute(sa.select(Item.id).where(Item.code == item)).first() is None:
            raise Invalid("item_unknown", f"事项编码（item）“{item}”不存在", f"unknown item {item!r}", field="item")
    return Filters(date_from, date_to, county, item, mode)


def describe_filters(filters: Filters) -> list[tuple[str, str]]:
    """The filter in words, for the first sheet of the export."""
    names = {}
    if filters.county:
        names["county"] = db.session.execute(sa.select(Division.name).where(Division.code == filters.county)
                                             ).scalar_one_or_none()
    if filters.item:
        names["item"] = db.session.execute(sa.select(Item.name).where(Item.code == filters.item)).scalar_one_or_none()
    period = "全部"
    if filters.date_from or filters.date_to:
        period = f"{filters.date_from or '最早'} 至 {filters.date_to or '最近'}"
    return [
        ("申请日期", period),
        ("县（市、区）", f"{names['county']}（{filters.county}）" if filters.county else "全部"),
        ("事项", f"{names['item']}（{filters.item}）" if filters.item else "全部"),
        ("下放方式", f"{MODE_ZH[filters.mode]}（{filters.mode}）" if filters.mode else "全部"),
    ]


def check_dimension(by: str) -> str:
    if by not in DIMENSIONS:
        raise NotFound("dimension_unknown", f"统计维度“{by}”不存在，可选：{'、'.join(DIMENSIONS)}",
                       f"unknown dimension {by!r}; one of {', '.join(DIMENSIONS)}", field="by")
    return by


# -- the working-day calendar as a table ----------------------------------------------------------------------

def _dialect() -> str:
    return db.session.get_bind().dialect.name


def refresh_calendar(first_year: int, last_year: int) -> dict:
    """(Re)write `calendar_day` for every day of ``first_year`` … ``last_year`` and of the range already there
    (the table stays one unbroken range, so the running count stays consistent), from
    :func:`delegation.clock.load_calendar`. Idempotent (an upsert); runs and commits in its own transaction."""
    if first_year > last_year:
        first_year, last_year = last_year, first_year
    lo_day, hi_day = db.session.execute(sa.select(sa.func.min(CalendarDay.day), sa.func.max(CalendarDay.day))).one()
    if lo_day is not None:
        first_year, last_year = min(first_year, lo_day.year), max(last_year, hi_day.year)
    cal = load_calendar()
    rows, seq, day, end = [], 0, date(first_year, 1, 1), date(last_year, 12, 31)
    while day <= end:
        working = cal.is_workday(day)
        seq += working
        rows.append({"day": day, "is_workday": working, "workday_seq": seq})
        day += timedelta(days=1)
    if _dialect() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(CalendarDay)
    stmt = stmt.on_conflict_do_update(index_elements=[CalendarDay.day],
                                      set_={"is_workday": stmt.excluded.is_workday,
                                            "workday_seq": stmt.excluded.workday_seq})
    from supervision.rollup import StatsDirty

    with db.engine.begin() as conn:
        conn.execute(stmt, rows)
        # every case (NULL): processing times may move in every month
        conn.execute(sa.insert(StatsDirty), [{"case_id": None}])
    return {"first_year": first_year, "last_year": last_year, "days": len(rows), "working_days": seq}


def ensure_calendar(now: datetime) -> None:
    """Fill `calendar_day` when it does not reach from the year of the first application to the year after the
    later of the last application and ``now`` (one indexed query when it does)."""
    cal_lo = sa.select(sa.func.min(CalendarDay.day)).scalar_subquery()
    cal_hi = sa.select(sa.func.max(CalendarDay.day)).scalar_subquery()
    case_lo = sa.select(sa.func.min(Case.created_at)).scalar_subquery()
    case_hi = sa.select(sa.func.max(Case.created_at)).scalar_subquery()
    lo_day, hi_day, first, last = db.session.execute(sa.select(cal_lo, cal_hi, case_lo, case_hi)).one()
    now_year = now.astimezone(SHANGHAI).year
    first_year = first.astimezone(SHANGHAI).year if first else now_year
    last_year = max(last.astimezone(SHANGHAI).year if last else now_year, now_year) + 1
    if lo_day is None or lo_day > date(first_year, 1, 1) or hi_day < date(last_year, 12, 31):
        refresh_calendar(first_year, last_year)


# -- SQL building blocks --------------------------------------------------------------------------------------

def _local(moment, dialect: str):
    """A UTC timestamp column as Asia/Shanghai (UTC+8, no daylight saving since 1991)."""
    if dialect == "postgresql":
        return moment + sa.literal_column("interval '8 hours'")
    return sa.func.datetime(moment, "+8 hours")


def _local_date(moment, dialect: str):
    if dialect == "postgresql":
        return sa.cast(_local(moment, dialect), sa.Date)
    return sa.func.date(moment, "+8 hours")


def _local_month(moment, dialect: str):
    if dialect == "postgresql":
        # literals, not parameters: PostgreSQL must see the GROUP BY expression as the selected one
        return sa.func.to_char(_local(moment, dialect), sa.literal_column("'YYYY-MM'"))
    return sa.func.strftime(sa.literal_column("'%Y-%m'"), moment, sa.literal_column("'+8 hours'"))


def _hours_between(later, earlier, dialect: str):
    if dialect == "postgresql":
        return sa.extract("epoch", later - earlier) / 3600.0
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 24.0


def _where(filters: Filters) -> list:
    clauses = []
    if filters.date_from:
        clauses.append(Case.created_at >= datetime.combine(filters.date_from, time.min, SHANGHAI))
    if filters.date_to:
        clauses.append(Case.created_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, SHANGHAI))
    if filters.county:
        clauses.append(Case.county_code == filters.county)
    if filters.item:
        clauses.append(Item.code == filters.item)
    if filters.mode:
        clauses.append(Case.mode == filters.mode)
    return clauses


LABEL_COLUMNS = {"county": Division.name, "item": Item.name}


def _count_if(condition):
    return sa.func.count().filter(condition)


def _sum_if(value, condition):
    return sa.func.coalesce(sa.func.sum(value).filter(condition), 0.0)


def _case_key(dialect: str) -> list:
    """The rollup key of a case (supervision.rollup.KEY), as columns of the case."""
    return [_local_month(Case.created_at, dialect).label("month"), Case.county_code.label("county_code"),
            Case.item_id.label("item_id"), Case.mode.label("mode"), Case.state.label("state")]


def _processing(dialect: str):
    """The processing time of a decided case, in working days (see the module's docstring), and the two calendar
    tables it is computed from (joined on the local dates of acceptance and decision)."""
    acc_day, dec_day = aliased(CalendarDay, name="acc_day"), aliased(CalendarDay, name="dec_day")
    proc = sa.case((sa.and_(Case.decided_at.is_not(None), Case.accepted_at.is_not(None)),
                    dec_day.workday_seq - acc_day.workday_seq - Case.paused_days))
    return proc, acc_day, dec_day


# The steps a case takes, read from its timeline (case_event): one per row of these actions ...
ACCEPTANCE_ACTIONS = ("accept", "accept_with_commitment", "approve_on_commitment", "decide_instant", "file")
STEP_ACTIONS = (*ACCEPTANCE_ACTIONS, "review", "request_correction")
# ... one per row that sends the case on to the city (or, 全市通办, to the competent county) or back to the window
# (a return, a rejected forward) — counted by the state entered, so that the county's copy of a case on another
# node, where the city's return arrives as receive_return, counts it as the embedded node does (a delegated review
# that forwards is two: 审核 and 转报) — and one for the decision. A decision on the spot at the window
# (approve_on_commitment, decide_instant) is its acceptance and its decision: two. Without detours: direct 3
# (受理, 审核, 决定), delegated_review 4 (受理, 审核, 转报, 批准), forward_only 3 (受理, 转报, 审核决定 — the city
# examines and decides in one action).
STEP_STATES = ("forwarded", "returned")


def _measured(where: list):
    """Per decided case that ``where`` selects: the required and the received materials on its own list
    (``case_material``; received = a file or the paper recorded, ``present``) and the steps on its timeline
    (``case_event``, see STEP_ACTIONS). Grouped subqueries joined to the cases: on the few dirty cases the planner
    looks each up by its index, on every case it joins them in one pass."""
    decided = [*where, Case.decided_at.is_not(None)]
    m, e = CaseMaterial, CaseEvent
    materials = (sa.select(m.case_id.label("case_id"), _count_if(m.required).label("required"),
                           _count_if(m.present).label("received"))
                 .select_from(m).join(Case, Case.id == m.case_id).join(Item, Item.id == Case.item_id)
                 .where(*decided).group_by(m.case_id).subquery("case_materials"))
    entered = sa.and_(e.to_state.in_(STEP_STATES), sa.or_(e.from_state.is_(None), e.from_state != e.to_state))
    weight = sa.case((e.action.in_(STEP_ACTIONS), 1), else_=0) + sa.case((entered, 1), else_=0)
    steps = (sa.select(e.case_id.label("case_id"), sa.func.sum(weight).label("n"))
             .select_from(e).join(Case, Case.id == e.case_id).join(Item, Item.id == Case.item_id)
             .where(*decided).group_by(e.case_id).subquery("case_steps"))
    return materials, steps


def case_baseline(kind: str):
    """A case's pre-reform baseline of ``kind`` (materials, steps, days): as its item had it when the case was
    registered (case_file.baseline_*, supervision.rollup stamps it), so that a later catalogue version re-scores no
    case; the item's own for a row written past the ORM (bulk seeding), which has none."""
    return sa.func.coalesce(getattr(Case, f"baseline_{kind}"), getattr(Item, f"baseline_{kind}"))


def _case_facts(where: list, dialect: str, per_case: bool = False):
    """Per rollup key (and per case with ``per_case``), the additive figures of the cases that ``where`` selects
    (supervision.rollup.CASE_SUMS)."""
    proc, acc_day, dec_day = _processing(dialect)
    decided = Case.decided_at.is_not(None)
    materials, steps_q = _measured(where)
    required = sa.func.coalesce(materials.c.required, 0)
    received = sa.func.coalesce(materials.c.received, 0)
    steps = sa.func.coalesce(steps_q.c.n, 0) + 1  # the rows above, and the decision
    base_materials, base_steps, base_days = (case_baseline(k) for k in ("materials", "steps", "days"))
    has_materials, has_steps, has_days = base_materials > 0, base_steps > 0, base_days > 0
    in_materials, in_steps = sa.and_(decided, has_materials), sa.and_(decided, has_steps)
    in_time = sa.and_(proc.is_not(None), has_days)
    due_known = sa.and_(decided, Case.due_at.is_not(None))
    key = ([Case.id.label("case_id")] if per_case else []) + _case_key(dialect)

    def total_if(value, condition):
        return sa.func.coalesce(sa.func.sum(value).filter(condition), 0)

    columns = [
        sa.func.count().label("total_cases"),
        sa.func.count(Case.accepted_at).label("accepted"),
        sa.func.count(Case.decided_at).label("decided"),
        _count_if(Case.decision == "approve").label("approved"),
        _count_if(Case.state == "concluded").label("concluded"),
        _count_if(due_known).label("on_time_base"),
        _count_if(sa.and_(due_known, Case.decided_at <= Case.due_at)).label("on_time"),
        sa.func.count(proc).label("processing_cases"),
        sa.func.coalesce(sa.func.sum(proc), 0.0).label("processing_sum"),
        _sum_if(sa.cast(base_materials - required, sa.Float) / base_materials,
                in_materials).label("materials_sum"),
        _count_if(in_materials).label("materials_cases"),
        _sum_if(sa.cast(base_steps - steps, sa.Float) / base_steps, in_steps).label("steps_sum"),
        _count_if(in_steps).label("steps_cases"),
        _sum_if(sa.cast(base_days - proc, sa.Float) / base_days, in_time).label("time_sum"),
        _count_if(in_time).label("time_cases"),
        _count_if(sa.and_(decided, sa.not_(sa.and_(has_materials, has_steps, has_days)))
                  ).label("excluded_no_baseline"),
        sa.func.count(CaseRating.id).label("ratings"),
        _count_if(CaseRating.score >= SATISFIED_SCORE).label("satisfied"),
        sa.func.count(Case.commitment_deadline).label("commitment_cases"),
        sa.func.count(Case.commitment_met_at).label("commitment_met"),
        total_if(base_materials, in_materials).label("materials_baseline_sum"),
        total_if(required, in_materials).label("materials_required_sum"),
        total_if(received, in_materials).label("materials_received_sum"),
        total_if(base_steps, in_steps).label("steps_baseline_sum"),
        total_if(steps, in_steps).label("steps_taken_sum"),
        _sum_if(base_days, in_time).label("time_baseline_sum"),
        _sum_if(proc, in_time).label("time_used_sum"),
    ]
    return (sa.select(*key, *columns).select_from(Case)
            .join(Item, Item.id == Case.item_id)
            .outerjoin(acc_day, acc_day.day == _local_date(Case.accepted_at, dialect))
            .outerjoin(dec_day, dec_day.day == _local_date(Case.decided_at, dialect))
            .outerjoin(CaseRating, CaseRating.case_id == Case.id)
            .outerjoin(materials, materials.c.case_id == Case.id)
            .outerjoin(steps_q, steps_q.c.case_id == Case.id)
            .where(*where, counted_here()).group_by(*key))


def _push_facts(where: list, dialect: str, per_case: bool = False):
    """Per rollup key of the pushed case (and per case with ``per_case``), its supervision pushes
    (supervision.rollup.PUSH_SUMS)."""
    fed_back = sa.exists().where(SupervisionFeedback.push_id == SupervisionPush.id)  # by the push_id index
    hours = _hours_between(SupervisionPush.claimed_at,
                           sa.func.coalesce(SupervisionPush.received_at, SupervisionPush.pushed_at), dialect)
    key = ([Case.id.label("case_id")] if per_case else []) + _case_key(dialect)
    return (sa.select(*key, sa.func.count(SupervisionPush.id).label("pushes"),
                      sa.func.count(SupervisionPush.claimed_at).label("claimed"),
                      _count_if(fed_back).label("with_feedback"),
                      sa.func.coalesce(sa.func.sum(hours), 0.0).label("hours_sum"))
            .select_from(Case)
            .join(SupervisionPush, SupervisionPush.case_no == Case.case_no)
            .join(Item, Item.id == Case.item_id)
            .where(*where, counted_here()).group_by(*key))


def _days_facts(where: list, dialect: str):
    """Per rollup key and processing time in working days, the number of decided cases."""
    proc, acc_day, dec_day = _processing(dialect)
    key = _case_key(dialect)
    return (sa.select(*key, proc.label("days"), sa.func.count().label("cases")).select_from(Case)
            .join(Item, Item.id == Case.item_id)
            .join(acc_day, acc_day.day == _local_date(Case.accepted_at, dialect))
            .join(dec_day, dec_day.day == _local_date(Case.decided_at, dialect))
            .where(*where, proc.is_not(None), counted_here()).group_by(*key, proc))


def _in_ranges(ranges) -> list:
    if ranges is None:
        return []
    return [sa.or_(*(sa.and_(Case.created_at >= lo, Case.created_at < hi) for lo, hi in ranges))]


def write_facts(case_ids: list[int] | None, dialect: str) -> None:
    """Insert the facts (supervision.rollup.StatsCaseFact) of these cases (None: of every case); the caller has
    deleted their old facts."""
    from supervision.rollup import CASE_SUMS, KEY, PUSH_SUMS, StatsCaseFact

    where = [] if case_ids is None else [Case.id.in_(case_ids)]
    facts = _case_facts(where, dialect, per_case=True)
    db.session.execute(sa.insert(StatsCaseFact).from_select(["case_id", *KEY, *CASE_SUMS], facts))
    pushes = _push_facts(where, dialect, per_case=True).subquery("pushes")
    db.session.execute(sa.update(StatsCaseFact).where(StatsCaseFact.case_id == pushes.c.case_id)
                       .values({n: pushes.c[n] for n in PUSH_SUMS}))


def rollups_from_facts(keys: list[tuple] | None) -> list:
    """(rollup table, the SELECT over the facts that fills it) for these rollup keys (None: every key)."""
    from supervision.rollup import CASE_SUMS, KEY, PUSH_SUMS, StatsCaseFact, StatsCaseRollup, StatsDaysRollup
    from supervision.rollup import StatsPushRollup

    f = StatsCaseFact
    key = [getattr(f, k) for k in KEY]
    where = [] if keys is None else [sa.tuple_(*key).in_(keys)]
    days = sa.cast(f.processing_sum, sa.Integer)
    return [
        (StatsCaseRollup, sa.select(*key, *(sa.func.sum(getattr(f, n)).label(n) for n in CASE_SUMS))
         .where(*where).group_by(*key)),
        (StatsPushRollup, sa.select(*key, *(sa.func.sum(getattr(f, n)).label(n) for n in PUSH_SUMS))
         .where(*where, f.pushes > 0).group_by(*key)),
        (StatsDaysRollup, sa.select(*key, days.label("days"), sa.func.count().label("cases"))
         .where(*where, f.processing_cases == 1).group_by(*key, days)),
    ]


@dataclass(frozen=True)
class _Plan:
    """Which months a report reads from the rollup, which from the cases (``live``; None: every month)."""

    live: tuple[str, ...] | None
    rollup_from: str | None = None  # first month read from the rollup ('YYYY-MM'), None: no lower bound
    rollup_to: str | None = None
    use_rollup: bool = False
    # The facts county nodes reported have their own rollup, kept exact as they arrive (supervision.fact_reports),
    # whatever this node's own cases' state: when those are all read live (a calendar change, a bulk load, until
    # the next refresh), the reported ones still come from their rollup — else a report reads every reported fact.
    reported: _Plan | None = None


def _plan(filters: Filters, now: datetime, local: bool = True) -> _Plan:
    from supervision.rollup import every_case_dirty, month_first_last, month_of

    if local and every_case_dirty():
        return _Plan(live=None, reported=_plan(filters, now, local=False))
    lo = hi = None
    edges = set()
    if filters.date_from:
        lo = month_of(datetime.combine(filters.date_from, time(12), SHANGHAI))
        if filters.date_from != month_first_last(lo)[0]:
            edges.add(lo)
    if filters.date_to:
        hi = month_of(datetime.combine(filters.date_to, time(12), SHANGHAI))
        # A period that runs to today or later cuts nothing off its last month: no case is applied for after now.
        if filters.date_to != month_first_last(hi)[1] and filters.date_to < now.astimezone(SHANGHAI).date():
            edges.add(hi)
    return _Plan(live=tuple(sorted(edges)), rollup_from=lo, rollup_to=hi, use_rollup=True)


def _source(kind: str, filters: Filters, plan: _Plan, dialect: str):
    """Rollup-shaped rows (rollup key + the sums of ``kind``: "case", "push" or "days") for the filtered
    population, whose sums per group are the figures: the rollup rows of the months wholly inside the period, minus
    the facts of the cases changed since the last refresh as they were rolled up, plus those cases' figures now;
    and the figures of the months the period cuts, computed from their cases."""
    from supervision.rollup import (CASE_SUMS, KEY, PUSH_SUMS, StatsCaseFact, StatsCaseRollup, StatsDaysRollup,
                                    StatsPushRollup, dirty_case_ids, month_bounds)

    model, facts, sums = {"case": (StatsCaseRollup, _case_facts, CASE_SUMS),
                          "push": (StatsPushRollup, _push_facts, PUSH_SUMS),
                          "days": (StatsDaysRollup, _days_facts, ("days", "cases"))}[kind]
    names = [*KEY, *sums]

    def in_period(month, county, item_id, mode) -> list:
        clauses = []
        if plan.rollup_from:
            clauses.append(month >= plan.rollup_from)
        if plan.rollup_to:
            clauses.append(month <= plan.rollup_to)
        if plan.live:
            clauses.append(month.not_in(plan.live))
        if filters.county:
            clauses.append(county == filters.county)
        if filters.item:
            clauses.append(item_id == sa.select(Item.id).where(Item.code == filters.item).scalar_subquery())
        if filters.mode:
            clauses.append(mode == filters.mode)
        return clauses

    parts = []
    if plan.use_rollup:
        parts.append(sa.select(*(getattr(model, n) for n in names))
                     .where(*in_period(model.month, model.county_code, model.item_id, model.mode)))
        f = StatsCaseFact
        old = [f.case_id.in_(dirty_case_ids()), *in_period(f.month, f.county_code, f.item_id, f.mode)]
        key = [getattr(f, k) for k in KEY]
        if kind == "days":
            parts.append(sa.select(*key, sa.cast(f.processing_sum, sa.Integer).label("days"),
                                   sa.literal(-1).label("cases")).where(*old, f.processing_cases == 1))
        else:
            parts.append(sa.select(*key, *(-getattr(f, n) for n in sums)).where(*old))
        now_sub = facts([Case.id.in_(dirty_case_ids()), *_where(filters)], dialect).subquery("changed")
        parts.append(sa.select(*(now_sub.c[n] for n in names)).where(
            *in_period(now_sub.c.month, now_sub.c.county_code, now_sub.c.item_id, now_sub.c.mode)))
    if plan.live is None or plan.live:
        live_ranges = None if plan.live is None else [month_bounds(m) for m in plan.live]
        live = facts(_where(filters) + _in_ranges(live_ranges), dialect).subquery("cut")
        parts.append(sa.select(*(live.c[n] for n in names)))
    parts += source_parts(kind, filters, plan.reported or plan, names)  # the cases county nodes reported (issue 18)
    if len(parts) == 1:
        return parts[0].subquery("src")
    return sa.union_all(*parts).subquery("src")


def _grouped(columns: list, src, dims: tuple, dialect: str, extra: tuple = ()):
    """One statement giving ``columns`` (aggregates over ``src``, a subquery of rollup-shaped rows) for the whole
    population and, for each dimension of ``dims``, per group; ``extra`` columns are grouped by in every set.

    PostgreSQL: GROUP BY GROUPING SETS ((), (county), (month), …) — one pass for every dimension; a row's set is
    told by GROUPING(). SQLite has no grouping sets: one SELECT per set, joined by UNION ALL, each naming its
    dimension."""
    keys = {"county": src.c.county_code, "item": Item.code, "mode": src.c.mode, "month": src.c.month,
            "state": src.c.state}

    def base(select):
        select = select.select_from(src).join(Item, Item.id == src.c.item_id)
        if "county" in dims:
            select = select.outerjoin(Division, Division.code == src.c.county_code)
        return select

    if dialect == "postgresql":
        query = base(sa.select(*(keys[d].label(f"k_{d}") for d in dims),
                               *(sa.func.grouping(keys[d]).label(f"g_{d}") for d in dims),
                               *(sa.func.max(LABEL_COLUMNS[d]).label(f"l_{d}") for d in dims if d in LABEL_COLUMNS),
                               *extra, *columns))
        if dims:
            query = query.group_by(sa.func.grouping_sets(sa.tuple_(*extra),
                                                         *(sa.tuple_(keys[d], *extra) for d in dims)))
        elif extra:
            query = query.group_by(*extra)
        return query
    parts = []
    for d in (None, *dims):
        label = sa.func.max(LABEL_COLUMNS[d]) if d in LABEL_COLUMNS else sa.null()
        part = base(sa.select(sa.literal(d or "").label("dim"),
                              (sa.cast(keys[d], sa.String) if d else sa.null()).label("key"),
                              label.label("label"), *extra, *columns))
        group = ((keys[d],) if d else ()) + tuple(extra)
        parts.append(part.group_by(*group) if group else part)
    return sa.union_all(*parts) if len(parts) > 1 else parts[0]


def _set_of(row: dict, dims: tuple, dialect: str) -> tuple[str | None, str | None, str | None]:
    """(dimension or None for the whole population, group key, label) of a row of :func:`_grouped`."""
    if dialect == "postgresql":
        for d in dims:
            if row[f"g_{d}"] == 0:
                return d, row[f"k_{d}"], row.get(f"l_{d}")
        return None, None, None
    return row["dim"] or None, row["key"], row["label"]


def _sums(src, names) -> list:
    return [sa.func.coalesce(sa.func.sum(src.c[n]), 0).label(n) for n in names]


def _now_query(dims: tuple, filters: Filters, now: datetime, dialect: str):
    """The figures of the moment, over the few cases they concern (partial indexes), never from the rollup:
    overdue and warning now, and the 容缺 commitments still pending (not met, deadline still ahead) — the others of
    ``commitment_cases`` are due (met or past their deadline), and stay so."""
    running = sa.and_(Case.state.in_(OPEN_CLOCK_STATES), Case.paused_at.is_(None))
    flagged = sa.and_(Case.due_flag.in_(("warning", "overdue")), running)
    pending = sa.and_(Case.commitment_deadline >= now, Case.commitment_met_at.is_(None))
    concerned = sa.union_all(  # and the cases county nodes reported (issue 18)
        sa.select(*_case_key(dialect), sa.case((flagged, Case.due_flag), else_="ok").label("flag"),
                  sa.case((pending, 1), else_=0).label("pending"))
        .select_from(Case).join(Item, Item.id == Case.item_id)
        .where(*_where(filters), sa.or_(flagged, pending), counted_here()),
        now_part(filters, now)).subquery("src")
    c = concerned.c
    columns = [_count_if(c.flag == "overdue").label("overdue_now"),
               _count_if(c.flag == "warning").label("warning_now"),
               _count_if(c.pending == 1).label("commitment_pending")]
    return _grouped(columns, concerned, dims, dialect)


# -- assembling -----------------------------------------------------------------------------------------------

def _share(part, whole) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value, digits) -> float | None:
    return None if value is None else round(float(value), digits)


def _mean(total, n, digits) -> float | None:
    return round(float(total) / n, digits) if n else None


def _percentile(histogram: list[tuple[int, int]], p: float) -> float | None:
    """``percentile_cont(p)`` of a multiset given as (value, count) pairs: linear interpolation between the two
    ranks around p·(n−1)."""
    n = sum(count for _, count in histogram)
    if not n:
        return None
    pos = p * (n - 1)
    lo_rank = int(pos)
    frac = pos - lo_rank
    lo_value = hi_value = None
    seen = 0
    for value, count in sorted(histogram):
        if lo_value is None and lo_rank < seen + count:
            lo_value = value
        if lo_rank + 1 < seen + count:
            hi_value = value
            break
        seen += count
    if hi_value is None:
        hi_value = lo_value
    return float(lo_value) + frac * (float(hi_value) - float(lo_value))


def _finish(row: dict, push: dict | None, now_row: dict | None, histogram: list | None) -> dict:
    out = {k: int(row.get(k) or 0) for k, _, kind in FIGURES if kind == "count" and k in row}
    now_row, push = now_row or {}, push or {}
    for k in ("overdue_now", "warning_now"):
        out[k] = int(now_row.get(k) or 0)
    out["commitment_due"] = out["commitment_cases"] - int(now_row.get("commitment_pending") or 0)
    out["on_time_rate"] = _share(out["on_time"], out["on_time_base"])
    out["processing_days_mean"] = _mean(row["processing_sum"], out["processing_cases"], 2)
    out["processing_days_median"] = _round(_percentile(histogram or [], 0.5), 2)
    out["processing_days_p90"] = _round(_percentile(histogram or [], 0.9), 2)
    for k in ("materials", "steps", "time"):
        out[f"{k}_reduction"] = _mean(row[f"{k}_sum"], out[f"{k}_cases"], 4)
        out[f"{k}_baseline_mean"] = _mean(row[f"{k}_baseline_sum"], out[f"{k}_cases"], 2)
    for k, cases in (("materials_required", "materials_cases"), ("materials_received", "materials_cases"),
                     ("steps_taken", "steps_cases"), ("time_used", "time_cases")):
        out[f"{k}_mean"] = _mean(row[f"{k}_sum"], out[cases], 2)
    out["pushes"], out["claimed"] = int(push.get("pushes") or 0), int(push.get("claimed") or 0)
    out["claim_rate"] = _share(out["claimed"], out["pushes"])
    out["feedback_rate"] = _share(int(push.get("with_feedback") or 0), out["pushes"])
    out["mean_hours_to_claim"] = _mean(push.get("hours_sum") or 0, out["claimed"], 2)
    out["satisfaction"] = _share(out["satisfied"], out["ratings"])
    out["commitment_completion_rate"] = _share(out["commitment_met"], out["commitment_due"])
    return {k: out[k] for k in FIGURE_KEYS}


def _label(by: str, key, label) -> str:
    if by == "mode":
        return MODE_ZH.get(key, key)
    if by == "state":
        return STATE_ZH.get(key, key)
    if by == "month":
        return key
    return label or key


def _order(by: str, key) -> tuple:
    if by == "mode":
        return (MODES.index(key) if key in MODES else len(MODES), key)
    if by == "state":
        return (STATES.index(key) if key in STATES else len(STATES), key)
    return (0, key or "")


def report(filters: Filters | None = None, dimensions=DIMENSIONS, now: datetime | None = None) -> dict:
    """The figures of the whole population and of every group of each dimension asked for, in a constant number
    of statements whatever the number of dimensions and the size of the period:
    ``{"summary": {...}, "by": {dimension: [row, ...]}}`` — see :func:`summary` and :func:`breakdown`.

    Clean months wholly inside the period come from the rollup (supervision.rollup), the others from the cases;
    the result is the same either way (a test holds the two to each other)."""
    from supervision.rollup import CASE_SUMS, PUSH_SUMS

    dims = tuple(check_dimension(d) for d in dict.fromkeys(dimensions))
    filters = filters or Filters()
    now = now or utcnow()
    ensure_calendar(now)
    dialect = _dialect()
    if dialect == "postgresql":
        # These statements are estimated costly enough for PostgreSQL to JIT-compile them, which takes longer
        # (0.5–0.7 s each) than it saves; for this transaction only (set_config(…, true) is SET LOCAL) —
        # and the live month's GROUP BY sorts in memory rather than on disk.
        db.session.execute(sa.text("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"))
    plan = _plan(filters, now)

    def by_set(statement) -> dict:
        out = {}
        for r in db.session.execute(statement):
            row = dict(r._mapping)
            dim, key, label = _set_of(row, dims, dialect)
            out[(dim, key)] = {**row, "_label": label}
        return out

    case_src = _source("case", filters, plan, dialect)
    case_rows = by_set(_grouped(_sums(case_src, CASE_SUMS), case_src, dims, dialect))
    push_src = _source("push", filters, plan, dialect)
    push_rows = by_set(_grouped(_sums(push_src, PUSH_SUMS), push_src, dims, dialect))
    now_rows = by_set(_now_query(dims, filters, now, dialect))
    days_src = _source("days", filters, plan, dialect)
    histograms: dict = {}
    for r in db.session.execute(_grouped([sa.func.sum(days_src.c.cases).label("n")], days_src, dims, dialect,
                                         extra=(days_src.c.days,))):
        row = dict(r._mapping)
        dim, key, _ = _set_of(row, dims, dialect)
        histograms.setdefault((dim, key), []).append((int(row["days"]), int(row["n"])))

    result = {"summary": None, "by": {d: [] for d in dims}}
    for (dim, key), row in case_rows.items():
        figures = _finish(row, push_rows.get((dim, key)), now_rows.get((dim, key)), histograms.get((dim, key)))
        if dim is None:
            result["summary"] = figures
            continue
        if not row["total_cases"]:
            continue
        entry = {"key": key, "label": _label(dim, key, row["_label"]), **figures}
        if dim == "county":
            entry["satisfaction_flag"] = (figures["satisfaction"] is not None
                                          and figures["satisfaction"] < SATISFACTION_THRESHOLD)
        result["by"][dim].append(entry)
    if result["summary"] is None:  # no case at all: PostgreSQL's grouping sets give no () row over no rows
        result["summary"] = _finish({k: 0 for k in CASE_SUMS}, None, now_rows.get((None, None)), None)
    for dim in dims:
        result["by"][dim].sort(key=lambda r, d=dim: _order(d, r["key"]))
    return result


def summary(filters: Filters | None = None, now: datetime | None = None) -> dict:
    """Every figure over the filtered cases (see the module's docstring)."""
    return report(filters, (), now)["summary"]


def breakdown(by: str, filters: Filters | None = None, now: datetime | None = None) -> list[dict]:
    """One row per group (county, item, mode, month 'YYYY-MM' of the application date, state) that has cases:
    ``key``, ``label`` and every figure; county rows also carry ``satisfaction_flag`` (satisfaction under 95 %)."""
    return report(filters, (check_dimension(by),), now)["by"][by]


# -- the cases behind a figure (the dashboard's cards open them) ------------------------------------------------
# A count figure's cases are exactly the ones it counts; a rate's, a mean's or a percentile's are the cases it is
# computed over (its denominator), so that a reader can check the figure case by case.

def _behind(figure: str, now: datetime):
    decided = Case.decided_at.is_not(None)
    due_known = sa.and_(decided, Case.due_at.is_not(None))
    processed = sa.and_(decided, Case.accepted_at.is_not(None))
    pushed = sa.exists().where(SupervisionPush.case_no == Case.case_no)
    claimed = sa.exists().where(SupervisionPush.case_no == Case.case_no, SupervisionPush.claimed_at.is_not(None))
    rated = sa.exists().where(CaseRating.case_id == Case.id)
    running = sa.and_(Case.state.in_(OPEN_CLOCK_STATES), Case.paused_at.is_(None))
    committed = Case.commitment_deadline.is_not(None)
    commitment_due = sa.and_(committed, sa.or_(Case.commitment_met_at.is_not(None), Case.commitment_deadline < now))
    has = {k: case_baseline(k) > 0 for k in ("materials", "steps", "days")}
    return {
        "total_cases": sa.true(), "accepted": Case.accepted_at.is_not(None), "decided": decided,
        "approved": Case.decision == "approve", "concluded": Case.state == "concluded",
        "on_time_base": due_known, "on_time_rate": due_known,
        "on_time": sa.and_(due_known, Case.decided_at <= Case.due_at),
        "processing_cases": processed, "processing_days_mean": processed, "processing_days_median": processed,
        "processing_days_p90": processed,
        "materials_cases": sa.and_(decided, has["materials"]),
        "materials_reduction": sa.and_(decided, has["materials"]),
        "steps_cases": sa.and_(decided, has["steps"]), "steps_reduction": sa.and_(decided, has["steps"]),
        "time_cases": sa.and_(processed, has["days"]), "time_reduction": sa.and_(processed, has["days"]),
        **{f"materials_{k}_mean": sa.and_(decided, has["materials"]) for k in ("baseline", "required", "received")},
        **{f"steps_{k}_mean": sa.and_(decided, has["steps"]) for k in ("baseline", "taken")},
        **{f"time_{k}_mean": sa.and_(processed, has["days"]) for k in ("baseline", "used")},
        "excluded_no_baseline": sa.and_(decided, sa.not_(sa.and_(*has.values()))),
        "pushes": pushed, "claim_rate": pushed, "feedback_rate": pushed, "claimed": claimed,
        "mean_hours_to_claim": claimed,
        "ratings": rated, "satisfaction": rated,
        "satisfied": sa.exists().where(CaseRating.case_id == Case.id, CaseRating.score >= SATISFIED_SCORE),
        "overdue_now": sa.and_(running, Case.due_flag == "overdue"),
        "warning_now": sa.and_(running, Case.due_flag == "warning"),
        "commitment_cases": committed, "commitment_due": commitment_due,
        "commitment_completion_rate": commitment_due, "commitment_met": Case.commitment_met_at.is_not(None),
    }[figure]


def check_figure(figure: str) -> str:
    if figure not in FIGURE_KIND:
        raise NotFound("figure_unknown", f"统计指标“{figure}”不存在", f"unknown figure {figure!r}", field="figure")
    return figure


def cases_behind(figure: str, filters: Filters, visible, *, page: int = 1, per_page: int = 50,
                 now: datetime | None = None) -> dict:
    """The cases behind ``figure`` under ``filters`` that the ``visible`` clause (the viewer's scope,
    delegation.cases.visible_filter) admits, newest application first: ``{"total": n, "rows": [case, ...]}``
    (one page). ``total`` equals a count figure when the viewer sees every case."""
    condition = _behind(check_figure(figure), now or utcnow())
    where = [*_where(filters), condition, visible]
    total = db.session.execute(sa.select(sa.func.count()).select_from(Case).join(Item, Item.id == Case.item_id)
                               .where(*where)).scalar_one()
    # the deadline colour only where the clock still runs: a case concluded late is no longer overdue now
    running = sa.and_(Case.state.in_(OPEN_CLOCK_STATES), Case.paused_at.is_(None))
    rows = db.session.execute(
        sa.select(Case.case_no, Case.applicant_name, Case.state, Case.mode, Case.created_at,
                  sa.case((running, Case.due_flag), else_="ok").label("due_flag"),
                  Item.name.label("item_name"), Division.name.label("county_name"))
        .select_from(Case).join(Item, Item.id == Case.item_id)
        .outerjoin(Division, Division.code == Case.county_code)
        .where(*where).order_by(Case.created_at.desc(), Case.id.desc())
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return {"total": total, "rows": [dict(r._mapping) for r in rows]}


def rating_follow_ups(now: datetime | None = None, county: str | None = None) -> dict:
    """差评整改 (issue 15): the bad ratings' rectification tasks not yet answered, and those past due, as of now
    (not filtered by period: an open task is work to chase whatever period the figures show; ``county``: of that
    county's cases only). A task lives where the case was rated, the accepting county: at the city, those the
    county nodes reported, and this node's own of the cases no county reported."""
    from delegation.follow_up_models import RatingFollowUp
    from supervision import fact_reports

    now = now or utcnow()
    row = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(sa.case((RatingFollowUp.due_at < now, 1))))
        .join(Case, Case.id == RatingFollowUp.case_id)
        .where(RatingFollowUp.state == "open", counted_here(), *([Case.county_code == county] if county else []))
    ).one()
    reported = fact_reports.follow_up_counts(now, county)
    return {"open": row[0] + reported["open"], "overdue": row[1] + reported["overdue"]}


def no_cases() -> dict:
    """Every figure of a group without a case (counts 0, rates and means None)."""
    from supervision.rollup import CASE_SUMS

    return _finish({k: 0 for k in CASE_SUMS}, None, None, None)


def counties() -> list[tuple[str, str]]:
    """Every county (reference data: the divisions under the city), as (code, name) by code."""
    return [(c, n) for c, n in db.session.execute(
        sa.select(Division.code, Division.name).where(Division.parent_code.is_not(None)).order_by(Division.code))]


def window_commitments(filters: Filters | None = None, now: datetime | None = None) -> dict:
    """告知承诺 (issue 17): approvals given on a signed commitment under the filters (by application date, county,
    item, mode) and their verification — verified, found false, open, open past due. Counted live: a few per cent
    of the cases, by the commitment records' own table."""
    from supervision import commitment_checks, fact_reports

    filters, now = filters or Filters(), now or utcnow()
    # the approvals of cases a county node reported count by its report (the approval lives at that county)
    local = commitment_checks.figures([*_where(filters), counted_here()], now)
    reported = fact_reports.commitment_figures(filters, now)
    return {k: v + reported[k] for k, v in local.items()}
