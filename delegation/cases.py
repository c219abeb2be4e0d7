"""Case services: intake, the actions of the workflow, visibility. Service functions flush; callers commit."""
from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from persistence import db, utcnow
from delegation import case_rules, clock, engine, limits, messaging
from delegation import licences
from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.documents import decisions as decision_documents, service
from delegation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from delegation.identifiers import IdentifierError, validate_credit_code, validate_resident_id
from delegation.models import COMMITMENT_OPEN_SQL, Case, CaseEvent, CaseMaterial, CaseNoCounter, Item
from delegation.orgs import get_org
from delegation.titles import titles
from delegation.workflow import (ACTION_ZH, COUNTY_HELD, FINAL_STATES, MODE_ZH, ROLE_ZH, STATE_ZH,  # noqa: F401
                                 Action, Mode, Role, State, SuspensionKind, SystemAction)

SUSPENSION_KINDS = titles(SuspensionKind)
COUNTY_ROLES = (Role.WINDOW, Role.REVIEWER)
GUARDS, EFFECTS = engine.GUARDS, engine.EFFECTS  # the engine's registries; this module registers its rules


# -- visibility -----------------------------------------------------------------------------------------------

def visible_filter(actor: Actor, bound: bool = False):
    """The cases this actor may see. Staff of a county see that county's cases only.

    `bound`: the actor's division and organisation as the named parameters division_code and org_code, so one
    statement per kind of actor is built once and serves every county and section (get_case)."""
    division = sa.bindparam("division_code") if bound else actor.division_code
    org = sa.bindparam("org_code") if bound else actor.org_code
    if actor.role in COUNTY_ROLES:
        if actor.role is Role.REVIEWER:  # 全市通办: the cases the county decides, wherever they were accepted
            from delegation.citywide_models import decided_by_clause

            return decided_by_clause(Case, division, bound)
        return Case.county_code == division
    if actor.role is Role.CITY_APPROVER:
        clause = sa.and_(Case.mode != Mode.DIRECT, Case.forwarded_at.is_not(None))
        if actor.org_kind == "city_section":  # a department sees its own items; the bureau sees all
            clause = sa.and_(clause, Case.department_code == org)
        return clause
    if actor.role is Role.ADMIN:
        return sa.true()
    if actor.role is Role.COUNTY_ADMIN:  # reads its county's cases (the dashboard's lists); acts on none
        return Case.county_code == division
    return sa.false()


_CASE_QUERIES: dict = {}  # (role, city section?, for update) -> (statement, its parameter names)


def _case_query(actor: Actor, for_update: bool):
    key = (actor.role, actor.org_kind == "city_section", for_update)
    built = _CASE_QUERIES.get(key)
    if built is None:
        query = sa.select(Case).where(Case.case_no == sa.bindparam("case_no"), visible_filter(actor, bound=True))
        if for_update:
            # An action reads the materials (guards, effects, the answer): in the locking query, not in a second
            # one. FOR UPDATE OF case_file locks the case row only; the joined rows are on the nullable side.
            query = query.options(joinedload(Case.materials)).with_for_update(of=Case)
        names = tuple(n for n in ("case_no", "division_code", "org_code") if n in query.compile().params)
        built = _CASE_QUERIES[key] = (query, names)
    return built


def get_case(actor: Actor, case_no: str, for_update: bool = False) -> Case:
    # The statement is built once per kind of actor (its cache key too), not at every request; the filter is
    # visible_filter's, with the actor's codes bound.
    query, names = _case_query(actor, for_update)
    values = {"case_no": case_no, "division_code": actor.division_code, "org_code": actor.org_code}
    case = db.session.execute(query, {n: values[n] for n in names}).unique().scalar_one_or_none()
    if case is None:
        raise NotFound("case_not_found", f"办件 {case_no} 不存在", f"case {case_no} not found", field="case_no")
    return case


def list_cases(actor: Actor, *, state=None, item=None, county=None, due=None, after_id=None, limit=50):
    query = sa.select(Case).where(visible_filter(actor))
    if state:
        query = query.where(Case.state == state)
    if item:
        query = query.join(Item, Item.id == Case.item_id).where(Item.code == item)
    if county:
        query = query.where(Case.county_code == county)
    if due:
        query = query.where(Case.due_flag == due)
    if after_id:
        query = query.where(Case.id < after_id)
    rows = db.session.execute(query.order_by(Case.id.desc()).limit(limit + 1)).unique().scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


# -- intake ---------------------------------------------------------------------------------------------------

_org_by_code = get_org


def check_applicant_id(kind: str, id_code: str, override: str | None) -> str:
    try:
        if kind == "enterprise":
            return validate_credit_code(id_code)
        return validate_resident_id(id_code)
    except IdentifierError as exc:
        # Some real credit codes fail the check (issued before GB 32100); staff may override with a reason.
        if kind == "enterprise" and override and exc.code == "credit_code_checksum":
            return id_code.strip().upper()
        raise Invalid(exc.code, exc.message_zh, exc.message_en, field="applicant.id_code") from None


def next_case_no(division_code: str, year: int) -> str:
    """The next number of the county's year: one upsert (INSERT … ON CONFLICT DO UPDATE … RETURNING), whose row
    lock holds concurrent intakes of the county until this transaction ends, so numbers are never given twice."""
    last = db.session.execute(_CASE_NO_UPSERT, {"division_code": division_code, "year": year}).scalar_one()
    return f"{division_code}-{year}-{last:06d}"


# Written as SQL text, which PostgreSQL and SQLite (3.35+) both run: SQLAlchemy gives the dialects' insert(…)
# .on_conflict_do_update(…) no cache key, so that construct was compiled again at every intake (~5 % of the
# request's CPU); a text() statement is compiled once.
_CASE_NO_UPSERT = sa.text(
    "INSERT INTO case_no_counter (division_code, year, last) VALUES (:division_code, :year, 1) "
    "ON CONFLICT (division_code, year) DO UPDATE SET last = case_no_counter.last + 1 RETURNING last"
).columns(last=sa.Integer)


# Built once (with its cache key): the active item and its materials.
_ITEM_FOR_INTAKE = (sa.select(Item).where(Item.code == sa.bindparam("code"), Item.active == True)  # noqa: E712
                    .options(joinedload(Item.materials)))


def create_case(actor: Actor, item_code: str, applicant: dict, materials: list[dict],
                id_check_override: str | None = None, now: datetime | None = None) -> Case:
    if actor.role is not Role.WINDOW:
        raise Forbidden("role_forbidden", "只有县级窗口人员可以登记办件", "only county window staff register cases")
    now = now or utcnow()
    item = db.session.execute(_ITEM_FOR_INTAKE, {"code": item_code}).unique().scalar_one_or_none()
    if item is None:
        raise Invalid("item_unknown", f"事项 {item_code} 不存在", f"item {item_code} does not exist",
                      field="item_code")
    from delegation.grants import require_in_effect

    require_in_effect(item, actor.division_code, now)  # a revoked item is refused before anything is written
    id_code = check_applicant_id(applicant["kind"], applicant["id_code"], id_check_override)
    known = {m.code for m in item.materials}
    unknown = [m["code"] for m in materials if m["code"] not in known]
    if unknown:
        raise Invalid("material_unknown", f"事项没有材料 {', '.join(unknown)}",
                      f"the item has no material {', '.join(unknown)}", field="materials")
    present = {m["code"] for m in materials if m.get("present")}
    window = _org_by_code(actor.org_code)
    year = now.astimezone(SHANGHAI).year
    case = Case(
        case_no=next_case_no(actor.division_code, year), query_code=f"{secrets.randbelow(10**6):06d}",
        item=item, mode=item.mode, state=State.SUBMITTED, county_code=actor.division_code,
        window_org=window, department_code=item.department_code, applicant_kind=applicant["kind"],
        applicant_name=applicant["name"].strip(), applicant_id_code=id_code, applicant_phone=applicant.get("phone"),
        id_check_override=id_check_override if id_code != applicant["id_code"].strip().upper() or id_check_override
        else None,
        created_at=now, created_by=actor.username, limit_unit=item.limit_unit, promised_limit=item.promised_limit,
    )
    case.files = []  # a new case has none: the answer lists them without a query
    for pos, m in enumerate(item.materials):
        case.materials.append(CaseMaterial(code=m.code, name=m.name, core=m.core, required=m.required,
                                           present=m.code in present, position=pos))
    db.session.add(case)
    engine.record(case, actor, "submit", State.SUBMITTED, now,
                  data={"id_check_override": id_check_override} if id_check_override else None)
    db.session.flush()  # one flush: the case, its materials and its first event
    return case


# -- actions --------------------------------------------------------------------------------------------------

def perform(actor: Actor, case_no: str, action: str, payload: dict | None = None,
            now: datetime | None = None) -> Case:
    payload = payload or {}
    now = now or utcnow()
    try:
        action = Action(action)
    except ValueError:
        raise Invalid("action_unknown", f"未知操作 {action}", f"unknown action {action}", field="action") from None
    case = get_case(actor, case_no, for_update=True)
    return engine.apply(case, actor, action, payload, now)


# -- routing after acceptance: automatic SYSTEM rows, taken by the engine in the acceptance's unit of work --------

@engine.effect(SystemAction.ROUTE)
def e_route(case, actor, payload, now, t):
    """direct and delegated_review: to the county bureau; nothing to change but the state."""


@engine.effect(SystemAction.FORWARD)
def e_forward(case, actor, payload, now, t):
    """forward_only: to the city, as a delegated review does once reviewed."""
    return _forward(case, actor, now)


def _forward(case: Case, actor: Actor, now: datetime):
    case.forwarded_at = now
    return lambda: messaging.send_forward(case, actor)


# -- guards: raise with the reason, or return ------------------------------------------------------------------

def _missing(case: Case, required_only=True) -> list[CaseMaterial]:
    return [m for m in case.materials if not m.present and (m.required or not required_only)]


def _delegation_granted(case: Case, now: datetime | None = None) -> None:
    """The county may accept the item as delegated now: a revocation counts from its effective time."""
    from delegation.grants import require_in_effect

    require_in_effect(case.item, case.county_code, now)


# Rules of other modules on whether a case may be accepted for review at all (delegation.window_decisions: an
# exempt item is filed, never reviewed); each raises a DomainError naming the field.
_acceptance_rules: list[Callable] = []


def register_acceptance_rule(rule: Callable) -> None:
    _acceptance_rules.append(rule)


@engine.guard("can_accept")
def g_can_accept(case, actor, payload, now):
    for rule in _acceptance_rules:
        rule(case)
    check_acceptable(case, now)


def check_acceptable(case, now) -> None:
    """Delegated to the county now, and every required material present (also for the window's on-the-spot
    decisions, delegation.window_decisions)."""
    _delegation_granted(case, now)
    missing = _missing(case)
    if missing:
        names = "、".join(m.name for m in missing)
        raise Conflict("materials_missing", f"材料不齐全：{names}。请出具一次性告知书或按容缺受理",
                       f"required materials are missing: {', '.join(m.code for m in missing)}",
                       field="materials", missing=[m.code for m in missing])


# The credit record (黑名单) is supervision's: it tells this module how to ask (supervision.credit registers at
# import), so that delegation does not import the layer above it. Unregistered, nobody counts as blacklisted.
_blacklisted: Callable[[str], bool] | None = None


def register_blacklist_lookup(is_blacklisted: Callable[[str], bool]) -> None:
    global _blacklisted
    _blacklisted = is_blacklisted


@engine.guard("can_accept_with_commitment")
def g_can_accept_with_commitment(case, actor, payload, now):
    _delegation_granted(case, now)
    for rule in _acceptance_rules:
        rule(case)
    if not case.item.allows_commitment:
        raise Conflict("commitment_not_allowed", "该事项不适用容缺受理", "this item does not allow 容缺 acceptance",
                       field="action")
    if _blacklisted is not None and _blacklisted(case.applicant_id_code):
        raise Conflict("applicant_blacklisted",
                       "申请人已列入失信黑名单（告知承诺不实），不能容缺受理；请待材料齐全后正常受理",
                       "the applicant is blacklisted and may not be accepted with a 容缺 commitment; accept the "
                       "case once its materials are complete", field="applicant.id_code")
    missing = _missing(case)
    core = [m for m in missing if m.core]
    if core:
        raise Conflict("core_materials_missing", f"核心材料缺失，不能容缺受理：{'、'.join(m.name for m in core)}",
                       f"core materials are missing: {', '.join(m.code for m in core)}", field="materials",
                       missing=[m.code for m in core])
    if not missing:
        raise Conflict("nothing_missing", "材料齐全，请直接受理", "nothing is missing: accept the case instead",
                       field="action")


@engine.guard("reviewed")
def g_reviewed(case, actor, payload, now):
    if not case.review_opinion:
        raise Conflict("review_missing", "请先填写审核意见", "record the review opinion before deciding",
                       field="action")


@engine.guard("suspended_here")
def g_suspended_here(case, actor, payload, now):
    at_city = case.resume_state is State.CITY_REVIEW
    if at_city != (actor.role is Role.CITY_APPROVER):
        raise Forbidden("suspended_elsewhere", "该特别程序由另一级启动，只能由其结束",
                        "the other level suspended this case and must resume it")


@engine.guard("commitment_broken")
def g_commitment_broken(case, actor, payload, now):
    if case.commitment_deadline is None or case.commitment_met_at is not None or case.commitment_deadline > now:
        raise Conflict("commitment_kept", "容缺承诺未逾期", "the 容缺 commitment is not broken", field="action")




# -- effects: change the case's columns (never its state); a message to the other level is returned, to send ----

def _required_text(payload, field, zh, en):
    value = (payload.get(field) or "").strip() if isinstance(payload.get(field), str) else payload.get(field)
    if not value:
        raise Invalid("required", f"请填写{zh}", f"{en} is required", field=field)
    return value


def _required_list(payload, field, zh, en):
    value = [str(v).strip() for v in payload.get(field) or [] if str(v).strip()]
    if not value:
        raise Invalid("required", f"请填写{zh}", f"{en} is required (at least one)", field=field)
    return value


@engine.effect(Action.ACCEPT)
def e_accept(case, actor, payload, now, t):
    step = case.item.county_step_limit if case.mode is not Mode.FORWARD_ONLY else None
    clock.start(case, now, step, "county")


@engine.effect(Action.ACCEPT_WITH_COMMITMENT)
def e_accept_with_commitment(case, actor, payload, now, t):
    days = payload.get("commitment_days") or case.item.commitment_days
    for m in _missing(case):  # required non-core materials; an optional one is never promised
        m.committed = True
    e_accept(case, actor, payload, now, t)
    deadline = clock.add_limit(clock.load_calendar(), now, "working_days", int(days))
    # a promise that outlives the case's own time limit could never be kept before the decision: capped to it,
    # and the timeline says so (payload "commitment_capped")
    if case.due_at is not None and deadline > case.due_at:
        deadline = case.due_at
        payload["commitment_capped"] = True
    case.commitment_deadline = deadline
    payload["commitment_deadline"] = case.commitment_deadline.isoformat()
    payload["committed_materials"] = [m.code for m in case.materials if m.committed]


@engine.effect(Action.REQUEST_CORRECTION)
def e_request_correction(case, actor, payload, now, t):
    # 一次性告知: the notice lists everything at once. Whatever required material is absent is on it, whether or
    # not the clerk ticked it, so that no second notice is ever needed for it.
    items = []
    by_code = {m.code: m for m in case.materials}
    limits.check_correction_items(payload.get("items") or [])  # one per material: a notice stays printable
    for entry in payload.get("items") or []:
        code = entry.get("material_code")
        if code and code not in by_code:
            raise Invalid("material_unknown", f"办件没有材料 {code}", f"the case has no material {code}",
                          field="items")
        items.append({"material_code": code, "problem": (entry.get("problem") or "").strip() or "需补正"})
    listed = {i["material_code"] for i in items}
    for m in _missing(case):
        if m.code not in listed:
            items.append({"material_code": m.code, "problem": f"缺少{m.name}"})
    if not items:
        raise Invalid("required", "请列明需要补正的全部材料及问题", "list every material to supply or fix",
                      field="items")
    history = list(case.correction_history or [])
    if history and t.source is State.SUBMITTED:
        # A later window notice may only come back to what an earlier notice named (its supplied version is still
        # wrong); anything else could have been listed the first time.
        earlier = {i["material_code"] for notice in history for i in notice["items"]}
        new = sorted({i["material_code"] for i in items if i["material_code"]} - earlier)
        if new:
            names = "、".join(by_code[c].name for c in new)
            raise Conflict("notice_not_one_time", f"一次性告知：{names} 在首次告知时即可指出，不能再次告知",
                           f"materials {', '.join(new)} could have been on the first notice", field="items",
                           materials=new)
    history.append({"at": now.isoformat(), "by": actor.label, "items": items})
    case.correction_history = history
    case.correction_items = items
    payload["items"] = items
    case.resume_state = case.state
    clock.pause(case, now)
    from delegation import citywide

    return citywide.correction_to_window(case, actor)  # 全市通办: the accepting window must hear of it


@engine.effect(Action.REFUSE)
def e_refuse(case, actor, payload, now, t):
    case.refusal_reason = _required_text(payload, "reason", "不予受理的理由", "the reason")
    case.refusal_redirect = _required_text(payload, "redirect", "申请人可以去办理的地方", "where to apply instead")
    case.closed_reason = case.refusal_reason


def _material_codes(case, payload, required: bool) -> list[str]:
    """The codes of the materials the applicant brought, checked against the case's list."""
    entries = [e if isinstance(e, dict) else {"code": e, "present": True} for e in payload.get("materials") or []]
    codes = [e["code"] for e in entries if e.get("present", True)]
    known = {m.code for m in case.materials}
    unknown = sorted(set(c for c in (e["code"] for e in entries)) - known)
    if unknown:
        raise Invalid("material_unknown", f"办件没有材料 {', '.join(unknown)}",
                      f"the case has no material {', '.join(unknown)}", field="materials")
    if required and not codes:
        raise Invalid("required", "请选择补交的材料", "name the materials supplied", field="materials")
    return codes


_mark_present = case_rules.mark_present  # shared with the bus's supplement handler (messaging)


@engine.effect(Action.RESUBMIT)
def e_resubmit(case, actor, payload, now, t):
    codes = _material_codes(case, payload, required=t.source is State.RETURNED)
    _mark_present(case, codes, now)
    if t.source is State.RETURNED:  # forward_only: corrected materials go back to the city
        case.return_reasons = None
        clock.resume(case, now)
        return lambda: messaging.send_supplement(case, actor, codes, payload.get("comment") or "")
    back_to = case.resume_state  # the engine's target for this row
    case.resume_state = None
    case.correction_items = None
    if back_to is not State.SUBMITTED:
        clock.resume(case, now)


@engine.effect(Action.SUPPLY_MATERIALS)
def e_supply_materials(case, actor, payload, now, t):
    codes = _material_codes(case, payload, required=True)
    case_rules.check_supply(case, codes)  # only what the case can take now (the page offers the same)
    _mark_present(case, codes, now)
    if case_rules.city_holds(case):  # a city suspension too: the materials may be what it waits for
        return lambda: messaging.send_supplement(case, actor, codes, payload.get("comment") or "")


@engine.effect(Action.REVIEW)
def e_review(case, actor, payload, now, t):
    opinion = _required_text(payload, "opinion", "审核意见", "the review opinion")
    recommendation = payload.get("recommendation")
    case_rules.check_recommendation(case.mode, recommendation)
    case.review_opinion, case.review_recommendation = opinion, recommendation
    case.reviewed_by, case.reviewed_at = actor.label, now
    if t.target is State.FORWARDED:
        case.return_reasons = None
        return _forward(case, actor, now)


def _decide(case, actor, payload, now, decision):
    case.decision = decision
    case.decided_by, case.decided_org, case.decided_at = actor.label, actor.org_code, now
    case.step_name = case.step_due_at = None
    decision_documents.issue(case, now)  # the deciding level's 决定书, numbered in its series (issue 16)
    if case.state is State.CITY_REVIEW or engine.acting_county(case, Role.REVIEWER) != case.county_code:
        return lambda: messaging.send_decision(case, actor)


@engine.effect(Action.APPROVE)
def e_approve(case, actor, payload, now, t):
    case.decision_reasons = [r for r in payload.get("reasons") or [] if r]
    licences.issue(case, actor, payload.get("certificate_no"), now)  # number, validity, the licence (issue 16)
    return _decide(case, actor, payload, now, "approve")


@engine.effect(Action.DENY)
def e_deny(case, actor, payload, now, t):
    case.decision_reasons = _required_list(payload, "reasons", "不予许可的理由", "reasons")
    case.certificate_no = None
    return _decide(case, actor, payload, now, "deny")


@engine.effect(Action.RETURN)
def e_return(case, actor, payload, now, t):
    case.return_reasons = _required_list(payload, "reasons", "退回的全部理由", "reasons")
    case.step_name = case.step_due_at = None
    if case.mode is Mode.FORWARD_ONLY:  # the county only checked completeness: back to the applicant
        clock.pause(case, now)
    return lambda: messaging.send_return(case, actor)


@engine.effect(Action.SUSPEND)
def e_suspend(case, actor, payload, now, t):
    kind = payload.get("kind")
    if kind not in SUSPENSION_KINDS:
        raise Invalid("invalid_choice", f"请选择特别程序种类（{'、'.join(SUSPENSION_KINDS.values())}）",
                      f"kind must be one of {', '.join(SUSPENSION_KINDS)}", field="kind")
    expected = payload.get("expected_end")
    if isinstance(expected, str):
        try:
            expected = date.fromisoformat(expected)
        except ValueError:
            raise Invalid("invalid_date", "预计结束日期格式应为 YYYY-MM-DD", "expected_end must be a date",
                          field="expected_end") from None
    if expected is None:
        raise Invalid("required", "请填写特别程序预计结束日期", "expected_end is required", field="expected_end")
    case.suspension_kind, case.suspension_expected_end = kind, expected
    case.resume_state = case.state
    clock.pause(case, now)
    from delegation import citywide

    return citywide.suspension_to_window(case, actor, "suspended")  # 全市通办: the window must hear of it


@engine.effect(Action.RESUME)
def e_resume(case, actor, payload, now, t):
    case.resume_state = None  # the engine read it: the row's target is where the case was before
    case.suspension_kind = case.suspension_expected_end = None
    clock.resume(case, now)
    from delegation import citywide

    return citywide.suspension_to_window(case, actor, "resumed")


@engine.effect(Action.HAND_OUT)
def e_hand_out(case, actor, payload, now, t):
    case_rules.check_hand_out(case)
    method = payload.get("method")
    if method not in ("pickup", "mail"):
        raise Invalid("invalid_choice", "请选择出件方式（自取或邮寄）", "method must be pickup or mail", field="method")
    tracking = (payload.get("tracking_no") or "").strip() or None
    case_rules.check_tracking(method, tracking)
    service.record(case, actor, method, payload, now)  # the 送达回证: who received it, when, where (issue 16)
    case.handout_method, case.tracking_no, case.concluded_at = method, tracking, now


@engine.effect(Action.WITHDRAW)
def e_withdraw(case, actor, payload, now, t):
    case.closed_reason = _required_text(payload, "comment", "撤回原因", "the reason (comment)")
    from delegation import citywide

    return citywide.closure_to_competent(case, actor, "withdrawn", t)  # 全市通办: its copy ends too


@engine.effect(Action.TERMINATE)
def e_terminate(case, actor, payload, now, t):
    case.closed_reason = payload.get("comment") or t.note
    from delegation import citywide

    return citywide.closure_to_competent(case, actor, "terminated", t)  # 全市通办: its copy ends too




# -- the deadline job -----------------------------------------------------------------------------------------

SWEEP_FLAGS_LOCK = 0x74716466  # pg advisory lock key of the deadline flags update ("tqdf")


def _broken_where(now: datetime) -> tuple:
    """容缺 commitments past their deadline, materials still outstanding, case not closed. The partial index
    ix_case_file_commitment_open holds exactly the unmet commitments of cases not closed (a few hundred at most,
    whatever the size of the table): its predicate repeats the last two conditions word for word."""
    return (Case.commitment_deadline < now, sa.text(COMMITMENT_OPEN_SQL))


def broken_commitments_query(now: datetime):
    return sa.select(Case.case_no).where(*_broken_where(now)).order_by(Case.commitment_deadline)


def sweep(now: datetime | None = None) -> dict:
    """Keep flags current and end 容缺 cases whose commitment was broken. Commits per case terminated."""
    now = now or utcnow()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    # Several workers may sweep at once: the flags are one UPDATE, which one of them does (the others would only
    # wait for its row locks and change nothing).
    if postgres and not db.session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(SWEEP_FLAGS_LOCK))).scalar():
        flagged = 0
    else:
        flagged = clock.sweep_flags(now)
    db.session.commit()
    broken_where = _broken_where(now)
    broken = db.session.execute(broken_commitments_query(now)).scalars().all()
    db.session.rollback()  # end the read; each case below is its own unit of work
    terminated = 0
    for case_no in broken:
        # Claim the case: still broken (re-read now), and on PostgreSQL locked by this worker, skipped if another
        # worker (or a request) holds it, so that no case is terminated twice.
        claim = sa.select(Case.id).where(Case.case_no == case_no, *broken_where)
        if postgres:
            claim = claim.with_for_update(skip_locked=True)
        if db.session.execute(claim).scalar_one_or_none() is None:
            db.session.rollback()
            continue
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        system = Actor.system(case.window_org.code, case.county_code, "county")
        broken = {"commitment_deadline": case.commitment_deadline.isoformat(),
                  "missing": [m.code for m in case_rules.outstanding(case)]}
        try:
            engine.apply(case, system, Action.TERMINATE, {}, now, data=broken)
        except DomainError:  # no row from its state (or the guard saw it kept): not this job's case
            db.session.rollback()
            continue
        db.session.commit()
        terminated += 1
    from delegation import mailing  # 材料邮寄: originals not signed for in time (issue 19)

    return {"flags_changed": flagged, "terminated": terminated, "originals_overdue": mailing.sweep_overdue(now)}
