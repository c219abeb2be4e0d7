"""The county window's worklist (issue 14): its queues and their counts, the search across the county's cases, the
two sort orders with keyset pages both ways, who holds each case now and the time it has left, and what needs the
clerk (a return from the city, a decision to hand out, a 容缺 commitment about to expire).

Every query is scoped by cases.visible_filter (a window sees its own county only) and is an index range in its own
order (migrations 0013, 0016): a state queue by (county, state, id) or (county, state, deadline), a queue of several
states as each state's range merged, 全部 by (county, id) or (county, deadline); the search by the credit code / ID
number, case number or phone index, a name part by the trigram index on PostgreSQL; every count stops at COUNT_CAP.
Measured by bench/lists_bench.py (bench/RESULTS.md)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from delegation import clock, deadlines
from delegation import worklist_indexes  # noqa: F401  (declares migration 0025's indexes)
from delegation.actors import Actor
from delegation.cases import visible_filter
from delegation.models import Case, Item
from delegation.responsibility import county_org
from delegation.workflow import FINAL_STATES, Mode, State
from persistence import db

IN_PROGRESS = (State.ACCEPTED, State.COUNTY_REVIEW, State.FORWARDED, State.CITY_REVIEW, State.SUSPENDED)
# queue key -> the states it lists (None: a queue of its own kind)
QUEUE_STATES: dict[str, tuple[State, ...] | None] = {
    "submitted": (State.SUBMITTED,),
    "correction": (State.CORRECTION_REQUESTED,),
    "returned": (State.RETURNED,),
    "commitment": None,  # 容缺 commitments still open, whatever the state
    "in_progress": IN_PROGRESS,
    "handout": (State.DECIDED,),
    "concluded": tuple(sorted(FINAL_STATES)),
    "all": (),
}
SORTS = ("registered", "deadline")
SEARCH_MAX = 60
COMMITMENT_SOON_DAYS = 3  # a commitment due within this many working days needs the clerk

CASE_NO = re.compile(r"^\d{6}(-[a-z]{1,8})?-\d{4}-\d{6}$")  # a zone's code has a suffix: 360700-jk-2026-000001
ID_CODE = re.compile(r"^[0-9A-Z]{18}$")
PHONE = re.compile(r"^[0-9+\-() ]{7,20}$")


def _commitment_open():
    return sa.and_(Case.commitment_deadline.is_not(None), Case.commitment_met_at.is_(None),
                   Case.state.not_in([s.value for s in FINAL_STATES]))


def _queue_clause(queue: str):
    states = QUEUE_STATES[queue]
    if states is None:
        return _commitment_open()
    if not states:
        return sa.true()
    return Case.state == states[0].value if len(states) == 1 else Case.state.in_([s.value for s in states])


def search_clause(q: str):
    """What the search box finds: a case number, a credit code or ID number (18 characters), a phone number
    exactly; anything else is part of the applicant's name or of the item's name (or the item's code)."""
    kind, params = _search(q)
    return _search_clause(kind).params(**params)


def _search(q: str) -> tuple[str, dict]:
    """The kind of search the box asks for and its parameters (see search_clause)."""
    q = q.strip()[:SEARCH_MAX]
    up = q.upper()
    if CASE_NO.match(q):
        return "case_no", {"q": q}
    if ID_CODE.match(up):
        return "id_code", {"q": up}
    if PHONE.match(q) and sum(ch.isdigit() for ch in q) >= 7:
        return "phone", {"q": q}
    # The catalogue's matching items are looked up first (a small table): `name OR item_id IN (ids)` is two index
    # scans OR-ed, where `IN (subquery)` made the whole condition a filter over every case of the county.
    items = db.session.execute(sa.select(Item.id).where(
        sa.or_(Item.name.contains(q, autoescape=True), Item.code == up))).scalars().all()
    escaped = q.replace("/", "//").replace("%", "/%").replace("_", "/_")
    # From three characters on, anywhere in the name (the trigram index answers LIKE '%part%'); one or two
    # characters match the name's beginning (a surname and given name, 张三, or the start of an enterprise's name):
    # LIKE '%张三%' has no trigram and would read every case of the county, while LIKE '张三%' gives the index the
    # padded trigrams of a name's start.
    pattern = f"%{escaped}%" if len(q) >= TRIGRAM else f"{escaped}%"
    return ("name_items" if items else "name"), {"name_pattern": pattern, **({"item_ids": items} if items else {})}


def _search_clause(kind: str):
    if kind == "case_no":
        return Case.case_no == sa.bindparam("q")
    if kind == "id_code":
        return Case.applicant_id_code == sa.bindparam("q")
    if kind == "phone":
        return Case.applicant_phone == sa.bindparam("q")
    name = Case.applicant_name.like(sa.bindparam("name_pattern"), escape="/")
    if kind == "name_items":
        return sa.or_(name, Case.item_id.in_(sa.bindparam("item_ids", expanding=True)))
    return name


TRIGRAM = 3  # pg_trgm indexes three-character pieces: a shorter part of a name has none to look up


@dataclass
class Page:
    rows: list
    next_after: int | None  # the cursor of the next page (the last row's id)
    prev_before: int | None  # the cursor of the previous page (the first row's id)


_LIST_STATEMENTS: dict = {}  # the shape of a page (see worklist) -> the statement of its cases


def worklist(actor: Actor, queue: str = "submitted", *, q: str | None = None, due: str | None = None,
             sort: str = "registered", after: int | None = None, before: int | None = None,
             limit: int = 30) -> Page:
    """One page of a queue, searched and filtered; `after`/`before`: the id of the row the page follows or
    precedes (keyset, both ways). The statement is built once per shape of page (queue, search kind, filter, sort,
    direction) with the county, cursor and search as parameters: building it cost as much as running it."""
    queue = queue if queue in QUEUE_STATES else "all"
    kind, params = _search(q) if q and q.strip() else (None, {})
    due = due if due in ("warning", "overdue") else None
    backwards = before is not None and after is None
    cursor = before if backwards else after
    keyset = _Keyset(sort, cursor, backwards)
    key = (actor.role, actor.org_kind == "city_section", queue, kind, len(params.get("item_ids", ())) > 0, due,
           keyset.shape, limit)
    built = _LIST_STATEMENTS.get(key)
    if built is None:
        built = _LIST_STATEMENTS[key] = _page_statement(actor, queue, kind, due, keyset, limit)
    statement, names = built
    given = {"division_code": actor.division_code, "org_code": actor.org_code, "due_flag": due,
             "cursor": cursor, "last_due": keyset.last_due, **params}
    rows = db.session.execute(statement, {n: given[n] for n in names}).unique().scalars().all()
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        return Page(rows, rows[-1].id if rows else None, rows[0].id if rows and more else None)
    return Page(rows, rows[-1].id if rows and more else None, rows[0].id if rows and cursor else None)


def _page_statement(actor: Actor, queue: str, kind: str | None, due: str | None, keyset: "_Keyset", limit: int):
    where = [visible_filter(actor, bound=True)]
    if kind:
        where.append(_search_clause(kind))
    if due:
        where.append(Case.due_flag == sa.bindparam("due_flag"))
    states = QUEUE_STATES[queue]
    if states and len(states) > 1 and not kind:
        ids = _merged(where, states, keyset, limit + 1)
    else:  # the page's ids alone first: the planner cannot then trade the index's order for a join and a sort
        ids = keyset.apply(sa.select(Case.id).where(*where, _queue_clause(queue))).limit(limit + 1)
    statement = keyset.order(sa.select(Case).where(Case.id.in_(ids)).options(*ROW_OPTIONS))
    names = tuple(n for n in statement.compile().params
                  if n in ("division_code", "org_code", "due_flag", "cursor", "last_due", "q", "name_pattern",
                           "item_ids"))
    return statement, names


# the desk's rows never show the accepting window (it is the clerk's own): not joined to every row
ROW_OPTIONS = (orm.lazyload(Case.window_org),)


def _merged(where: list, states: tuple[State, ...], keyset: "_Keyset", n: int):
    """The ids of a page of a queue of several states: each state's first n rows after the cursor, an index range
    of (county, state, id) or (county, state, deadline) that stops after n rows, merged and cut to n. (An IN
    list over the states is no range in either order: the planner would read the county's cases in the sort's
    order and skip those of other states — most of them, for 在办 — or sort the whole queue.)"""
    parts = [keyset.apply(sa.select(Case.id).where(*where, Case.state == s.value)).limit(n).subquery()
             for s in states]
    ids = sa.union_all(*(sa.select(p.c.id) for p in parts)).subquery()
    return keyset.order(sa.select(ids.c.id).join(Case, Case.id == ids.c.id)).limit(n)


class _Keyset:
    """The page's order (registration: newest first; deadline: the nearest first, cases without one last) and
    the cursor's condition, in the order's own columns so that an index in that order answers it as a range. The
    cursor and its deadline are the parameters `cursor` and `last_due`."""

    def __init__(self, sort: str, cursor: int | None, backwards: bool):
        self.deadline, self.cursor, self.backwards = sort == "deadline", cursor, backwards
        self.last_due = None
        if self.deadline and cursor is not None:
            found = db.session.execute(sa.select(Case.due_at).where(Case.id == cursor)).first()
            self.last_due = found[0] if found else None

    @property
    def shape(self) -> tuple:
        """What decides the statement: the order, the direction, whether there is a cursor and a deadline at it."""
        return (self.deadline, self.backwards, self.cursor is not None, self.last_due is not None)

    def apply(self, query):
        return self.order(self.after(query))

    def after(self, query):
        if self.cursor is None:
            return query
        cursor = sa.bindparam("cursor", type_=sa.Integer)
        if not self.deadline:
            return query.where(Case.id > cursor if self.backwards else Case.id < cursor)
        key = (Case.due_at.is_(None), Case.due_at, Case.id)
        last_due = sa.bindparam("last_due", type_=Case.due_at.type)
        if not self.backwards:
            if self.last_due is None:
                return query.where(Case.due_at.is_(None), Case.id > cursor)
            return query.where(sa.tuple_(*key) > sa.tuple_(sa.false(), last_due, cursor))
        if self.last_due is None:
            return query.where(sa.or_(Case.due_at.is_not(None), sa.and_(Case.due_at.is_(None), Case.id < cursor)))
        return query.where(sa.tuple_(*key) < sa.tuple_(sa.false(), last_due, cursor))

    def order(self, query):
        if not self.deadline:
            return query.order_by(Case.id.asc() if self.backwards else Case.id.desc())
        key = (Case.due_at.is_(None), Case.due_at, Case.id)
        return query.order_by(*(k.desc() for k in key) if self.backwards else key)


def queue_counts(actor: Actor, now: datetime) -> dict:
    """The count of every queue, the warning/overdue counts and what needs the clerk, in two statements. Each
    count stops at COUNT_CAP (shown as "1000+"), an index range that stops there: a county's history is never
    read whole for a tab's number (a queue's states by ix_case_file_county_state, the flags of the open cases by
    ix_case_file_county_flag_state, 全部 by ix_case_file_county_id)."""
    counts_query, commitment_query, names = _count_statements(actor)
    soon = clock.add_limit(clock.load_calendar(), now, deadlines.WORKING_DAYS, COMMITMENT_SOON_DAYS)
    given = {"division_code": actor.division_code, "org_code": actor.org_code, "soon": soon}
    params = {name: given[name] for name in names}
    counts = dict(db.session.execute(counts_query, params).one()._mapping)
    commitment, expiring = db.session.execute(commitment_query, params).one()
    counts["commitment"] = commitment
    counts["needs_me"] = {"returned": counts["returned"], "handout": counts["handout"], "commitment": expiring}
    counts["needs_me_total"] = sum(counts["needs_me"].values())
    return counts


_COUNT_STATEMENTS: dict = {}  # (role, city section?) -> (the counts, the commitments, their parameter names)


def _count_statements(actor: Actor):
    """queue_counts' two statements, built once per kind of actor with the actor as parameters: building ten capped
    subqueries and their cache keys cost as much as running them, on every desk page."""
    key = (actor.role, actor.org_kind == "city_section")
    built = _COUNT_STATEMENTS.get(key)
    if built is None:
        scope = visible_filter(actor, bound=True)
        open_states = [s.value for s in State if s not in FINAL_STATES]
        capped = {k: capped_count(sa.and_(scope, _queue_clause(k))) for k, states in QUEUE_STATES.items() if states}
        capped["all"] = capped_count(scope)
        for flag in ("warning", "overdue"):
            capped[flag] = capped_count(sa.and_(scope, Case.due_flag == flag, Case.state.in_(open_states)))
        counts = sa.select(*(q.label(k) for k, q in capped.items()))
        commitment = (sa.select(sa.func.count(),
                                sa.func.count().filter(Case.commitment_deadline <= sa.bindparam("soon")))
                      .where(scope, _commitment_open()))
        names = {n for query in (counts, commitment) for n in query.compile().params
                 if n in ("division_code", "org_code", "soon")}
        built = _COUNT_STATEMENTS[key] = (counts, commitment, tuple(sorted(names)))
    return built


COUNT_CAP = 1_000


def capped_count(where, cap: int = COUNT_CAP):
    """How many rows match, counted up to `cap` (an index range that stops there), as a scalar subquery."""
    inner = sa.select(sa.literal(1)).select_from(Case).where(where).limit(cap).subquery()
    return sa.select(sa.func.count()).select_from(inner).scalar_subquery()


def holder_code(case: Case) -> str:
    """The organisation that holds the case now: the window, the county bureau or the city department."""
    state = case.resume_state if case.state is State.SUSPENDED and case.resume_state else case.state
    if state in (State.FORWARDED, State.CITY_REVIEW):
        return case.department_code
    if state in (State.ACCEPTED, State.COUNTY_REVIEW) or (
            state is State.RETURNED and case.mode is Mode.DELEGATED_REVIEW):
        return case.holder_org or county_org(case.county_code, "bureau")  # holder_org: a county 转办's target
    return county_org(case.county_code, "window")


def time_left(case: Case, now: datetime) -> tuple[int, str] | None:
    """What is left of the case's time limit: (working days, "days") or (office hours, "hours"); negative when
    overdue; None when no clock runs (before acceptance, after the decision) or it is paused."""
    if case.due_at is None or case.paused_at is not None or case.state in FINAL_STATES or \
            case.state in (State.DECIDED, State.SUBMITTED):
        return None
    cal = clock.load_calendar()
    if case.limit_unit == deadlines.HOURS:
        if now > case.due_at:
            return -max(1, round((now - case.due_at).total_seconds() / 3600)), "hours"
        return deadlines.remaining_office_minutes(cal, now, case.due_at, clock.office_hours()) // 60, "hours"
    if now > case.due_at:
        return -max(1, deadlines.remaining_working_days(cal, case.due_at, now)), "days"
    return deadlines.remaining_working_days(cal, now, case.due_at), "days"


def commitment_left(case: Case, now: datetime) -> int | None:
    """Working days left to keep an open 容缺 commitment (negative: broken); None when none is open."""
    if case.commitment_deadline is None or case.commitment_met_at is not None or case.state in FINAL_STATES:
        return None
    cal = clock.load_calendar()
    if now > case.commitment_deadline:
        return -max(1, deadlines.remaining_working_days(cal, case.commitment_deadline, now))
    return deadlines.remaining_working_days(cal, now, case.commitment_deadline)
