"""What a window records at intake besides the applicant (migration 0013: the address, the legal representative and
the agent, 经办人) as case.forward carries it to the city (tq:ForwardApplicant, exchange/schema/README.md).

Each is optional on the wire, so a forward of an older peer (without them) is still applied. The sender checks
each against the wire's bound before the message is built: a value the bus would refuse (a column longer than the
wire allows, e.g. written before the intake bounded it — SQLite does not enforce VARCHAR lengths) is refused with
the field named, in the clerk's language, instead of the exchange's generic "cannot be transmitted"."""
from __future__ import annotations

import re

from delegation.errors import Invalid
from delegation.models import Case
from exchange import field_rules as rules

_ID_CODE, _PHONE = re.compile(rules.ID_CODE), re.compile(rules.PHONE)

# (wire path, the field an error names, zh label, en label, max length or pattern)
_FIELDS = (
    (("address",), "applicant.address", "地址", "the address", rules.ADDRESS_MAX),
    (("legal_representative",), "applicant.legal_representative", "法定代表人", "the legal representative",
     rules.PERSON_NAME_MAX),
    (("agent", "name"), "agent.name", "经办人姓名", "the agent's name", rules.PERSON_NAME_MAX),
    (("agent", "id_code"), "agent.id_code", "经办人身份证号码", "the agent's ID number", _ID_CODE),
    (("agent", "phone"), "agent.phone", "经办人电话", "the agent's phone", _PHONE),
)


def to_wire(case: Case) -> dict:
    """The optional keys of case.forward's applicant for this case (absent when not recorded); Invalid naming the
    field when one does not fit the wire."""
    out: dict = {}
    if case.applicant_address:
        out["address"] = case.applicant_address
    if case.legal_representative:
        out["legal_representative"] = case.legal_representative
    if case.agent_name:
        agent = {"name": case.agent_name}
        if case.agent_id_code:
            agent["id_code"] = case.agent_id_code
        if case.agent_phone:
            agent["phone"] = case.agent_phone
        out["agent"] = agent
    for path, field, zh, en, rule in _FIELDS:
        value = out
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            _check(value, field, zh, en, rule)
    return out


def _check(value: str, field: str, zh: str, en: str, rule) -> None:
    if rules.NOT_XML_CHAR.search(value):
        raise Invalid("not_transmittable", f"{zh}含有无法转报的字符", f"{en} holds a character the exchange cannot carry",
                      field=field)
    if isinstance(rule, int):
        if len(value) > rule:
            raise Invalid("too_long", f"{zh}超过{rule}个字符，无法转报", f"{en} is longer than {rule} characters and "
                                      "cannot be forwarded", field=field)
    elif not rule.fullmatch(value):
        raise Invalid("invalid", f"{zh}格式无效，无法转报", f"{en} is not valid and cannot be forwarded", field=field)


def from_wire(applicant: dict) -> dict:
    """The Case columns of what a received case.forward's applicant carries (None where absent)."""
    agent = applicant.get("agent") or {}
    return {"applicant_address": applicant.get("address"),
            "legal_representative": applicant.get("legal_representative"),
            "agent_name": agent.get("name"), "agent_id_code": agent.get("id_code"), "agent_phone": agent.get("phone")}
