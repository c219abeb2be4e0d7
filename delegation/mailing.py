"""材料邮寄: the paper originals of some materials must reach the city (per item and material, in the catalogue:
item_material.originals_required). The county window records each mailing (courier, waybill number, materials
sent); it travels to the city as `case.originals_mailed`; the city signs for it (complete, or which materials are
missing or damaged) and that travels back as `case.originals_received`. An item with
item.originals_before_decision lets the city decide only once every original has arrived intact (the guard
`originals_arrived` of the city's approve/deny rows). Mail not signed for within item.originals_days working days
warns both sides: on their case pages at once, and on their timelines through the deadline sweep.

Mailings and receipts are records, not states: a case's state never changes here, and both tables are insert-only
(migration 0014). The mailing's uid names it on both nodes, so on a node that hosts county and city the arriving
message finds the very row that sent it and adds nothing.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime

import sqlalchemy as sa

from persistence import db, utcnow
from delegation import clock, engine
from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, OriginalsMailing, OriginalsReceipt
from delegation.titles import N_
from delegation.workflow import CITY_MODES, ROLE_ZH, Role, State
from exchange import field_rules
from exchange.errors import ExchangeRejected
from exchange.handlers import applies

COURIER_MAX = 40
COMMENT_MAX = 500
MATERIALS_MAX = 50
# Where the case is on its way to or at the city: the originals can be sent
MAIL_STATES = frozenset({State.COUNTY_REVIEW, State.FORWARDED, State.CITY_REVIEW, State.RETURNED, State.SUSPENDED})
_TRACKING = re.compile(field_rules.TRACKING_NO)


# -- reading ---------------------------------------------------------------------------------------------------

def originals_materials(case: Case) -> list:
    """The catalogue materials of the case's item whose paper originals go to the city."""
    return [m for m in case.item.materials if m.originals_required]


def mailings(case: Case) -> list[OriginalsMailing]:
    if case.id is None:
        return []
    return list(db.session.execute(sa.select(OriginalsMailing).filter_by(case_id=case.id)
                                   .order_by(OriginalsMailing.id)).scalars())


def arrived(case: Case) -> set[str]:
    """The materials whose originals the city signed for intact."""
    codes: set[str] = set()
    for m in mailings(case):
        if m.receipt is not None:
            codes |= set(m.materials) - set(m.receipt.missing or []) - set(m.receipt.damaged or [])
    return codes


def is_overdue(mailing: OriginalsMailing, now: datetime) -> bool:
    return mailing.receipt is None and now > mailing.due_at


def view(case: Case, now: datetime | None = None) -> dict:
    """What the case pages show: the materials to send, each mailing with its receipt, and the overdue ones."""
    now = now or utcnow()
    required = originals_materials(case)
    names = {m.code: m.name for m in required} | {m.code: m.name for m in case.materials}
    rows = [{"mailing": m, "materials": [(c, names.get(c, c)) for c in m.materials],
             "missing": [(c, names.get(c, c)) for c in (m.receipt.missing if m.receipt else [])],
             "damaged": [(c, names.get(c, c)) for c in (m.receipt.damaged if m.receipt else [])],
             "overdue": is_overdue(m, now)} for m in mailings(case)]
    have = arrived(case)
    return {"required": required, "mailings": rows, "overdue": [r for r in rows if r["overdue"]],
            "lacking": [m for m in required if m.code not in have],
            "blocks_decision": bool(case.item.originals_before_decision and required),
            "can_mail": bool(required) and State(case.state) in MAIL_STATES and case.mode in CITY_MODES}


# -- the window mails ------------------------------------------------------------------------------------------

def _text(value, field: str, limit: int, zh: str, required: bool = True) -> str | None:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        if required:
            raise Invalid("required", zh, f"{field} is required", field=field)
        return None
    if len(text) > limit or field_rules.has_control_chars(text):
        raise Invalid("invalid", N_("内容过长或含有不可见字符"), f"{field} is too long or holds control characters",
                      field=field)
    return text


def record_mailing(actor: Actor, case: Case, courier, tracking_no, material_codes, now: datetime | None = None
                   ) -> OriginalsMailing:
    """The window sends the originals: recorded, on the timeline, and on its way to the city in one unit of work.
    The caller commits."""
    now = now or utcnow()
    if actor.role is not Role.WINDOW or case.county_code != actor.division_code:
        raise Forbidden("role_forbidden", N_("只有受理窗口可以登记邮寄原件"), "only the accepting window mails originals")
    required = {m.code: m for m in originals_materials(case)}
    if not required or case.mode not in CITY_MODES:
        raise Conflict("no_originals", N_("本事项没有需要邮寄原件的材料"), "this item requires no originals",
                       field="materials")
    if State(case.state) not in MAIL_STATES:
        raise Conflict("state_forbids", N_("办件当前状态不能登记邮寄原件"),
                       f"originals are not mailed while the case is {case.state}", field="state")
    courier = _text(courier, "courier", COURIER_MAX, N_("请填写快递公司"))
    tracking = _text(tracking_no, "tracking_no", 40, N_("请填写快递单号"))
    if not _TRACKING.fullmatch(tracking):
        raise Invalid("invalid", N_("快递单号格式无效（4–40 位字母、数字或短横线）"), "tracking_no is not a waybill number",
                      field="tracking_no")
    codes = [c for c in (material_codes or []) if isinstance(c, str)][:MATERIALS_MAX]
    if not codes:
        raise Invalid("required", N_("请选择邮寄的原件材料"), "materials: choose at least one", field="materials")
    unknown = [c for c in codes if c not in required]
    if unknown:
        raise Invalid("unknown_material", N_("材料不在本事项需邮寄原件的材料中"),
                      f"materials: {', '.join(unknown)[:200]} is not an original of this item", field="materials",
                      codes=unknown)
    codes = list(dict.fromkeys(codes))
    item = case.item
    mailing = OriginalsMailing(mailing_uid=str(uuid.uuid4()), case_id=case.id, courier=courier, tracking_no=tracking,
                               materials=codes, mailed_at=now, mailed_by=actor.label,
                               due_at=clock.add_limit(clock.load_calendar(), now, "working_days", item.originals_days))
    db.session.add(mailing)
    engine.note(case, "originals_mailed", now, f"邮寄原件：{courier} {tracking}",
                {"mailing_id": mailing.mailing_uid, "materials": codes, "tracking_no": tracking},
                by=engine.Peer(actor.label, actor.org_code))
    from delegation.messaging import _to_city

    body = {"mailing_id": mailing.mailing_uid, "courier": courier, "tracking_no": tracking,
            "materials": [{"code": c, "name": required[c].name} for c in codes], "mailed_by": actor.label,
            "mailed_at": now, "due_at": mailing.due_at}
    _to_city(case, actor, "case.originals_mailed", body, [])
    return mailing


# -- the city signs for them -----------------------------------------------------------------------------------

def _codes(value, field: str, sent: list[str]) -> list[str]:
    codes = list(dict.fromkeys(c for c in (value or []) if isinstance(c, str)))[:MATERIALS_MAX]
    unknown = [c for c in codes if c not in sent]
    if unknown:
        raise Invalid("unknown_material", N_("材料不在该次邮寄的材料中"),
                      f"{field}: {', '.join(unknown)[:200]} was not mailed", field=field, codes=unknown)
    return codes


def find_mailing(case: Case, mailing_uid) -> OriginalsMailing:
    mailing = next((m for m in mailings(case) if m.mailing_uid == mailing_uid), None)
    if mailing is None:
        raise NotFound("mailing_not_found", N_("没有这次邮寄记录"), "no such mailing of this case", field="mailing")
    return mailing


def record_receipt(actor: Actor, case: Case, mailing_uid, missing=(), damaged=(), comment=None,
                   now: datetime | None = None) -> OriginalsReceipt:
    """The city signs for a mailing: complete, or naming what is missing or damaged. The caller commits."""
    now = now or utcnow()
    if actor.role is not Role.CITY_APPROVER:
        raise Forbidden("role_forbidden", N_("只有市级审批人员可以签收原件"), "only the city signs for originals")
    mailing = find_mailing(case, mailing_uid)
    if mailing.receipt is not None:
        raise Conflict("already_received", N_("该次邮寄已签收"), "this mailing was already signed for", field="mailing")
    missing = _codes(missing, "missing", mailing.materials)
    damaged = _codes(damaged, "damaged", mailing.materials)
    if set(missing) & set(damaged):
        raise Invalid("invalid", N_("同一材料不能既缺失又破损"), "damaged: a material is either missing or damaged",
                      field="damaged")
    comment = _text(comment, "comment", COMMENT_MAX, "", required=False)
    receipt = _store_receipt(mailing, not missing and not damaged, missing, damaged, comment, now, actor.label)
    engine.note(case, "originals_received", now, _receipt_line(receipt), _receipt_data(receipt, mailing),
                by=engine.Peer(actor.label, actor.org_code))
    from delegation.messaging import _to_window

    body = {"mailing_id": mailing.mailing_uid, "result": "complete" if receipt.complete else "incomplete",
            "missing": missing, "damaged": damaged, "comment": comment, "received_by": actor.label,
            "received_at": now}
    _to_window(case, actor, "case.originals_received", body)
    return receipt


def _store_receipt(mailing, complete, missing, damaged, comment, at, by) -> OriginalsReceipt:
    receipt = OriginalsReceipt(mailing=mailing, complete=complete, missing=list(missing), damaged=list(damaged),
                               comment=comment, received_at=at, received_by=by)
    db.session.add(receipt)
    return receipt


def _receipt_line(receipt: OriginalsReceipt) -> str:
    if receipt.complete:
        return "原件已签收，齐全完好"
    return "原件已签收，" + "；".join(part for part in (
        f"缺失：{'、'.join(receipt.missing)}" if receipt.missing else "",
        f"破损：{'、'.join(receipt.damaged)}" if receipt.damaged else "") if part)


def _receipt_data(receipt, mailing) -> dict:
    return {"mailing_id": mailing.mailing_uid, "complete": receipt.complete, "missing": receipt.missing,
            "damaged": receipt.damaged}


# -- the guard -------------------------------------------------------------------------------------------------

@engine.guard("originals_arrived")
def originals_arrived(case: Case, actor: Actor, payload: dict, now) -> None:
    """An item that waits for its originals is decided only once each arrived intact."""
    if not case.item.originals_before_decision:
        return
    lacking = [m for m in originals_materials(case) if m.code not in arrived(case)]
    if lacking:
        names = "、".join(m.name for m in lacking)
        raise Conflict("originals_not_arrived", f"原件尚未全部签收（{names}），签收齐全后方可作出决定",
                       f"originals: {', '.join(m.code for m in lacking)} not yet signed for intact; decide after",
                       field="originals", materials=[m.code for m in lacking])


# -- the bus ---------------------------------------------------------------------------------------------------

def _case_or_reject(env) -> Case:
    from delegation.messaging import _find

    case = _find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    return case


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@applies("case.originals_mailed")
def apply_mailed(env, attachments) -> None:
    from delegation.messaging import _authorize_county_to_city, _peer, _system

    _system(env)
    case = _case_or_reject(env)
    _authorize_county_to_city(env, case, case.county_code, case.department_code)
    body = env.body
    if db.session.execute(sa.select(OriginalsMailing.id).filter_by(mailing_uid=body["mailing_id"])).first():
        return  # recorded where it was sent: county and city on one node
    codes = [m["code"] for m in body["materials"]]
    known = {m.code for m in originals_materials(case)}
    if not set(codes) <= known:
        raise ExchangeRejected("unknown_material", f"materials {sorted(set(codes) - known)} need no originals here")
    db.session.add(OriginalsMailing(mailing_uid=body["mailing_id"], case_id=case.id, courier=body["courier"],
                                    tracking_no=body["tracking_no"], materials=codes, mailed_at=_at(body["mailed_at"]),
                                    mailed_by=body["mailed_by"], due_at=_at(body["due_at"])))
    engine.note(case, "originals_mailed", utcnow(), f"邮寄原件：{body['courier']} {body['tracking_no']}",
                {"mailing_id": body["mailing_id"], "materials": codes, "message_id": env.message_id}, by=_peer(env))


@applies("case.originals_received")
def apply_received(env, attachments) -> None:
    from delegation.messaging import _authorize_city_to_county, _peer, _system

    _system(env)
    case = _case_or_reject(env)
    _authorize_city_to_county(env, case)
    body = env.body
    mailing = next((m for m in mailings(case) if m.mailing_uid == body["mailing_id"]), None)
    if mailing is None:
        raise ExchangeRejected("unknown_mailing", f"case {case.case_no} has no mailing {body['mailing_id']}")
    if mailing.receipt is not None:
        return  # signed for on this very node
    if not set(body["missing"]) | set(body["damaged"]) <= set(mailing.materials):
        raise ExchangeRejected("unknown_material", "missing or damaged materials that were not mailed")
    complete = body["result"] == "complete"
    if complete != (not body["missing"] and not body["damaged"]):
        raise ExchangeRejected("result_mismatch", "result does not match the missing and damaged materials")
    receipt = _store_receipt(mailing, complete, body["missing"], body["damaged"], body.get("comment"),
                             _at(body["received_at"]), body["received_by"])
    engine.note(case, "originals_received", utcnow(), _receipt_line(receipt),
                {**_receipt_data(receipt, mailing), "message_id": env.message_id}, by=_peer(env))


# -- overdue mail ----------------------------------------------------------------------------------------------

def sweep_overdue(now: datetime | None = None) -> int:
    """Warn on the timeline, once, of each mailing not signed for in time (this node's side). Commits."""
    now = now or utcnow()
    late = db.session.execute(
        sa.select(OriginalsMailing).outerjoin(OriginalsReceipt, OriginalsReceipt.mailing_id == OriginalsMailing.id)
        .where(OriginalsReceipt.id.is_(None), OriginalsMailing.overdue_warned_at.is_(None),
               OriginalsMailing.due_at < now)).scalars().all()
    for mailing in late:
        case = db.session.get(Case, mailing.case_id)
        mailing.overdue_warned_at = now
        engine.note(case, "originals_overdue", now, f"原件邮寄逾期未签收（快递单号 {mailing.tracking_no}）",
                    {"mailing_id": mailing.mailing_uid, "due_at": mailing.due_at.isoformat()},
                    by=engine.Peer(ROLE_ZH[Role.SYSTEM], case.window_org.code))
    db.session.commit()
    return len(late)


# -- the catalogue ---------------------------------------------------------------------------------------------

DAYS_MAX = 60


def set_originals(item_code: str, material_codes, before_decision: bool, days: int):
    """Which materials of an item go to the city on paper, whether the city waits for them, and within how many
    working days. Set alike on every node (the city accepts a mailing only of materials its catalogue marks). The
    caller commits."""
    from delegation.models import Item

    item = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one_or_none()
    if item is None:
        raise NotFound("item_not_found", f"没有事项 {item_code}", f"no item {item_code}", field="item_code")
    codes = set(material_codes or ())
    unknown = sorted(codes - {m.code for m in item.materials})
    if unknown:
        raise Invalid("unknown_material", f"事项 {item_code} 没有材料 {'、'.join(unknown)}",
                      f"item {item_code} has no material {', '.join(unknown)}", field="materials")
    if not isinstance(days, int) or not 1 <= days <= DAYS_MAX:
        raise Invalid("invalid", f"签收期限应为 1–{DAYS_MAX} 个工作日", f"days must be 1–{DAYS_MAX}", field="days")
    if before_decision and not codes:
        raise Invalid("required", "要求原件送达后决定，须至少指定一项原件材料",
                      "before_decision needs at least one material", field="materials")
    for m in item.materials:
        m.originals_required = m.code in codes
    item.originals_before_decision, item.originals_days = bool(before_decision), days
    return item
