"""Marshmallow schemas for the JSON form of the exchange envelope (exchange-v1, "The JSON form").

XML and JSON are two encodings of one model, so these schemas mirror, key for key, the body dict shapes
documented in `exchange.xmlform` and the simple types of `exchange/schema/envelope-v1.xsd` (patterns, lengths,
enumerations, list cardinalities, unique material codes). Whatever the XSD accepts these accept, and the other
way round, so a message converts between the encodings without loss or a surprise rejection.

`EnvelopeSchema().load(json_dict)` returns an `Envelope`; a `ValidationError`'s messages name the failing field
with its JSON key (`describe()` flattens them to ``body.item.mode: Must be one of: ...``).

Loaded bodies have exactly the shape `xmlform` decodes to: optional keys absent when absent, 0..n lists always
present (``[]`` when absent, since XML cannot tell an empty list from a missing one), strings kept as strings.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from .envelope import MESSAGE_TYPES, Attachment, Envelope

# ---------------------------------------------------------------------------------------------- simple types
# Regexes are the XSD patterns verbatim; XSD patterns are implicitly anchored, hence fullmatch below.
NODE_ID = r"[0-9]{6}(-[A-Za-z0-9]{1,32})?"
DIVISION_CODE = r"[0-9]{6}(-[a-z0-9]{1,16})?"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
SHA256_HEX = r"[0-9a-f]{64}"
CODE = r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}"
CASE_NO = r"[A-Za-z0-9][A-Za-z0-9\-]{0,63}"
ID_CODE = r"[0-9A-Z]{17}[0-9A-Z]"
PHONE = r"\+?[0-9][0-9\- ]{4,19}"
MEDIA_TYPE = r"[a-zA-Z0-9][a-zA-Z0-9!#$&\-\^_.+]{0,126}/[a-zA-Z0-9][a-zA-Z0-9!#$&\-\^_.+]{0,126}"

DELEGATION_MODES = ("direct", "delegated_review", "forward_only")
APPLICANT_KINDS = ("enterprise", "individual")
VERDICTS = ("approve", "deny")
RECEIPT_STATUSES = ("accepted", "rejected")
FEEDBACK_KINDS = ("inspection", "rectification", "penalty", "no_issue")
DELEGATION_ACTIONS = ("grant", "revoke")
PARTY_ROLES = ("accept", "review", "decide", "supervise")

# Types that belong to a case (same rule as xmlform.CASE_TYPES): they need case_no and sequence.
CASE_TYPES = frozenset(t for t in MESSAGE_TYPES if t.startswith(("case.", "supervision.")))

# Characters XML 1.0 cannot carry (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF). JSON can
# escape them, but then the envelope could not be converted to the XML form, so they are refused here.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# xs:dateTime restricted to an explicit offset (tq:ZonedDateTime). Checked lexically first because
# datetime.fromisoformat also takes forms XSD does not (basic format "20260302T0915", space separator).
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")  # xs:date: the offset is optional
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")  # xs:decimal lexical space
_MAX_OFFSET = timedelta(hours=14)  # xs:dateTime offsets run from -14:00 to +14:00


def _pattern(regex: str, what: str) -> Callable[[str], None]:
    compiled = re.compile(regex)

    def check(value: str) -> None:
        if not compiled.fullmatch(value):
            raise ValidationError(f"Not a valid {what}.")

    return check


def _zoned_datetime(value: str) -> None:
    try:
        parsed = datetime.fromisoformat(value) if _DATETIME.fullmatch(value) else None
    except ValueError:
        parsed = None
    if parsed is None or abs(parsed.utcoffset()) > _MAX_OFFSET:  # type: ignore[operator]
        raise ValidationError("Not a valid ISO 8601 date-time with offset (YYYY-MM-DDThh:mm:ss+hh:mm).")


def _xsd_date(value: str) -> None:
    match = _DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError
        date.fromisoformat(match.group(1))
    except ValueError:
        raise ValidationError("Not a valid date (YYYY-MM-DD).") from None


def _amount(value: str) -> None:
    """tq:Amount: xs:decimal >= 0, at most 2 fraction digits and 15 digits in all (as XSD counts them)."""
    if not _DECIMAL.fullmatch(value):
        raise ValidationError("Not a valid decimal amount (e.g. 5000.00).")
    try:
        number = Decimal(value).normalize()  # the value space: trailing fraction zeros do not count
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ValidationError("Not a valid decimal amount.") from None
    digits, exponent = number.as_tuple().digits, int(number.as_tuple().exponent)
    total = len(digits) + exponent if exponent > 0 else len(digits)
    if number < 0 or -exponent > 2 or total > 15:
        raise ValidationError("Must be a non-negative amount with at most 2 decimals and 15 digits.")


def _unique_codes(materials: list[dict[str, Any]]) -> None:
    # The XSD's xs:unique on Material/@code: one entry per material in a message.
    codes = [m.get("code") for m in materials]
    if len(codes) != len(set(codes)):
        raise ValidationError("Material codes must be unique.")


NAME_LENGTH = validate.Length(min=1, max=200)  # tq:Name
TEXT_LENGTH = validate.Length(min=1, max=4000)  # tq:Text

# ---------------------------------------------------------------------------------------------- fields


class Str(fields.String):
    """A JSON string, nothing else (marshmallow's String would also decode bytes) that XML 1.0 can carry."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if _NOT_XML_CHAR.search(value):
            raise ValidationError("Contains a character XML 1.0 cannot carry.")
        return value


class StrictBool(fields.Boolean):
    """JSON true/false only: marshmallow's Boolean would also take "yes", 1, "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInt(fields.Integer):
    """A JSON integer: no bool (an int subclass in Python), float or numeric string."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


def _str(what: str | None = None, regex: str | None = None, *, required: bool = True, **kw: Any) -> Str:
    validators = list(kw.pop("validate", []))
    if regex is not None:
        validators.append(_pattern(regex, what or "value"))
    return Str(required=required, validate=validators, **kw)


def _code(required: bool = True) -> Str:
    return _str("code", CODE, required=required)


def _name(required: bool = True) -> Str:
    return _str(required=required, validate=[NAME_LENGTH])


def _text(required: bool = True) -> Str:
    return _str(required=required, validate=[TEXT_LENGTH])


def _datetime(required: bool = True) -> Str:
    # Kept as the ISO string (as xmlform decodes it), only checked.
    return _str(required=required, validate=[_zoned_datetime])


def _date(required: bool = True) -> Str:
    return _str(required=required, validate=[_xsd_date])


def _one_of(choices: tuple[str, ...], required: bool = True) -> Str:
    return _str(required=required, validate=[validate.OneOf(choices)])


def _list_of(item: fields.Field, *, at_least_one: bool = False, **kw: Any) -> fields.List:
    if at_least_one:  # 1..n in the XSD: the key must be there and the list non-empty
        return fields.List(item, required=True, validate=[validate.Length(min=1), *kw.pop("validate", [])], **kw)
    # 0..n: absent means empty, exactly as an absent XML element decodes.
    return fields.List(item, load_default=list, **kw)


# ---------------------------------------------------------------------------------------------- schemas


class StrictSchema(Schema):
    class Meta:
        # An unknown key is a typo or a field this version does not know: refuse it rather than drop data.
        unknown = RAISE


class ItemSchema(StrictSchema):
    code = _code()
    name = _name()
    mode = _one_of(DELEGATION_MODES)


class ApplicantSchema(StrictSchema):
    kind = _one_of(APPLICANT_KINDS)
    name = _name()
    id_code = _str("18-character ID code", ID_CODE)
    phone = _str("phone number", PHONE, required=False)


class MaterialSchema(StrictSchema):
    code = _code()
    name = _name()
    core = StrictBool(required=True)
    present = StrictBool(required=True)
    files = _list_of(_str("SHA-256 (64 lower-case hex)", SHA256_HEX))


def _materials() -> fields.List:
    return _list_of(fields.Nested(MaterialSchema), at_least_one=True, validate=[_unique_codes])


class CommitmentSchema(StrictSchema):
    deadline = _date()
    missing_materials = _list_of(_code(), at_least_one=True)


class AcceptanceSchema(StrictSchema):
    org = _code()
    by = _name()
    at = _datetime()
    commitment = fields.Nested(CommitmentSchema)


class ReviewSchema(StrictSchema):
    opinion = _text()
    recommendation = _one_of(VERDICTS)
    by = _name()
    at = _datetime()


class CaseForwardSchema(StrictSchema):
    item = fields.Nested(ItemSchema, required=True)
    applicant = fields.Nested(ApplicantSchema, required=True)
    acceptance = fields.Nested(AcceptanceSchema, required=True)
    review = fields.Nested(ReviewSchema)
    materials = _materials()
    due_at = _datetime(required=False)
    comment = _text(required=False)


class CaseSupplementSchema(StrictSchema):
    materials = _materials()
    comment = _text(required=False)


class CaseReturnSchema(StrictSchema):
    reasons = _list_of(_text(), at_least_one=True)
    by = _name()
    at = _datetime()


class CaseDecisionSchema(StrictSchema):
    decision = _one_of(VERDICTS)
    reasons = _list_of(_text())
    certificate_no = _name(required=False)
    valid_from = _date(required=False)
    valid_until = _date(required=False)
    decided_by = _name()
    decided_at = _datetime()


class ResponsiblePartySchema(StrictSchema):
    role = _one_of(PARTY_ROLES)
    org = _code()
    person = _name(required=False)


class SupervisionPushSchema(StrictSchema):
    item = fields.Nested(ItemSchema, required=True)
    applicant = fields.Nested(ApplicantSchema, required=True)
    accepting_org = _code()
    accepted_at = _datetime()
    decision = _one_of(VERDICTS)
    certificate_no = _name(required=False)
    valid_from = _date(required=False)
    valid_until = _date(required=False)
    deciding_org = _code()
    decided_at = _datetime()
    responsible_parties = _list_of(fields.Nested(ResponsiblePartySchema), at_least_one=True)


class SupervisionClaimSchema(StrictSchema):
    by = _name()
    at = _datetime()


class SupervisionFeedbackSchema(StrictSchema):
    kind = _one_of(FEEDBACK_KINDS)
    date = _date()
    result = _text()
    comment = _text(required=False)
    decision_no = _name(required=False)
    amount = _str(required=False, validate=[_amount])  # a decimal string, never a JSON number (no float)
    rectification_ordered = StrictBool()
    feedback_id = _str("UUID", UUID, required=False)
    supervision_done = StrictBool()


class DelegationChangeSchema(StrictSchema):
    item_code = _code()
    division = _str("division code", DIVISION_CODE)
    action = _one_of(DELEGATION_ACTIONS)
    mode = _one_of(DELEGATION_MODES, required=False)
    effective_at = _datetime()
    reason = _text()


class ReceiptSchema(StrictSchema):
    status = _one_of(RECEIPT_STATUSES)
    reason_code = _code(required=False)
    reason = _text(required=False)
    received_sha256 = _str("SHA-256 (64 lower-case hex)", SHA256_HEX)


BODY_SCHEMAS: dict[str, type[StrictSchema]] = {
    "case.forward": CaseForwardSchema,
    "case.supplement": CaseSupplementSchema,
    "case.return": CaseReturnSchema,
    "case.decision": CaseDecisionSchema,
    "supervision.push": SupervisionPushSchema,
    "supervision.claim": SupervisionClaimSchema,
    "supervision.feedback": SupervisionFeedbackSchema,
    "delegation.change": DelegationChangeSchema,
    "receipt": ReceiptSchema,
}
assert set(BODY_SCHEMAS) == set(MESSAGE_TYPES), "one body schema per message type"


class PartySchema(StrictSchema):
    node = _str("node id", NODE_ID)
    org = _code()


class AttachmentSchema(StrictSchema):
    name = _name()
    media_type = _str("media type", MEDIA_TYPE)
    size = StrictInt(required=True, validate=[validate.Range(min=0)])
    sha256 = _str("SHA-256 (64 lower-case hex)", SHA256_HEX)


class EnvelopeSchema(StrictSchema):
    """The whole JSON envelope; `load` returns an `Envelope`."""

    version = _one_of(("1",))
    message_id = _str("UUID", UUID)
    type = _one_of(MESSAGE_TYPES)
    # "from" is a Python keyword: the attribute is renamed, the JSON key (and error paths) stay "from".
    sender = fields.Nested(PartySchema, required=True, data_key="from")
    recipient = fields.Nested(PartySchema, required=True, data_key="to")
    created_at = _datetime()
    case_no = _str("case number", CASE_NO, required=False)
    sequence = StrictInt(validate=[validate.Range(min=1)])  # xs:positiveInteger
    in_reply_to = _str("UUID", UUID, required=False)
    # Checked against the schema of `type` in make_envelope: in JSON the body has no tag of its own, so
    # "Body matches Type" (an XML co-constraint) means "body has exactly the shape of its type".
    body = fields.Dict(required=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), required=True)

    @validates_schema(skip_on_field_errors=True)
    def _co_constraints(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The header rules xmlform checks beside the XSD."""
        type_ = data["type"]
        missing = {}
        if type_ in CASE_TYPES:
            for key in ("case_no", "sequence"):
                if key not in data:
                    missing[key] = [f"Required for {type_}."]
        if type_ == "receipt" and "in_reply_to" not in data:
            missing["in_reply_to"] = ["Required for receipt."]
        if missing:
            raise ValidationError(missing)

    @post_load
    def make_envelope(self, data: dict[str, Any], **kwargs: Any) -> Envelope:
        try:
            body = BODY_SCHEMAS[data["type"]]().load(data["body"])
        except ValidationError as exc:
            raise ValidationError(exc.messages, field_name="body") from None
        return Envelope(
            message_id=data["message_id"],
            type=data["type"],
            from_node=data["sender"]["node"],
            from_org=data["sender"]["org"],
            to_node=data["recipient"]["node"],
            to_org=data["recipient"]["org"],
            created_at=datetime.fromisoformat(data["created_at"]),
            body=body,
            case_no=data.get("case_no"),
            sequence=data.get("sequence"),
            in_reply_to=data.get("in_reply_to"),
            attachments=[Attachment(a["name"], a["media_type"], a["size"], a["sha256"]) for a in data["attachments"]],
        )


def describe(messages: Any, limit: int = 10) -> str:
    """Flatten marshmallow's nested messages to ``path: message`` lines, e.g. ``body.materials[0].code: ...``."""
    lines: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, int):
                    walk(value, f"{path}[{key}]")
                elif key == "_schema":
                    walk(value, path)
                else:
                    walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for value in node:
                walk(value, path)
        else:
            lines.append(f"{path or 'envelope'}: {node}")

    walk(messages, "")
    lines.sort()
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return "; ".join(lines[:limit]) + more
