"""Pre-computed statistics: monthly rollups of the cases, their pushes and their processing times, kept exact.

The statistics (supervision/statistics.py) read a month from the rollup when the month is *clean* and wholly inside
the requested period, and from the cases themselves otherwise. A month turns dirty in the same transaction as any
change that can move one of its figures (a case, its rating, its supervision push or feedback: an ``after_flush``
hook appends its month to ``stats_dirty``; a change of the catalogue or the calendar appends NULL, "every month").
The refresh job (:func:`refresh`, run by the scheduler or the worker) recomputes the dirty months and removes exactly
the dirty rows it read, in one transaction. So a reader never sees a stale figure: what the job has not caught up
with is read live, and the live part is small (the current month, mostly).

Rollup key: the application month (Asia/Shanghai), county, item, mode and state — the dimensions of the figures
(the application date filter is exact to the day: months cut by the period are read live). Every rollup column is
additive (counts and sums), so any grouping of the rows gives the figures of that group; the median and P90 of the
processing time come from a histogram (processing time in whole working days → number of cases).

Figures that depend on the moment of asking (overdue now, warning now, 容缺 commitments due by now) are never
rolled up: they are counted live, over the few cases they concern, through partial indexes."""
from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db, utcnow
from delegation.deadlines import SHANGHAI

KEY = ("month", "county_code", "item_id", "mode", "state")
CASE_SUMS = ("total_cases", "accepted", "decided", "approved", "concluded", "on_time_base", "on_time",
             "processing_cases", "processing_sum", "materials_sum", "materials_cases", "steps_sum", "steps_cases",
             "time_sum", "time_cases", "excluded_no_baseline", "ratings", "satisfied", "commitment_cases",
             "commitment_met")
PUSH_SUMS = ("pushes", "claimed", "with_feedback", "hours_sum")


class _RollupKey:
    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)  # 'YYYY-MM' of the application date
    county_code: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    item_id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(30), primary_key=True)


def _count():
    return mapped_column(sa.Integer, nullable=False, default=0)


def _sum():
    return mapped_column(sa.Float, nullable=False, default=0.0)


class StatsCaseRollup(_RollupKey, db.Model):
    """The additive figures of the cases of one key (see statistics.rollup_selects for their definitions)."""

    __tablename__ = "stats_case_rollup"
    total_cases: Mapped[int] = _count()
    accepted: Mapped[int] = _count()
    decided: Mapped[int] = _count()
    approved: Mapped[int] = _count()
    concluded: Mapped[int] = _count()
    on_time_base: Mapped[int] = _count()
    on_time: Mapped[int] = _count()
    processing_cases: Mapped[int] = _count()
    processing_sum: Mapped[float] = _sum()
    materials_sum: Mapped[float] = _sum()
    materials_cases: Mapped[int] = _count()
    steps_sum: Mapped[float] = _sum()
    steps_cases: Mapped[int] = _count()
    time_sum: Mapped[float] = _sum()
    time_cases: Mapped[int] = _count()
    excluded_no_baseline: Mapped[int] = _count()
    ratings: Mapped[int] = _count()
    satisfied: Mapped[int] = _count()
    commitment_cases: Mapped[int] = _count()
    commitment_met: Mapped[int] = _count()


class StatsPushRollup(_RollupKey, db.Model):
    """The supervision pushes of the cases of one key."""

    __tablename__ = "stats_push_rollup"
    pushes: Mapped[int] = _count()
    claimed: Mapped[int] = _count()
    with_feedback: Mapped[int] = _count()
    hours_sum: Mapped[float] = _sum()


class StatsDaysRollup(_RollupKey, db.Model):
    """How many decided cases of one key took each whole number of working days (for the median and P90)."""

    __tablename__ = "stats_days_rollup"
    days: Mapped[int] = mapped_column(primary_key=True)
    cases: Mapped[int] = _count()


class StatsDirty(db.Model):
    """A month whose rollup rows may be stale (NULL: every month). Appended to, never updated: no two writers
    ever wait on the same row."""

    __tablename__ = "stats_dirty"
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str | None] = mapped_column(sa.String(7))


ROLLUPS = (StatsCaseRollup, StatsPushRollup, StatsDaysRollup)


def month_of(moment: datetime | None) -> str:
    moment = moment or utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a month, as aware datetimes (Asia/Shanghai)."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def month_first_last(month: str) -> tuple[date, date]:
    start, end = month_bounds(month)
    return start.date(), date.fromordinal(end.date().toordinal() - 1)


# -- marking months dirty --------------------------------------------------------------------------------------

def _dirty_months(session, flush_context) -> set[str | None]:
    from delegation.models import CalendarDay, Case, CaseRating, HolidayDay, HolidayYear, Item, ItemMaterial
    from supervision.models import SupervisionFeedback, SupervisionPush

    months: set[str | None] = set()
    case_ids, case_nos, push_ids = set(), set(), set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Case):
            months.add(month_of(obj.created_at))
        elif isinstance(obj, CaseRating):
            case_ids.add(obj.case_id)
        elif isinstance(obj, SupervisionPush):
            case_nos.add(obj.case_no)
        elif isinstance(obj, SupervisionFeedback):
            push_ids.add(obj.push_id)
        elif isinstance(obj, (Item, ItemMaterial, CalendarDay, HolidayDay, HolidayYear)):
            if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                continue  # only a relationship collection moved (a new case of the item): no figure changes
            return {None}  # baselines, material lists or working days changed: every month may move
    conn = session.connection()
    lookups = []
    if case_ids:
        lookups.append(sa.select(Case.created_at).where(Case.id.in_(case_ids)))
    if case_nos:
        lookups.append(sa.select(Case.created_at).where(Case.case_no.in_(case_nos)))
    if push_ids:
        lookups.append(sa.select(Case.created_at).join(SupervisionPush, SupervisionPush.case_no == Case.case_no)
                       .where(SupervisionPush.id.in_(push_ids)))
    for query in lookups:
        months.update(month_of(_aware(row[0])) for row in conn.execute(query))
    return months


def _aware(value):
    if isinstance(value, str):  # SQLite through a Core connection returns text
        value = datetime.fromisoformat(value)
    return value


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _mark_dirty(session, flush_context):
    if not (session.new or session.dirty or session.deleted):
        return
    months = _dirty_months(session, flush_context)
    if months:
        session.connection().execute(sa.insert(StatsDirty), [{"month": m} for m in sorted(months, key=str)])


def mark_all_dirty() -> None:
    """After writes that bypass the ORM (bulk seeding, a migration of data): every month is read live until the
    next refresh."""
    db.session.execute(sa.insert(StatsDirty), [{"month": None}])


def dirty_months() -> tuple[bool, set[str]]:
    """(every month dirty?, the dirty months)."""
    everything, months = False, set()
    for (month,) in db.session.execute(sa.select(StatsDirty.month).distinct()):
        if month is None:
            everything = True
        else:
            months.add(month)
    return everything, months


# -- refreshing -----------------------------------------------------------------------------------------------

def refresh(full: bool = False) -> dict:
    """Recompute the dirty months (every month when ``full`` or when one dirty row says so) and remove the dirty
    rows read. Flushes; the caller commits. Several workers may call it at once: on PostgreSQL an advisory
    transaction lock makes them take turns, and a worker that finds the work done has nothing to do."""
    from supervision import statistics

    statistics.ensure_calendar(utcnow())  # first: filling the calendar marks every month dirty
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(7242001)"))
        db.session.execute(sa.text("SET LOCAL jit = off"))
    rows = db.session.execute(sa.select(StatsDirty.id, StatsDirty.month)).all()
    if not rows and not full:
        return {"months": 0, "full": False}
    everything = full or any(m is None for _, m in rows)
    months = sorted({m for _, m in rows if m is not None})
    if everything:
        for model in ROLLUPS:
            db.session.execute(sa.delete(model))
        ranges = None
    else:
        for model in ROLLUPS:
            db.session.execute(sa.delete(model).where(model.month.in_(months)))
        ranges = [month_bounds(m) for m in months]
    for model, select in statistics.rollup_selects(ranges, dialect):
        db.session.execute(sa.insert(model).from_select(list(select.selected_columns.keys()), select))
    ids = [i for i, _ in rows]
    for chunk in range(0, len(ids), 1000):
        db.session.execute(sa.delete(StatsDirty).where(StatsDirty.id.in_(ids[chunk:chunk + 1000])))
    db.session.flush()
    return {"months": "all" if everything else len(months), "full": everything}
