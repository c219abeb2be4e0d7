"""The format of every field a person or a peer sends, written once: the API schemas (app/api/schemas.py), the page
forms (app/web/*.py), the request guard (delegation/limits.py), the domain's own checks and the exchange's JSON form
(exchange/jsonschemas.py) all read their patterns, lengths and amount precision from here.

It lives in exchange/ because the wire format defines the shapes (what a window accepts must be forwardable), and
the lowest shared layer is the only one every other layer may import. tests/unit/test_field_rules.py holds the
values below against the simple types of exchange/schema/envelope-v1.xsd: a change on one side alone fails it.

Patterns are written as XSD writes them (implicitly anchored): match them with `fullmatch`, or use `anchored()`
where a library wants ``^…$`` (WTForms' and marshmallow's Regexp use `match`)."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# -- characters -------------------------------------------------------------------------------------------------
# C0 control characters and DEL, except tab, line feed and carriage return (free text may hold them): PostgreSQL
# refuses NUL in text, XML 1.0 cannot carry the others, and none of them is typed by a person.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Characters XML 1.0 cannot carry (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF): what the
# exchange refuses in any string of a message.
NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# -- identifiers (tq: simple types of envelope-v1.xsd) --------------------------------------------------------------
NODE_ID = r"[0-9]{6}(-[A-Za-z0-9]{1,32})?"  # tq:NodeId
DIVISION_CODE = r"[0-9]{6}(-[a-z0-9]{1,16})?"  # tq:DivisionCode
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # tq:Uuid
SHA256_HEX = r"[0-9a-f]{64}"  # tq:Sha256Hex
CODE = r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}"  # tq:Code: items, materials, organisations, reason codes
CASE_NO = r"[A-Za-z0-9][A-Za-z0-9\-]{0,63}"  # tq:CaseNo
# tq:IdCode: unified social credit code (GB 32100) or resident ID number (GB 11643), 18 characters once
# normalised; the check character is verified at intake (delegation.identifiers), not by the pattern.
ID_CODE = r"[0-9A-Z]{17}[0-9A-Z]"
PHONE = r"\+?[0-9][0-9\- ]{4,19}"  # tq:Phone
MEDIA_TYPE = r"[a-zA-Z0-9][a-zA-Z0-9!#$&\-\^_.+]{0,126}/[a-zA-Z0-9][a-zA-Z0-9!#$&\-\^_.+]{0,126}"

# -- lengths ----------------------------------------------------------------------------------------------------
NAME_MAX = 200  # tq:Name (an applicant's name, a person, a certificate or decision number on the wire)
WIRE_TEXT_MAX = 4000  # tq:Text (an opinion, a reason, a result); limits.TEXT_MAX bounds any string of a request
ID_CODE_INPUT_MAX = 30  # what a clerk may type before normalisation (blanks, lower case) makes it ID_CODE
PERSON_NAME_MAX = 100  # tq:PersonName: a legal representative's or an agent's (经办人) name
ADDRESS_MAX = 200  # tq:Address: the applicant's address
CODE_INPUT_MAX = 40  # an item or material code in a request (the catalogue's columns)

# -- fields that never travel (the domain's and the pages' own) ----------------------------------------------------
TRACKING_NO = r"[A-Za-z0-9\-]{4,40}"  # an express waybill number (delegation.models.Case.tracking_no: 40)
QUERY_CODE = r"\d{6}"  # the applicant's query code, as printed on the acceptance notice

# -- amounts (tq:Amount: xs:decimal, minInclusive 0, fractionDigits 2, totalDigits 15) -----------------------------
AMOUNT_MIN = 0
AMOUNT_FRACTION_DIGITS = 2
AMOUNT_TOTAL_DIGITS = 15
AMOUNT_INTEGER_DIGITS = AMOUNT_TOTAL_DIGITS - AMOUNT_FRACTION_DIGITS
# The plain form a person types: yuan, at most two decimals (no sign, no exponent).
AMOUNT = rf"[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(\.[0-9]{{1,{AMOUNT_FRACTION_DIGITS}}})?"
_CENT = Decimal(1).scaleb(-AMOUNT_FRACTION_DIGITS)  # 0.01
_AMOUNT_LIMIT = Decimal(10) ** AMOUNT_INTEGER_DIGITS  # the first sum with too many integer digits


def anchored(pattern: str) -> str:
    """The pattern for a `re.match` user (WTForms, marshmallow): anchored at both ends as XSD anchors it."""
    return f"^(?:{pattern})$"


def has_control_chars(text: str) -> bool:
    return bool(CONTROL_CHARS.search(text))


def amount_value(raw) -> str | None:
    """A sum of money as stored and sent (``"5000.00"``), or None when `raw` is no amount the wire can carry
    (negative, more than two decimals, more than AMOUNT_INTEGER_DIGITS integer digits, not a number)."""
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value < AMOUNT_MIN or value != value.quantize(_CENT) or value >= _AMOUNT_LIMIT:
        return None
    return str(value.quantize(_CENT))


def amount_digits_ok(value: Decimal) -> bool:
    """The facets of tq:Amount on a decimal's value space (trailing fraction zeros do not count, as XSD counts)."""
    number = value.normalize()
    sign, digits, exponent = number.as_tuple()
    exponent = int(exponent)
    total = len(digits) + exponent if exponent > 0 else len(digits)
    return number >= AMOUNT_MIN and -exponent <= AMOUNT_FRACTION_DIGITS and total <= AMOUNT_TOTAL_DIGITS
