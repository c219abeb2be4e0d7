"""The case messages on the bus: what a hand-off carries, and how an arriving one is applied.

Sending happens inside the action's transaction (the outbox row commits with the state change). Applying is
registered with the bus; on a node that hosts both the county and the city (the embedded default) the arriving
message finds the very case that sent it, and on a separate city node it creates the city's copy.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from persistence import db, utcnow
from delegation import case_rules, engine, licences, particulars
from delegation.actors import Actor
from delegation.documents import decisions as decision_documents
from delegation.errors import Conflict
from delegation.models import Case, CaseFile, CaseMaterial, Item, Org
from delegation.orgs import find_org, get_org
from delegation.workflow import Mode, State, SystemAction
from exchange.bus import get_bus
from exchange.envelope import Attachment
from exchange.errors import ExchangeRejected
from exchange.handlers import applies, on_receipt
from exchange.outbox import enqueue


_org = get_org


def _material(m: CaseMaterial, files: list[CaseFile]) -> dict:
    return {"code": m.code, "name": m.name, "core": m.core, "present": m.present,
            "files": sorted({f.sha256 for f in files if f.material_code == m.code})}


def _attachments(files: list[CaseFile]) -> list[Attachment]:
    seen, out = set(), []
    for f in files:
        if f.sha256 not in seen:
            seen.add(f.sha256)
            out.append(Attachment(name=f.original_name, media_type=f.media_type, size=f.size, sha256=f.sha256))
    return out


def _recipient(case: Case) -> Org:
    """Where the county sends the case: the item's city department, or for a case accepted for another county
    (全市通办) that county's approval bureau."""
    from delegation.citywide import competent_org

    return competent_org(case) or _org(case.department_code)


def _to_city(case: Case, actor: Actor, message_type: str, body: dict, files: list[CaseFile]):
    department = _recipient(case)
    return enqueue(message_type, from_org=actor.org_code, to_node=department.node_id, to_org=department.code,
                   body=body, case_no=case.case_no, attachments=_attachments(files))


def _to_window(case: Case, actor: Actor, message_type: str, body: dict, attachments=()):
    window = case.window_org
    return enqueue(message_type, from_org=actor.org_code, to_node=window.node_id, to_org=window.code, body=body,
                   case_no=case.case_no, attachments=attachments)


def send_forward(case: Case, actor: Actor) -> None:
    acceptance_event = next((e for e in case.events if e.action in ("accept", "accept_with_commitment")), None)
    acceptance = {"org": case.window_org.code, "by": acceptance_event.actor if acceptance_event else actor.label,
                  "at": case.accepted_at}
    committed = [m.code for m in case_rules.outstanding(case)]
    if case.commitment_deadline and committed:
        acceptance["commitment"] = {"deadline": case.commitment_deadline.date(), "missing_materials": committed}
    body = {
        "item": {"code": case.item.code, "name": case.item.name, "mode": case.mode.value},
        "applicant": {"kind": case.applicant_kind, "name": case.applicant_name, "id_code": case.applicant_id_code,
                      "phone": case.applicant_phone, **particulars.to_wire(case)},
        "acceptance": acceptance,
        "materials": [_material(m, case.files) for m in case.materials],
        "due_at": case.due_at,
    }
    from delegation.citywide import wire as citywide_wire

    if (citywide := citywide_wire(case)) is not None:  # 全市通办: to the competent county's bureau
        body["citywide"] = citywide
    if case.review_opinion and case.mode is Mode.DELEGATED_REVIEW:
        body["review"] = {"opinion": case.review_opinion, "recommendation": case.review_recommendation,
                          "by": case.reviewed_by, "at": case.reviewed_at}
    from delegation import inspections  # (imports cases, which imports this module)

    records, photos = inspections.to_wire(case)  # 现场踏勘 records travel with the case
    if records:
        body["site_inspections"] = records
    _to_city(case, actor, "case.forward", body, [*case.files, *photos])


def send_supplement(case: Case, actor: Actor, codes, comment: str) -> None:
    codes = set(codes)
    files = [f for f in case.files if f.material_code in codes]
    body = {"materials": [_material(m, files) for m in case.materials if m.code in codes], "comment": comment or None}
    _to_city(case, actor, "case.supplement", body, files)


def send_return(case: Case, actor: Actor) -> None:
    _to_window(case, actor, "case.return", {"reasons": case.return_reasons, "by": actor.label, "at": utcnow()})


def send_decision(case: Case, actor: Actor) -> None:
    body = {"decision": case.decision, "reasons": case.decision_reasons or [], "certificate_no": case.certificate_no,
            "decided_by": case.decided_by, "decided_at": case.decided_at,
            "valid_from": case.valid_from, "valid_until": case.valid_until}  # the licence's validity (issue 16)
    document = decision_documents.of_case(case)
    if document is not None:  # the 决定书 the window hands out: enough to print it identically there
        body["document"] = decision_documents.to_wire(document)
    # the signed licence PDF goes along to a window on another node, which has no key of the issuing authority
    licence_pdf = licences.travelling_copy(case, case.window_org.node_id, get_bus().node_id)
    _to_window(case, actor, "case.decision", body, licence_pdf)


# -- applying what arrives ------------------------------------------------------------------------------------

def _orgs(*codes: str) -> dict[str, Org]:
    """The organisations of these codes that this node knows, in one statement."""
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    return {o.code: o for o in db.session.execute(sa.select(Org).where(Org.code.in_(wanted))).scalars()}


def _system(env, orgs: dict[str, Org] | None = None) -> Actor:
    org = (orgs if orgs is not None else _orgs(env.to_org)).get(env.to_org)
    if org is None:
        raise ExchangeRejected("wrong_recipient", f"organisation {env.to_org} is not on this node")
    return Actor.system(org.code, org.division_code, org.level)


def _sender(env, orgs: dict[str, Org] | None = None) -> Org:
    org = (orgs if orgs is not None else _orgs(env.from_org)).get(env.from_org)
    if org is None or org.node_id != env.from_node:
        raise ExchangeRejected("unknown_sender_org", f"organisation {env.from_org} does not live on node {env.from_node}")
    return org


def _authorize_county_to_city(env, case: Case | None, county_code: str, department_code: str,
                              orgs: dict[str, Org] | None = None) -> None:
    """case.forward / case.supplement: only the accepting county may send them, only to the item's department."""
    sender = _sender(env, orgs)
    if sender.level != "county" or sender.division_code != county_code:
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} is not an organisation of county {county_code}")
    if env.to_org != department_code:
        raise ExchangeRejected("wrong_recipient", f"case {env.case_no} belongs to department {department_code}")
    if not env.case_no.startswith(f"{county_code}-"):
        raise ExchangeRejected("sender_not_allowed", f"case {env.case_no} was not accepted in county {county_code}")


def _authorize_city_to_county(env, case: Case) -> None:
    """case.return / case.decision: only the deciding department (or its bureau) may send them, to the window."""
    sender = _sender(env)
    from delegation.citywide import may_decide

    if (competent_ok := may_decide(sender, case)) is not None:  # 全市通办: the competent county decides
        if not competent_ok:
            raise ExchangeRejected("sender_not_allowed", f"{env.from_org} does not decide case {case.case_no}")
        if env.to_org != case.window_org.code:
            raise ExchangeRejected("wrong_recipient", f"case {case.case_no} is handed out by {case.window_org.code}")
        return
    department = find_org(case.department_code)
    allowed = {case.department_code} | ({department.parent.code} if department and department.parent else set())
    if sender.level != "city" or sender.code not in allowed:
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} does not decide case {case.case_no}")
    if env.to_org != case.window_org.code:
        raise ExchangeRejected("wrong_recipient", f"case {case.case_no} is handed out by {case.window_org.code}")


def _peer(env) -> engine.Peer:
    """The sending organisation, as the timeline names it."""
    return engine.Peer(f"{env.from_org}@{env.from_node}", env.from_org)


def _apply(case: Case, env, system: Actor, action: SystemAction, now, refused: str, payload=None, data=None):
    """The message's SYSTEM row, its line naming the sending organisation; no row from the case's state: the
    message is rejected (the sender sees the reason in the receipt)."""
    try:
        engine.apply(case, system, action, payload or {}, now, by=_peer(env),
                     data={"message_id": env.message_id, **(data or {})})
    except Conflict:
        raise ExchangeRejected("state_conflict", refused) from None


def _find(case_no: str, lock=True, light=False) -> Case | None:
    """`light`: the case row alone (its item and window are loaded when read), for a caller that reads neither
    or only sometimes — the receipt of every forward on the county, the existence check of a forward on the city."""
    query = sa.select(Case).filter_by(case_no=case_no)
    if light:
        query = query.options(sa.orm.lazyload("*"))
    if lock:
        query = query.with_for_update(of=Case)
    return db.session.execute(query).unique().scalar_one_or_none()


def _start_city_step(case: Case, now) -> None:
    from delegation import clock

    case.received_at = now
    if case.paused_at is None:
        clock.start_step(case, now, case.item.city_step_limit, "city")


@applies("case.forward")
def apply_forward(env, attachments) -> None:
    from delegation import inspections
    # The recipient, the sender and the accepting window (usually the sender) in one statement.
    acceptance = env.body.get("acceptance") if isinstance(env.body, dict) else None
    if isinstance(env.body, dict) and env.body.get("citywide"):  # 全市通办: to the competent county, not the city
        from delegation import citywide

        return citywide.apply_forward(env, SystemAction.RECEIVE_CITYWIDE)
    orgs = _orgs(env.to_org, env.from_org, (acceptance or {}).get("org"))
    system = _system(env, orgs)
    now = utcnow()
    case = _find(env.case_no, light=True)
    if case is None:
        case = _create_city_copy(env, now, orgs)
        inspections.receive(case, env.body, env.attachments)
        engine.record(case, system, "receive", State.CITY_REVIEW, now, "市级收到转报件",
                      {"message_id": env.message_id}, by=_peer(env))
        return
    _authorize_county_to_city(env, case, case.county_code, case.department_code, orgs)
    _apply(case, env, system, SystemAction.RECEIVE, now, f"case {case.case_no} is {case.state}, not awaiting the city",
           {"review": env.body.get("review")})
    inspections.receive(case, env.body, env.attachments)  # records added at the county since an earlier forward


@engine.effect(SystemAction.RECEIVE)
def e_receive(case, actor, payload, now, t):
    review = payload.get("review")
    if review and t.source is State.RETURNED:  # a re-review after a return, on a separate city node
        case.review_opinion, case.review_recommendation = review["opinion"], review["recommendation"]
        case.reviewed_by, case.reviewed_at = review["by"], datetime.fromisoformat(review["at"])
    _start_city_step(case, now)


def _create_city_copy(env, now, orgs: dict[str, Org] | None = None) -> Case:
    """On a city node that is not the county's: the city's own record of the forwarded case. The case is inserted
    by the unit of work; its materials and files, which nothing reads back in this transaction, in one executemany
    statement each (an ORM object per row, each its own INSERT, was a third of the city's apply)."""
    body = env.body
    item = db.session.execute(sa.select(Item).filter_by(code=body["item"]["code"])).unique().scalar_one_or_none()
    if item is None:
        raise ExchangeRejected("unknown_item", f"item {body['item']['code']} is not in this node's catalogue")
    window_code = body["acceptance"]["org"]
    window = (orgs if orgs is not None and window_code in orgs else _orgs(window_code)).get(window_code)
    if window is None or window.kind != "window":
        raise ExchangeRejected("unknown_org", f"window {body['acceptance']['org']} is unknown here")
    _authorize_county_to_city(env, None, window.division_code, item.department_code, orgs)
    if body["item"]["mode"] != item.mode or item.mode == "direct":
        raise ExchangeRejected("mode_mismatch", f"item {item.code} is {item.mode} here, not {body['item']['mode']}")
    accepted_at = datetime.fromisoformat(body["acceptance"]["at"])
    case = Case(case_no=env.case_no, query_code="------", item=item, mode=item.mode,
                state=State.CITY_REVIEW, county_code=window.division_code, window_org=window,
                department_code=item.department_code, applicant_kind=body["applicant"]["kind"],
                applicant_name=body["applicant"]["name"], applicant_id_code=body["applicant"]["id_code"],
                applicant_phone=body["applicant"].get("phone"), created_by=env.from_org, created_at=now,
                limit_unit=item.limit_unit, promised_limit=item.promised_limit, accepted_at=accepted_at,
                due_at=datetime.fromisoformat(body["due_at"]) if body.get("due_at") else None, forwarded_at=now,
                **particulars.from_wire(body["applicant"]))
    review = body.get("review")
    if review:
        case.review_opinion, case.review_recommendation = review["opinion"], review["recommendation"]
        case.reviewed_by, case.reviewed_at = review["by"], datetime.fromisoformat(review["at"])
    _start_city_step(case, now)
    db.session.add(case)
    db.session.flush()  # the case's id, for its materials and files
    materials = [{"case_id": case.id, "code": m["code"], "name": m["name"], "core": m["core"], "required": True,
                  "present": m["present"], "position": pos} for pos, m in enumerate(body["materials"])]
    from delegation.inspections import wire_photo_digests

    photos = wire_photo_digests(body) - {sha for m in body["materials"] for sha in m["files"]}  # not materials
    files = [{"case_id": case.id, "material_code": next((m["code"] for m in body["materials"]
                                                          if att.sha256 in m["files"]), ""),
              "original_name": att.name, "media_type": att.media_type, "size": att.size, "sha256": att.sha256,
              "uploaded_by": env.from_org, "uploaded_at": now} for att in env.attachments if att.sha256 not in photos]
    if materials:
        db.session.execute(sa.insert(CaseMaterial), materials)
    if files:
        db.session.execute(sa.insert(CaseFile), files)
    # Their collections were never loaded: a later read in this session loads them from the rows just written.
    return case


@applies("case.supplement")
def apply_supplement(env, attachments) -> None:
    system = _system(env)
    now = utcnow()
    case = _find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    _authorize_county_to_city(env, case, case.county_code, _recipient(case).code)
    codes = {m["code"] for m in env.body["materials"] if m["present"]}
    _apply(case, env, system, SystemAction.RECEIVE_SUPPLEMENT, now, f"case {case.case_no} is {case.state}",
           {"comment": env.body.get("comment"), "codes": codes, "env": env}, {"materials": sorted(codes)})


@engine.effect(SystemAction.RECEIVE_SUPPLEMENT)
def e_receive_supplement(case, actor, payload, now, t):
    env, codes = payload["env"], payload["codes"]
    case_rules.mark_present(case, codes, now)
    known = {(f.material_code, f.sha256) for f in case.files}
    for att in env.attachments:
        code = next((m["code"] for m in env.body["materials"] if att.sha256 in m["files"]), "")
        if (code, att.sha256) not in known:
            case.files.append(CaseFile(material_code=code, original_name=att.name, media_type=att.media_type,
                                       size=att.size, sha256=att.sha256, uploaded_by=env.from_org, uploaded_at=now))
    if t.source is State.CORRECTION_REQUESTED:  # 全市通办: the window's correction, back to the reviewer
        from delegation import clock

        case.resume_state = case.correction_items = None
        clock.resume(case, now)
    elif t.target is not t.source:  # corrected materials after a return: back to the city's desk
        _start_city_step(case, now)


@applies("case.return")
def apply_return(env, attachments) -> None:
    system = _system(env)
    case = _find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    _authorize_city_to_county(env, case)
    _apply(case, env, system, SystemAction.RECEIVE_RETURN, utcnow(),
           f"case {case.case_no} is {case.state}; it cannot be returned", {"reasons": env.body["reasons"]},
           {"reasons": env.body["reasons"]})


@engine.effect(SystemAction.RECEIVE_RETURN)
def e_receive_return(case, actor, payload, now, t):
    # the county's own copy, on its own node (on one node: already returned, or 全市通办's correction_requested)
    if t.source not in (State.RETURNED, State.CORRECTION_REQUESTED):
        case.return_reasons = payload["reasons"]


@applies("case.decision")
def apply_decision(env, attachments) -> None:
    system = _system(env)
    case = _find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    _authorize_city_to_county(env, case)
    document = env.body.get("document")
    if document and document["kind"] != decision_documents.KIND_OF_DECISION[env.body["decision"]]:
        raise ExchangeRejected("document_mismatch", f"a {document['kind']} document with a {env.body['decision']}")
    _apply(case, env, system, SystemAction.RECEIVE_DECISION, utcnow(),
           f"case {case.case_no} is {case.state}; no decision expected",
           {"body": env.body, "from_org": env.from_org, "attachments": env.attachments},
           {"decision": env.body["decision"]})


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@engine.effect(SystemAction.RECEIVE_DECISION)
def e_receive_decision(case, actor, payload, now, t):
    if t.source is State.DECIDED:  # decided on this very node
        return
    body = payload["body"]
    case.decision = body["decision"]
    case.decision_reasons = body.get("reasons") or []
    case.certificate_no = body.get("certificate_no")
    case.decided_by, case.decided_org = body["decided_by"], payload["from_org"]
    case.decided_at = datetime.fromisoformat(body["decided_at"])
    case.valid_from, case.valid_until = _day(body.get("valid_from")), _day(body.get("valid_until"))
    if body.get("document"):
        decision_documents.store_received(case, body["document"], case.decided_at)
    licences.store_received(case, payload["from_org"], payload.get("attachments") or ())  # the signed PDF


@on_receipt("case.forward")
def forward_acknowledged(outbox_row, status: str) -> None:
    """The city has the case: on the county's own node its copy moves on to city_review. If the city refused
    the forward, the case comes back to the county with the reason, instead of waiting for ever."""
    case = _find(outbox_row.case_no, light=True)
    if case is None:
        return
    if status == "accepted":
        from delegation.citywide_models import competent_county

        if competent_county(case) is not None:  # 全市通办: the window's case waits for the decision
            return
        action, comment = SystemAction.FORWARD_ACKNOWLEDGED, None
    else:
        action, comment = SystemAction.FORWARD_REJECTED, f"市级拒收转报：{outbox_row.receipt_reason or '未说明原因'}"
    # The county's node acts on the city's receipt; the line names the city. Only a case still forwarded moves.
    system = Actor.system("", case.county_code, "county")
    peer = engine.Peer(f"{outbox_row.to_org}@{outbox_row.to_node}", outbox_row.to_org)
    try:
        engine.apply(case, system, action, {"comment": comment}, utcnow(), by=peer,
                     data={"message_id": outbox_row.message_id})
    except Conflict:
        return


@engine.effect(SystemAction.FORWARD_ACKNOWLEDGED)
def e_forward_acknowledged(case, actor, payload, now, t):
    """Nothing but the state: the city has the case."""


@engine.effect(SystemAction.FORWARD_REJECTED)
def e_forward_rejected(case, actor, payload, now, t):
    case.return_reasons = [payload["comment"]]


# 材料邮寄 (issue 19): the originals' mailing and its receipt register their handlers and guard there
from delegation import mailing as _mailing  # noqa: E402,F401
# 转办 and cross-node 催办 (issue 15): their engine rows' guard and effects, and the case.transfer / case.reminder handlers
from delegation import transfer as _transfer, remote_reminders as _remote_reminders  # noqa: E402,F401
# 全市通办 (issue 17): the rows' condition and effects of a case accepted for another county
from delegation import citywide as _citywide  # noqa: E402,F401
