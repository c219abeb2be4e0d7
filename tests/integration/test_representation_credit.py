"""帮办代办 and the credit rules of issue 17 (part B), through the API and through the pages.

- an agent (经办人) applies only with the applicant's authorisation letter; without it the intake is refused naming
  the letter's field and nothing is written (an item listing no letter: test_representation_catalog.py);
- a window assistant (帮办人员, named so by the city administrator) takes a case at intake: recorded on the case,
  shown on the case page; the public lookup shows the agent and the assistant masked;
- credit records expire per kind or are lifted by the administrator with a reason (who, when, why kept); an expired
  or lifted blacklisting no longer blocks 容缺; the administrator's page lists them with filters and lifts after a
  confirmation; the applicant sees their own records (and nobody else's) through the public lookup."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import ENTERPRISE, PERSON
from tests.integration.test_intake_credit_rules import (COMMITMENT, CORE, DIRECT, TINY_PDF, WINDOW, PageApi, _db,
                                                        blacklist, item, written)

AGENT_ID = "11010519491231002X"
LETTER = "M06"  # GZ-SCZT-001's 授权委托书及经办人身份证明
OTHER = {"kind": "individual", "name": "李明", "id_code": "360730198001010011", "phone": "13900000001"}


def _intake(client, headers, materials, **extra):
    data = {"item_code": DIRECT, "applicant.kind": "enterprise", "applicant.name": ENTERPRISE["name"],
            "applicant.id_code": ENTERPRISE["id_code"], "applicant.phone": ENTERPRISE["phone"],
            "materials": materials, **extra}
    return client.post("/api/v1/cases/intake", headers=headers, data=data, content_type="multipart/form-data")


def _lookup(client, case_no: str, query_code: str) -> str:
    r = client.post("/lookup", data={"csrf_token": csrf_token(client, "/lookup"), "case_no": case_no,
                                     "query_code": query_code})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_data(as_text=True)


def _set_assistant(api, username: str, on: bool = True, expect: int = 200):
    r = api.client.put(f"/api/v1/credit/assistants/{username}", headers=api._headers("admin", "zh-CN"),
                       json={"assistant": on})
    assert r.status_code == expect, r.get_json()
    return r.get_json()


# -- 帮办代办 ----------------------------------------------------------------------------------------------------

def test_an_agent_needs_the_authorisation_letter_through_the_api(client):
    api = PageApi(client)
    headers = api._headers(WINDOW, "zh-CN")
    agent = {"agent.name": "李四", "agent.id_code": AGENT_ID, "agent.phone": "13900000000"}
    before = written(client)
    r = _intake(client, headers, CORE + ["M05"], **agent)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["field"] == f"files.{LETTER}" and "授权委托书" in r.get_json()["detail"]
    assert written(client) == before  # no case, no number given

    # the letter brought as a file is the authorisation
    r = _intake(client, headers, CORE + ["M05"], **agent,
                **{f"files.{LETTER}": (io.BytesIO(TINY_PDF), "letter.pdf", "application/pdf")})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["particulars"]["agent"]["name"] == "李四"
    # every demo item lists the letter; an item that lists none takes no agent: test_representation_catalog.py


def test_an_assistant_takes_a_case_through_the_api_and_only_this_windows_assistant(client):
    api = PageApi(client)
    headers = api._headers(WINDOW, "zh-CN")
    # not an assistant yet: refused, naming the field
    before = written(client)
    r = _intake(client, headers, CORE + ["M05"], assisted_by=WINDOW)
    assert r.status_code == 422 and r.get_json()["field"] == "assisted_by", r.get_json()
    assert written(client) == before

    # only the city administrator names assistants, and only window staff
    r = client.put(f"/api/v1/credit/assistants/{WINDOW}", headers=headers, json={"assistant": True})
    assert r.status_code == 403
    assert _set_assistant(api, "review-360730", expect=422)["field"] == "username"
    assert _set_assistant(api, WINDOW)["assistant"] is True
    assert [a["username"] for a in api.get("/api/v1/credit/assistants", user=WINDOW).get_json()] == [WINDOW]
    # another county's window cannot name this county's assistant
    other = api._headers("window-360702", "zh-CN")
    r = _intake(client, other, CORE + ["M05"], assisted_by=WINDOW)
    assert r.status_code == 422 and r.get_json()["field"] == "assisted_by", r.get_json()

    r = _intake(client, headers, CORE + ["M05"], assisted_by=WINDOW)
    assert r.status_code == 201, r.get_json()
    case = r.get_json()
    assert case["assisted_by"].endswith(f"({WINDOW})")
    assert api.case(case["case_no"])["assisted_by"] == case["assisted_by"]


def test_agent_and_assistant_on_the_intake_page_case_page_and_masked_in_the_lookup(client):
    api = PageApi(client)
    _set_assistant(api, WINDOW)
    log_in(client, WINDOW)
    path = f"/window/new/{DIRECT}"
    form = client.get(path).get_data(as_text=True)
    assert 'data-testid="assisted-by"' in form and f'value="{WINDOW}"' in form
    data = {"applicant_kind": "enterprise", "applicant_name": ENTERPRISE["name"], "id_code": ENTERPRISE["id_code"],
            "phone": ENTERPRISE["phone"], "present": CORE + ["M05"], "agent_name": "李四", "agent_id_code": AGENT_ID,
            "agent_phone": "13900000000", "assisted_by": WINDOW}
    before = written(client)
    r = client.post(path, data={**data, "csrf_token": csrf_token(client, path)}, content_type="multipart/form-data",
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "经办人代为办理的，须提交授权委托书" in page, page  # said beside the letter's file field
    assert written(client) == before

    r = client.post(path, data={**data, "present": CORE + ["M05", LETTER], "csrf_token": csrf_token(client, path)},
                    content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    case_no = r.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    # the person by name, never the account (the record keeps both: the API's assisted_by above)
    assert re.search(r'data-testid="assisted-by">[^<(]*窗口[^<(]*</td>', page) and "(window-360730)" not in page
    assert re.search(r'data-testid="agent">李四', page)
    query_code = api.case(case_no)["query_code"]

    public = _lookup(client.application.test_client(), case_no, query_code)  # anyone, not logged in
    shown = re.search(r'data-testid="result-representation">(.*?)</section>', public, re.S).group(1)
    assert "李*" in shown and "李四" not in public and AGENT_ID not in public and "13900000000" not in public
    assert 'data-testid="result-assistant"' in shown and WINDOW not in public


# -- credit: expiry and lifting --------------------------------------------------------------------------------

def _blacklist_days_ago(client, applicant: dict, days: int) -> None:
    """A blacklisting recorded `days` ago by the city administrator (records are insert-only: made at that time)."""
    from delegation.actors import Actor
    from delegation.models import User
    from persistence import utcnow
    from supervision import credit

    def record(db):
        admin = Actor.for_user(db.session.execute(sa.select(User).filter_by(username="admin")).unique().scalar_one())
        credit.record_false_commitment(admin, applicant["id_code"], applicant["name"], None, f"告知承诺不实（{days}天前）",
                                       now=utcnow() - timedelta(days=days))
        db.session.commit()
    _db(client, record)


def _record_id(client, id_code: str) -> int:
    from supervision.models import CreditRecord

    return _db(client, lambda db: db.session.execute(sa.select(CreditRecord.id).filter_by(id_code=id_code)).scalar())


def test_an_expired_blacklisting_no_longer_blocks_commitment_acceptance(client):
    api = PageApi(client)
    commitment = item(api, COMMITMENT)
    _blacklist_days_ago(client, ENTERPRISE, 1094)  # a false commitment counts 1095 days: still in force
    blocked = api.create(commitment, present=CORE, applicant=ENTERPRISE)["case_no"]
    api.act(blocked, WINDOW, "accept_with_commitment", expect=409, commitment_days=5)
    assert api.case(blocked)["credit_warnings"]

    _blacklist_days_ago(client, PERSON, 1096)
    case_no = api.create(commitment, present=CORE, applicant=PERSON)["case_no"]
    listed = api.get(f"/api/v1/delegations/credit-records?id_code={PERSON['id_code']}", user="admin").get_json()
    assert listed["blacklisted"] is False and listed["records"][0]["status"] == "expired"
    assert api.case(case_no)["credit_warnings"] == []
    assert api.act(case_no, WINDOW, "accept_with_commitment", commitment_days=5)["state"] == "county_review"


def test_the_administrator_lifts_a_record_through_the_api_with_a_reason(client):
    api = PageApi(client)
    commitment = item(api, COMMITMENT)
    blacklist(api, PERSON)
    blacklist(api, ENTERPRISE)
    record_id = _record_id(client, PERSON["id_code"])
    path = f"/api/v1/credit/records/{record_id}/lift"

    r = api.post(path, user="admin", json={"reason": "  "})
    assert r.status_code == 422 and r.get_json()["field"] == "reason", r.get_json()
    assert api.post(path, user=WINDOW, json={"reason": "信用修复"}).status_code == 403
    assert api.post(path, user="reg-city", json={"reason": "信用修复"}).status_code == 403
    page = api.get("/api/v1/credit/records?status=in_force", user="admin").get_json()
    assert {r["id_code"] for r in page["records"]} == {PERSON["id_code"], ENTERPRISE["id_code"]}
    case_no = api.create(commitment, present=CORE, applicant=PERSON)["case_no"]
    api.act(case_no, WINDOW, "accept_with_commitment", expect=409, commitment_days=5)  # nothing was lifted

    r = api.post(path, user="admin", json={"reason": "申请人已完成信用修复"})
    assert r.status_code == 200, r.get_json()
    lifted = r.get_json()
    assert lifted["status"] == "lifted" and lifted["lift_reason"] == "申请人已完成信用修复"
    assert lifted["lifted_by"].endswith("(admin)") and lifted["lifted_at"]
    assert api.post(path, user="admin", json={"reason": "再次撤销"}).status_code == 409
    assert [r["id"] for r in api.get("/api/v1/credit/records?status=lifted", user="admin").get_json()["records"]] \
        == [record_id]
    assert api.get("/api/v1/credit/records?status=gone", user="admin").status_code == 422

    assert api.act(case_no, WINDOW, "accept_with_commitment", commitment_days=5)["state"] == "county_review"
    other = api.create(commitment, present=CORE, applicant=ENTERPRISE)["case_no"]  # not lifted: still blocked
    api.act(other, WINDOW, "accept_with_commitment", expect=409, commitment_days=5)


def test_the_administrators_credit_page_filters_and_lifts_after_confirmation(client):
    api = PageApi(client)
    blacklist(api, PERSON)
    blacklist(api, ENTERPRISE)
    person_id = _record_id(client, PERSON["id_code"])
    log_in(client, "admin")
    page = client.get(f"/admin/credit?q={PERSON['name']}").get_data(as_text=True)
    assert f'data-testid="credit-{person_id}"' in page and ENTERPRISE["id_code"] not in page

    confirm = f"/admin/credit/{person_id}/lift"
    page = client.get(confirm).get_data(as_text=True)
    assert "确认撤销" in page and PERSON["id_code"] in page
    r = client.post(confirm, data={"csrf_token": csrf_token(client, confirm), "reason": ""})
    assert r.status_code == 422 and "请填写撤销理由" in r.get_data(as_text=True)
    assert api.get("/api/v1/credit/records?status=lifted", user="admin").get_json()["records"] == []

    r = client.post(confirm, data={"csrf_token": csrf_token(client, confirm), "reason": "行政复议撤销原处理"})
    assert r.status_code == 303
    page = client.get("/admin/credit?status=lifted").get_data(as_text=True)
    assert f'data-testid="credit-{person_id}"' in page and "行政复议撤销原处理" in page
    assert ENTERPRISE["id_code"] not in page and "(admin)" not in page  # who lifted it, by name, not account
    assert client.get("/admin/credit?status=gone").status_code == 422

    clerk = client.application.test_client()
    log_in(clerk, WINDOW)
    assert clerk.get("/admin/credit").status_code == 403
    assert clerk.post(confirm, data={"csrf_token": csrf_token(clerk, "/window"), "reason": "x"}).status_code == 403


def test_the_applicant_sees_only_their_own_records_in_the_lookup(client):
    api = PageApi(client)
    blacklist(api, PERSON)
    blacklist(api, ENTERPRISE)
    direct = item(api, DIRECT)
    mine = api.create(direct, applicant=PERSON)
    clean = api.create(direct, applicant=OTHER)

    page = _lookup(client, mine["case_no"], mine["query_code"])
    credit = re.search(r'data-testid="result-credit">(.*?)</section>', page, re.S).group(1)
    assert "告知承诺不实" in credit and "有效" in credit
    assert len(re.findall('data-testid="result-credit-row"', credit)) == 1
    assert ENTERPRISE["name"] not in page and "admin" not in page  # nobody else's, no staff name

    page = _lookup(client, clean["case_no"], clean["query_code"])
    assert 'data-testid="result-credit-none"' in page and "告知承诺不实" not in page


def test_the_demo_has_an_assistant_an_agents_case_and_credit_records_of_each_status(app):
    """make run's data (seed-demo --cases): a clerk can try 帮办代办 and the credit page at once."""
    from app.extensions import db
    from delegation.models import Case, User
    from supervision import credit_admin
    from supervision.models import CreditRecord

    result = app.test_cli_runner().invoke(args=["seed-demo", "--cases"])
    assert result.exit_code == 0, result.output
    helper = db.session.execute(sa.select(User).filter_by(username="helper-360730")).unique().scalar_one()
    assert helper.assistant and helper.role == "window"
    case = db.session.execute(sa.select(Case).where(Case.agent_name.is_not(None))).unique().scalar_one()
    assert case.assisted_by.endswith("(helper-360730)") and case.state == "submitted"
    from delegation.actors import Actor

    admin = Actor.for_user(db.session.execute(sa.select(User).filter_by(username="admin")).unique().scalar_one())
    rows, _more = credit_admin.records(admin)
    assert sorted(r["status"] for r in rows) == ["expired", "in_force", "lifted"]
    blacklisted = db.session.execute(sa.select(CreditRecord).filter_by(blacklisted=True)).scalar_one()
    assert blacklisted.case_no  # the lookup of that case shows the applicant's record


def test_a_record_is_lifted_once_and_its_evidence_never_changes_in_the_database(client):
    """credit_record stays insert-only (migration 0012's triggers, replaced by 0023): an UPDATE may lift a record
    once, with who and why, and change nothing else, whatever client writes to the database."""
    import pytest
    from sqlalchemy.exc import DatabaseError

    from delegation import audit

    api = PageApi(client)
    blacklist(api, PERSON)
    record_id = _record_id(client, PERSON["id_code"])

    def refused(statement: str) -> None:
        def run(db):
            with pytest.raises(DatabaseError, match="credit_record rows are never deleted"):
                db.session.execute(sa.text(statement), {"id": record_id})
            db.session.rollback()
        _db(client, run)

    refused("UPDATE credit_record SET lifted_at = CURRENT_TIMESTAMP WHERE id = :id")  # no who, no why
    refused("UPDATE credit_record SET detail = 'rewritten' WHERE id = :id")
    assert api.post(f"/api/v1/credit/records/{record_id}/lift", user="admin",
                    json={"reason": "信用修复"}).status_code == 200
    refused("UPDATE credit_record SET lift_reason = 'another reason' WHERE id = :id")
    refused("UPDATE credit_record SET lifted_at = NULL, lifted_by = NULL, lift_reason = NULL WHERE id = :id")
    refused("DELETE FROM credit_record WHERE id = :id")
    problems = _db(client, lambda db: audit.missing_triggers(db.session))
    assert not [p for p in problems if "credit_record" in str(p)], problems


def test_a_lifted_record_no_longer_keeps_a_case_out_of_the_city_desks_batch(client):
    """The city desk's batch approval leaves out applicants with a credit record in force only (as the API's
    batch does through credit.warnings_for)."""
    from tests.integration.test_review_city_pages import Api as CityApi, run_bus

    app, api = client.application, PageApi(client)
    city = CityApi(app)
    case_no = city.create("delegated_review", applicant=PERSON)
    city.act(case_no, "review-360730", "review", opinion="同意", recommendation="approve")
    run_bus(app)
    blacklist(api, PERSON)
    log_in(client, "city-approver")
    assert f'data-testid="pick-{case_no}"' not in client.get("/city").get_data(as_text=True)  # in force: one by one
    r = api.post(f"/api/v1/credit/records/{_record_id(client, PERSON['id_code'])}/lift", user="admin",
                 json={"reason": "信用修复"})
    assert r.status_code == 200, r.get_json()
    assert f'data-testid="pick-{case_no}"' in client.get("/city").get_data(as_text=True)


def test_the_administrator_names_assistants_on_the_assistants_page(client):
    from delegation.models import User

    def assistant(username):
        return _db(client, lambda db: db.session.execute(
            sa.select(User.assistant).filter_by(username=username)).scalar())

    log_in(client, "admin")
    page = client.get("/admin/assistants?q=360730").get_data(as_text=True)
    assert f'data-testid="assistant-{WINDOW}"' in page and "review-360730" not in page  # window staff only
    r = client.post(f"/admin/assistants/{WINDOW}", data={"csrf_token": csrf_token(client, "/admin/assistants"),
                                                         "assistant": "1", "q": "360730"})
    assert r.status_code == 303 and assistant(WINDOW) is True
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已设为帮办人员" in page and "取消帮办人员" in page
    # a reviewer cannot be an assistant: said on the page, nothing changed
    r = client.post("/admin/assistants/review-360730", data={"csrf_token": csrf_token(client, "/admin/assistants"),
                                                              "assistant": "1"}, follow_redirects=True)
    assert "帮办人员须为窗口人员" in r.get_data(as_text=True) and assistant("review-360730") is False
    r = client.post(f"/admin/assistants/{WINDOW}", data={"csrf_token": csrf_token(client, "/admin/assistants"),
                                                         "assistant": "0"})
    assert r.status_code == 303 and assistant(WINDOW) is False
