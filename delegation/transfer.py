"""转办 (issue 15): the organisation holding a case passes it to another organisation of its level, with a reason.

- At the city a section (or an approver of the bureau, who serves every section) passes a case in city review to
  another approval section of the bureau: the case's department_code becomes the target's, which then sees, holds and
  decides it. At the county the holding organisation passes a case it reviews to the county's approval bureau or
  one of the bureau's units (an org whose parent is the bureau: its 股室, as the sections are the city bureau's)
  (case.holder_org; delegation.worklist.holder_code reads it). The bureau stays the deciding authority in whose
  name the county decides (delegation/documents/authorities.py).
- The holder is derived from the case's state and these columns, and a change of them is a step of the workflow:
  Action.TRANSFER (its rows in delegation/workflow.py keep the state) through delegation.engine.apply, whose guard
  checks the holder and the target and whose effect moves the holder. The deadline and its clocks are not touched:
  the time limit does not restart.
- The timeline line names who passed it, from whom to whom and why; the target's users get a "transfer"
  notification. The window's node, when it is another node, learns of it by `case.transfer` (sent in the same
  transaction, sequenced with the case's other city→county messages) and records it on its copy
  (SystemAction.RECEIVE_TRANSFER), so that its later supplements and reminders reach the new holder and the
  decision of the new section is accepted there.
- The target must be hosted on this node: a node that does not hold the case could not take it over (the case's
  files travel only with case.forward); such a target is refused on `to_org`.

Service functions flush; callers commit.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import engine
from delegation.actors import Actor, person_of
from delegation.citywide_models import deciding_county
from delegation.errors import Conflict, Forbidden, Invalid
from delegation.models import Case, Org
from delegation.text_rules import required_text
from delegation.workflow import FINAL_STATES, STATE_ZH, Action, Role, State, SystemAction
from exchange.bus import get_bus
from exchange.errors import ExchangeRejected
from exchange.handlers import applies
from exchange.outbox import enqueue
from persistence import db, utcnow

REASON_MAX = 500
CITY_STATES = (State.FORWARDED, State.CITY_REVIEW)
CITY_TARGET_KIND = "city_section"  # the approval sections of the city's 行政审批局, each may handle any item
COUNTY_BUREAU_KIND = "approval_bureau"  # a county's 行政审批局: it and its units (parent_id) review its cases


def _holder(case: Case) -> str:
    from delegation.worklist import holder_code  # worklist imports cases, which imports this module's importer

    return holder_code(case)


def _at_city(case: Case) -> bool:
    state = case.resume_state if case.state is State.SUSPENDED and case.resume_state else case.state
    return state in CITY_STATES


def _acts_for(actor: Actor, case: Case, holder: str) -> bool:
    """The actor's organisation holds the case; an approver of the city bureau acts for each of its sections."""
    if actor.org_code == holder:
        return True
    return actor.role is Role.CITY_APPROVER and _at_city(case) and actor.org_kind != CITY_TARGET_KIND


def targets(case: Case) -> list[Org]:
    """The organisations this node hosts to which the holder may pass the case, by name."""
    holder = _holder(case)
    query = sa.select(Org).where(Org.code != holder, Org.node_id == get_bus().node_id)
    if _at_city(case):
        query = query.where(Org.level == "city", Org.kind == CITY_TARGET_KIND)
    else:
        county = deciding_county(case)
        bureaus = sa.select(Org.id).where(Org.kind == COUNTY_BUREAU_KIND, Org.division_code == county)
        query = query.where(Org.level == "county", Org.division_code == county,
                            sa.or_(Org.kind == COUNTY_BUREAU_KIND, Org.parent_id.in_(bureaus.scalar_subquery())))
    return list(db.session.execute(query.order_by(Org.code)).scalars())


def may_transfer(actor: Actor, case: Case) -> bool:
    """Whether the case page offers the form (the engine's guard decides again)."""
    from delegation.workflow import allowed_actions

    return Action.TRANSFER in allowed_actions(case.state, actor.role, case.mode) and \
        _acts_for(actor, case, _holder(case)) and bool(targets(case))


def transfer(actor: Actor, case_no: str, to_org: str | None, reason: str | None,
             now: datetime | None = None) -> Case:
    from delegation.cases import get_case

    reason, to_org = _reason(reason), _code(to_org)
    case = get_case(actor, (case_no or "").strip()[:40], for_update=True)
    if case.state in FINAL_STATES:
        raise Conflict("case_closed", f"办件已{STATE_ZH[case.state]}，不能转办",
                       f"the case is {case.state.value}: it cannot be transferred", field="case_no")
    return engine.apply(case, actor, Action.TRANSFER, {"to_org": to_org, "comment": reason}, now or utcnow())


def _reason(reason: str | None) -> str:
    return required_text(reason, REASON_MAX, "reason", "转办理由")


def _code(to_org) -> str:
    code = to_org.strip()[:40] if isinstance(to_org, str) else ""
    if not code:
        raise Invalid("required", "请选择转办的目标单位", "to_org is required", field="to_org")
    return code


def _target(case: Case, holder: str, code: str) -> Org:
    """The organisation named by `to_org`, if it may take the case over; else the refusal, naming to_org."""
    code = _code(code)
    org = db.session.execute(sa.select(Org).where(Org.code == code)).scalar_one_or_none()
    if org is None:
        raise Invalid("org_unknown", f"单位 {code} 不存在", f"no organisation {code}", field="to_org")
    if org.code == holder:
        raise Invalid("same_org", "不能转办给本单位", "the case is already held by this organisation", field="to_org")
    if _at_city(case):
        handles = org.level == "city" and org.kind == CITY_TARGET_KIND
    else:
        handles = org.level == "county" and org.division_code == deciding_county(case) and (
            org.kind == COUNTY_BUREAU_KIND or (org.parent is not None and org.parent.kind == COUNTY_BUREAU_KIND))
    if not handles:
        raise Invalid("org_cannot_handle", f"{org.name}不能办理本办件",
                      f"{org.code} cannot handle this case at its level", field="to_org")
    if org.node_id != get_bus().node_id:
        raise Invalid("org_elsewhere", f"{org.name}不在本节点，本节点不能把办件转交给它",
                      f"{org.code} is hosted on node {org.node_id}, which does not hold this case", field="to_org")
    return org


@engine.guard("transfer_allowed")
def g_transfer_allowed(case, actor, payload, now):
    holder = _holder(case)
    if not _acts_for(actor, case, holder):
        raise Forbidden("not_holder", "只有当前承办单位可以转办", "only the organisation holding the case may transfer it",
                        field="to_org")
    payload["from_org"] = holder
    payload["to_org"] = _target(case, holder, payload.get("to_org")).code
    payload["comment"] = _reason(payload.get("comment"))


@engine.effect(Action.TRANSFER)
def e_transfer(case, actor, payload, now, t):
    from_org, to_org, reason = payload["from_org"], payload["to_org"], payload["comment"]
    _move(case, to_org)
    payload["comment"] = _line(from_org, to_org, reason)

    def announce():
        _notify(case, from_org, to_org, reason, actor.label, now)
        window = case.window_org
        if _at_city(case) and window.node_id != get_bus().node_id:
            enqueue("case.transfer", from_org=actor.org_code, to_node=window.node_id, to_org=window.code,
                    body={"from_org": from_org, "to_org": to_org, "reason": reason, "by": actor.label, "at": now},
                    case_no=case.case_no)
    return announce


def _move(case: Case, to_org: str) -> None:
    if _at_city(case):
        case.department_code = to_org
    else:
        case.holder_org = to_org


def _names(*codes: str) -> dict[str, str]:
    return dict(db.session.execute(sa.select(Org.code, Org.name).where(Org.code.in_(codes))).all())


def _line(from_org: str, to_org: str, reason: str) -> str:
    """The timeline's comment: from whom to whom (organisations by name, as the record keeps them) and why."""
    names = _names(from_org, to_org)
    return f"{names.get(from_org, from_org)} → {names.get(to_org, to_org)}：{reason}"


def _notify(case: Case, from_org: str, to_org: str, reason: str, by: str, now: datetime) -> None:
    from delegation.notifications import notify_holder

    name = _names(from_org).get(from_org, from_org)
    notify_holder(to_org, "transfer", f"转办：{case.case_no}",
                  f"{case.case_no} {case.item.name}（{case.applicant_name}）由{name}（{person_of(by)}）转办给本单位。理由：{reason}",
                  case_no=case.case_no, now=now)


# -- the bus: the window's node records a transfer made at the city ----------------------------------------------

@applies("case.transfer")
def apply_transfer(env, attachments) -> None:
    from delegation.messaging import _apply, _authorize_city_to_county, _find, _system

    system = _system(env)
    case = _find(env.case_no)
    if case is None:
        raise ExchangeRejected("unknown_case", f"case {env.case_no} is unknown here")
    _authorize_city_to_county(env, case)
    body = env.body
    if body["from_org"] != case.department_code:
        raise ExchangeRejected("not_holder", f"case {case.case_no} is held by {case.department_code} here, "
                                             f"not by {body['from_org']}")
    target = db.session.execute(sa.select(Org).where(Org.code == body["to_org"])).scalar_one_or_none()
    if target is None or target.level != "city" or target.kind != CITY_TARGET_KIND:
        raise ExchangeRejected("unknown_org", f"{body['to_org']} is not a city approval section here")
    _apply(case, env, system, SystemAction.RECEIVE_TRANSFER, utcnow(),
           f"case {case.case_no} is {case.state}; it cannot be transferred",
           {"to_org": target.code, "from_org": body["from_org"], "by": body["by"], "reason": body["reason"],
            "comment": _line(body["from_org"], target.code, body["reason"])},
           {"from_org": body["from_org"], "to_org": target.code, "by": body["by"]})


@engine.effect(SystemAction.RECEIVE_TRANSFER)
def e_receive_transfer(case, actor, payload, now, t):
    case.department_code = payload["to_org"]
    to_org, from_org = payload["to_org"], payload["from_org"]
    return lambda: _notify(case, from_org, to_org, payload["reason"], payload["by"], now)
