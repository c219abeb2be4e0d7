"""Each field rule is written once (exchange.field_rules), and every layer that checks the field agrees with it:
the exchange XSD, the JSON form of the envelope, the API schemas, the page forms and the domain.

The first part reads envelope-v1.xsd with lxml: a pattern, length or amount facet changed on either side alone
fails here, so the desk cannot accept what the bus would refuse to forward. The second part feeds the same sample
values to the API schema and to the page form (and, where the value travels, to the JSON envelope's field): they
accept and reject the same ones."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from exchange import field_rules as rules

XSD = Path(__file__).resolve().parents[2] / "exchange" / "schema" / "envelope-v1.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="module")
def xsd() -> etree._Element:
    return etree.parse(str(XSD)).getroot()


def facets(xsd, type_name: str) -> dict[str, str]:
    """The restriction facets of a named simple type: {"pattern": …, "maxLength": …, …}."""
    (simple,) = xsd.findall(f"{XS}simpleType[@name='{type_name}']")
    return {etree.QName(f).localname: f.get("value") for f in simple.find(f"{XS}restriction")}


@pytest.mark.parametrize("type_name, pattern", [
    ("NodeId", rules.NODE_ID), ("DivisionCode", rules.DIVISION_CODE), ("Uuid", rules.UUID),
    ("Sha256Hex", rules.SHA256_HEX), ("Code", rules.CODE), ("CaseNo", rules.CASE_NO), ("IdCode", rules.ID_CODE),
    ("Phone", rules.PHONE),
])
def test_patterns_are_the_xsd_patterns(xsd, type_name, pattern):
    assert facets(xsd, type_name)["pattern"] == pattern


def test_media_type_is_the_xsd_attribute_pattern(xsd):
    media = [a for a in xsd.iter(f"{XS}attribute") if a.get("name") == "mediaType"]
    assert len(media) == 1
    assert media[0].find(f"{XS}simpleType/{XS}restriction/{XS}pattern").get("value") == rules.MEDIA_TYPE


@pytest.mark.parametrize("type_name, max_length", [("Name", rules.NAME_MAX), ("Text", rules.WIRE_TEXT_MAX),
                                                   ("PersonName", rules.PERSON_NAME_MAX),
                                                   ("Address", rules.ADDRESS_MAX)])
def test_lengths_are_the_xsd_lengths(xsd, type_name, max_length):
    assert facets(xsd, type_name) == {"minLength": "1", "maxLength": str(max_length)}


def test_amount_precision_is_the_xsd_precision(xsd):
    assert facets(xsd, "Amount") == {"minInclusive": str(rules.AMOUNT_MIN),
                                     "fractionDigits": str(rules.AMOUNT_FRACTION_DIGITS),
                                     "totalDigits": str(rules.AMOUNT_TOTAL_DIGITS)}


def test_the_json_envelope_reads_the_rules():
    from exchange import jsonschemas

    applicant = jsonschemas.ApplicantSchema._declared_fields
    assert applicant["phone"].validators[0].regex.pattern == rules.PHONE
    assert applicant["id_code"].validators[0].regex.pattern == rules.ID_CODE
    assert jsonschemas.NAME_LENGTH.max == rules.NAME_MAX and jsonschemas.TEXT_LENGTH.max == rules.WIRE_TEXT_MAX


# -- the same samples through every layer -------------------------------------------------------------------------

PHONES = {"0797-8888888": True, "+86 138 0000 0000": True, "12345": True, "1" * 20: True, "1234": False,
          "1" * 21: False, "-1234567": False, "tel 12345": False, "０７９７８８８８８": False}
TRACKING_NOS = {"SF1234567890": True, "AB-12": True, "A" * 40: True, "ABC": False, "A" * 41: False,
                "SF 123456": False, "顺丰123456": False}
AMOUNTS = {"5000.00": True, "0": True, "0.5": True, "9" * 13 + ".99": True, "-1": False, "1.234": False,
           "1" + "0" * 13: False, "abc": False, "": False}


def _api_errors(schema, data: dict) -> dict:
    return schema().validate(data)


def _form(app, form_class, data: dict):
    with app.test_request_context(method="POST"):
        form = form_class(formdata=MultiDict(data), meta={"csrf": False})
        form.validate()
        return dict(form.errors)


def _wire_accepts(schema_cls, data: dict, key: str) -> bool:
    try:
        schema_cls().load(data)
    except ValidationError as exc:
        return key not in exc.messages
    return True


def test_phone_same_answer_in_api_page_and_wire(app):
    from app.api.schemas import ApplicantIn
    from app.web.window import IntakeForm
    from exchange.jsonschemas import ApplicantSchema

    for phone, ok in PHONES.items():
        api = "phone" not in _api_errors(ApplicantIn, {"kind": "enterprise", "name": "甲", "id_code": "x",
                                                       "phone": phone})
        page = "phone" not in _form(app, IntakeForm, {"applicant_kind": "enterprise", "applicant_name": "甲",
                                                       "id_code": "91350100M000100Y43", "phone": phone})
        wire = _wire_accepts(ApplicantSchema, {"kind": "enterprise", "name": "甲", "id_code": "91350100M000100Y43",
                                               "phone": phone}, "phone")
        assert (api, page, wire) == (ok, ok, ok), phone


def test_tracking_number_same_answer_in_api_and_page(app):
    from app.api.schemas import ActionRequest
    from app.web.window import HandOutForm

    for tracking, ok in TRACKING_NOS.items():
        api = "tracking_no" not in _api_errors(ActionRequest, {"action": "hand_out", "method": "mail",
                                                               "tracking_no": tracking})
        page = "tracking_no" not in _form(app, HandOutForm, {"method": "mail", "tracking_no": tracking})
        assert (api, page) == (ok, ok), tracking


def test_amount_same_answer_in_api_and_domain_and_what_they_accept_travels(app):
    from app.api.supervision_api import FeedbackIn
    from delegation.errors import Invalid
    from exchange.jsonschemas import _amount as wire_amount
    from supervision.push_actions import _amount as domain_amount

    for amount, ok in AMOUNTS.items():
        api = "amount" not in _api_errors(FeedbackIn, {"kind": "penalty", "date": "2026-03-02", "result": "罚",
                                                        "amount": amount})
        try:
            stored = domain_amount(amount)
            domain = stored is not None
        except Invalid:
            domain = False
        assert (api, domain) == (ok, ok), amount
        if ok:
            wire_amount(stored)  # raises when the wire could not carry what was stored
            assert rules.amount_digits_ok(Decimal(stored))


@pytest.mark.parametrize("value", ["甲公司\x00", "甲\x1b[31m公司", "甲\x7f"])
def test_control_characters_refused_by_api_page_and_guard(app, value):
    from app.api.schemas import ApplicantIn
    from app.web.window import IntakeForm
    from delegation import limits

    assert "name" in _api_errors(ApplicantIn, {"kind": "enterprise", "name": value, "id_code": "x"})
    assert "applicant_name" in _form(app, IntakeForm, {"applicant_kind": "enterprise", "applicant_name": value,
                                                        "id_code": "91350100M000100Y43"})
    assert limits.has_control_chars(value) and rules.has_control_chars(value)
    assert not rules.has_control_chars("甲\t公司\r\n")  # free text keeps tabs and line breaks


def test_id_code_and_name_bounds_same_in_api_and_page(app):
    from app.api.schemas import ApplicantIn
    from app.web.window import IntakeForm

    for name, ok in {"甲" * rules.NAME_MAX: True, "甲" * (rules.NAME_MAX + 1): False}.items():
        assert ("name" not in _api_errors(ApplicantIn, {"kind": "enterprise", "name": name, "id_code": "x"})) is ok
        assert ("applicant_name" not in _form(app, IntakeForm, {"applicant_kind": "enterprise",
                                                                 "applicant_name": name,
                                                                 "id_code": "91350100M000100Y43"})) is ok
    too_long = "9" * (rules.ID_CODE_INPUT_MAX + 1)
    assert "id_code" in _api_errors(ApplicantIn, {"kind": "enterprise", "name": "甲", "id_code": too_long})
    assert "id_code" in _form(app, IntakeForm, {"applicant_kind": "enterprise", "applicant_name": "甲",
                                                "id_code": too_long})


def test_query_code_rule_on_the_public_pages(app):
    from app.web.public_pages import LookupForm

    for code, ok in {"123456": True, "12345": False, "1234567": False, "12a456": False}.items():
        assert ("query_code" not in _form(app, LookupForm, {"case_no": "360730-2026-000001",
                                                            "query_code": code})) is ok, code


# -- the domain rules the pages used to repeat --------------------------------------------------------------------

def test_mailed_hand_out_needs_tracking_number_in_domain_and_page_alike(app):
    from app.web.window import HandOutForm
    from delegation import case_rules
    from delegation.errors import Invalid

    with pytest.raises(Invalid) as refused:
        case_rules.check_tracking("mail", None)
    assert refused.value.field == "tracking_no" and refused.value.zh == "邮寄出件请填写快递单号"
    case_rules.check_tracking("pickup", None)
    # the page names what the domain names, every missing field at once and in the domain's words
    assert _form(app, HandOutForm, {"method": "mail", "tracking_no": ""}) == {
        "address": ["邮寄出件请填写邮寄地址"], "tracking_no": ["邮寄出件请填写快递单号"]}
    assert _form(app, HandOutForm, {"method": "mail", "tracking_no": "SF1234567890", "address": "宁都县梅江镇1号"}) == {}
    assert _form(app, HandOutForm, {"method": "pickup"}) == {}


def test_delegated_review_needs_a_recommendation():
    from delegation import case_rules
    from delegation.errors import Invalid
    from delegation.workflow import Mode

    for missing in (None, "", "maybe"):
        with pytest.raises(Invalid) as refused:
            case_rules.check_recommendation(Mode.DELEGATED_REVIEW, missing)
        assert refused.value.field == "recommendation" and refused.value.zh == "请选择审核结论（同意/不同意）"
    case_rules.check_recommendation(Mode.DELEGATED_REVIEW, "deny")
    case_rules.check_recommendation(Mode.DIRECT, None)  # a direct review needs none


def test_commitment_met_when_the_last_committed_material_arrives_and_stays_met_at_that_moment():
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace as NS

    from delegation import case_rules

    first, later = datetime(2026, 3, 2, 1, tzinfo=timezone.utc), datetime(2026, 3, 5, 1, tzinfo=timezone.utc)
    materials = [NS(code="A", committed=True, present=False), NS(code="B", committed=True, present=False),
                 NS(code="C", committed=False, present=True)]
    case = NS(materials=materials, commitment_deadline=first + timedelta(days=10), commitment_met_at=None)
    case_rules.mark_present(case, ["A"], first)
    assert case.commitment_met_at is None and [m.code for m in case_rules.outstanding(case)] == ["B"]
    case_rules.mark_present(case, ["B"], first)
    assert case.commitment_met_at == first and case_rules.outstanding(case) == []
    case_rules.mark_present(case, ["B"], later)  # a material supplied again does not move the moment
    assert case.commitment_met_at == first


def test_rectification_implied_by_the_feedback_kind():
    from supervision.push_common import rectification_ordered

    assert rectification_ordered("rectification", None) and rectification_ordered("rectification", False)
    assert rectification_ordered("inspection", True) and not rectification_ordered("inspection", None)
    assert not rectification_ordered("penalty", False) and not rectification_ordered("no_issue", None)


def test_utc_conversion_once():
    from datetime import datetime, timedelta, timezone

    from persistence import as_utc

    naive = datetime(2026, 3, 2, 1, 30)
    assert as_utc(naive) == naive.replace(tzinfo=timezone.utc)
    beijing = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert as_utc(beijing).isoformat() == "2026-03-02T01:30:00+00:00"


def test_comment_and_certificate_bounds_same_in_api_and_pages(app):
    from app.api.schemas import ActionRequest
    from app.web.city import ApproveForm
    from app.web.window import CommentForm
    from delegation import limits

    for n, ok in {limits.COMMENT_MAX: True, limits.COMMENT_MAX + 1: False}.items():
        assert ("comment" not in _api_errors(ActionRequest, {"action": "accept", "comment": "甲" * n})) is ok
        assert ("comment" not in _form(app, CommentForm, {"comment": "甲" * n})) is ok
    for n, ok in {limits.CERTIFICATE_NO_MAX: True, limits.CERTIFICATE_NO_MAX + 1: False}.items():
        assert ("certificate_no" not in _api_errors(ActionRequest, {"action": "approve",
                                                                    "certificate_no": "A" * n})) is ok
        assert ("certificate_no" not in _form(app, ApproveForm, {"certificate_no": "A" * n})) is ok
    assert limits.CERTIFICATE_NO_MAX <= rules.NAME_MAX  # a certificate number travels as tq:Name
