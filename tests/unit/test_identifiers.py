"""Identifier validation. Check characters below are computed by hand in the
comments, not with the helpers under test."""

from datetime import date

import pytest

from delegation.identifiers import (
    IdentifierError,
    credit_code_check_char,
    resident_id_check_digit,
    validate_credit_code,
    validate_resident_id,
)

VALID_CREDIT = "91350100M000100Y43"
VALID_RESIDENT = "11010519491231002X"


def error_code(fn, value: str, **kwargs) -> str:
    with pytest.raises(IdentifierError) as info:
        fn(value, **kwargs)
    assert info.value.message_zh and info.value.message_en
    return info.value.code


# -- unified social credit code --------------------------------------------------

def test_credit_code_check_char() -> None:
    # Values 9 1 3 5 0 1 0 0 M=21 0 0 0 1 0 0 Y=30 4, weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28:
    # 9 + 3 + 27 + 135 + 26 + 420 + 8 + 900 + 112 = 1640; 1640 mod 31 = 28; 31 - 28 = 3.
    assert credit_code_check_char("91350100M000100Y4") == "3"


def test_credit_code_valid() -> None:
    assert validate_credit_code(VALID_CREDIT) == VALID_CREDIT


def test_credit_code_normalised() -> None:
    assert validate_credit_code("  91350100m000100y43 ") == VALID_CREDIT
    # Full-width input from a Chinese IME.
    assert validate_credit_code("９１３５０１００Ｍ０００１００Ｙ４３") == VALID_CREDIT


@pytest.mark.parametrize("wrong", ["91350100M000100Y40", "91350100M000100Y4A", "91350100M000100Y34"])
def test_credit_code_wrong_check_char(wrong: str) -> None:
    assert error_code(validate_credit_code, wrong) == "credit_code_checksum"


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100M000100Y433", "913501"])
def test_credit_code_wrong_length(value: str) -> None:
    assert error_code(validate_credit_code, value) == "credit_code_length"


@pytest.mark.parametrize("value", ["91350100I000100Y43", "91350100O000100Y43", "91350100M000100S43", "91350100M000-00Y43"])
def test_credit_code_bad_charset(value: str) -> None:
    assert error_code(validate_credit_code, value) == "credit_code_charset"


def test_credit_code_charset_message_names_position() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_credit_code("91350100I000100Y43")
    assert "9" in info.value.message_en and "'I'" in info.value.message_en
    assert "统一社会信用代码" in info.value.message_zh


def test_credit_code_empty() -> None:
    assert error_code(validate_credit_code, "   ") == "credit_code_empty"


# -- resident ID ------------------------------------------------------------------

def test_resident_id_check_digit() -> None:
    # 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 x 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 = 167; 167 mod 11 = 2 -> X.
    assert resident_id_check_digit("11010519491231002") == "X"
    # 3 6 0 7 0 2 1 9 9 0 0 3 0 7 1 2 3 -> 267; 267 mod 11 = 3 -> 9.
    assert resident_id_check_digit("36070219900307123") == "9"


def test_resident_id_valid() -> None:
    assert validate_resident_id(VALID_RESIDENT) == VALID_RESIDENT
    assert validate_resident_id("360702199003071239") == "360702199003071239"


def test_resident_id_lowercase_x() -> None:
    assert validate_resident_id(" 11010519491231002x") == VALID_RESIDENT


@pytest.mark.parametrize("wrong", ["110105194912310020", "110105194912310021", "360702199003071238"])
def test_resident_id_wrong_check_digit(wrong: str) -> None:
    assert error_code(validate_resident_id, wrong) == "resident_id_checksum"


@pytest.mark.parametrize("value", ["110105491231002", "11010519491231002", "11010519491231002X0"])
def test_resident_id_wrong_length(value: str) -> None:
    assert error_code(validate_resident_id, value) == "resident_id_length"


@pytest.mark.parametrize("value", ["1101051949123100XX", "11010519491231A02X", "110105194912310021X"[:17] + "Y"])
def test_resident_id_bad_charset(value: str) -> None:
    assert error_code(validate_resident_id, value) == "resident_id_charset"


@pytest.mark.parametrize(
    "birth",
    [
        "19490230",  # 30 Feb
        "19491301",  # month 13
        "18991231",  # before 1900
        "20270101",  # after `today` below
    ],
)
def test_resident_id_implausible_birthdate(birth: str) -> None:
    # Valid check digit, so only the date can be at fault.
    body = "110105" + birth + "002"
    value = body + resident_id_check_digit(body)
    assert error_code(validate_resident_id, value, today=date(2026, 6, 1)) == "resident_id_birthdate"


def test_resident_id_birth_today_accepted() -> None:
    body = "36070220260601123"
    value = body + resident_id_check_digit(body)
    assert validate_resident_id(value, today=date(2026, 6, 1)) == value


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_resident_id("123")
