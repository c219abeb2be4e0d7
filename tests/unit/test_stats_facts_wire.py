"""stats.case_facts (issue 18) on the wire: bounded in both forms alike, and a figure's value a finite number."""
from __future__ import annotations

import copy

import pytest

from exchange import jsonform, xmlform
from exchange.errors import InvalidEnvelope
from tests.unit.test_xml_envelope import SAMPLES, make_envelope

FACT = SAMPLES["stats.case_facts"][2]["facts"][0]


def _with_facts(facts: list) -> object:
    env = make_envelope("stats.case_facts")
    env.body = {"facts": facts}
    return env


def _facts(n: int) -> list:
    return [{**copy.deepcopy(FACT), "case_no": f"360730-2026-{i:06d}"} for i in range(n)]


@pytest.mark.parametrize("encode", [xmlform.encode, jsonform.encode], ids=["xml", "json"])
def test_at_most_500_facts_a_message(encode):
    encode(_with_facts(_facts(500)))
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts(_facts(501)))
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts([]))


@pytest.mark.parametrize("encode", [xmlform.encode, jsonform.encode], ids=["xml", "json"])
@pytest.mark.parametrize("value", ["NaN", "INF", "1,5", "", "0x10", "1e"])
def test_a_figure_is_a_finite_number(encode, value):
    fact = copy.deepcopy(FACT)
    fact["figures"][0]["value"] = value
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts([fact]))


@pytest.mark.parametrize("encode", [xmlform.encode, jsonform.encode], ids=["xml", "json"])
def test_no_room_for_personal_data(encode):
    """A fact has no field for an applicant: an added key is refused, not dropped."""
    fact = copy.deepcopy(FACT) | {"applicant_name": "张三"}
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts([fact]))
    too_many = copy.deepcopy(FACT)
    too_many["figures"] = [{"name": f"f{i}", "value": "1"} for i in range(65)]
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts([too_many]))


@pytest.mark.parametrize("encode", [xmlform.encode, jsonform.encode], ids=["xml", "json"])
def test_a_version_fits_the_receivers_32_bit_column(encode):
    encode(_with_facts([copy.deepcopy(FACT) | {"version": "999999999"}]))
    for version in ("1000000000", "999999999999999999", "0"):
        with pytest.raises(InvalidEnvelope):
            encode(_with_facts([copy.deepcopy(FACT) | {"version": version}]))


HELD_BESIDE = {"follow_up_due": "2026-03-20T17:00:00+08:00", "commitment_check": "open",
               "check_due_at": "2026-03-31T17:00:00+08:00"}


@pytest.mark.parametrize("encode", [xmlform.encode, jsonform.encode], ids=["xml", "json"])
def test_a_fact_carries_its_follow_up_and_commitment_check(encode):
    """What the city's 差评整改 and 告知承诺审批 lines need of a county's case travels in both forms; a verification
    state outside open / verified / false is refused."""
    raw = encode(_with_facts([copy.deepcopy(FACT) | HELD_BESIDE]))
    assert b"2026-03-31T17:00:00+08:00" in raw and b"2026-03-20T17:00:00+08:00" in raw
    encode(_with_facts([copy.deepcopy(FACT) | {"commitment_check": "false"}]))
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts([copy.deepcopy(FACT) | {"commitment_check": "maybe"}]))
    with pytest.raises(InvalidEnvelope):
        encode(_with_facts([copy.deepcopy(FACT) | {"follow_up_due": "next week"}]))


def test_the_xml_form_gives_back_what_it_was_given():
    body = {"facts": [copy.deepcopy(FACT) | HELD_BESIDE]}
    assert xmlform.body_from_xml(xmlform.body_to_xml("stats.case_facts", body)) == ("stats.case_facts", body)
