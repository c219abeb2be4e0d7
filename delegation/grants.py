"""Revoking and restoring a county's delegation of an item (收回 / 恢复审批权限), and its history.

The city administrator changes the city node's `Delegation` row, appends a `DelegationEvent` and, in the same
transaction, sends `delegation.change` to the county's window on whichever node hosts it. The county node applies
the message to its own row (with its own history line); that row is what its window's acceptance checks.

A row says what the latest change made of the delegation (`granted`) and from when (`effective_at`). Every change
flips the flag, so before `effective_at` the delegation is still in its previous, opposite state: a revocation
effective next Monday leaves acceptance open until then.

Service functions flush; callers commit.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.errors import Conflict, Forbidden, Invalid
from delegation.models import Delegation, DelegationEvent, Division, Item, Org
from delegation.workflow import Role
from exchange.errors import ExchangeRejected
from exchange.handlers import applies
from exchange.outbox import enqueue
from persistence import as_utc, db, utcnow

log = logging.getLogger(__name__)

ACTION_ZH = {"revoke": "收回", "grant": "恢复"}
PAST_TOLERANCE = timedelta(minutes=5)  # clocks of the admin's browser and the server differ a little
FINDING_REF = re.compile(r"^spot-check-entry:(\d+)$")
REASON_MAX = 4000  # tq:Text on the wire


# -- reading ---------------------------------------------------------------------------------------------------

def in_effect(row: Delegation | None, now: datetime | None = None) -> bool:
    """Whether the county may accept the item as delegated at `now`."""
    if row is None:
        return False
    now = now or utcnow()
    if row.effective_at is None or row.effective_at <= now:
        return row.granted
    return not row.granted  # the latest change is still pending: the previous state holds


def require_in_effect(item: Item, division_code: str, now: datetime | None = None) -> None:
    """Refuse (Conflict naming item_code) when the county may not take the item as delegated at `now`, telling the
    applicant where to apply instead: the item's competent organisation, with its window's address and telephone.
    Registration and acceptance ask the same question, so a case of a revoked item is never even registered."""
    row = db.session.execute(_DELEGATION_ROW, {"item_id": item.id, "division_code": division_code}
                             ).scalar_one_or_none()
    if in_effect(row, now or utcnow()):
        return
    where = apply_at(item)
    place = where["org"] + "".join(f"（{label}：{where[key]}）" for key, label in (("address", "地址"),
                                                                                 ("phone", "电话")) if where[key])
    raise Conflict("delegation_revoked",
                   f"本县（市、区）暂无事项「{item.name}」的审批权限，不能登记或受理，"
                   f"请申请人到{place}办理",
                   f"this county may not take '{item.code}' now; the applicant applies to {where['org']} instead",
                   field="item_code", apply_at=where)


def apply_at(item: Item) -> dict:
    """Where an applicant applies for an item the county does not hold: its competent (city) organisation."""
    org = item.department
    if org is None:  # a catalogue without its departments: the city's window is where every item is taken
        return {"org": CITY_WINDOW, "address": None, "phone": None}
    return {"org": org.name, "address": org.address, "phone": org.phone}


CITY_WINDOW = "赣州市政务服务中心市级窗口"
# built once (with its cache key): asked at every registration and acceptance
_DELEGATION_ROW = sa.select(Delegation).where(Delegation.item_id == sa.bindparam("item_id"),
                                              Delegation.division_code == sa.bindparam("division_code"))


def pending(row: Delegation | None, now: datetime | None = None) -> dict | None:
    now = now or utcnow()
    if row is None or row.effective_at is None or row.effective_at <= now:
        return None
    return {"action": "grant" if row.granted else "revoke", "effective_at": row.effective_at}


def find_item(code: str, field: str = "item_code") -> Item:
    item = db.session.execute(sa.select(Item).filter_by(code=(code or "").strip())).unique().scalar_one_or_none()
    if item is None:
        raise Invalid("item_unknown", f"事项 {code} 不存在", f"item {code} does not exist", field=field)
    return item


def find_county(code: str, field: str = "county") -> Division:
    division = db.session.get(Division, (code or "").strip())
    if division is None or division.parent_code is None:
        raise Invalid("county_unknown", f"县（市、区）{code} 不存在", f"no county-level division {code}",
                      field=field)
    return division


def state(item: Item, division: Division, now: datetime | None = None) -> dict:
    return _view(item, division, _row(item.id, division.code), now or utcnow())


def _view(item: Item, division: Division, row: Delegation | None, now: datetime) -> dict:
    return {
        "item_code": item.code, "item_name": item.name, "mode": item.mode,
        "county": division.code, "county_name": division.name,
        "granted": in_effect(row, now), "pending": pending(row, now),
        "changed_at": row.changed_at if row else None, "reason": row.reason if row else "",
        "effective_at": row.effective_at if row else None,
    }


def states(item_code: str | None = None, county: str | None = None, only: str | None = None,
           now: datetime | None = None) -> list[dict]:
    """Current state per item and county. Without an item or a county, `only` must narrow the list
    ("revoked" or "pending"): the full matrix (items × counties) is not a page anyone reads."""
    now = now or utcnow()
    item = find_item(item_code, "item") if item_code else None
    division = find_county(county, "county") if county else None
    if item is None and division is None and only not in ("revoked", "pending"):
        raise Invalid("required", "请指定事项（item）或县（市、区）（county）",
                      "give item or county (or state=revoked|pending)", field="item")
    items = [item] if item else db.session.execute(
        sa.select(Item).order_by(Item.code)).unique().scalars().all()
    divisions = [division] if division else db.session.execute(
        sa.select(Division).where(Division.parent_code.is_not(None)).order_by(Division.code)).scalars().all()
    rows = {(r.item_id, r.division_code): r for r in db.session.execute(
        sa.select(Delegation).where(Delegation.item_id.in_([i.id for i in items]),
                                    Delegation.division_code.in_([d.code for d in divisions]))).scalars()}
    out = []
    for it in items:
        for d in divisions:
            row = rows.get((it.id, d.code))
            if only == "revoked" and in_effect(row, now):
                continue
            if only == "granted" and not in_effect(row, now):
                continue
            if only == "pending" and pending(row, now) is None:
                continue
            out.append(_view(it, d, row, now))
    return out


def history(item_code: str | None = None, county: str | None = None) -> list[dict]:
    if not item_code and not county:
        raise Invalid("required", "请指定事项（item）或县（市、区）（county）", "give item or county", field="item")
    query = sa.select(DelegationEvent, Item.code, Item.name).join(Item, Item.id == DelegationEvent.item_id)
    if item_code:
        query = query.where(DelegationEvent.item_id == find_item(item_code, "item").id)
    if county:
        query = query.where(DelegationEvent.division_code == find_county(county, "county").code)
    out = []
    for event, code, name in db.session.execute(query.order_by(DelegationEvent.id)).all():
        out.append({"id": event.id, "item_code": code, "item_name": name, "county": event.division_code,
                    "action": event.action, "reason": event.reason, "effective_at": event.effective_at,
                    "finding_ref": event.finding_ref, "by": event.by, "at": event.at})
    return out


def _row(item_id: int, division_code: str, lock: bool = False) -> Delegation | None:
    query = sa.select(Delegation).filter_by(item_id=item_id, division_code=division_code)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


# -- changing --------------------------------------------------------------------------------------------------

def revoke(actor: Actor, item_code: str, division_code: str, reason: str, effective_at: datetime | None = None,
           finding_ref: str | None = None, now: datetime | None = None) -> Delegation:
    """收回: the county may no longer accept the item as delegated (from `effective_at`, by default at once).
    Cases it accepted before go on under the rules they were accepted with."""
    return _change(actor, "revoke", item_code, division_code, reason, effective_at, finding_ref, now)


def restore(actor: Actor, item_code: str, division_code: str, reason: str, effective_at: datetime | None = None,
            finding_ref: str | None = None, now: datetime | None = None) -> Delegation:
    """恢复: the county accepts the item again (or a revocation not yet in effect is called off)."""
    return _change(actor, "grant", item_code, division_code, reason, effective_at, finding_ref, now)


def _change(actor, action, item_code, division_code, reason, effective_at, finding_ref, now) -> Delegation:
    if actor.role is not Role.ADMIN or actor.org_level != "city":
        raise Forbidden("role_forbidden", f"只有市行政审批局管理员可以{ACTION_ZH[action]}审批权限",
                        f"only the city administrator may {'revoke' if action == 'revoke' else 'restore'} "
                        "a delegation")
    now = now or utcnow()
    item = find_item(item_code)
    division = find_county(division_code)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("required", f"请填写{ACTION_ZH[action]}审批权限的理由", "the reason is required", field="reason")
    if len(reason) > REASON_MAX:
        raise Invalid("too_long", f"理由不能超过{REASON_MAX}字", f"the reason is longer than {REASON_MAX}",
                      field="reason")
    effective_at = _effective(effective_at, now)
    finding_ref = _finding_ref(finding_ref)

    row = _row(item.id, division.code, lock=True)
    waiting = pending(row, now)
    target = action == "grant"
    label = f"{division.name}「{item.name}」"
    if row is not None and row.granted == target:
        when = f"（将于{_local(row.effective_at)}生效）" if waiting else ""
        if action == "revoke":
            raise Conflict("delegation_already_revoked", f"{label}的审批权限已收回{when}",
                           f"the delegation of {item.code} to {division.code} is already revoked", field="item_code")
        raise Conflict("delegation_not_revoked", f"{label}的审批权限未被收回{when}，无需恢复",
                       f"the delegation of {item.code} to {division.code} is not revoked", field="item_code")
    if row is None and action == "revoke":
        raise Conflict("delegation_already_revoked", f"{label}未下放，无可收回",
                       f"{item.code} was never delegated to {division.code}", field="item_code")
    if waiting and effective_at > now:
        # Calling off a pending change is done at once; stacking two future changes would leave the
        # state in between undefined.
        raise Conflict("delegation_change_pending",
                       f"{label}已安排于{_local(row.effective_at)}{ACTION_ZH[waiting['action']]}审批权限，"
                       f"请先以立即生效的方式取消该安排",
                       "a change is already scheduled; call it off with an immediate change first",
                       field="effective_at")

    if row is None:
        row = Delegation(item_id=item.id, division_code=division.code)
        db.session.add(row)
    row.granted, row.changed_at, row.reason, row.effective_at = target, now, reason, effective_at
    db.session.add(DelegationEvent(item_id=item.id, division_code=division.code, action=action, reason=reason,
                                   effective_at=effective_at, finding_ref=finding_ref, by=actor.label, at=now))
    db.session.flush()
    _notify_county(actor, item, division, action, effective_at, reason)
    return row


def _effective(effective_at: datetime | None, now: datetime) -> datetime:
    if effective_at is None:
        return now
    if effective_at.tzinfo is None or effective_at.utcoffset() is None:
        effective_at = effective_at.replace(tzinfo=SHANGHAI)  # a local time, as the city's staff write it
    if effective_at < now - PAST_TOLERANCE:
        raise Invalid("effective_at_past", "生效时间不能早于当前时间（已受理的办件按原规则办结，变更不追溯）",
                      "effective_at must not be in the past", field="effective_at")
    return max(effective_at, now)


# Spot-check findings are supervision's: it tells this module how to look one up (supervision.spotchecks registers
# at import), so that delegation does not import the layer above it. Unregistered, no finding reference is accepted.
_finding_exists: Callable[[int], bool] | None = None


def register_finding_lookup(exists: Callable[[int], bool]) -> None:
    global _finding_exists
    _finding_exists = exists


def _finding_ref(ref: str | None) -> str | None:
    ref = (ref or "").strip() or None
    if ref is None:
        return None
    if len(ref) > 100:
        raise Invalid("too_long", "查处依据编号不能超过100字", "finding_ref is longer than 100", field="finding_ref")
    match = FINDING_REF.match(ref)
    if match:  # a spot-check finding: it must exist here
        if _finding_exists is None or not _finding_exists(int(match.group(1))):
            raise Invalid("finding_unknown", f"抽查记录 {ref} 不存在", f"no spot-check entry {ref}",
                          field="finding_ref")
    return ref


def _local(dt: datetime | None) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if dt else ""


def _notify_county(actor: Actor, item: Item, division: Division, action: str, effective_at: datetime,
                   reason: str) -> None:
    """delegation.change to the county's window, on its node (the very node, when it hosts the county)."""
    window = db.session.execute(
        sa.select(Org).filter_by(division_code=division.code, kind="window").order_by(Org.id)
    ).scalars().first()
    if window is None:
        log.warning("county %s has no window organisation; delegation.change not sent", division.code)
        return
    body = {"item_code": item.code, "division": division.code, "action": action, "effective_at": effective_at,
            "reason": reason}
    if action == "grant":
        body["mode"] = item.mode
    enqueue("delegation.change", from_org=actor.org_code, to_node=window.node_id, to_org=window.code, body=body)


# -- applying what arrives -------------------------------------------------------------------------------------

@applies("delegation.change")
def apply_change(env, attachments) -> None:
    """On the county's node: the city changed the delegation. Only a city-level organisation living on the
    sending node may send it, only to an organisation of the county concerned."""
    from delegation.messaging import _sender, _system

    recipient = _system(env)
    sender = _sender(env)
    body = env.body
    if sender.level != "city":
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} is not a city organisation")
    if recipient.division_code != body["division"]:
        raise ExchangeRejected("wrong_recipient", f"{env.to_org} is not an organisation of {body['division']}")
    item = db.session.execute(sa.select(Item).filter_by(code=body["item_code"])).unique().scalar_one_or_none()
    if item is None:
        raise ExchangeRejected("unknown_item", f"item {body['item_code']} is not in this node's catalogue")
    if body.get("mode") and body["mode"] != item.mode:
        raise ExchangeRejected("mode_mismatch", f"item {item.code} is {item.mode} here, not {body['mode']}")
    division = db.session.get(Division, body["division"])
    if division is None:
        raise ExchangeRejected("unknown_division", f"division {body['division']} is unknown here")
    target = body["action"] == "grant"
    effective_at = datetime.fromisoformat(body["effective_at"])
    row = _row(item.id, division.code, lock=True)
    if row is not None and row.granted == target and row.effective_at == effective_at:
        return  # already so: the node that made the change hosts this county too
    latest = db.session.execute(
        sa.select(sa.func.max(DelegationEvent.at)).filter_by(item_id=item.id, division_code=division.code)
    ).scalar()
    if latest is not None and _aware(latest) > env.created_at:
        log.info("delegation.change %s is older than the last change of %s at %s; ignored",
                 env.message_id, item.code, division.code)
        return
    if row is None:
        row = Delegation(item_id=item.id, division_code=division.code)
        db.session.add(row)
    row.granted, row.changed_at, row.reason, row.effective_at = target, env.created_at, body["reason"], effective_at
    db.session.add(DelegationEvent(item_id=item.id, division_code=division.code, action=body["action"],
                                   reason=body["reason"], effective_at=effective_at, finding_ref=None,
                                   by=f"{env.from_org}@{env.from_node}", at=env.created_at))


_aware = as_utc  # a naive moment is UTC (the database's)
