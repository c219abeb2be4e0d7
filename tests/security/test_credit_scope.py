"""Finding 3 of issue 12: who may put an applicant on the credit record (and the blacklist), and who reads it.

A regulator records only against the cases its own organisation supervises (the push's regulator organisation);
an unknown case number, another organisation's case and an ID that is not the case's applicant get one answer;
records without a case are the city administrator's. A regulator lists only the records of its own cases; the
windows keep seeing every mark of an applicant at intake."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from supervision.models import CreditRecord
from tests.integration.support import COUNTY, ENTERPRISE, PERSON, Api, run_bus

RECORDS = "/api/v1/delegations/credit-records"
WINDOW, REVIEWER = f"window-{COUNTY}", f"review-{COUNTY}"
OWN_REGULATOR, OTHER_REGULATOR = f"reg-{COUNTY}", "reg-360702"  # 宁都县's regulator; 章贡区's


@pytest.fixture
def api(client):
    return Api(client)


def approved_direct(api: Api, applicant: dict = PERSON) -> str:
    """A `direct` case of 宁都县 approved by its bureau; the push has reached 宁都县's regulator."""
    case_no = api.create(api.item("direct"), applicant=applicant)["case_no"]
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, REVIEWER, "review", opinion="材料齐全，符合条件")
    api.act(case_no, REVIEWER, "approve")
    run_bus()
    return case_no


def false_commitment(case_no: str | None, applicant: dict = PERSON) -> dict:
    return {"id_code": applicant["id_code"], "name": applicant["name"], "case_no": case_no,
            "detail": "告知承诺书承诺具备消防安全条件，现场核查不符"}


def records() -> int:
    return db.session.execute(sa.select(sa.func.count(CreditRecord.id))).scalar()


def test_another_countys_regulator_cannot_blacklist_the_applicant(api):
    case_no = approved_direct(api)
    r = api.post(RECORDS, user=OTHER_REGULATOR, json=false_commitment(case_no))
    assert r.status_code == 404, r.get_json()
    assert records() == 0
    # the 宁都县 window registers the applicant again: no mark, no blacklist
    assert api.create(api.item("direct"), applicant=PERSON)["credit_warnings"] == []

    # the regulator the case was pushed to records it, and the window sees it at the next intake
    r = api.post(RECORDS, user=OWN_REGULATOR, json=false_commitment(case_no))
    assert r.status_code == 201, r.get_json()
    warnings = api.create(api.item("direct"), applicant=PERSON)["credit_warnings"]
    assert [(w["kind"], w["case_no"], w["blacklisted"]) for w in warnings] == [("false_commitment", case_no, True)]


def test_unknown_cases_other_cases_and_mismatched_ids_get_one_answer(api):
    case_no = approved_direct(api)
    unknown = f"{COUNTY}-2026-999999"
    mismatched = {**false_commitment(case_no), "id_code": ENTERPRISE["id_code"], "name": ENTERPRISE["name"]}
    tries = [(OWN_REGULATOR, false_commitment(unknown)),  # no such case (a valid ID: once accepted as free-standing)
             (OWN_REGULATOR, mismatched),  # its own case, but not this applicant
             (OTHER_REGULATOR, false_commitment(case_no)),  # the right pair, another organisation's case
             (OTHER_REGULATOR, mismatched),
             ("reg-city", false_commitment(case_no)),  # a direct case is the county's to supervise
             ("admin", false_commitment(unknown)),
             ("admin", mismatched)]
    answers = []
    for user, body in tries:
        r = api.post(RECORDS, user=user, json=body)
        answers.append((r.status_code, r.get_json()))
    assert answers[0][0] == 404 and answers[0][1]["field"] == "case_no", answers[0]
    assert all(a == answers[0] for a in answers), answers
    assert records() == 0


def test_records_without_a_case_are_the_city_administrators(api):
    r = api.post(RECORDS, user=OWN_REGULATOR, json=false_commitment(None))
    assert r.status_code == 422 and r.get_json()["field"] == "case_no", r.get_json()
    assert api.post(RECORDS, user="reg-city", json=false_commitment(None)).status_code == 422
    assert records() == 0
    r = api.post(RECORDS, user="admin", json=false_commitment(None))
    assert r.status_code == 201 and r.get_json()["case_no"] is None


def test_a_regulator_lists_only_the_records_of_its_own_cases(api):
    case_no = approved_direct(api)
    assert api.post(RECORDS, user=OWN_REGULATOR, json=false_commitment(case_no)).status_code == 201
    query = f"{RECORDS}?id_code={PERSON['id_code']}"

    other = api.get(query, user=OTHER_REGULATOR).get_json()
    assert other == {"id_code": PERSON["id_code"], "blacklisted": False, "records": []}
    assert api.get(query, user="reg-city").get_json()["records"] == []
    own = api.get(query, user=OWN_REGULATOR).get_json()
    assert own["blacklisted"] is True and [r["case_no"] for r in own["records"]] == [case_no]
    # the windows (who see every mark at intake) and the administrators read the whole record
    for user in (WINDOW, "window-360702", "admin"):
        seen = api.get(query, user=user).get_json()
        assert seen["blacklisted"] is True and len(seen["records"]) == 1, user
