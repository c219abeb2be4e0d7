"""Case facts reported by county nodes to the city (issue 18): one city-wide picture across nodes.

A county node's direct cases never reach the city, so each county node reports, for the cases accepted at its own
windows, the statistics facts the rollup computed (supervision.rollup.StatsCaseFact: the rollup key and the additive
figures of CASE_SUMS and PUSH_SUMS, serialised by name so that a figure added there travels unchanged) to the city
over the bus as ``stats.case_facts`` (exchange/schema/README.md). No personal data: the case number, the application
date, the county, the item code, the mode, the state and the figures.

Sending: the rollup refresh (supervision.rollup.refresh, every minute) calls :func:`facts_refreshed` with the cases
whose facts it just recomputed, in its transaction; the facts that differ from what was last sent (a digest per case,
``stats_fact_sent``) go into the outbox in batches of at most BATCH, each case with a version one higher than the
last. The city is the node hosting the city bureau (``<city>-bureau``), the peer every county node already sends its
forwards to; a node that hosts the bureau itself (single-node, or the city node) reports nothing.

Refused: the city applies a batch whole or not at all. Each sent fact remembers its message; a rejection receipt
marks the facts it carried refused, and a refresh RESEND_AFTER later sends them again with a higher version, in
tenths of the refused message, so that one fact the city cannot take ends up alone and holds back no other (the
deadline job's flag changes mark their cases dirty too, so an overdue case is reported from a quiet node).

Receiving (the city): each MessageId applies once (the inbox) and a fact replaces the stored one only when its
version is higher, so a late retry of an older batch changes nothing. The facts are kept in ``stats_reported_fact``
and summed per rollup key in ``stats_reported_rollup`` / ``stats_reported_days`` as they arrive.

Counted once: a delegated_review or forward_only case forwarded to the city also exists there as the city's copy.
Once the accepting county's report of a case number has arrived, that report counts and the city's own copy no
longer does (:func:`counted_here`, in the statistics' fact queries; the local copy is marked dirty so the rollup
drops it): the accepting county holds the case from application to conclusion, the city's copy only its part."""
from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from delegation.deadlines import SHANGHAI
from delegation.models import OPEN_CLOCK_STATES, STATES, Case, Item, Org
from exchange.errors import WRONG_RECIPIENT, ExchangeRejected
from exchange.handlers import applies, on_receipt
from exchange.outbox import enqueue
from persistence import as_utc, db, utcnow
from supervision.fact_report_models import StatsFactSent, StatsReportedDays, StatsReportedFact, StatsReportedRollup
from supervision.rollup import CASE_SUMS, KEY, PUSH_SUMS, StatsCaseFact, StatsDirty

log = logging.getLogger(__name__)

MESSAGE_TYPE = "stats.case_facts"
BATCH = 500  # facts per message: tq:StatsCaseFacts' Fact maxOccurs
RESEND_AFTER = timedelta(minutes=15)  # a refused batch's facts go again after this (not at every refresh)
CHUNK = 1000  # names in one IN list: PostgreSQL refuses a statement of more than 65,535 bound parameters
FIGURES = (*CASE_SUMS, *PUSH_SUMS)


def _city_bureau() -> Org | None:
    return db.session.execute(sa.select(Org).where(Org.kind == "city_bureau", Org.level == "city")
                              .order_by(Org.id).limit(1)).scalar_one_or_none()


def _wire_number(value) -> str:
    return str(int(value)) if isinstance(value, int) else repr(float(value))


# -- sending (a county node) -----------------------------------------------------------------------------------

def facts_refreshed(case_ids: list[int] | None) -> int:
    """The rollup refresh has just written the facts of these cases (None: of every case); put those of this node's
    own cases that changed since last sent into the outbox, in this transaction. Returns how many facts were
    queued. Nothing on the node that hosts the city bureau."""
    from exchange.bus import get_bus

    try:
        bus = get_bus()
    except RuntimeError:  # no bus in this process (a bulk seeding script): nothing can be sent, nor is expected
        return 0
    bureau = _city_bureau()
    if bureau is None:
        return 0
    if bureau.node_id == bus.node_id:
        _refresh_local_pushes(case_ids)
        return 0
    window = sa.orm.aliased(Org)
    query = (sa.select(StatsCaseFact, Case, Item.code, window.code, StatsFactSent)
             .join(Case, Case.id == StatsCaseFact.case_id)
             .join(Item, Item.id == StatsCaseFact.item_id)
             .join(window, window.id == Case.window_org_id)
             .outerjoin(StatsFactSent, StatsFactSent.case_id == StatsCaseFact.case_id)
             .where(window.node_id == bus.node_id))
    # a batch: the facts of one accepting window; those of one refused message apart, in tenths of it (below)
    batches: dict[tuple[str, str | None], list[tuple[dict, StatsFactSent]]] = defaultdict(list)
    queued = 0
    refused_sizes = dict(db.session.execute(
        sa.select(StatsFactSent.message_id, sa.func.count()).where(StatsFactSent.rejected_at.is_not(None))
        .group_by(StatsFactSent.message_id)).tuples().all())
    if case_ids is not None:  # and the facts of batches the city refused, once RESEND_AFTER has passed
        refused = db.session.execute(sa.select(StatsFactSent.case_id).where(
            StatsFactSent.rejected_at.is_not(None), StatsFactSent.rejected_at <= utcnow() - RESEND_AFTER)).scalars()
        case_ids = sorted(set(case_ids).union(refused))
    chunks = [None] if case_ids is None else [case_ids[i:i + 500] for i in range(0, len(case_ids), 500)]
    for chunk in chunks:
        selected = query if chunk is None else query.where(StatsCaseFact.case_id.in_(chunk))
        rows = db.session.execute(selected).all()
        held = _held_beside([fact.case_id for fact, *_ in rows])
        for fact, case, item_code, window_code, sent in rows:
            wire = {**_wire_fact(fact, case, item_code), **held.get(fact.case_id, {})}
            digest = hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()
            if sent is not None and sent.digest == digest and sent.rejected_at is None:
                continue
            if sent is None:
                sent = StatsFactSent(case_id=fact.case_id, version=0, digest=digest)
                db.session.add(sent)
            # The city refuses a batch whole, so one fact it cannot take holds back the rest: a refused message's
            # facts go again in ten smaller batches, each refused one splits again, until the fact it cannot take
            # travels alone and the others have arrived.
            key, size = (window_code, None), BATCH
            if sent.rejected_at is not None:
                key = (window_code, sent.message_id)
                size = max(1, math.ceil(refused_sizes.get(sent.message_id, 1) / 10))
            sent.version, sent.digest, sent.sent_at, sent.rejected_at = sent.version + 1, digest, utcnow(), None
            sent.due_flag = wire.get("due_flag")
            batches[key].append(({**wire, "version": str(sent.version)}, sent))
            queued += 1
            if len(batches[key]) == size:
                _send(window_code, bureau, batches.pop(key))
    for (window_code, _), facts in batches.items():
        _send(window_code, bureau, facts)
    db.session.flush()
    return queued


def _wire_fact(fact: StatsCaseFact, case: Case, item_code: str) -> dict:
    figures = []
    for name in FIGURES:
        value = getattr(fact, name)
        if value and math.isfinite(value):  # 0 is what an absent figure means
            figures.append({"name": name, "value": _wire_number(value)})
    wire = {"case_no": case.case_no, "applied_on": as_utc(case.created_at).astimezone(SHANGHAI).date().isoformat(),
            "county": fact.county_code, "item_code": item_code, "mode": fact.mode, "state": fact.state,
            "figures": figures}
    # the figures of the moment, as statistics._now_query reads a case: the flag while its clock runs, a 容缺
    # commitment not yet met (the city compares its deadline with the moment of asking)
    if case.state in OPEN_CLOCK_STATES and case.paused_at is None and case.due_flag in ("warning", "overdue"):
        wire["due_flag"] = case.due_flag
    if case.commitment_deadline is not None and case.commitment_met_at is None:
        wire["commitment_deadline"] = as_utc(case.commitment_deadline).astimezone(SHANGHAI).isoformat()
    return wire


def _local_time(moment: datetime) -> str:
    return as_utc(moment).astimezone(SHANGHAI).isoformat()


def _held_beside(case_ids: list[int]) -> dict[int, dict]:
    """Per case id, the wire fields of what lives at the accepting county beside the figures: the due moment of its
    差评整改 task while unanswered (the task is the county's when the deciding unit is on another node), and its
    告知承诺 approval's verification ('open' with its due moment, 'verified', 'false'). The city counts them as
    supervision.statistics counts a node's own (rating_follow_ups, window_commitments), comparing the due moments
    with the moment of asking."""
    from delegation.follow_up_models import RatingFollowUp
    from delegation.window_decision_models import CommitmentRecord

    held: dict[int, dict] = defaultdict(dict)
    for lo in range(0, len(case_ids), CHUNK):
        ids = case_ids[lo:lo + CHUNK]
        for case_id, due in db.session.execute(sa.select(RatingFollowUp.case_id, RatingFollowUp.due_at).where(
                RatingFollowUp.case_id.in_(ids), RatingFollowUp.state == "open")):
            held[case_id]["follow_up_due"] = _local_time(due)
        for case_id, result, due in db.session.execute(
                sa.select(CommitmentRecord.case_id, CommitmentRecord.result, CommitmentRecord.verify_due_at)
                .where(CommitmentRecord.case_id.in_(ids)).order_by(CommitmentRecord.id)):
            held[case_id]["commitment_check"] = result or "open"
            if result is None:
                held[case_id]["check_due_at"] = _local_time(due)
    return held


def _send(window_code: str, bureau: Org, facts: list[tuple[dict, StatsFactSent]]) -> None:
    message = enqueue(MESSAGE_TYPE, from_org=window_code, to_node=bureau.node_id, to_org=bureau.code,
                      body={"facts": [wire for wire, _ in facts]}, flush=False)
    for _, sent in facts:
        sent.message_id = message.message_id


@on_receipt(MESSAGE_TYPE)
def facts_answered(outbox_row, status: str) -> None:
    """The city applies a batch whole or not at all: when it refuses one (its catalogue lacks an item, a figure
    it does not know yet), the batch's facts that no later message carries are noted refused, and a refresh at
    least RESEND_AFTER later sends them again (with a higher version), until the city takes them; meanwhile the
    refusal is logged and shown in the exchange view."""
    if status == "accepted":
        return
    db.session.execute(sa.update(StatsFactSent).where(StatsFactSent.message_id == outbox_row.message_id)
                       .values(rejected_at=utcnow()).execution_options(synchronize_session=False))


# -- receiving (the city) --------------------------------------------------------------------------------------

_INTEGER = {name for name in FIGURES
            if isinstance(getattr(StatsReportedFact, name).type, sa.Integer)}
# Bounds from the columns: a version is a 32-bit integer; a whole-number figure of one case (a count, materials,
# steps) at most MAX_WHOLE, so that a rollup key's sum over a million cases still fits its 32-bit column; any other
# figure (working days, hours, a reduction's share, negative when a case took more than the baseline) within
# ±MAX_DECIMAL. Beyond them a message is refused, not left to fail in the database and be retried forever.
MAX_VERSION = 999_999_999  # tq:FactVersion, nine digits: within the 32-bit column
MAX_WHOLE = 2_000
MAX_DECIMAL = 1_000_000


def _figures(fact: dict) -> dict:
    values: dict[str, float | int] = {}
    for figure in fact["figures"]:
        name, raw = figure["name"], figure["value"]
        if name not in FIGURES:
            raise ExchangeRejected("unknown_figure", f"case {fact['case_no']}: this node does not know the figure "
                                                     f"{name!r}")
        if name in values:
            raise ExchangeRejected("duplicate_figure", f"case {fact['case_no']}: figure {name} twice")
        number = float(raw)
        if not math.isfinite(number):
            raise ExchangeRejected("schema_invalid", f"case {fact['case_no']}: figure {name} is not a finite number")
        if name in _INTEGER:
            if not number.is_integer():
                raise ExchangeRejected("schema_invalid", f"case {fact['case_no']}: figure {name} must be a whole "
                                                         f"number, got {raw}")
            if not 0 <= number <= MAX_WHOLE:
                raise ExchangeRejected("schema_invalid", f"case {fact['case_no']}: figure {name} must be between 0 "
                                                         f"and {MAX_WHOLE}, got {raw}")
            number = int(number)
        elif abs(number) > MAX_DECIMAL:
            raise ExchangeRejected("schema_invalid", f"case {fact['case_no']}: figure {name} must be between "
                                                     f"-{MAX_DECIMAL} and {MAX_DECIMAL}, got {raw}")
        values[name] = number
    return {name: values.get(name, 0) for name in FIGURES}


@applies(MESSAGE_TYPE)
def apply_facts(env, _attachments) -> None:
    """Store a county node's facts at the city: each a newer version than the one held, or ignored."""
    from exchange.bus import get_bus

    bureau = _city_bureau()
    if bureau is None or bureau.node_id != get_bus().node_id or env.to_org != bureau.code:
        raise ExchangeRejected(WRONG_RECIPIENT, "case facts go to the city bureau on the city's node")
    sender = db.session.execute(sa.select(Org).filter_by(code=env.from_org)).scalar_one_or_none()
    if sender is None or sender.node_id != env.from_node or sender.level != "county":
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} is not a county organisation of node "
                                                     f"{env.from_node}")
    facts = env.body["facts"]
    case_nos = [f["case_no"] for f in facts]
    if len(set(case_nos)) != len(case_nos):
        raise ExchangeRejected("duplicate_fact", "a case number occurs twice in one message")
    items = dict(db.session.execute(sa.select(Item.code, Item.id).where(
        Item.code.in_({f["item_code"] for f in facts}))).tuples().all())
    rows = []
    for fact in facts:
        if fact["county"] != sender.division_code:
            raise ExchangeRejected("sender_not_allowed", f"case {fact['case_no']} of county {fact['county']} "
                                                         f"reported by {env.from_org}")
        if fact["item_code"] not in items:
            raise ExchangeRejected("unknown_item", f"case {fact['case_no']}: item {fact['item_code']} is not in "
                                                   "this node's catalogue")
        if fact["state"] not in STATES:
            raise ExchangeRejected("unknown_state", f"case {fact['case_no']}: state {fact['state']!r}")
        if not 1 <= int(fact["version"]) <= MAX_VERSION:
            raise ExchangeRejected("schema_invalid", f"case {fact['case_no']}: version must be between 1 and "
                                                     f"{MAX_VERSION}, got {fact['version']}")
        applied_on = date.fromisoformat(fact["applied_on"][:10])
        deadline = fact.get("commitment_deadline")
        moments = {k: as_utc(datetime.fromisoformat(fact[k])) if fact.get(k) else None
                   for k in ("follow_up_due", "check_due_at")}
        rows.append({"case_no": fact["case_no"], "from_node": env.from_node, "version": int(fact["version"]),
                     "due_flag": fact.get("due_flag"),
                     "commitment_deadline": as_utc(datetime.fromisoformat(deadline)) if deadline else None,
                     **moments, "check_state": fact.get("commitment_check"),
                     "applied_on": applied_on, "month": applied_on.strftime("%Y-%m"), "county_code": fact["county"],
                     "item_id": items[fact["item_code"]], "mode": fact["mode"], "state": fact["state"],
                     **_figures(fact)})
    pushes = _local_pushes(case_nos)
    for row in rows:
        row.update(pushes.get(row["case_no"], {}))
    held = {r.case_no: r for r in db.session.execute(
        sa.select(StatsReportedFact).where(StatsReportedFact.case_no.in_(case_nos))).scalars()}
    keys, first = set(), []
    for row in rows:
        old = held.get(row["case_no"])
        if old is not None and old.from_node != env.from_node:
            raise ExchangeRejected("sender_not_allowed", f"case {row['case_no']} is reported by node {old.from_node}")
        if old is not None and old.version >= row["version"]:
            continue  # an older (or the same) version arriving late: the newer one stays
        new_key = tuple(row[k] for k in KEY)
        keys.add(new_key)
        if old is None:
            db.session.add(StatsReportedFact(**row, received_at=utcnow()))
            first.append(row["case_no"])
        else:
            keys.add(tuple(getattr(old, k) for k in KEY))
            for name, value in row.items():
                setattr(old, name, value)
            old.received_at = utcnow()
    db.session.flush()
    if first:  # the city's own copies of these cases no longer count: their facts go at the next refresh
        local = db.session.execute(sa.select(Case.id).where(Case.case_no.in_(first))).scalars().all()
        if local:
            db.session.execute(sa.insert(StatsDirty), [{"case_id": i} for i in local])
    _rebuild(sorted(keys))


def _local_pushes(case_nos: list[str]) -> dict[str, dict]:
    """The supervision pushes this node holds of these cases, per case number.
    A push lives on the node of the organisation that decided (and of its regulator): for a case the city decided,
    the city holds it and the accepting county does not, so its figures are the city's, under the county's key."""
    from supervision.models import SupervisionFeedback, SupervisionPush
    from supervision.statistics import _dialect, _hours_between

    fed_back = sa.exists().where(SupervisionFeedback.push_id == SupervisionPush.id)
    hours = _hours_between(SupervisionPush.claimed_at,
                           sa.func.coalesce(SupervisionPush.received_at, SupervisionPush.pushed_at), _dialect())
    query = (sa.select(SupervisionPush.case_no, sa.func.count(SupervisionPush.id).label("pushes"),
                       sa.func.count(SupervisionPush.claimed_at).label("claimed"),
                       sa.func.count().filter(fed_back).label("with_feedback"),
                       sa.func.coalesce(sa.func.sum(hours), 0.0).label("hours_sum"))
             .where(SupervisionPush.case_no.in_(case_nos)).group_by(SupervisionPush.case_no))
    return {r.case_no: {n: getattr(r, n) for n in PUSH_SUMS} for r in db.session.execute(query)}


def _refresh_local_pushes(case_ids: list[int] | None) -> None:
    """At the city, after a refresh: the pushes of reported cases that changed here (a claim, a feedback) move
    their reported facts' push figures. A city holds pushes of hundreds of thousands of reported cases, more than
    one statement may name: they are read and written CHUNK at a time."""
    from supervision.models import SupervisionPush

    if not any_reported():
        return
    if case_ids is None:
        case_nos = db.session.execute(sa.select(SupervisionPush.case_no).distinct().join(
            StatsReportedFact, StatsReportedFact.case_no == SupervisionPush.case_no)).scalars().all()
    else:
        case_nos = []
        for chunk in _chunks(case_ids):
            case_nos += db.session.execute(sa.select(Case.case_no).join(
                StatsReportedFact, StatsReportedFact.case_no == Case.case_no).where(Case.id.in_(chunk))).scalars()
    keys = set()
    for chunk in _chunks(case_nos):
        pushes = _local_pushes(chunk)
        for fact in db.session.execute(sa.select(StatsReportedFact).where(
                StatsReportedFact.case_no.in_(list(pushes)))).scalars():
            if any(getattr(fact, n) != v for n, v in pushes[fact.case_no].items()):
                for n, v in pushes[fact.case_no].items():
                    setattr(fact, n, v)
                keys.add(tuple(getattr(fact, k) for k in KEY))
        db.session.flush()
    _rebuild(sorted(keys))


def _chunks(values: list) -> list[list]:
    return [values[lo:lo + CHUNK] for lo in range(0, len(values), CHUNK)]


def _rollup_selects(where: list) -> list:
    f = StatsReportedFact
    key = [getattr(f, k) for k in KEY]
    return [
        (StatsReportedRollup, sa.select(*key, *(sa.func.sum(getattr(f, n)).label(n) for n in FIGURES))
         .where(*where).group_by(*key)),
        (StatsReportedDays, sa.select(*key, sa.cast(f.processing_sum, sa.Integer).label("days"),
                                      sa.func.count().label("cases"))
         .where(*where, f.processing_cases == 1).group_by(*key, sa.cast(f.processing_sum, sa.Integer))),
    ]


def _rebuild(keys: list[tuple] | None) -> None:
    """Recompute the rollups of these keys (None: of every key) from the reported facts."""
    if keys == []:
        return
    for lo in range(0, 1 if keys is None else len(keys), 200):
        part = None if keys is None else keys[lo:lo + 200]
        for model, select in _rollup_selects([] if part is None else
                                             [sa.tuple_(*(getattr(StatsReportedFact, k) for k in KEY)).in_(part)]):
            if part is None:
                db.session.execute(sa.delete(model))
            else:
                db.session.execute(sa.delete(model).where(sa.tuple_(*(getattr(model, k) for k in KEY)).in_(part)))
            db.session.execute(sa.insert(model).from_select(list(select.selected_columns.keys()), select))


def rebuild_all() -> None:
    """Every reported rollup from the reported facts (after a bulk load; the bench's seeding)."""
    _rebuild(None)


# -- counting (the city's statistics) --------------------------------------------------------------------------

def counted_here():
    """The condition on a case of this node that its own facts count: no county node has reported it."""
    return sa.not_(sa.exists().where(StatsReportedFact.case_no == Case.case_no))


def any_reported() -> bool:
    return db.session.execute(sa.select(sa.exists().where(StatsReportedFact.case_no.is_not(None)))).scalar()


def reported_filters(filters) -> list:
    """The statistics' filters (period, county, item, mode) as conditions on the reported facts."""
    f = StatsReportedFact
    clauses = []
    if filters.date_from:
        clauses.append(f.applied_on >= filters.date_from)
    if filters.date_to:
        clauses.append(f.applied_on <= filters.date_to)
    if filters.county:
        clauses.append(f.county_code == filters.county)
    if filters.item:
        clauses.append(f.item_id == sa.select(Item.id).where(Item.code == filters.item).scalar_subquery())
    if filters.mode:
        clauses.append(f.mode == filters.mode)
    return clauses


def now_part(filters, now):
    """The reported cases the figures of the moment concern, shaped as statistics._now_query's rows: flagged
    (as the accepting county's deadline job last flagged them) or with a 容缺 commitment still pending now."""
    f = StatsReportedFact
    pending = f.commitment_deadline >= now
    return (sa.select(f.month, f.county_code, f.item_id, f.mode, f.state,
                      sa.func.coalesce(f.due_flag, "ok").label("flag"), sa.case((pending, 1), else_=0).label("pending"))
            .where(*reported_filters(filters), sa.or_(f.due_flag.is_not(None), pending)))


def follow_up_counts(now, county: str | None = None) -> dict:
    """The reported cases' 差评整改 tasks not yet answered, and of them those past due now (as
    supervision.statistics.rating_follow_ups counts a node's own)."""
    f = StatsReportedFact
    where = [f.follow_up_due.is_not(None)] + ([f.county_code == county] if county else [])
    row = db.session.execute(sa.select(sa.func.count(), sa.func.count(sa.case((f.follow_up_due < now, 1))))
                             .where(*where)).one()
    return {"open": row[0], "overdue": row[1]}


def commitment_figures(filters, now) -> dict:
    """The reported 告知承诺 approvals under the filters and their verification, shaped as
    supervision.commitment_checks.figures."""
    f = StatsReportedFact
    s = f.check_state
    row = db.session.execute(
        sa.select(sa.func.count().label("approvals"),
                  sa.func.count(sa.case((s == "verified", 1))).label("verified"),
                  sa.func.count(sa.case((s == "false", 1))).label("false"),
                  sa.func.count(sa.case((s == "open", 1))).label("open"),
                  sa.func.count(sa.case((sa.and_(s == "open", f.check_due_at < now), 1))).label("overdue"))
        .where(*reported_filters(filters), s.is_not(None))).one()
    return {k: int(v or 0) for k, v in row._mapping.items()}


def source_parts(kind: str, filters, plan, names: list[str]) -> list:
    """The reported facts as rollup-shaped rows (``names``: the rollup key and the sums of ``kind``) for
    supervision.statistics._source: the reported rollup for the months the report reads from the rollup, the facts
    themselves (by application date) for the months the period cuts or when every month is read live. Always
    there, also on a node that receives none (over empty tables they cost nothing): a report stays a constant number
    of statements."""
    parts = []
    item_id = (sa.select(Item.id).where(Item.code == filters.item).scalar_subquery() if filters.item else None)

    def common(model) -> list:
        clauses = []
        if filters.county:
            clauses.append(model.county_code == filters.county)
        if item_id is not None:
            clauses.append(model.item_id == item_id)
        if filters.mode:
            clauses.append(model.mode == filters.mode)
        if kind == "push" and model is not StatsReportedDays:
            clauses.append(model.pushes > 0)
        return clauses

    if plan.use_rollup:
        model = StatsReportedDays if kind == "days" else StatsReportedRollup
        where = common(model)
        if plan.rollup_from:
            where.append(model.month >= plan.rollup_from)
        if plan.rollup_to:
            where.append(model.month <= plan.rollup_to)
        if plan.live:
            where.append(model.month.not_in(plan.live))
        parts.append(sa.select(*(getattr(model, n) for n in names)).where(*where))
    if plan.live is None or plan.live:
        f = StatsReportedFact
        where = common(f)
        if filters.date_from:
            where.append(f.applied_on >= filters.date_from)
        if filters.date_to:
            where.append(f.applied_on <= filters.date_to)
        if plan.live:
            where.append(f.month.in_(plan.live))
        key = [getattr(f, k) for k in KEY]
        if kind == "days":
            parts.append(sa.select(*key, sa.cast(f.processing_sum, sa.Integer).label("days"),
                                   sa.literal(1).label("cases")).where(*where, f.processing_cases == 1))
        else:
            parts.append(sa.select(*key, *(getattr(f, n) for n in names[len(KEY):])).where(*where))
    return parts
