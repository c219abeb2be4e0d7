"""Validation of the identifiers applicants carry.

- Unified social credit code (统一社会信用代码), GB 32100-2015.
- Resident identity card number (公民身份号码), GB 11643-1999.

Both validators return the normalised value or raise :class:`IdentifierError`
with a stable ``code`` for programs and messages in Chinese and English that
name the field, for people.
"""

from __future__ import annotations

import unicodedata
from datetime import date

CREDIT_CODE_LENGTH = 18
# GB 32100 alphabet: digits and capitals without I, O, Z, S, V (easily misread).
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

RESIDENT_ID_LENGTH = 18
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# ISO 7064 MOD 11-2: index is (weighted sum mod 11).
_RESIDENT_CHECK = "10X98765432"
# Earliest birth year accepted as plausible for a living applicant.
RESIDENT_ID_MIN_BIRTH_YEAR = 1900


class IdentifierError(ValueError):
    """An identifier failed validation.

    ``code`` is stable (e.g. ``"credit_code_checksum"``) for programs and
    tests; the messages are for display.
    """

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


def _normalise(s: str) -> str:
    if not isinstance(s, str):
        raise TypeError(f"identifier must be a str, got {type(s).__name__}")
    # NFKC folds full-width input (common with Chinese IMEs) to ASCII.
    return unicodedata.normalize("NFKC", s).strip().upper()


# -- unified social credit code -------------------------------------------


def credit_code_check_char(first17: str) -> str:
    """Check character for the first 17 characters of a credit code."""
    if len(first17) != CREDIT_CODE_LENGTH - 1 or any(c not in _CREDIT_VALUE for c in first17):
        raise ValueError(f"expected 17 characters from {CREDIT_CODE_CHARSET}, got {first17!r}")
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def validate_credit_code(s: str) -> str:
    """Validate a unified social credit code; return it upper-cased and trimmed."""
    code = _normalise(s)
    if not code:
        raise IdentifierError(
            "credit_code_empty",
            "统一社会信用代码不能为空",
            "Unified social credit code is required",
        )
    if len(code) != CREDIT_CODE_LENGTH:
        raise IdentifierError(
            "credit_code_length",
            f"统一社会信用代码应为18位，当前为{len(code)}位",
            f"Unified social credit code must be 18 characters, got {len(code)}",
        )
    for position, c in enumerate(code, start=1):
        if c not in _CREDIT_VALUE:
            raise IdentifierError(
                "credit_code_charset",
                f"统一社会信用代码第{position}位“{c}”不是有效字符（只允许数字和除I、O、Z、S、V以外的大写字母）",
                f"Unified social credit code: character {position} {c!r} is not allowed "
                "(digits and capital letters except I, O, Z, S, V)",
            )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise IdentifierError(
            "credit_code_checksum",
            "统一社会信用代码校验位不正确，请核对后重新输入",
            "Unified social credit code: check character does not match; please re-check the code",
        )
    return code


# -- resident identity number -----------------------------------------------


def resident_id_check_digit(first17: str) -> str:
    """Check character (0-9 or X) for the first 17 digits of a resident ID."""
    if len(first17) != RESIDENT_ID_LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS))
    return _RESIDENT_CHECK[total % 11]


def validate_resident_id(s: str, today: date | None = None) -> str:
    """Validate an 18-character resident ID; return it with an upper-case ``X``.

    ``today`` (default: the current date) bounds the birth date from above.
    """
    rid = _normalise(s)
    if not rid:
        raise IdentifierError("resident_id_empty", "身份证号码不能为空", "Resident ID number is required")
    if len(rid) != RESIDENT_ID_LENGTH:
        raise IdentifierError(
            "resident_id_length",
            f"身份证号码应为18位，当前为{len(rid)}位（15位旧号码请使用换发后的18位号码）",
            f"Resident ID number must be 18 characters, got {len(rid)} "
            "(old 15-digit numbers must be given in their 18-character form)",
        )
    body, check = rid[:17], rid[17]
    if not (body.isascii() and body.isdigit()) or not (check in "0123456789X"):
        raise IdentifierError(
            "resident_id_charset",
            "身份证号码前17位应为数字，最后一位应为数字或X",
            "Resident ID number: the first 17 characters must be digits, the last a digit or X",
        )
    today = today or date.today()
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        born = None
    if born is None or not (RESIDENT_ID_MIN_BIRTH_YEAR <= born.year and born <= today):
        raise IdentifierError(
            "resident_id_birthdate",
            f"身份证号码中的出生日期“{body[6:14]}”无效",
            f"Resident ID number: birth date {body[6:14]!r} is not a plausible date",
        )
    if check != resident_id_check_digit(body):
        raise IdentifierError(
            "resident_id_checksum",
            "身份证号码校验位不正确，请核对后重新输入",
            "Resident ID number: check digit does not match; please re-check the number",
        )
    return rid
