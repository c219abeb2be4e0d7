"""Pre-computed statistics, kept exact: per-case facts and monthly rollups of them.

``stats_case_fact`` holds, for every case, what it adds to each additive figure (counts, sums of reductions and
processing days, its pushes). The rollups sum the facts per application month × county × item × mode × state
(``stats_case_rollup``, ``stats_push_rollup``, and ``stats_days_rollup``: how many cases took each number of working
days, for the median and P90).

Any change that can move a case's figures — the case itself, its materials, its timeline, its rating, its
supervision push or feedback — appends the case's id to ``stats_dirty`` in the same transaction (an ``after_flush``
hook; a change of the catalogue or the calendar appends NULL: "every case"). A report reads the rollups and corrects
them for the dirty cases: minus their facts as rolled up, plus their figures computed now. So a figure is never
stale and the live part of a report is the handful of cases changed since the last refresh, however busy the windows
are. The refresh job (:func:`refresh`, every minute in the scheduler or the worker) recomputes the facts of the
dirty cases and the rollup keys they touch, and removes exactly the dirty rows it read, in one transaction.

Figures that depend on the moment of asking (overdue now, warning now, 容缺 commitments due by now) are never rolled
up: they are counted live, over the few cases they concern, through partial indexes."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from delegation.clock import on_flags_swept
from delegation.deadlines import SHANGHAI
from delegation.models import Case, Item
from persistence import as_utc, db, utcnow

KEY = ("month", "county_code", "item_id", "mode", "state")
CASE_SUMS = ("total_cases", "accepted", "decided", "approved", "concluded", "on_time_base", "on_time",
             "processing_cases", "processing_sum", "materials_sum", "materials_cases", "steps_sum", "steps_cases",
             "time_sum", "time_cases", "excluded_no_baseline", "ratings", "satisfied", "commitment_cases",
             "commitment_met", "materials_baseline_sum", "materials_required_sum", "materials_received_sum",
             "steps_baseline_sum", "steps_taken_sum", "time_baseline_sum", "time_used_sum")
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


def _measured(kind=sa.Integer):
    """A column added after the table (migration 0029): 0 for rows written before it."""
    return mapped_column(kind, nullable=False, default=0, server_default=sa.text("0"))


class _CaseSums:
    """The additive figures of cases (statistics._case_facts defines them)."""

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
    # what the three reductions are measured from, over the cases each counts (materials_cases, steps_cases,
    # time_cases): the baselines, the materials required and received, the steps taken, the working days used
    materials_baseline_sum: Mapped[int] = _measured()
    materials_required_sum: Mapped[int] = _measured()
    materials_received_sum: Mapped[int] = _measured()
    steps_baseline_sum: Mapped[int] = _measured()
    steps_taken_sum: Mapped[int] = _measured()
    time_baseline_sum: Mapped[float] = _measured(sa.Float)
    time_used_sum: Mapped[float] = _measured(sa.Float)


class _PushSums:
    """The supervision pushes of cases (statistics._push_facts)."""

    pushes: Mapped[int] = _count()
    claimed: Mapped[int] = _count()
    with_feedback: Mapped[int] = _count()
    hours_sum: Mapped[float] = _sum()


class StatsCaseRollup(_RollupKey, _CaseSums, db.Model):
    """The figures of the cases of one key."""

    __tablename__ = "stats_case_rollup"


class StatsPushRollup(_RollupKey, _PushSums, db.Model):
    """The supervision pushes of the cases of one key."""

    __tablename__ = "stats_push_rollup"


class StatsDaysRollup(_RollupKey, db.Model):
    """How many decided cases of one key took each whole number of working days (for the median and P90)."""

    __tablename__ = "stats_days_rollup"
    days: Mapped[int] = mapped_column(primary_key=True)
    cases: Mapped[int] = _count()


class StatsCaseFact(_CaseSums, _PushSums, db.Model):
    """What one case adds to each figure, as last rolled up."""

    __tablename__ = "stats_case_fact"
    __table_args__ = (sa.Index("ix_stats_case_fact_key", "month", "county_code", "item_id", "mode", "state"),)
    case_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    month: Mapped[str] = mapped_column(sa.String(7))
    county_code: Mapped[str] = mapped_column(sa.String(12))
    item_id: Mapped[int]
    mode: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(30))


class StatsDirty(db.Model):
    """A case whose facts may be stale (NULL: every case). Appended to, never updated: no two writers ever wait
    on the same row."""

    __tablename__ = "stats_dirty"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None]


ROLLUPS = (StatsCaseRollup, StatsPushRollup, StatsDaysRollup)


def month_of(moment: datetime | None) -> str:
    return as_utc(moment or utcnow()).astimezone(SHANGHAI).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a month, as aware datetimes (Asia/Shanghai)."""
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=SHANGHAI)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def month_first_last(month: str) -> tuple[date, date]:
    start, end = month_bounds(month)
    return start.date(), date.fromordinal(end.date().toordinal() - 1)


# -- what a case is measured against ---------------------------------------------------------------------------

@sa.event.listens_for(Case, "before_insert")
def _stamp_baselines(_mapper, connection, case: Case) -> None:
    """Every case, however it is registered, keeps its item's three baselines as they stand now: its reductions are
    measured against them (statistics.case_baseline), whatever a later catalogue version says."""
    if case.baseline_materials is None and case.baseline_steps is None and case.baseline_days is None:
        case.baseline_materials, case.baseline_steps, case.baseline_days = connection.execute(
            sa.select(Item.baseline_materials, Item.baseline_steps, Item.baseline_days)
            .where(Item.id == case.item_id)).one()


# -- marking cases dirty ---------------------------------------------------------------------------------------

_EVERY_CASE = object()


def _dirty_cases(session) -> set | object:
    from delegation.models import (CalendarDay, Case, CaseEvent, CaseMaterial, CaseRating, HolidayDay, HolidayYear,
                                   Item, ItemMaterial)
    from delegation.follow_up_models import RatingFollowUp
    from delegation.window_decision_models import CommitmentRecord
    from supervision.models import SupervisionFeedback, SupervisionPush

    ids, case_nos, push_ids = set(), set(), set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Case):
            ids.add(obj.id)
        elif isinstance(obj, (CaseRating, CaseMaterial, CaseEvent)):  # materials received, steps taken
            ids.add(obj.case_id)
        elif isinstance(obj, (RatingFollowUp, CommitmentRecord)):  # reported beside the figures (fact_reports)
            ids.add(obj.case_id)
        elif isinstance(obj, SupervisionPush):
            case_nos.add(obj.case_no)
        elif isinstance(obj, SupervisionFeedback):
            push_ids.add(obj.push_id)
        elif isinstance(obj, (Item, ItemMaterial, CalendarDay, HolidayDay, HolidayYear)):
            if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                continue  # only a relationship collection moved (a new case of the item): no figure changes
            return _EVERY_CASE  # baselines, material lists or working days changed: every case may move
    conn = session.connection()
    if case_nos:
        ids.update(conn.execute(sa.select(Case.id).where(Case.case_no.in_(case_nos))).scalars())
    if push_ids:
        ids.update(conn.execute(sa.select(Case.id).join(SupervisionPush, SupervisionPush.case_no == Case.case_no)
                                .where(SupervisionPush.id.in_(push_ids))).scalars())
    ids.discard(None)
    return ids


_MARKED_KEY = "tongquan.stats_dirty_marked"


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _mark_dirty(session, flush_context):
    if not (session.new or session.dirty or session.deleted):
        return
    dirty = _dirty_cases(session)
    # A case marked by an earlier flush of this transaction is not marked again (an action that writes its outbox
    # message flushes twice). The set is forgotten at commit and at any rollback, savepoints included, so a mark
    # rolled back is written again.
    marked = session.info.setdefault(_MARKED_KEY, set())
    if dirty is _EVERY_CASE:
        rows = [] if None in marked else [{"case_id": None}]
        marked.add(None)
    else:
        rows = [{"case_id": i} for i in sorted(dirty) if i not in marked]
        marked.update(dirty)
    if rows:
        session.connection().execute(sa.insert(StatsDirty.__table__), rows)


def _forget_marked(session, *_args) -> None:
    session.info.pop(_MARKED_KEY, None)


for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    sa.event.listen(sa.orm.Session, _name, _forget_marked)


def _flags_swept(case_ids: list[int]) -> None:
    """The deadline job changed these cases' flags in one UPDATE, past the after_flush hook: no rolled-up figure
    moves, but a county node's report of the case (its due_flag) does."""
    if not case_ids:
        return
    if db.session.get_bind().dialect.name == "postgresql":  # one statement, the ids one array parameter: the day's
        # sweep changes ~100,000 flags at a million open cases, within issue 7's 5 s (bench/sweep_bench.py)
        ids = sa.bindparam("ids", case_ids, type_=postgresql.ARRAY(sa.Integer))
        db.session.execute(sa.insert(StatsDirty.__table__).from_select(["case_id"], sa.select(sa.func.unnest(ids))))
        return
    for lo in range(0, len(case_ids), 1000):
        db.session.execute(sa.insert(StatsDirty.__table__), [{"case_id": i} for i in case_ids[lo:lo + 1000]])


on_flags_swept(_flags_swept)


def mark_all_dirty() -> None:
    """After writes that bypass the ORM (bulk seeding, a data migration): every case is read live until the next
    refresh rebuilds the facts and rollups."""
    db.session.execute(sa.insert(StatsDirty), [{"case_id": None}])


def every_case_dirty() -> bool:
    return db.session.execute(sa.select(sa.exists().where(StatsDirty.case_id.is_(None)))).scalar()


def dirty_case_ids():
    """The dirty cases, as a subquery for IN (…)."""
    return sa.select(StatsDirty.case_id).where(StatsDirty.case_id.is_not(None))


# -- refreshing -----------------------------------------------------------------------------------------------

def refresh(full: bool = False) -> dict:
    """Bring the facts and rollups up to date: every case when ``full`` or when a dirty row says so, otherwise the
    dirty cases and the rollup keys they touch; then remove the dirty rows read. Flushes; the caller commits.
    Several workers may call it at once: on PostgreSQL an advisory transaction lock makes them take turns, and a
    worker that finds the work done has nothing to do."""
    from supervision import statistics

    statistics.ensure_calendar(utcnow())  # first: filling the calendar marks every case dirty
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(7242001)"))
        db.session.execute(sa.text("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"))
    rows = db.session.execute(sa.select(StatsDirty.id, StatsDirty.case_id)).all()
    if not rows and not full:
        from supervision import fact_reports

        fact_reports.facts_refreshed([])  # facts refused by the city go again when due, even on a quiet node
        return {"cases": 0, "full": False}
    everything = full or any(c is None for _, c in rows)
    if everything:
        db.session.execute(sa.delete(StatsCaseFact))
        statistics.write_facts(None, dialect)
        for model in ROLLUPS:
            db.session.execute(sa.delete(model))
        for model, select in statistics.rollups_from_facts(None):
            db.session.execute(sa.insert(model).from_select(list(select.selected_columns.keys()), select))
        if dialect == "postgresql":  # the planner's row estimates of the new tables, before the first report
            tables = ", ".join(m.__tablename__ for m in (StatsCaseFact, *ROLLUPS))
            db.session.execute(sa.text(f"ANALYZE {tables}"))
        done = "all"
    else:
        case_ids = sorted({c for _, c in rows})
        for lo in range(0, len(case_ids), 500):
            _refresh_cases(case_ids[lo:lo + 500], dialect)
        done = len(case_ids)
    from supervision import fact_reports  # a county node reports the facts just written to the city (issue 18)

    fact_reports.facts_refreshed(None if everything else case_ids)
    ids = [i for i, _ in rows]
    for lo in range(0, len(ids), 1000):
        db.session.execute(sa.delete(StatsDirty).where(StatsDirty.id.in_(ids[lo:lo + 1000])))
    _forget_marked(db.session())  # the marks of this transaction are gone: a later change marks its case again
    db.session.flush()
    return {"cases": done, "full": everything}


def _refresh_cases(case_ids: list[int], dialect: str) -> None:
    """New facts for these cases; the rollup keys their old and new facts fall under, recomputed from the facts."""
    from supervision import statistics

    key_cols = [getattr(StatsCaseFact, k) for k in KEY]
    keys = set(db.session.execute(sa.select(*key_cols).where(StatsCaseFact.case_id.in_(case_ids))).tuples())
    db.session.execute(sa.delete(StatsCaseFact).where(StatsCaseFact.case_id.in_(case_ids)))
    statistics.write_facts(case_ids, dialect)
    keys |= set(db.session.execute(sa.select(*key_cols).where(StatsCaseFact.case_id.in_(case_ids))).tuples())
    if not keys:
        return
    keys = sorted(keys)
    for model in ROLLUPS:
        db.session.execute(sa.delete(model).where(sa.tuple_(*(getattr(model, k) for k in KEY)).in_(keys)))
    for model, select in statistics.rollups_from_facts(keys):
        db.session.execute(sa.insert(model).from_select(list(select.selected_columns.keys()), select))
