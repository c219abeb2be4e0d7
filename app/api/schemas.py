"""Request and response schemas of the API (marshmallow); they also make the OpenAPI document."""
from __future__ import annotations

from collections.abc import Mapping

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate
from marshmallow.utils import ensure_text_type

from delegation import decisions, limits
from delegation.workflow import Action, Mode, State
from exchange import field_rules as rules
from persistence import as_utc

CONTROL_CHARS = rules.CONTROL_CHARS
CONTROL_MESSAGE = "contains control characters"  # app.errors gives its Chinese


def no_control_chars(value: str) -> None:
    if CONTROL_CHARS.search(value):
        raise ValidationError(CONTROL_MESSAGE)


class Text(fields.String):
    """A string stripped of surrounding blanks, free of control characters (they cannot travel in XML)."""

    def __init__(self, *args, min_length: int = 0, max_length: int | None = None, **kwargs):
        validators = [no_control_chars]
        if min_length or max_length:
            validators.append(validate.Length(min=min_length or None, max=max_length))
        super().__init__(*args, validate=validators, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class MaterialRef(fields.Field):
    """A material the applicant brought: its code, or {code, present}."""

    default_error_messages = {"invalid": "应为材料编码或 {{code, present}} / a material code or {{code, present}}"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip():
            return {"code": value.strip(), "present": True}
        if (isinstance(value, dict) and set(value) <= {"code", "present"} and isinstance(value.get("code"), str)
                and value["code"].strip() and isinstance(value.get("present", True), bool)):
            return {"code": value["code"].strip(), "present": value.get("present", True)}
        raise self.make_error("invalid")


class Instant(fields.DateTime):
    """A moment, always written in UTC (``…+00:00``): the same instant reads the same whether the object was just
    written by this request (it may hold the Beijing time it was given) or read back from the database."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(None if value is None else as_utc(value), attr, obj, **kwargs)


def _hostile(value, path: str, errors: dict) -> None:
    """Record under its field what no field may hold: control characters, a string or list beyond any bound."""
    if isinstance(value, str):
        if CONTROL_CHARS.search(value):
            errors[path] = [CONTROL_MESSAGE]
        elif len(value) > limits.TEXT_MAX:
            errors[path] = [f"Longer than maximum length {limits.TEXT_MAX}."]
    elif isinstance(value, Mapping):
        for key in value:
            _hostile(value[key], f"{path}.{key}" if path else str(key), errors)
    elif isinstance(value, list):
        if len(value) > limits.LIST_MAX:
            errors[path] = [f"Longer than maximum length {limits.LIST_MAX}."]
            return
        for i, element in enumerate(value):
            _hostile(element, f"{path}.{i}", errors)


def _within_int_column(value) -> None:
    if value is not None and not -limits.INT_MAX <= value <= limits.INT_MAX:
        raise ValidationError(f"Must be greater than or equal to {-limits.INT_MAX} and less than or equal to "
                              f"{limits.INT_MAX}.")


class StrictSchema(Schema):
    """Every request schema: unknown fields refused, and one rule for all fields whatever their own validators say
    — no control character in any string (PostgreSQL refuses NUL), no string or list beyond limits.TEXT_MAX /
    LIST_MAX, no integer beyond the id columns (a keyset cursor of 20 digits overflowed the query)."""

    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name, field_obj):
        if isinstance(field_obj, fields.Integer):
            field_obj.validators.append(_within_int_column)

    @pre_load
    def _refuse_hostile(self, data, **kwargs):
        if not isinstance(data, Mapping):
            return data  # marshmallow answers "Invalid input type."
        errors: dict = {}
        for key in data:
            _hostile(data[key], str(key), errors)
        if errors:
            raise ValidationError(_nest(errors))
        return data


def _nest(flat: dict) -> dict:
    """{"a.0.b": [...]} -> {"a": {"0": {"b": [...]}}}, the shape marshmallow gives its own errors."""
    out: dict = {}
    for path, messages in flat.items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = messages
    return out


class TokenRequest(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200), load_only=True)


class TokenResponse(Schema):
    token = fields.String()
    username = fields.String()
    role = fields.String()
    org = fields.String()


class ItemQuery(StrictSchema):
    mode = fields.String(validate=validate.OneOf([m.value for m in Mode]))


class MaterialOut(Schema):
    code = fields.String()
    name = fields.String()
    core = fields.Boolean()
    required = fields.Boolean()


class ItemOut(Schema):
    code = fields.String()
    name = fields.String()
    mode = fields.String()
    department_code = fields.String()
    kind = fields.String()
    limit_unit = fields.String()
    promised_limit = fields.Integer()
    statutory_limit = fields.Integer()
    county_step_limit = fields.Integer(allow_none=True)
    city_step_limit = fields.Integer(allow_none=True)
    allows_commitment = fields.Boolean()
    materials = fields.List(fields.Nested(MaterialOut))


class ApplicantIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["enterprise", "individual"]))
    name = Text(required=True, min_length=1, max_length=rules.NAME_MAX)
    id_code = Text(required=True, min_length=1, max_length=rules.ID_CODE_INPUT_MAX)
    # the exchange XSD's Phone, so that what is accepted here can always be forwarded
    phone = fields.String(validate=validate.Regexp(rules.anchored(rules.PHONE), error="电话号码格式无效"),
                          allow_none=True)


class MaterialFlag(StrictSchema):
    code = Text(required=True, min_length=1, max_length=rules.CODE_INPUT_MAX)
    present = fields.Boolean(load_default=False)


class CaseCreate(StrictSchema):
    item_code = fields.String(required=True, validate=validate.Length(min=1, max=rules.CODE_INPUT_MAX))
    applicant = fields.Nested(ApplicantIn, required=True)
    materials = fields.List(fields.Nested(MaterialFlag), load_default=list,
                            validate=validate.Length(max=limits.LIST_MAX))
    id_check_override = Text(min_length=4, max_length=limits.REDIRECT_MAX, allow_none=True,
                                      metadata={"description": "reason to accept a credit code failing its check"})


class CorrectionItem(StrictSchema):
    material_code = Text(max_length=rules.CODE_INPUT_MAX, allow_none=True)
    problem = Text(max_length=limits.PROBLEM_MAX, load_default="")


class ActionRequest(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf([a.value for a in Action if a != Action.TERMINATE]))
    comment = Text(max_length=limits.COMMENT_MAX, load_default="")
    reasons = fields.List(Text(max_length=limits.REASON_MAX), validate=validate.Length(max=limits.REASONS_MAX))
    # one item per material of the case, and a few naming none: the domain checks against the case
    # (limits.check_correction_items); the schema bounds what any case could hold
    items = fields.List(fields.Nested(CorrectionItem), validate=validate.Length(max=limits.LIST_MAX))
    materials = fields.List(MaterialRef(), validate=validate.Length(max=limits.LIST_MAX))
    opinion = Text(max_length=rules.WIRE_TEXT_MAX)
    recommendation = fields.String(validate=validate.OneOf(["approve", "deny"]))
    certificate_no = Text(max_length=limits.CERTIFICATE_NO_MAX)
    kind = Text(max_length=40)
    expected_end = fields.Date()
    method = Text(max_length=40)
    tracking_no = fields.String(validate=validate.Regexp(rules.anchored(rules.TRACKING_NO), error="快递单号格式无效"))
    # the proof of service (送达回证) of a hand-out: the domain checks them (delegation.documents.service)
    recipient_name = Text(max_length=100)
    recipient_id_code = Text(max_length=30)
    recipient_phone = Text(max_length=30)
    address = Text(max_length=200)
    reason = Text(max_length=limits.COMMENT_MAX)
    redirect = Text(max_length=limits.REDIRECT_MAX)
    commitment_days = fields.Integer(validate=validate.Range(min=1, max=60))
    # 告知承诺 (approve_on_commitment, issue 17): the applicant signed the item's commitment text, and who signed
    commitment_signed = fields.Boolean()
    signer_name = Text(max_length=100)


class CaseQuery(StrictSchema):
    state = fields.String(validate=validate.OneOf([s.value for s in State]))
    item = Text(max_length=rules.CODE_INPUT_MAX)
    county = Text(max_length=20)
    due = fields.String(validate=validate.OneOf(["ok", "warning", "overdue"]))
    after = fields.Integer(validate=validate.Range(min=1), metadata={"description": "keyset cursor (next_after)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class UploadForm(Schema):
    material_code = Text(required=True, min_length=1, max_length=rules.CODE_INPUT_MAX)


class UploadFile(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class CaseMaterialOut(Schema):
    code = fields.String()
    name = fields.String()
    core = fields.Boolean()
    required = fields.Boolean()
    present = fields.Boolean()
    committed = fields.Boolean()


class FileOut(Schema):
    id = fields.Integer()
    material_code = fields.String()
    original_name = fields.String()
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_at = Instant()


class EventOut(Schema):
    at = Instant()
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    actor = fields.String()
    actor_org = fields.String()
    comment = fields.String()
    data = fields.Dict(allow_none=True)


# -- the flows the pages run as one piece of work (delegation.intake, delegation.decisions) -----------------------

FILE_PART = "files."  # delegation.intake.file_field: an error about a material's file names its part


class IntakeFields(StrictSchema):
    """POST /cases/intake, multipart: the case's fields, named as the errors name them (applicant.name …);
    `materials` repeated, one code per material brought."""

    item_code = fields.String(required=True, validate=validate.Length(min=1, max=rules.CODE_INPUT_MAX))
    applicant_kind = fields.String(required=True, data_key="applicant.kind",
                                   validate=validate.OneOf(["enterprise", "individual"]))
    applicant_name = Text(required=True, data_key="applicant.name", min_length=1, max_length=rules.NAME_MAX)
    applicant_id_code = Text(required=True, data_key="applicant.id_code", min_length=1,
                             max_length=rules.ID_CODE_INPUT_MAX)
    # required at intake (issue 14): the window must be able to reach the applicant
    applicant_phone = fields.String(data_key="applicant.phone", required=True,
                                    validate=validate.Regexp(rules.anchored(rules.PHONE), error="电话号码格式无效"))
    applicant_address = Text(data_key="applicant.address", max_length=200)
    applicant_legal_representative = Text(data_key="applicant.legal_representative", max_length=100)
    agent_name = Text(data_key="agent.name", max_length=100, metadata={"description": "经办人 filing for the applicant"})
    agent_id_code = Text(data_key="agent.id_code", max_length=30,
                         metadata={"description": "the agent's resident ID number (checked, GB 11643)"})
    agent_phone = fields.String(data_key="agent.phone",
                                validate=validate.Regexp(rules.anchored(rules.PHONE), error="电话号码格式无效"))
    assisted_by = Text(max_length=60, metadata={
        "description": "帮办代办: username of this window's assistant (帮办人员) taking the case for the applicant"})
    accept = fields.Boolean(load_default=False,
                            metadata={"description": "登记并受理: accept in the same request (all materials present)"})
    materials = fields.List(Text(min_length=1, max_length=rules.CODE_INPUT_MAX), load_default=list,
                            validate=validate.Length(max=limits.LIST_MAX),
                            metadata={"description": "the code of each material brought (present)"})
    id_check_override = Text(min_length=4, max_length=limits.REDIRECT_MAX,
                             metadata={"description": "reason to accept a credit code failing its check"})


class IntakeFiles(Schema):
    """The files of POST /cases/intake: a part `files.<material code>` per material (PDF, PNG or JPEG, checked
    by content; one file a material). Any other part, a second file for a material or more parts than any
    item has materials is refused, naming the part."""

    class Meta:
        unknown = INCLUDE

    @pre_load
    def _parts(self, data, **kwargs):
        multi = getattr(data, "data", data)  # webargs' proxy over the request's files
        if len(multi) > limits.LIST_MAX:
            raise ValidationError({"files": [f"Longer than maximum length {limits.LIST_MAX}."]})
        errors = {}
        for key in multi:
            code = key[len(FILE_PART):] if key.startswith(FILE_PART) else ""
            if not code or len(code) > rules.CODE_INPUT_MAX or CONTROL_CHARS.search(code):
                errors[key] = ["Unknown field."]
            elif hasattr(multi, "getlist") and len(multi.getlist(key)) > 1:
                errors[key] = ["一种材料只能上传一个文件 / one file per material"]
        if errors:
            raise ValidationError(errors)
        return {key: multi[key] for key in multi}


def intake_files(parts: dict) -> list[tuple[str, object]]:
    """(material code, file) of each part IntakeFiles admitted, in the order sent."""
    return [(key[len(FILE_PART):], upload) for key, upload in parts.items()]


class DecideRequest(StrictSchema):
    """The decision of a `direct` item by the county, resting on the opinion given (recorded first when new); a
    denial's reasons are the domain's rule (it names `reasons`)."""

    decision = fields.String(required=True, validate=validate.OneOf([Action.APPROVE.value, Action.DENY.value]))
    opinion = Text(required=True, min_length=1, max_length=rules.WIRE_TEXT_MAX)
    certificate_no = Text(max_length=limits.CERTIFICATE_NO_MAX, allow_none=True)
    reasons = fields.List(Text(min_length=1, max_length=limits.REASON_MAX), load_default=list,
                          validate=validate.Length(max=limits.REASONS_MAX))


class BatchApproveRequest(StrictSchema):
    case_nos = fields.List(Text(min_length=1, max_length=40), required=True,
                           validate=validate.Length(min=1, max=decisions.BATCH_MAX))
    opinion = Text(required=True, min_length=1, max_length=limits.COMMENT_MAX,
                   metadata={"description": "the opinion every approval of the batch carries"})


class BatchErrorOut(Schema):
    code = fields.String()
    field = fields.String(allow_none=True)
    detail = fields.String()


class BatchResultOut(Schema):
    case_no = fields.String()
    ok = fields.Boolean()
    blockers = fields.List(fields.String(), metadata={
        "description": "why the case needs individual review: state, forward_only, not_recommended, "
                       "materials_missing, credit_marked"})
    error = fields.Nested(BatchErrorOut, allow_none=True)


class BatchApproveOut(Schema):
    approved = fields.Integer()
    results = fields.List(fields.Nested(BatchResultOut))


class CaseSummary(Schema):
    case_no = fields.String()
    item_code = fields.String(attribute="item.code")
    item_name = fields.String(attribute="item.name")
    mode = fields.String()
    state = fields.String()
    county_code = fields.String()
    applicant_name = fields.String()
    accepted_at = Instant(allow_none=True)
    due_at = Instant(allow_none=True)
    due_flag = fields.String()


class CaseOut(CaseSummary):
    query_code = fields.String()
    applicant = fields.Method("_applicant")
    particulars = fields.Method("_particulars", metadata={
        "description": "what the window recorded at intake: {address, legal_representative, agent: {name, id_code, "
                       "phone} or null}; local to the node that registered the case"})
    assisted_by = fields.String(allow_none=True, metadata={
        "description": "帮办代办: the window's assistant who took the case for the applicant (name (username))"})
    deadline = fields.Raw()
    responsible = fields.Raw()
    allowed_actions = fields.List(fields.String())
    correction_items = fields.Raw(allow_none=True)
    refusal = fields.Method("_refusal")
    commitment = fields.Raw(allow_none=True)
    credit_warnings = fields.Raw(metadata={"description": "marks against the applicant: [{kind, case_no, detail, at}]"})
    supervision = fields.Raw()
    review = fields.Method("_review")
    return_reasons = fields.List(fields.String(), allow_none=True)
    suspension = fields.Method("_suspension")
    decision = fields.Method("_decision")
    handout = fields.Method("_handout")
    closed_reason = fields.String(allow_none=True)
    materials = fields.List(fields.Nested(CaseMaterialOut))
    files = fields.List(fields.Nested(FileOut))
    timeline = fields.List(fields.Nested(EventOut), attribute="events")

    def _applicant(self, c):
        return {"kind": c.applicant_kind, "name": c.applicant_name, "id_code": c.applicant_id_code,
                "phone": c.applicant_phone}

    def _particulars(self, c):
        agent = ({"name": c.agent_name, "id_code": c.agent_id_code, "phone": c.agent_phone}
                 if c.agent_name else None)
        return {"address": c.applicant_address, "legal_representative": c.legal_representative, "agent": agent}

    def _refusal(self, c):
        return {"reason": c.refusal_reason, "redirect": c.refusal_redirect} if c.refusal_reason else None

    def _review(self, c):
        return ({"opinion": c.review_opinion, "recommendation": c.review_recommendation, "by": c.reviewed_by,
                 "at": c.reviewed_at.isoformat()} if c.review_opinion else None)

    def _suspension(self, c):
        return ({"kind": c.suspension_kind, "expected_end": c.suspension_expected_end.isoformat()
                 if c.suspension_expected_end else None} if c.suspension_kind else None)

    def _decision(self, c):
        return ({"decision": c.decision, "reasons": c.decision_reasons, "certificate_no": c.certificate_no,
                 "by": c.decided_by, "org": c.decided_org, "at": c.decided_at.isoformat(),
                 "valid_from": c.valid_from.isoformat() if c.valid_from else None,
                 "valid_until": c.valid_until.isoformat() if c.valid_until else None,
                 "document": _document_out(c)} if c.decision else None)

    def _handout(self, c):
        return ({"method": c.handout_method, "tracking_no": c.tracking_no,
                 "at": c.concluded_at.isoformat(), "service": _service_out(c)} if c.handout_method else None)


def _document_out(c) -> dict | None:
    """The decision document (准予/不予行政许可决定书): its number in the issuer's series and its verification code."""
    from delegation.documents import decisions

    d = decisions.of_case(c)
    return None if d is None else {"kind": d.kind, "number": d.doc_no, "verify_code": d.verify_code,
                                   "issuer": d.issuer_code}


def _service_out(c) -> dict | None:
    """The proof of service (送达回证) of the hand-out."""
    from delegation.documents import service

    s = service.of_case(c)
    return None if s is None else {"recipient_name": s.recipient_name, "recipient_id_code": s.recipient_id_code,
                                   "recipient_phone": s.recipient_phone, "address": s.address,
                                   "served_at": s.served_at.isoformat(), "verify_code": s.verify_code}


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseSummary))
    next_after = fields.Integer(allow_none=True)


# -- the case answer without a schema walk --------------------------------------------------------------------
# POST /cases, POST /cases/<no>/actions and GET /cases/<no> answer with CaseOut. Dumping it through marshmallow
# walks ~60 fields and three nested lists per request (~7 % of the request's CPU); case_out() builds the same
# dict directly. It follows the fields' own rules: String gives str() or None, Integer int() or None, Boolean and
# Raw the value as it is, Instant the UTC ISO form, Dict a shallow copy, a List of Nested one dict per element.
# tests/integration/test_api.py checks case_out(case) == CaseOut().dump(case) over cases in many states: a field
# added to CaseOut and not here fails that test.

def _str(value):
    return None if value is None else (value if type(value) is str else ensure_text_type(value))


def _int(value):
    return None if value is None else int(value)


def _instant(value):
    return None if value is None else as_utc(value).isoformat()


def _material_out(m) -> dict:
    return {"code": _str(m.code), "name": _str(m.name), "core": m.core, "required": m.required,
            "present": m.present, "committed": m.committed}


def file_out(f) -> dict:
    return {"id": _int(f.id), "material_code": _str(f.material_code), "original_name": _str(f.original_name),
            "media_type": _str(f.media_type), "size": _int(f.size), "sha256": _str(f.sha256),
            "uploaded_at": _instant(f.uploaded_at)}


def _event_out(e) -> dict:
    data = e.data
    return {"at": _instant(e.at), "action": _str(e.action), "from_state": _str(e.from_state),
            "to_state": _str(e.to_state), "actor": _str(e.actor), "actor_org": _str(e.actor_org),
            "comment": _str(e.comment), "data": None if data is None else dict(data)}


_CASE_OUT_METHODS = CaseOut()  # for its Method fields (_applicant, _refusal, …): the same code, not a copy


def case_out(c) -> dict:
    """CaseOut().dump(c) for a case that went through app.api.cases._view (which sets deadline, responsible,
    allowed_actions, commitment, credit_warnings and supervision)."""
    item = c.item
    m = _CASE_OUT_METHODS
    return_reasons = c.return_reasons
    return {
        "case_no": _str(c.case_no), "item_code": _str(item.code), "item_name": _str(item.name),
        "mode": _str(c.mode), "state": _str(c.state), "county_code": _str(c.county_code),
        "applicant_name": _str(c.applicant_name), "accepted_at": _instant(c.accepted_at),
        "due_at": _instant(c.due_at), "due_flag": _str(c.due_flag),
        "query_code": _str(c.query_code), "applicant": m._applicant(c), "particulars": m._particulars(c),
        "assisted_by": _str(c.assisted_by), "deadline": c.deadline,
        "responsible": c.responsible, "allowed_actions": [_str(a) for a in c.allowed_actions],
        "correction_items": c.correction_items, "refusal": m._refusal(c), "commitment": c.commitment,
        "credit_warnings": c.credit_warnings, "supervision": c.supervision, "review": m._review(c),
        "return_reasons": None if return_reasons is None else [_str(r) for r in return_reasons],
        "suspension": m._suspension(c), "decision": m._decision(c), "handout": m._handout(c),
        "closed_reason": _str(c.closed_reason),
        "materials": [_material_out(x) for x in c.materials],
        "files": [file_out(f) for f in c.files],
        "timeline": [_event_out(e) for e in c.events],
    }
