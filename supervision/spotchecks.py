"""Spot checks of delegated approvals (抽查监督, 双随机一公开).

The city admin draws a random sample of approved cases and, for each sampled case, two inspectors drawn at random
from a pool of regulators, never someone who handled the case. The draw is reproducible: `draw()` is a pure function
of the seed and its inputs, and every input it used (the population's case numbers, the inspector pool, who was
excluded from which sampled case, the sample size) is stored with the check, so `redraw()` can prove the sample was
not chosen by hand. Inspectors record findings; the admin publishes the check, and `app.public` shows it to the
public with every staff name left out. Service functions flush; callers commit.
"""
from __future__ import annotations

import hashlib
import math
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

import sqlalchemy as sa

from delegation import grants
from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, CaseEvent, Division, Item, User
from delegation.workflow import Mode, Role, State
from persistence import db, utcnow
from supervision.models import FINDINGS, SpotCheck, SpotCheckEntry
from supervision import accountability

INSPECTORS_PER_CASE = 2
ALGORITHM = "random.Random(seed): sample(population sorted by case_no, size), then per sampled case in draw order " \
            "sample(pool sorted minus the case's handlers, 2)"
DRAWN_STATES = (State.DECIDED.value, State.CONCLUDED.value)
MODE_ZH = {mode.value: mode.title_zh for mode in Mode}
FINDING_ZH = {"compliant": "合规", "defect_corrected": "存在瑕疵，已整改", "illegal_approval": "违法审批"}
NOTE_REQUIRED = ("defect_corrected", "illegal_approval")


# -- the pure draw ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drawn:
    case_no: str
    inspectors: tuple[str, ...]


def sample_size(population: int, *, rate=None, count=None) -> int:
    """How many cases to draw: `count`, or `rate` of the population rounded up. Errors name the field."""
    if rate is not None and count is not None:
        raise Invalid("sample_ambiguous", "抽取比例（rate）和抽取数量（count）只能填写一项",
                      "give either rate or count, not both", field="rate")
    if rate is None and count is None:
        raise Invalid("sample_missing", "请填写抽取比例（rate）或抽取数量（count）",
                      "give a sampling rate or a count", field="count")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise Invalid("sample_empty", "抽取数量（count）必须大于 0", "count must be at least 1", field="count")
        if population == 0:
            raise _empty_population("count")
        if count > population:
            raise Conflict("sample_exceeds_population",
                           f"抽取数量（count）为 {count} 件，超过了符合条件的办件数 {population} 件",
                           f"count {count} exceeds the population of {population} cases", field="count",
                           population=population)
        return count
    if isinstance(rate, bool) or not isinstance(rate, (int, float, str)):
        raise Invalid("rate_invalid", "抽取比例（rate）应为大于 0、不超过 1 的数", "rate must be a number in (0, 1]",
                      field="rate")
    try:
        exact = Fraction(str(rate))  # 0.1 × 30 is 3, not 3.0000000000000004 rounded up to 4
    except (ValueError, ZeroDivisionError):
        raise Invalid("rate_invalid", "抽取比例（rate）应为大于 0、不超过 1 的数", "rate must be a number in (0, 1]",
                      field="rate") from None
    if not 0 < exact <= 1:
        raise Invalid("rate_invalid", "抽取比例（rate）必须大于 0 且不超过 1", "rate must be greater than 0 and at most 1",
                      field="rate")
    if population == 0:
        raise _empty_population("rate")
    return math.ceil(exact * population)


def _empty_population(field: str) -> Conflict:
    return Conflict("population_empty", "符合抽查条件（县区、事项、下放方式、决定日期）的准予许可办件为 0 件，无法抽取",
                    "no approved case matches the criteria: nothing to draw", field=field, population=0)


def draw(seed: str, population, size: int, pool, exclusions: dict | None = None) -> list[Drawn]:
    """The draw (双随机), a pure function: the same arguments always give the same sample and inspectors.

    `population` and `pool` are sorted (and de-duplicated) here, so their order as given does not matter;
    `exclusions` maps a case number to the usernames who handled that case and may not inspect it."""
    exclusions = exclusions or {}
    cases = sorted(set(population))
    inspectors = sorted(set(pool))
    if not 0 < size <= len(cases):
        raise Invalid("sample_size_invalid", f"抽取数量 {size} 不在 1 到 {len(cases)} 之间",
                      f"sample size {size} is not between 1 and {len(cases)}", field="count")
    rng = random.Random(seed)
    sample = rng.sample(cases, size)
    drawn = []
    for case_no in sample:
        barred = set(exclusions.get(case_no, ()))
        eligible = [u for u in inspectors if u not in barred]
        if len(eligible) < INSPECTORS_PER_CASE:
            raise Conflict("inspectors_insufficient",
                           f"办件 {case_no} 排除经办人员后，可选检查人员不足 {INSPECTORS_PER_CASE} 人"
                           f"（剩余 {len(eligible)} 人），请扩大检查人员名录",
                           f"case {case_no}: fewer than {INSPECTORS_PER_CASE} inspectors remain once its "
                           f"handlers are excluded ({len(eligible)} left)", field="inspector_pool",
                           case_no=case_no, eligible=len(eligible))
        drawn.append(Drawn(case_no, tuple(rng.sample(eligible, INSPECTORS_PER_CASE))))
    return drawn


def population_digest(case_nos) -> str:
    return hashlib.sha256("\n".join(sorted(set(case_nos))).encode()).hexdigest()


# -- the inputs from the database ------------------------------------------------------------------------------

def _period_bounds(start: date | None, end: date | None):
    """Dates are Beijing calendar days, both ends included."""
    low = datetime.combine(start, time.min, SHANGHAI) if start else None
    high = datetime.combine(end + timedelta(days=1), time.min, SHANGHAI) if end else None
    return low, high


def population_query(criteria: dict):
    """Case numbers of approved cases (decided or concluded) matching the criteria, ordered by case number."""
    query = sa.select(Case.case_no).where(Case.state.in_(DRAWN_STATES), Case.decision == "approve")
    if criteria.get("county"):
        query = query.where(Case.county_code == criteria["county"])
    if criteria.get("item"):
        query = query.join(Item, Item.id == Case.item_id).where(Item.code == criteria["item"])
    if criteria.get("mode"):
        query = query.where(Case.mode == criteria["mode"])
    period = criteria.get("period") or {}
    low, high = _period_bounds(_as_date(period.get("from")), _as_date(period.get("to")))
    if low:
        query = query.where(Case.decided_at >= low)
    if high:
        query = query.where(Case.decided_at < high)
    return query.order_by(Case.case_no)


def current_population(criteria: dict) -> list[str]:
    return list(db.session.execute(population_query(criteria)).scalars())


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def handlers_of(case_nos, among=None) -> dict[str, list[str]]:
    """Who handled each case: every username on its timeline (optionally only those in `among`).
    `case_nos` is a list of case numbers or a SELECT of them (the population, however large)."""
    if not isinstance(case_nos, sa.Select):
        case_nos = list(case_nos)
        if not case_nos:
            return {}
    query = (sa.select(Case.case_no, CaseEvent.actor_username).join(CaseEvent, CaseEvent.case_id == Case.id)
             .where(Case.case_no.in_(case_nos), CaseEvent.actor_username.is_not(None)).distinct())
    if among is not None:
        query = query.where(CaseEvent.actor_username.in_(sorted(among)))
    out: dict[str, set[str]] = {}
    for case_no, username in db.session.execute(query):
        out.setdefault(case_no, set()).add(username)
    return {k: sorted(v) for k, v in sorted(out.items())}


def inspector_pool(usernames: list[str] | None) -> list[str]:
    """The pool: the usernames given (each an active regulator), or every active regulator."""
    if usernames is None:
        return list(db.session.execute(
            sa.select(User.username).where(User.role == Role.REGULATOR.value, User.is_active.is_(True))
            .order_by(User.username)).scalars())
    wanted = sorted(set(usernames))
    found = {u.username: u for u in db.session.execute(
        sa.select(User).where(User.username.in_(wanted))).unique().scalars()} if wanted else {}
    bad = [u for u in wanted if u not in found or found[u].role != Role.REGULATOR.value or not found[u].is_active]
    if bad:
        raise Invalid("inspector_not_regulator", f"检查人员名录中的 {'、'.join(bad)} 不是在岗的监管人员",
                      f"not active regulators: {', '.join(bad)}", field="inspector_pool", usernames=bad)
    if len(wanted) < INSPECTORS_PER_CASE:
        raise Invalid("inspector_pool_too_small", f"检查人员名录至少需要 {INSPECTORS_PER_CASE} 人",
                      f"the pool needs at least {INSPECTORS_PER_CASE} inspectors", field="inspector_pool")
    return wanted


def _check_criteria(county, item, mode, start, end) -> None:
    if county and db.session.get(Division, county) is None:
        raise Invalid("county_unknown", f"县区 {county} 不存在", f"no division {county}", field="county")
    if county and db.session.get(Division, county).parent_code is None:
        raise Invalid("county_is_city", f"{county} 是设区市，不是县区", f"{county} is the city, not a county",
                      field="county")
    if item and db.session.execute(sa.select(Item.id).filter_by(code=item)).first() is None:
        raise Invalid("item_unknown", f"事项 {item} 不存在", f"item {item} does not exist", field="item")
    if mode and mode not in MODE_ZH:
        raise Invalid("mode_unknown", f"下放方式应为 {'、'.join(MODE_ZH)} 之一", "unknown mode", field="mode")
    if start and end and start > end:
        raise Invalid("period_reversed", "决定日期的起始日不能晚于截止日", "the period starts after it ends",
                      field="period.to")


# -- services ---------------------------------------------------------------------------------------------------

def _require_admin(actor: Actor, zh: str, en: str) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("role_forbidden", zh, en)


def create(actor: Actor, *, title: str | None = None, county: str | None = None, item: str | None = None,
           mode: str | None = None, period_from: date | None = None, period_to: date | None = None,
           rate=None, count: int | None = None, seed: str | None = None,
           inspector_usernames: list[str] | None = None, now: datetime | None = None) -> SpotCheck:
    """Draw a spot check and store it with everything needed to draw it again."""
    _require_admin(actor, "只有市级管理员可以发起抽查", "only the city administrator draws spot checks")
    now = now or utcnow()
    _check_criteria(county, item, mode, period_from, period_to)
    criteria = {"county": county or None, "item": item or None, "mode": mode or None,
                "period": {"from": period_from.isoformat() if period_from else None,
                           "to": period_to.isoformat() if period_to else None}}
    population = current_population(criteria)
    size = sample_size(len(population), rate=rate, count=count)
    pool = inspector_pool(inspector_usernames)
    seed = seed or secrets.token_hex(16)
    exclusions = handlers_of(population_query(criteria).order_by(None), among=set(pool))
    drawn = draw(seed, population, size, pool, exclusions)
    sampled = {d.case_no for d in drawn}
    criteria.update({
        "rate": rate, "count": count, "sample_size": size,
        "inspector_pool": pool, "inspector_pool_given": inspector_usernames is not None,
        "population_cases": population, "population_sha256": population_digest(population),
        # only what the draw consulted: the pool members who handled a sampled case
        "exclusions": {c: v for c, v in exclusions.items() if c in sampled},
        "algorithm": ALGORITHM,
    })
    check = SpotCheck(title=title or _default_title(criteria, now), seed=seed, criteria=criteria,
                      population=len(population), created_by=actor.label, created_at=now)
    db.session.add(check)
    db.session.flush()
    for d in drawn:
        db.session.add(SpotCheckEntry(spot_check_id=check.id, case_no=d.case_no, inspectors=list(d.inspectors)))
    db.session.flush()
    db.session.refresh(check, ["entries"])
    return check


def _default_title(criteria: dict, now: datetime) -> str:
    return f"{now.astimezone(SHANGHAI):%Y年%m月%d日}市县同权事项双随机抽查"


def _visible(actor: Actor, check: SpotCheck) -> bool:
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.REGULATOR and any(actor.username in e.inspectors for e in check.entries)


def _staff_only(actor: Actor) -> None:
    if actor.role not in (Role.ADMIN, Role.REGULATOR):
        raise Forbidden("role_forbidden", "只有市级管理员和检查人员可以查看抽查",
                        "only administrators and inspectors see spot checks")


def get(actor: Actor, check_id: int, for_update: bool = False) -> SpotCheck:
    _staff_only(actor)
    query = sa.select(SpotCheck).where(SpotCheck.id == check_id)
    if for_update:
        query = query.with_for_update()
    check = db.session.execute(query).scalar_one_or_none()
    if check is None or not _visible(actor, check):
        raise NotFound("spot_check_not_found", f"抽查 {check_id} 不存在", f"spot check {check_id} not found",
                       field="id")
    return check


def list_checks(actor: Actor, *, published: bool | None = None, after_id: int | None = None, limit: int = 50):
    _staff_only(actor)
    query = sa.select(SpotCheck)
    if actor.role is not Role.ADMIN:
        mine = sa.select(SpotCheckEntry.spot_check_id, SpotCheckEntry.inspectors)
        ids = {cid for cid, names in db.session.execute(mine) if actor.username in (names or [])}
        query = query.where(SpotCheck.id.in_(ids))
    if published is not None:
        query = query.where(SpotCheck.published_at.is_not(None) if published else SpotCheck.published_at.is_(None))
    if after_id:
        query = query.where(SpotCheck.id < after_id)
    rows = db.session.execute(query.order_by(SpotCheck.id.desc()).limit(limit + 1)).scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def redraw(check_id: int) -> dict:
    """Draw again from the stored seed and inputs; compare with what was stored (the reproducibility proof).
    Also tells whether today's query of the criteria still gives the stored population."""
    check = db.session.get(SpotCheck, check_id)
    if check is None:
        raise NotFound("spot_check_not_found", f"抽查 {check_id} 不存在", f"spot check {check_id} not found",
                       field="id")
    c = check.criteria
    stored_population = c.get("population_cases") or []
    digest_ok = population_digest(stored_population) == c.get("population_sha256") \
        and len(stored_population) == check.population
    stored = [{"case_no": e.case_no, "inspectors": list(e.inspectors)} for e in check.entries]
    try:
        again = [{"case_no": d.case_no, "inspectors": list(d.inspectors)}
                 for d in draw(check.seed, stored_population, c["sample_size"], c["inspector_pool"],
                               c.get("exclusions") or {})]
        error = None
    except (Invalid, Conflict) as exc:
        again, error = [], exc.zh
    now_population = current_population(c)
    added = sorted(set(now_population) - set(stored_population))
    removed = sorted(set(stored_population) - set(now_population))
    sample_same = [e["case_no"] for e in again] == [e["case_no"] for e in stored]
    inspectors_same = sample_same and again == stored
    # who handled the sampled cases now: a pool member who has since touched a case would be noticed here
    handlers_now = handlers_of([e["case_no"] for e in stored], among=set(c["inspector_pool"]))
    conflicts = [e["case_no"] for e in stored if set(e["inspectors"]) & set(handlers_now.get(e["case_no"], []))]
    return {
        "id": check.id, "reproduced": bool(digest_ok and inspectors_same and error is None),
        "seed": check.seed, "algorithm": c.get("algorithm"),
        "sample_matches": sample_same, "inspectors_match": inspectors_same, "error": error,
        "population": {"stored": len(stored_population), "stored_sha256": c.get("population_sha256"),
                       "stored_list_intact": digest_ok, "current": len(now_population),
                       "unchanged": not added and not removed, "added": added, "removed": removed},
        "inspector_conflicts_now": conflicts,
        "redrawn": again, "stored": stored,
    }


def _entry(check: SpotCheck, entry_id: int) -> SpotCheckEntry:
    entry = next((e for e in check.entries if e.id == entry_id), None)
    if entry is None:
        raise NotFound("spot_check_entry_not_found", f"抽查 {check.id} 中没有第 {entry_id} 条抽查记录",
                       f"spot check {check.id} has no entry {entry_id}", field="entry_id")
    return entry


def record_finding(actor: Actor, check_id: int, entry_id: int, finding: str, note: str | None,
                   now: datetime | None = None) -> SpotCheckEntry:
    """An inspector of the entry (or an admin) records what the inspection found."""
    now = now or utcnow()
    check = get(actor, check_id, for_update=True)
    entry = _entry(check, entry_id)
    if actor.role is not Role.ADMIN and actor.username not in entry.inspectors:
        raise Forbidden("not_inspector", f"您不是办件 {entry.case_no} 的抽查检查人员，不能登记其检查结果",
                        f"you are not an inspector of case {entry.case_no}")
    if finding not in FINDINGS:
        raise Invalid("finding_unknown", "检查结果应为 compliant（合规）、defect_corrected（存在瑕疵已整改）"
                      "或 illegal_approval（违法审批）", "unknown finding", field="finding")
    note = (note or "").strip()
    if finding in NOTE_REQUIRED and not note:
        raise Invalid("note_required", f"检查结果为“{FINDING_ZH[finding]}”时，请填写说明（note）",
                      f"a {finding} finding needs a note", field="note")
    if check.published_at and entry.finding:
        raise Conflict("finding_published", f"办件 {entry.case_no} 的检查结果已公示，不能更改",
                       f"the finding of {entry.case_no} has been published and is final", field="finding")
    entry.finding, entry.finding_note = finding, note or None
    entry.recorded_by, entry.recorded_at = actor.label, now
    db.session.flush()
    accountability.finding_recorded(entry, actor, now)  # 违法审批: an accountability record and its proposal
    return entry


def publish(actor: Actor, check_id: int, now: datetime | None = None) -> SpotCheck:
    _require_admin(actor, "只有市级管理员可以公示抽查结果", "only the city administrator publishes spot checks")
    check = get(actor, check_id, for_update=True)
    if check.published_at:
        raise Conflict("already_published", f"抽查 {check.id} 已于 "
                       f"{check.published_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 公示",
                       f"spot check {check.id} is already published", field="id")
    check.published_at = now or utcnow()
    db.session.flush()
    return check


# -- views ------------------------------------------------------------------------------------------------------

def case_facts(case_nos) -> dict[str, dict]:
    """Item, county and mode of the sampled cases (what the public page may show)."""
    case_nos = list(case_nos)
    if not case_nos:
        return {}
    rows = db.session.execute(
        sa.select(Case.case_no, Case.mode, Case.county_code, Case.decided_at, Item.code, Item.name, Division.name)
        .join(Item, Item.id == Case.item_id).join(Division, Division.code == Case.county_code)
        .where(Case.case_no.in_(case_nos)))
    return {r[0]: {"mode": r[1], "county_code": r[2], "decided_at": r[3], "item_code": r[4], "item_name": r[5],
                   "county_name": r[6]} for r in rows}


def findings_summary(check: SpotCheck) -> dict:
    counts = {f: 0 for f in FINDINGS}
    for e in check.entries:
        if e.finding:
            counts[e.finding] += 1
    counts["pending"] = sum(1 for e in check.entries if not e.finding)
    return counts


def public_criteria(criteria: dict) -> dict:
    """The criteria without the stored lists (usernames, the population): what a summary shows."""
    return {k: criteria.get(k) for k in ("county", "item", "mode", "period", "rate", "count", "sample_size")}


def check_view(check: SpotCheck, full: bool = True) -> dict:
    """The staff view: with inspectors' usernames and names."""
    out = {"id": check.id, "title": check.title, "seed": check.seed, "population": check.population,
           "sample_size": len(check.entries), "created_by": check.created_by, "created_at": check.created_at,
           "published_at": check.published_at, "findings": findings_summary(check),
           "criteria": dict(check.criteria) if full else public_criteria(check.criteria)}
    if not full:
        return out
    facts = case_facts(e.case_no for e in check.entries)
    usernames = {u for e in check.entries for u in e.inspectors}
    names = dict(db.session.execute(sa.select(User.username, User.display_name)
                                    .where(User.username.in_(usernames))).all()) if usernames else {}
    out["entries"] = [{
        "id": e.id, "case_no": e.case_no, **facts.get(e.case_no, {}),
        "inspectors": [{"username": u, "display_name": names.get(u, u)} for u in e.inspectors],
        "finding": e.finding, "finding_note": e.finding_note, "recorded_by": e.recorded_by,
        "recorded_at": e.recorded_at,
    } for e in check.entries]
    return out


def published_checks() -> list[SpotCheck]:
    return list(db.session.execute(sa.select(SpotCheck).where(SpotCheck.published_at.is_not(None))
                                   .order_by(SpotCheck.published_at.desc(), SpotCheck.id.desc())).scalars())


def published_check(check_id: int) -> SpotCheck | None:
    return db.session.execute(sa.select(SpotCheck).where(SpotCheck.id == check_id,
                                                         SpotCheck.published_at.is_not(None))).scalar_one_or_none()


def _finding_exists(entry_id: int) -> bool:
    return db.session.get(SpotCheckEntry, entry_id) is not None


grants.register_finding_lookup(_finding_exists)  # a revocation may cite a finding: "spot-check-entry:<id>"
