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

from marshmallow import RAISE, Schema, missing, ValidationError, fields, post_load, validate, validates_schema

from . import field_rules as rules
from .envelope import MESSAGE_TYPES, Attachment, Envelope

# ---------------------------------------------------------------------------------------------- simple types
# The XSD patterns, written once in exchange.field_rules (tests/unit/test_field_rules.py holds them to the XSD);
# XSD patterns are implicitly anchored, hence fullmatch below.
NODE_ID = rules.NODE_ID
DIVISION_CODE = rules.DIVISION_CODE
UUID = rules.UUID
SHA256_HEX = rules.SHA256_HEX
CODE = rules.CODE
CASE_NO = rules.CASE_NO
ID_CODE = rules.ID_CODE
PHONE = rules.PHONE
MEDIA_TYPE = rules.MEDIA_TYPE

DELEGATION_MODES = ("direct", "delegated_review", "forward_only")
APPLICANT_KINDS = ("enterprise", "individual")
VERDICTS = ("approve", "deny")
PUSH_DECISIONS = VERDICTS + ("file",)  # a supervision.push may report an exempt item's filing (issue 17)
RECEIPT_STATUSES = ("accepted", "rejected")
FEEDBACK_KINDS = ("inspection", "rectification", "penalty", "no_issue")
DELEGATION_ACTIONS = ("grant", "revoke")
PARTY_ROLES = ("accept", "review", "decide", "supervise")
DOCUMENT_KINDS = ("grant", "denial")
ORIGINALS_RESULTS = ("complete", "incomplete")
CONSULTATION_KINDS = ("reply", "follow_up", "close")
INSPECTION_CONCLUSIONS = ("conforms", "rectify", "nonconforming")

# Types that belong to a case or a consultation thread (same rule as xmlform.CASE_TYPES): they need case_no and
# sequence.
CASE_TYPES = frozenset(t for t in MESSAGE_TYPES if t.startswith(("case.", "supervision.", "consultation.", "reference.")))

# Characters XML 1.0 cannot carry. JSON can escape them, but then the envelope could not be converted to the XML
# form, so they are refused here.
_NOT_XML_CHAR = rules.NOT_XML_CHAR
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

    check.regex = compiled  # type: ignore[attr-defined]  # read by the fast path below
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
        number = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ValidationError("Not a valid decimal amount.") from None
    if not rules.amount_digits_ok(number):
        raise ValidationError(f"Must be a non-negative amount with at most {rules.AMOUNT_FRACTION_DIGITS} decimals "
                              f"and {rules.AMOUNT_TOTAL_DIGITS} digits.")


def _unique_codes(materials: list[dict[str, Any]]) -> None:
    # The XSD's xs:unique on Material/@code: one entry per material in a message.
    codes = [m.get("code") for m in materials]
    if len(codes) != len(set(codes)):
        raise ValidationError("Material codes must be unique.")


NAME_LENGTH = validate.Length(min=1, max=rules.NAME_MAX)  # tq:Name
TEXT_LENGTH = validate.Length(min=1, max=rules.WIRE_TEXT_MAX)  # tq:Text

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


PERSON_NAME_LENGTH = validate.Length(min=1, max=rules.PERSON_NAME_MAX)  # tq:PersonName
ADDRESS_LENGTH = validate.Length(min=1, max=rules.ADDRESS_MAX)  # tq:Address


class AgentSchema(StrictSchema):
    """经办人: who filed the application for the applicant."""

    name = _str(validate=[PERSON_NAME_LENGTH])
    id_code = _str("18-character ID code", ID_CODE, required=False)
    phone = _str("phone number", PHONE, required=False)


class ForwardApplicantSchema(ApplicantSchema):
    """case.forward's applicant (tq:ForwardApplicant): what the window recorded at intake, each optional."""

    address = _str(required=False, validate=[ADDRESS_LENGTH])
    legal_representative = _str(required=False, validate=[PERSON_NAME_LENGTH])
    agent = fields.Nested(AgentSchema)


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


class CitywideSchema(StrictSchema):
    """全市通办: the competent county and its organisation that reviews and decides the case."""

    county = _str("division code", DIVISION_CODE)
    org = _code()


class SiteInspectionSchema(StrictSchema):
    """现场踏勘 (tq:SiteInspections/SiteInspection): each photo is an attachment of the message, named by digest."""

    ref = _str("UUID", UUID)
    org = _code()
    inspectors = _list_of(_str(validate=[PERSON_NAME_LENGTH]), at_least_one=True)
    at = _datetime()
    place = _str(validate=[ADDRESS_LENGTH])
    findings = _text()
    conclusion = _one_of(INSPECTION_CONCLUSIONS)
    recorded_by = _name()
    recorded_at = _datetime()
    photos = _list_of(_str("SHA-256 (64 lower-case hex)", SHA256_HEX))


class SiteInspectionsSchema(StrictSchema):
    records = _list_of(fields.Nested(SiteInspectionSchema), at_least_one=True)


class CaseForwardSchema(StrictSchema):
    item = fields.Nested(ItemSchema, required=True)
    applicant = fields.Nested(ForwardApplicantSchema, required=True)
    acceptance = fields.Nested(AcceptanceSchema, required=True)
    review = fields.Nested(ReviewSchema)
    materials = _materials()
    due_at = _datetime(required=False)
    comment = _text(required=False)
    citywide = fields.Nested(CitywideSchema)
    site_inspections = fields.Nested(SiteInspectionsSchema)  # 现场踏勘 (issue 17)


class CaseSupplementSchema(StrictSchema):
    materials = _materials()
    comment = _text(required=False)


class CaseReturnSchema(StrictSchema):
    reasons = _list_of(_text(), at_least_one=True)
    by = _name()
    at = _datetime()


class DocumentIssuerSchema(StrictSchema):
    code = _code()
    name = _name()


class DecisionDocumentSchema(StrictSchema):
    """The decision document (tq:DecisionDocument); year and seq are strings, as their XML attributes decode."""

    kind = _one_of(DOCUMENT_KINDS)
    year = _str("four-digit year", r"[0-9]{4}")
    seq = _str("positive number", r"[1-9][0-9]{0,8}")
    number = _name()
    verify_code = _code()
    issuer = fields.Nested(DocumentIssuerSchema, required=True)
    undertaker = _name(required=False)
    review_authority = _name()
    court = _name()


class CaseDecisionSchema(StrictSchema):
    decision = _one_of(VERDICTS)
    reasons = _list_of(_text())
    certificate_no = _name(required=False)
    valid_from = _date(required=False)
    valid_until = _date(required=False)
    decided_by = _name()
    decided_at = _datetime()
    document = fields.Nested(DecisionDocumentSchema)


class MailedMaterialSchema(StrictSchema):
    code = _code()
    name = _name()


class CaseOriginalsMailedSchema(StrictSchema):
    """材料邮寄 (issue 19): tq:CaseOriginalsMailed."""

    mailing_id = _str("UUID", UUID)
    courier = _name()
    tracking_no = _str("waybill number", rules.TRACKING_NO)
    materials = _list_of(fields.Nested(MailedMaterialSchema), at_least_one=True, validate=[_unique_codes])
    mailed_by = _name()
    mailed_at = _datetime()
    due_at = _datetime()


class CaseOriginalsReceivedSchema(StrictSchema):
    """tq:CaseOriginalsReceived."""

    mailing_id = _str("UUID", UUID)
    result = _one_of(ORIGINALS_RESULTS)
    missing = _list_of(_code())
    damaged = _list_of(_code())
    comment = _text(required=False)
    received_by = _name()
    received_at = _datetime()


class CaseTransferSchema(StrictSchema):
    """转办 (issue 15): tq:CaseTransfer."""

    from_org = _code()
    to_org = _code()
    reason = _text()
    by = _name()
    at = _datetime()


class CaseReminderSchema(StrictSchema):
    """催办 across nodes (issue 15): tq:CaseReminder."""

    by = _name()
    at = _datetime()
    comment = _text(required=False)


class CaseClosureSchema(StrictSchema):
    """全市通办 (issue 17): the accepting window's case ended; tq:CaseClosure."""

    outcome = _one_of(("withdrawn", "terminated"))
    reason = _text()
    by = _name()
    at = _datetime()


class CaseSuspensionSchema(StrictSchema):
    """全市通办 (issue 17): the competent county suspended or resumed the case; tq:CaseSuspension."""

    event = _one_of(("suspended", "resumed"))
    kind = _one_of(("site_inspection", "expert_review", "hearing", "intermediary"), required=False)
    expected_end = _date(required=False)
    by = _name()
    at = _datetime()


class ResponsiblePartySchema(StrictSchema):
    role = _one_of(PARTY_ROLES)
    org = _code()
    person = _name(required=False)


class PushCommitmentSchema(StrictSchema):
    """告知承诺 (issue 17): tq:PushCommitment, what the supervising regulator verifies."""

    text = _text()
    signer = _str(validate=[PERSON_NAME_LENGTH])
    signed_by = _name()
    signed_at = _datetime()
    verify_due_at = _datetime()


class SupervisionPushSchema(StrictSchema):
    item = fields.Nested(ItemSchema, required=True)
    applicant = fields.Nested(ApplicantSchema, required=True)
    accepting_org = _code()
    accepted_at = _datetime()
    decision = _one_of(PUSH_DECISIONS)
    certificate_no = _name(required=False)
    valid_from = _date(required=False)
    valid_until = _date(required=False)
    deciding_org = _code()
    decided_at = _datetime()
    responsible_parties = _list_of(fields.Nested(ResponsiblePartySchema), at_least_one=True)
    commitment = fields.Nested(PushCommitmentSchema)


class SupervisionCommitmentResultSchema(StrictSchema):
    """tq:SupervisionCommitmentResult (issue 17)."""

    result = _one_of(("verified", "false"))
    note = _text(required=False)
    by = _name()
    at = _datetime()


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


class ConsultationOpenSchema(StrictSchema):
    """会商 (issue 15): tq:ConsultationOpen."""

    subject = _name()
    item_code = _code()
    item_name = _name()
    case_no = _str("case number", CASE_NO, required=False)
    text = _text()
    opened_by = _name()
    opened_at = _datetime()
    reply_due_at = _datetime()


class ConsultationMessageSchema(StrictSchema):
    """tq:ConsultationMessage."""

    kind = _one_of(CONSULTATION_KINDS)
    text = _text()
    by = _name()
    at = _datetime()
    reply_due_at = _datetime(required=False)


# stats.case_facts (issue 18): tq:FactVersion, tq:CaseState, tq:FigureName, tq:FigureValue
FACT_VERSION = r"[1-9][0-9]{0,8}"  # within the receiver's 32-bit column
CASE_STATE = r"[a-z][a-z_]{0,29}"
FIGURE_NAME = r"[a-z][a-z0-9_]{0,62}"
FIGURE_VALUE = r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][+\-]?[0-9]{1,3})?"
MAX_FACTS = 500  # Fact maxOccurs
MAX_FIGURES = 64  # Figure maxOccurs


class FigureSchema(StrictSchema):
    name = _str("figure name", FIGURE_NAME)
    value = _str("number", FIGURE_VALUE)


class CaseFactSchema(StrictSchema):
    """tq:CaseFact: one case's statistics facts (no personal data)."""

    case_no = _str("case number", CASE_NO)
    version = _str("positive number", FACT_VERSION)
    applied_on = _date()
    county = _str("division code", DIVISION_CODE)
    item_code = _code()
    mode = _one_of(DELEGATION_MODES)
    state = _str("case state", CASE_STATE)
    due_flag = _one_of(("warning", "overdue"), required=False)
    commitment_deadline = _datetime(required=False)
    follow_up_due = _datetime(required=False)
    commitment_check = _one_of(("open", "verified", "false"), required=False)
    check_due_at = _datetime(required=False)
    figures = _list_of(fields.Nested(FigureSchema), at_least_one=True, validate=[validate.Length(max=MAX_FIGURES)])


class StatsCaseFactsSchema(StrictSchema):
    """tq:StatsCaseFacts (issue 18): a county node's facts of its cases for the city's statistics."""

    facts = _list_of(fields.Nested(CaseFactSchema), at_least_one=True, validate=[validate.Length(max=MAX_FACTS)])


# reference.publish (issue 18): tq:ReferenceKind, tq:RefNumber, tq:CreditKind
REFERENCE_KINDS = ("credit", "holidays", "catalogue")
CATALOGUE_CSV_MAX = 1_000_000  # tq:CatalogueCsv
YEAR = r"[0-9]{4}"  # tq:Year (a receiver's handler applies 1901..2199 only, and refuses another: schema_invalid)
HOLIDAY_NAME_MAX = 60  # tq:HolidayName
MAX_HOLIDAY_DAYS = 366  # Day maxOccurs
REF_NUMBER = r"[1-9][0-9]{0,17}"  # tq:RefNumber (a receiver's handler applies 1..2147483647: 32-bit columns)
CREDIT_KINDS = ("broken_commitment", "false_commitment", "penalty")
MAX_CREDIT_RECORDS = 100  # CreditRecord maxOccurs


class CreditLiftSchema(StrictSchema):
    at = _datetime()
    by = _name()
    reason = _text()


class CreditRecordSchema(StrictSchema):
    """tq:PublishedCreditRecord: one of the city's credit records as it stands now."""

    ref = _str("positive number", REF_NUMBER)
    kind = _one_of(CREDIT_KINDS)
    blacklisted = StrictBool(required=True)
    id_code = _str("18-character ID code", ID_CODE)
    name = _name()
    case_no = _str("case number", CASE_NO, required=False)
    detail = _text()
    recorded_by = _name()
    recorded_at = _datetime()
    expires_at = _datetime()
    lifted = fields.Nested(CreditLiftSchema)


class HolidayDaySchema(StrictSchema):
    date = _date()
    workday = StrictBool(required=True)
    name = _str(validate=[validate.Length(min=1, max=HOLIDAY_NAME_MAX)])


class HolidayTableSchema(StrictSchema):
    """tq:HolidayTable: one year of the city's holiday table."""

    year = _str("year", YEAR)
    complete = StrictBool(required=True)
    days = _list_of(fields.Nested(HolidayDaySchema), validate=[validate.Length(max=MAX_HOLIDAY_DAYS)])


class CatalogueSchema(StrictSchema):
    """tq:PublishedCatalogue: catalogue rows in the platform's CSV format (header line first)."""

    csv = _str(validate=[validate.Length(min=1, max=CATALOGUE_CSV_MAX)])


class ReferencePublishSchema(StrictSchema):
    """tq:ReferencePublish (issue 18): a version of one kind of the city's reference data."""

    kind = _one_of(REFERENCE_KINDS)
    version = _str("positive number", REF_NUMBER)
    published_at = _datetime()
    credit_records = _list_of(fields.Nested(CreditRecordSchema), validate=[validate.Length(max=MAX_CREDIT_RECORDS)])
    catalogue = fields.Nested(CatalogueSchema)
    holidays = fields.Nested(HolidayTableSchema)


BODY_SCHEMAS: dict[str, type[StrictSchema]] = {
    "case.forward": CaseForwardSchema,
    "case.supplement": CaseSupplementSchema,
    "case.return": CaseReturnSchema,
    "case.decision": CaseDecisionSchema,
    "case.originals_mailed": CaseOriginalsMailedSchema,
    "case.originals_received": CaseOriginalsReceivedSchema,
    "case.transfer": CaseTransferSchema,
    "case.reminder": CaseReminderSchema,
    "case.closure": CaseClosureSchema,
    "case.suspension": CaseSuspensionSchema,
    "supervision.push": SupervisionPushSchema,
    "supervision.claim": SupervisionClaimSchema,
    "supervision.feedback": SupervisionFeedbackSchema,
    "supervision.commitment_result": SupervisionCommitmentResultSchema,
    "delegation.change": DelegationChangeSchema,
    "consultation.open": ConsultationOpenSchema,
    "consultation.message": ConsultationMessageSchema,
    "stats.case_facts": StatsCaseFactsSchema,
    "reference.publish": ReferencePublishSchema,
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


# ---------------------------------------------------------------------------------------------- fast path
# Marshmallow builds a schema object per nested dict and per load, and runs every field through several layers
# of Python: ~0.5 ms for one case.forward. The schemas above stay the specification; from their declarations,
# `_compile` derives plain closures that only *accept*: a payload they accept is one marshmallow accepts with the
# same result (tests/unit/test_json_envelope.py checks the two against each other on every sample and every
# simple-type case), and anything they do not accept goes to marshmallow, which says why.


def _unsupported(what: str):
    """A schema declares something `_compile` cannot mirror. Every schema is compiled when this module is imported,
    so this stops the application at start-up rather than letting the fast path check less than the schema says
    (it is not a placeholder: no payload ever reaches it). The remedy is to teach `_compile` the declaration."""
    raise NotImplementedError(f"exchange.jsonschemas fast path cannot mirror {what}; extend _compile")


class _Reject(Exception):
    """The fast path does not accept this value; marshmallow decides (and words the error)."""


# Raised as the class, a new instance each time, never one shared instance: re-raising an instance appends to its
# __traceback__, and that chain would keep every frame it passed through alive (their locals, ORM objects
# included) for the life of the process.


def _raise_reject() -> None:
    raise _Reject


_Check = Callable[[Any], Any]  # value -> normalised value, or raises _Reject


def _str_check(field: fields.Field) -> _Check:
    regexes, min_len, max_len, choices, funcs = [], 0, None, None, []
    for v in field.validators:
        if getattr(v, "regex", None) is not None:
            regexes.append(v.regex.fullmatch)
        elif isinstance(v, validate.Length) and v.equal is None:
            min_len = max(min_len, v.min or 0)
            max_len = v.max if max_len is None or (v.max is not None and v.max < max_len) else max_len
        elif isinstance(v, validate.OneOf):
            choices = frozenset(v.choices) if choices is None else choices & frozenset(v.choices)
        elif v in (_zoned_datetime, _xsd_date, _amount):
            funcs.append(v)
        else:  # pragma: no cover - see _unsupported
            _unsupported(f"validator {v!r}")
    not_xml = _NOT_XML_CHAR.search
    # Specialised closures for the common shapes: every call saved counts at ~80 strings per envelope.
    if choices is not None and not regexes and not funcs and min_len <= min(map(len, choices)) and (
            max_len is None or max_len >= max(map(len, choices))) and not any(map(not_xml, choices)):

        def check_choice(value: Any) -> Any:  # a member of the choices is a str with none of their flaws
            if type(value) is not str or value not in choices:
                raise _Reject
            return value

        return check_choice
    if len(regexes) == 1 and choices is None and not funcs and min_len == 0 and max_len is None:
        match = regexes[0]

        if _printable_ascii_only(match.__self__.pattern):  # a match is made of XML characters only

            def check_pattern(value: Any) -> Any:
                if type(value) is not str or match(value) is None:
                    raise _Reject
                return value
        else:  # pragma: no cover - every pattern of the XSD is printable ASCII

            def check_pattern(value: Any) -> Any:
                if type(value) is not str or match(value) is None or not_xml(value) is not None:
                    raise _Reject
                return value

        return check_pattern
    if funcs == [_zoned_datetime] and not regexes and choices is None and min_len == 0 and max_len is None:
        # The three date-times of a case.forward: _zoned_datetime inlined. _DATETIME admits ASCII digits and
        # punctuation only, so a match needs no check for characters XML cannot carry.
        dt_match, from_iso, max_offset = _DATETIME.fullmatch, datetime.fromisoformat, _MAX_OFFSET

        def check_datetime(value: Any) -> Any:
            if type(value) is not str or dt_match(value) is None:
                raise _Reject
            try:
                offset = from_iso(value).utcoffset()
            except ValueError:
                raise _Reject from None
            if offset is None or abs(offset) > max_offset:  # pragma: no cover - the pattern requires an offset
                raise _Reject
            return value

        return check_datetime
    if not regexes and choices is None and not funcs and max_len is not None:

        def check_length(value: Any) -> Any:
            if type(value) is not str or not min_len <= len(value) <= max_len or not_xml(value) is not None:
                raise _Reject
            return value

        return check_length

    def check(value: Any) -> Any:
        if type(value) is not str or not_xml(value) is not None:
            raise _Reject
        n = len(value)
        if n < min_len or (max_len is not None and n > max_len):
            raise _Reject
        if choices is not None and value not in choices:
            raise _Reject
        for match in regexes:
            if match(value) is None:
                raise _Reject
        for func in funcs:
            try:
                func(value)
            except ValidationError:
                raise _Reject from None
        return value

    return check


def _field_check(field: fields.Field) -> _Check:
    if isinstance(field, StrictBool):
        if field.validators:  # pragma: no cover
            _unsupported("validators on a bool")

        def check_bool(value: Any) -> Any:
            if type(value) is not bool:
                raise _Reject
            return value

        return check_bool
    if isinstance(field, StrictInt):
        low = None
        for v in field.validators:
            if isinstance(v, validate.Range) and v.max is None and v.min is not None and v.min_inclusive:
                low = v.min
            else:  # pragma: no cover
                _unsupported(f"validator {v!r}")

        def check_int(value: Any) -> Any:
            if type(value) is not int or (low is not None and value < low):
                raise _Reject
            return value

        return check_int
    if isinstance(field, Str):
        return _str_check(field)
    if isinstance(field, fields.Nested):
        return _compile(field.nested)
    if isinstance(field, fields.List):
        item = _field_check(field.inner)
        at_least, at_most, unique = 0, None, False
        for v in field.validators:
            if isinstance(v, validate.Length) and v.equal is None:
                at_least = max(at_least, v.min or 0)
                at_most = v.max if at_most is None or (v.max is not None and v.max < at_most) else at_most
            elif v is _unique_codes:
                unique = True
            else:  # pragma: no cover
                _unsupported(f"validator {v!r}")

        def check_list(value: Any) -> Any:
            if type(value) is not list or len(value) < at_least or (at_most is not None and len(value) > at_most):
                raise _Reject
            out = [item(x) for x in value]
            if unique:
                codes = [m["code"] for m in out]
                if len(codes) != len(set(codes)):
                    raise _Reject
            return out

        return check_list
    _unsupported(f"field {type(field).__name__}")  # pragma: no cover


_COMPILED: dict[type, _Check] = {}


def _compile(schema_cls: type[Schema]) -> _Check:
    """A check for one StrictSchema: a dict with exactly the declared keys, each checked; 0..n lists defaulted."""
    if schema_cls in _COMPILED:
        return _COMPILED[schema_cls]
    declared = schema_cls._declared_fields
    if schema_cls.opts.unknown != RAISE or any(schema_cls._hooks.values()):
        _unsupported(f"{schema_cls.__name__}: hooks or unknown != RAISE")  # pragma: no cover
    # Straight-line code per schema (one `if` per field, the simple string checks inlined): a loop over field
    # specs costs more than the checks themselves.
    env: dict[str, Any] = {"R": _Reject, "known": frozenset(declared), "M": missing, "nx": _NOT_XML_CHAR.search}
    lines = ["def check(value):",
             "    if type(value) is not dict or not known.issuperset(value):", "        raise R", "    out = {}"]
    for i, (name, field) in enumerate(declared.items()):
        if field.data_key not in (None, name):  # pragma: no cover - only EnvelopeSchema renames, by hand below
            _unsupported(f"data_key on {name}")
        default = field.load_default
        if default is not missing and not callable(default):  # pragma: no cover
            _unsupported(f"a non-callable load_default on {name}")
        key = repr(name)
        lines += [f"    v = value.get({key}, M)", "    if v is not M:"]
        inline = _inline_str(field) if isinstance(field, Str) else None
        if inline is not None:
            condition, names = inline
            for n, obj in names.items():
                env[f"{n}{i}"] = obj
            lines += [f"        if {condition.format(i=i)}:", "            raise R", f"        out[{key}] = v"]
        elif isinstance(field, StrictBool) and not field.validators:
            lines += ["        if type(v) is not bool:", "            raise R", f"        out[{key}] = v"]
        elif (isinstance(field, fields.List) and not field.validators and isinstance(field.inner, Str)
              and _inline_str(field.inner) is not None):
            # A 0..n list of simple strings (files, missing materials, reasons): the item check inlined too.
            condition, names = _inline_str(field.inner, "x")  # type: ignore[misc]
            for n, obj in names.items():
                env[f"{n}{i}"] = obj
            lines += ["        if type(v) is not list:", "            raise R", "        for x in v:",
                      f"            if {condition.format(i=i)}:",
                      "                raise R", f"        out[{key}] = v[:]"]
        else:
            env[f"c{i}"] = _field_check(field)
            lines += [f"        out[{key}] = c{i}(v)"]
        if field.required:
            lines += ["    else:", "        raise R"]
        elif default is not missing:
            env[f"d{i}"] = default
            lines += ["    else:", f"        out[{key}] = d{i}()"]
    lines.append("    return out")
    exec("\n".join(lines), env)  # noqa: S102 - source built above from the schema declarations only
    check = env["check"]
    _COMPILED[schema_cls] = check
    return check


def _inline_str(field: Str, v: str = "v") -> tuple[str, dict[str, Any]] | None:
    """(condition that rejects the value in variable `v`, the names it uses) for a string field with one pattern
    or one length bound."""
    vs = field.validators
    if len(vs) == 1 and getattr(vs[0], "regex", None) is not None:
        if _printable_ascii_only(vs[0].regex.pattern):  # a match is made of XML characters only
            return f"type({v}) is not str or m{{i}}({v}) is None", {"m": vs[0].regex.fullmatch}
        return (f"type({v}) is not str or m{{i}}({v}) is None or nx({v}) is not None",
                {"m": vs[0].regex.fullmatch})
    if len(vs) == 1 and isinstance(vs[0], validate.Length) and vs[0].equal is None and vs[0].max is not None:
        return (f"type({v}) is not str or not {vs[0].min or 0} <= len({v}) <= {vs[0].max} or nx({v}) is not None",
                {})
    return None


# A pattern whose every atom is a printable-ASCII literal or a bracket class of printable-ASCII characters and
# ranges (no negation, no ".", no "\d"/"\w"/"\s", which match beyond ASCII): what it matches needs no check for
# characters XML cannot carry.
_PRINTABLE_ASCII_CLASS = re.compile(r"\[(?!\^)(?:\\[-^\]\\+.]|[ -\[^-~])+\]")


def _printable_ascii_only(pattern: str) -> bool:
    """True when every string `pattern` fully matches is printable ASCII (conservative: False when unsure)."""
    if not pattern.isascii() or not pattern.isprintable():
        return False
    rest = _PRINTABLE_ASCII_CLASS.sub("", pattern)  # the bracket classes, each of printable ASCII only
    rest = re.sub(r"\{[0-9]+(,[0-9]*)?\}", "", rest)  # counted repetition
    rest = re.sub(r"\\[-+^]", "", rest)  # escaped literals
    # What is left: groups, alternation, quantifiers and literal letters, digits and safe punctuation.
    return re.fullmatch(r"[()|?*+A-Za-z0-9:_/-]*", rest) is not None


_FAST_BODIES: dict[str, _Check] = {t: _compile(s) for t, s in BODY_SCHEMAS.items()}
_FAST_PARTY = _compile(PartySchema)
_FAST_ATTACHMENTS = _field_check(fields.List(fields.Nested(AttachmentSchema)))
_ENVELOPE_KEYS = frozenset(f.data_key or n for n, f in EnvelopeSchema._declared_fields.items())
_f = EnvelopeSchema._declared_fields
_FAST_MESSAGE_ID, _FAST_CASE_NO, _FAST_SEQUENCE, _FAST_CREATED_AT, _FAST_VERSION, _FAST_TYPE = (
    _field_check(_f[n]) for n in ("message_id", "case_no", "sequence", "created_at", "version", "type")
)
del _f


def fast_body(d: Any) -> dict[str, Any] | None:
    """The normalised body of `EnvelopeSchema().load(d)` when the fast path accepts the whole payload `d` (every
    check of fast_load), else None; no Envelope is built."""
    return fast_load(d, _body_only=True)  # type: ignore[return-value]


def fast_load(d: Any, _body_only: bool = False) -> Envelope | None:
    """`EnvelopeSchema().load(d)` for a payload it accepts, computed without marshmallow; None when the fast path
    does not accept `d` (then marshmallow must decide, and name the error)."""
    try:
        if type(d) is not dict or not _ENVELOPE_KEYS.issuperset(d):
            return None
        type_ = _FAST_TYPE(d["type"])
        _FAST_VERSION(d["version"])
        sender, recipient = _FAST_PARTY(d["from"]), _FAST_PARTY(d["to"])
        case_no = d.get("case_no")
        sequence = d.get("sequence")
        in_reply_to = d.get("in_reply_to")
        if case_no is not None or "case_no" in d:
            _FAST_CASE_NO(case_no)
        if sequence is not None or "sequence" in d:
            _FAST_SEQUENCE(sequence)
        if in_reply_to is not None or "in_reply_to" in d:
            _FAST_MESSAGE_ID(in_reply_to)  # the same UUID field
        if type_ in CASE_TYPES and (case_no is None or sequence is None):
            return None
        if type_ == "receipt" and in_reply_to is None:
            return None
        body = _FAST_BODIES[type_](d["body"])
        attachments = _FAST_ATTACHMENTS(d["attachments"])
        message_id = _FAST_MESSAGE_ID(d["message_id"])
        created_at = _FAST_CREATED_AT(d["created_at"])
        if _body_only:
            return body  # type: ignore[return-value]
        return Envelope(
            message_id=message_id,
            type=type_,
            from_node=sender["node"],
            from_org=sender["org"],
            to_node=recipient["node"],
            to_org=recipient["org"],
            created_at=datetime.fromisoformat(created_at),
            body=body,
            case_no=case_no,
            sequence=sequence,
            in_reply_to=in_reply_to,
            attachments=[Attachment(a["name"], a["media_type"], a["size"], a["sha256"]) for a in attachments],
        )
    except (_Reject, KeyError):
        return None
