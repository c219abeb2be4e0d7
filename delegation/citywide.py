"""全市通办 (city-wide acceptance, issue 17 part D).

Any county window of the city may accept an application for a flagged item (citywide_item) whose competent unit is
another county: the case is registered and accepted at the applicant's window (case_file.county_code keeps 首问负责
and hands the result out) and, once accepted, travels as a case.forward carrying `citywide` to the competent
county's approval bureau, which reviews and decides it through the same engine rows as its own direct cases; the
decision comes back to the accepting window as a case.decision. On the embedded node (one node hosting every county)
the message finds the very case, as every hand-off does.

Only `direct` items take the flag: their competent unit is a county. Items of the other modes are decided by the
city already and reach it from any county window holding their delegation.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import engine
from delegation.actors import Actor
from delegation.citywide_models import CitywideCase, CitywideItem, competent_county, remember
from delegation.errors import Conflict, Forbidden, Invalid
from delegation.models import Case, CaseFile, CaseMaterial, Division, Item, Org
from delegation.workflow import Action, Mode, Role, State, SystemAction
from exchange.errors import ExchangeRejected
from exchange.handlers import applies
from persistence import db, utcnow

FIELD = "competent_county"
BUREAU_KIND = "approval_bureau"


# -- the catalogue flag ------------------------------------------------------------------------------------------

def is_citywide(item: Item) -> bool:
    return db.session.get(CitywideItem, item.id) is not None


def citywide_item_ids() -> set[int]:
    return set(db.session.execute(sa.select(CitywideItem.item_id)).scalars())


def set_flag(item: Item, enabled: bool, field: str = "citywide") -> None:
    """Mark (or unmark) an item 全市通办; only a direct item, whose competent unit is a county, may carry it."""
    row = db.session.get(CitywideItem, item.id)
    if enabled and row is None:
        if item.mode != Mode.DIRECT.value:
            raise Invalid("citywide_not_direct", f"只有直接下放事项可以全市通办（「{item.name}」由市级审批）",
                          f"only a direct item can be accepted city-wide ({item.code} is {item.mode})", field=field)
        db.session.add(CitywideItem(item_id=item.id))
    elif not enabled and row is not None:
        db.session.delete(row)
    db.session.flush()


def set_item_flag(actor: Actor, item_code: str, enabled: bool) -> Item:
    if actor.role is not Role.ADMIN:
        raise Forbidden("role_forbidden", "只有市级管理员可以设置全市通办事项", "only the city administrator sets this")
    item = db.session.execute(sa.select(Item).filter_by(code=(item_code or "").strip())).unique().scalar_one_or_none()
    if item is None:
        raise Invalid("item_unknown", f"事项 {item_code} 不存在", f"item {item_code} does not exist", field="item_code")
    set_flag(item, enabled)
    return item


# -- where a case may go ------------------------------------------------------------------------------------------

def _bureaus(division_codes=None):
    query = sa.select(Org, Division).join(Division, Division.code == Org.division_code).where(
        Org.kind == BUREAU_KIND, Org.level == "county")
    if division_codes is not None:
        query = query.where(Org.division_code.in_(division_codes))
    return db.session.execute(query.order_by(Org.division_code)).all()


def _hosted(org: Org) -> bool:
    """An organisation some node hosts: this one, or a peer whose certificate the operators exchanged (a message to
    any other node would never be read, or never verified)."""
    from exchange.bus import get_bus

    bus = get_bus()
    return org.node_id == bus.node_id or bus.trust.knows(org.node_id)


def choices(item: Item, accepting_county: str, now: datetime | None = None) -> list[tuple]:
    """(division code, county name) of each county the window may accept the item for: hosted, holding the item's
    delegation now, not the window's own. Empty for an item not 全市通办."""
    from delegation.grants import _row, in_effect

    if not is_citywide(item):
        return []
    now = now or utcnow()
    return [(division.code, division.name) for org, division in _bureaus()
            if division.code != accepting_county and _hosted(org)
            and in_effect(_row(item.id, division.code), now)]


def assign(case: Case, competent_code: str | None, now: datetime | None = None) -> None:
    """Record that the case is accepted for `competent_code` (empty: an ordinary case of the window's county).
    Refused, naming competent_county, for an item not 全市通办, a county unknown or hosted by no node, or one
    that does not hold the item's delegation; the caller's unit of work then keeps nothing."""
    from delegation.grants import require_in_effect

    competent_code = (competent_code or "").strip()
    if not competent_code or competent_code == case.county_code:
        return
    item = case.item
    if not is_citywide(item):
        raise Conflict("citywide_not_enabled", f"事项「{item.name}」未开通全市通办，不能选择其他县（市、区）审批",
                       f"item {item.code} is not enabled for city-wide acceptance", field=FIELD)
    found = _bureaus([competent_code])
    if not found:
        raise Invalid("county_unknown", "所选的有权审批县（市、区）不存在", f"no county {competent_code}", field=FIELD)
    org, division = found[0]
    if not _hosted(org):
        raise Conflict("county_not_hosted", f"{division.name}尚未接入交换节点，不能全市通办到该县（市、区）",
                       f"county {competent_code} is hosted by no node this node exchanges with", field=FIELD)
    try:
        require_in_effect(item, competent_code, now)
    except Conflict:
        raise Conflict("competent_not_delegated", f"{division.name}暂无事项「{item.name}」的审批权限，请选择其他县（市、区）",
                       f"county {competent_code} does not hold item {item.code}", field=FIELD) from None
    db.session.add(CitywideCase(case_id=case.id, competent_code=competent_code))
    remember(case, competent_code)
    case.holder_org = org.code  # its bureau holds the case while it is reviewed (the queues, 转办, the holder shown)
    db.session.flush()


def register(actor: Actor, item_code: str, applicant: dict, materials: list[dict], competent_code: str,
             id_check_override: str | None = None, now: datetime | None = None) -> Case:
    """Register an application at the window for the competent county (the API's intake; the intake page goes
    through delegation.intake with the same rule). An empty choice is refused: this is the 全市通办 intake."""
    from delegation import cases

    if not (competent_code or "").strip():
        raise Invalid("required", "请选择有权审批的县（市、区）", "choose the competent county", field=FIELD)
    case = cases.create_case(actor, item_code, applicant, materials, id_check_override, now)
    if competent_code.strip() == case.county_code:
        raise Invalid("citywide_own_county", "本县（市、区）的办件请直接登记，无需全市通办",
                      "the competent county is the window's own: register the case as usual", field=FIELD)
    assign(case, competent_code, now)
    return case


def counties_for(actor: Actor, item_code: str, now: datetime | None = None) -> tuple[Item, list[tuple]]:
    """The item and the counties this window may accept it for (choices), for the API and the intake page."""
    if actor.role is not Role.WINDOW:
        raise Forbidden("role_forbidden", "只有县级窗口人员可以受理全市通办", "only county window staff accept cases")
    item = db.session.execute(sa.select(Item).filter_by(code=(item_code or "").strip(), active=True)
                              ).unique().scalar_one_or_none()
    if item is None:
        raise Invalid("item_unknown", f"事项 {item_code} 不存在", f"item {item_code} does not exist", field="item_code")
    return item, choices(item, actor.division_code, now)


def competent_org(case: Case) -> Org | None:
    """The competent county's approval bureau, for a case accepted for another county."""
    competent = competent_county(case)
    if competent is None:
        return None
    found = _bureaus([competent])
    return found[0][0] if found else None


def described(case: Case) -> dict | None:
    """{accepting, competent}: the two counties' names of a case accepted for another county, or None."""
    competent = competent_county(case)
    if competent is None:
        return None
    names = dict(db.session.execute(sa.select(Division.code, Division.name).where(
        Division.code.in_((competent, case.county_code)))).all())
    return {"accepting": names.get(case.county_code, case.county_code), "competent": names.get(competent, competent)}


def wire(case: Case) -> dict | None:
    """case.forward's `citywide` element (exchange/schema/README.md)."""
    org = competent_org(case)
    return None if org is None else {"county": org.division_code, "org": org.code}


# -- the engine's rows -----------------------------------------------------------------------------------------

@engine.condition("citywide_elsewhere")
def c_citywide_elsewhere(case: Case) -> bool:
    competent = competent_county(case)
    return competent is not None and competent != case.county_code


@engine.guard("citywide_withdrawable")
def g_citywide_withdrawable(case, actor, payload, now):
    """撤回 of a direct case on its way to (or with) another node: only one accepted for another county."""
    if not c_citywide_elsewhere(case):
        raise Conflict("state_forbids", "办件当前状态为已转报，不能执行撤回",
                       "withdraw is not allowed while the case is forwarded", field="action", state="forwarded")


def closure_to_competent(case: Case, actor: Actor, outcome: str, t):
    """The accepting window's case of another county was withdrawn, or terminated for a broken 容缺 commitment:
    case.closure tells the competent county, whose copy ends the same way (on one node it finds the very case,
    already ended). Only once the case was sent there; None for any other case."""
    from delegation import messaging

    if actor.role not in (Role.WINDOW, Role.SYSTEM) or case.forwarded_at is None or not c_citywide_elsewhere(case) \
            or t.action not in (Action.WITHDRAW, Action.TERMINATE):
        return None
    body = {"outcome": outcome, "reason": case.closed_reason or "", "by": actor.label, "at": utcnow()}
    return lambda: messaging._to_city(case, actor, "case.closure", body, [])


@engine.effect(SystemAction.RECEIVE_WITHDRAWAL, SystemAction.RECEIVE_TERMINATION)
def e_receive_closure(case, actor, payload, now, t):
    if t.source is not t.target:  # on one node the very case ended already
        case.closed_reason = payload["reason"]
        case.resume_state = None


@applies("case.closure")
def apply_closure(env, attachments) -> None:
    """At the competent county: only the accepting window's county may end its copy, addressed to the bureau."""
    from delegation import messaging

    system = messaging._system(env)
    case = messaging._find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    sender, bureau = messaging._sender(env), competent_org(case)
    if bureau is None or sender.level != "county" or sender.division_code != case.county_code:
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} did not accept case {case.case_no} for another county")
    if env.to_org != bureau.code:
        raise ExchangeRejected("wrong_recipient", f"case {case.case_no} is decided by {bureau.code}")
    action = {"withdrawn": SystemAction.RECEIVE_WITHDRAWAL, "terminated": SystemAction.RECEIVE_TERMINATION}[
        env.body["outcome"]]
    messaging._apply(case, env, system, action, utcnow(), f"case {case.case_no} is {case.state}; it cannot end so",
                     {"reason": env.body["reason"], "comment": env.body["reason"]}, {"outcome": env.body["outcome"]})


@engine.guard("citywide_returned")
def g_citywide_returned(case, actor, payload, now):
    """重新提交 of a direct case: only one the competent county sent back for correction (全市通办)."""
    if not c_citywide_elsewhere(case):
        raise Conflict("state_forbids", "办件当前状态为已退回，不能执行重新提交",
                       "resubmit is not allowed for this case", field="action")


def correction_to_window(case: Case, actor: Actor):
    """The competent county's 一次性告知补正 of a case another county's window accepted: the window, which deals
    with the applicant, gets it as a case.return whose reasons are the notice's items (its copy turns `returned`,
    and 重新提交 brings the corrected materials back as a case.supplement). None for any other case."""
    from delegation import messaging

    if actor.role is not Role.REVIEWER or not c_citywide_elsewhere(case):
        return None
    names = {m.code: m.name for m in case.materials}
    reasons = [f"{names.get(i['material_code'], i['material_code'] or '')}：{i['problem']}".lstrip("：")
               for i in case.correction_items or []]
    return lambda: messaging._to_window(case, actor, "case.return", {"reasons": reasons, "by": actor.label,
                                                                     "at": utcnow()})


def suspension_to_window(case: Case, actor: Actor, event: str):
    """The competent county's 特别程序 (started or ended) of a case whose accepting window is on another node:
    case.suspension, so the window can tell the applicant (on one node the window sees the very case)."""
    from delegation import messaging

    if actor.role is not Role.REVIEWER or not c_citywide_elsewhere(case) \
            or case.window_org.node_id == messaging.get_bus().node_id:
        return None
    body = {"event": event, "by": actor.label, "at": utcnow()}
    if event == "suspended":
        body.update(kind=case.suspension_kind, expected_end=case.suspension_expected_end)
    return lambda: messaging._to_window(case, actor, "case.suspension", body)


@applies("case.suspension")
def apply_suspension(env, attachments) -> None:
    """At the accepting window: only the competent county may suspend or resume its copy."""
    from delegation import messaging

    system = messaging._system(env)
    case = messaging._find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    if competent_county(case) in (None, case.county_code):
        raise ExchangeRejected("sender_not_allowed", f"case {case.case_no} was not accepted for another county")
    messaging._authorize_city_to_county(env, case)  # the competent county's organisation, to the window
    body = env.body
    action = SystemAction.RECEIVE_SUSPENSION if body["event"] == "suspended" else SystemAction.RECEIVE_RESUMPTION
    if action is SystemAction.RECEIVE_SUSPENSION and not body.get("kind"):
        raise ExchangeRejected("schema_invalid", "a suspension names its kind")
    messaging._apply(case, env, system, action, utcnow(), f"case {case.case_no} is {case.state}",
                     {"kind": body.get("kind"), "expected_end": body.get("expected_end")},
                     {"event": body["event"], "kind": body.get("kind")})


@engine.effect(SystemAction.RECEIVE_SUSPENSION)
def e_receive_suspension(case, actor, payload, now, t):
    from datetime import date

    from delegation import clock

    case.suspension_kind = payload["kind"]
    case.suspension_expected_end = date.fromisoformat(payload["expected_end"]) if payload["expected_end"] else None
    case.resume_state = case.state
    clock.pause(case, now)


@engine.effect(SystemAction.RECEIVE_RESUMPTION)
def e_receive_resumption(case, actor, payload, now, t):
    from delegation import clock

    case.resume_state = None
    case.suspension_kind = case.suspension_expected_end = None
    clock.resume(case, now)


@engine.effect(SystemAction.SEND_CITYWIDE)
def e_send_citywide(case, actor, payload, now, t):
    from delegation import messaging

    case.forwarded_at = now
    return lambda: messaging.send_forward(case, actor)


@engine.effect(SystemAction.RECEIVE_CITYWIDE)
def e_receive_citywide(case, actor, payload, now, t):
    case.received_at = now


# -- applying the forward at the competent county -------------------------------------------------------------

def apply_forward(env, action: SystemAction) -> None:
    """case.forward with `citywide` (messaging's handler passes its row, RECEIVE_CITYWIDE): on the embedded node the
    very case moves on to county_review; on the competent county's own node its copy is created there."""
    from delegation import messaging, particulars

    body = env.body
    orgs = messaging._orgs(env.to_org, env.from_org, body["acceptance"]["org"])
    system = messaging._system(env, orgs)
    target = orgs[env.to_org]
    if target.kind != BUREAU_KIND or target.division_code != body["citywide"]["county"] \
            or env.to_org != body["citywide"]["org"]:
        raise ExchangeRejected("wrong_recipient", f"{env.to_org} does not decide for county {body['citywide']['county']}")
    window = orgs.get(body["acceptance"]["org"])
    if window is None or window.kind != "window":
        raise ExchangeRejected("unknown_org", f"window {body['acceptance']['org']} is unknown here")
    sender = messaging._sender(env, orgs)
    if sender.level != "county" or sender.division_code != window.division_code \
            or not env.case_no.startswith(f"{window.division_code}-"):
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} did not accept case {env.case_no}")
    now = utcnow()
    case = messaging._find(env.case_no)
    if case is not None:  # the embedded node: the window's own case
        if competent_county(case) != target.division_code:
            raise ExchangeRejected("wrong_recipient", f"case {case.case_no} is not accepted for {target.division_code}")
        messaging._apply(case, env, system, action, now,
                         f"case {case.case_no} is {case.state}, not on its way to the competent county")
        return
    item = db.session.execute(sa.select(Item).filter_by(code=body["item"]["code"])).unique().scalar_one_or_none()
    if item is None or body["item"]["mode"] != item.mode or not is_citywide(item):
        raise ExchangeRejected("not_citywide", f"item {body['item']['code']} is not accepted city-wide here")
    accepted_at = datetime.fromisoformat(body["acceptance"]["at"])
    case = Case(case_no=env.case_no, query_code="------", item=item, mode=item.mode, state=State.COUNTY_REVIEW,
                county_code=window.division_code, window_org=window, department_code=item.department_code,
                applicant_kind=body["applicant"]["kind"], applicant_name=body["applicant"]["name"],
                applicant_id_code=body["applicant"]["id_code"], applicant_phone=body["applicant"].get("phone"),
                created_by=env.from_org, created_at=now, limit_unit=item.limit_unit,
                promised_limit=item.promised_limit, accepted_at=accepted_at,
                due_at=datetime.fromisoformat(body["due_at"]) if body.get("due_at") else None,
                forwarded_at=now, received_at=now, **particulars.from_wire(body["applicant"]))
    db.session.add(case)
    db.session.flush()
    db.session.add(CitywideCase(case_id=case.id, competent_code=target.division_code))
    remember(case, target.division_code)
    case.holder_org = target.code
    for pos, m in enumerate(body["materials"]):
        case.materials.append(CaseMaterial(code=m["code"], name=m["name"], core=m["core"], required=True,
                                           present=m["present"], position=pos))
    for att in env.attachments:
        code = next((m["code"] for m in body["materials"] if att.sha256 in m["files"]), "")
        case.files.append(CaseFile(material_code=code, original_name=att.name, media_type=att.media_type,
                                   size=att.size, sha256=att.sha256, uploaded_by=env.from_org, uploaded_at=now))
    engine.record(case, system, action.value, State.COUNTY_REVIEW, now, "有权县级收到全市通办件",
                  {"message_id": env.message_id}, by=messaging._peer(env))


def may_decide(sender: Org, case: Case) -> bool | None:
    """Whether `sender` may send the case's return or decision: for a case accepted for another county, an
    organisation of the competent county; None for an ordinary case (the city's rule applies)."""
    competent = competent_county(case)
    if competent is None:
        return None
    return sender.level == "county" and sender.division_code == competent


# -- statistics: counted at both ends -------------------------------------------------------------------------

def statistics(county: str | None = None) -> list[dict]:
    """Per county: cases it accepted for other counties (accepted_for_others) and cases it handled for another
    county's window (handled_for_others), with how many of each are concluded. Each node counts the copies it
    holds: the accepting node its accepted cases, the competent node the copies it received."""
    concluded = sa.func.sum(sa.case((Case.state == State.CONCLUDED.value, 1), else_=0))
    decided = sa.func.sum(sa.case((Case.decision.is_not(None), 1), else_=0))
    base = sa.select(sa.literal(0)).select_from(Case).join(CitywideCase, CitywideCase.case_id == Case.id).where(
        Case.county_code != CitywideCase.competent_code)
    accepted = base.with_only_columns(Case.county_code, sa.func.count(), decided, concluded).group_by(Case.county_code)
    handled = base.with_only_columns(CitywideCase.competent_code, sa.func.count(), decided, concluded).group_by(
        CitywideCase.competent_code)
    rows: dict[str, dict] = {}

    def slot(code):
        return rows.setdefault(code, {"county": code, "accepted_for_others": 0, "accepted_decided": 0,
                                      "accepted_concluded": 0, "handled_for_others": 0, "handled_decided": 0,
                                      "handled_concluded": 0})
    for code, n, d, c in db.session.execute(accepted):
        slot(code).update(accepted_for_others=n, accepted_decided=d or 0, accepted_concluded=c or 0)
    for code, n, d, c in db.session.execute(handled):
        slot(code).update(handled_for_others=n, handled_decided=d or 0, handled_concluded=c or 0)
    names = dict(db.session.execute(sa.select(Division.code, Division.name).where(Division.code.in_(rows))).all())
    out = [{**r, "county_name": names.get(code, code)} for code, r in sorted(rows.items())]
    return [r for r in out if county is None or r["county"] == county]
