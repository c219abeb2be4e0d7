"""Shorter intake (issue 14): 登记并受理 in one step, a 容缺 commitment capped at the case's own time limit, a
warning before registering the same applicant's second open case of an item, and what a window records (address,
legal representative, agent), with the phone required — on the page and through POST /api/v1/cases/intake."""
from __future__ import annotations

import io
import re

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_window_desk import (COMMITMENT, DIRECT, PERSON_ID, act, case_count, db_case, intake,
                                                refused_intake)

WINDOW = "window-360730"
ALL = ["M01", "M02", "M03", "M04", "M05"]
AGENT_ID = "11010519491231002X"


def _post(client, item, **data):
    path = f"/window/new/{item}"
    body = {"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise", "applicant_name": "赣州示范贸易有限公司",
            "id_code": "91350100M000100Y43", "phone": "0797-8123456", **data}
    return client.post(path, data=body, content_type="multipart/form-data")


def _case(client, case_no):
    from app.extensions import db
    from delegation.models import Case

    with client.application.app_context():
        c = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        out = {k: getattr(c, k) for k in ("state", "due_at", "commitment_deadline", "applicant_address",
                                          "legal_representative", "agent_name", "agent_id_code", "agent_phone")}
        db.session.remove()
        return out


def test_register_and_accept_in_one_step(client):
    log_in(client, WINDOW)
    r = _post(client, DIRECT, present=ALL, then_accept="1")
    assert r.status_code == 302
    case_no = r.headers["Location"].rsplit("/", 1)[1]
    assert db_case(client, case_no)["state"] == "county_review"
    assert "已登记并受理办件" in client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    # an incomplete application is neither accepted nor registered: the acceptance's refusal is the answer
    r = _post(client, DIRECT, id_code=PERSON_ID, applicant_kind="individual", present=["M01"], then_accept="1")
    assert case_count(client) == 1
    assert 'data-testid="form-errors"' in refused_intake(client, r).get_data(as_text=True)


def test_a_commitment_never_outlives_the_cases_time_limit(client):
    log_in(client, WINDOW)
    case_no = intake(client, COMMITMENT, ["M01", "M02", "M03", "M04"], kind="individual", id_code=PERSON_ID,
                     name="张三")
    act(client, case_no, "accept_with_commitment", commitment_days="60")  # 5 working days is the item's limit
    case = _case(client, case_no)
    assert case["due_at"] is not None and case["commitment_deadline"] == case["due_at"]
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "已按办结期限截止" in page


def test_a_second_open_case_of_the_same_applicant_and_item_is_warned(client):
    log_in(client, WINDOW)
    first = intake(client, DIRECT, ["M01"])
    assert "请核实是否重复登记" not in client.get(f"/window/cases/{first}").get_data(as_text=True)
    second = intake(client, DIRECT, ["M01"])
    page = client.get(f"/window/cases/{second}").get_data(as_text=True)
    assert re.search(rf"该申请人已有本事项的在办件：{first}，请核实是否重复登记", page)
    other = intake(client, DIRECT, ["M01"], id_code=PERSON_ID, kind="individual", name="张三")
    assert "请核实是否重复登记" not in client.get(f"/window/cases/{other}").get_data(as_text=True)


def test_intake_records_address_legal_representative_and_agent_and_needs_a_phone(client):
    log_in(client, WINDOW)
    r = _post(client, DIRECT, phone="", present=["M01"])
    assert "请填写联系电话" in refused_intake(client, r).get_data(as_text=True) and case_count(client) == 0
    r = _post(client, DIRECT, present=["M01"], agent_name="李四", agent_id_code="110105194912310021")
    assert case_count(client) == 0
    assert "经办人身份证号码" in refused_intake(client, r).get_data(as_text=True)  # the error names the agent's ID field
    # an agent applies with the applicant's authorisation letter (M06, issue 17)
    r = _post(client, DIRECT, present=["M01", "M06"], address="江西省宁都县梅江镇示范路1号", legal_representative="王五",
              agent_name="李四", agent_id_code=AGENT_ID, agent_phone="13900000000")
    assert r.status_code == 302
    case_no = r.headers["Location"].rsplit("/", 1)[1]
    case = _case(client, case_no)
    assert (case["applicant_address"], case["legal_representative"], case["agent_name"], case["agent_id_code"],
            case["agent_phone"]) == ("江西省宁都县梅江镇示范路1号", "王五", "李四", AGENT_ID, "13900000000")
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "李四" in page and "王五" in page


def test_the_intake_api_takes_the_same_fields(client):
    from tests.integration.test_window_desk import api_token

    headers = api_token(client, WINDOW)
    body = {"item_code": DIRECT, "applicant.kind": "enterprise", "applicant.name": "赣州示范贸易有限公司",
            "applicant.id_code": "91350100M000100Y43", "materials": ALL + ["M06"], "agent.name": "李四",
            "agent.id_code": AGENT_ID, "applicant.address": "宁都县", "accept": "true"}
    r = client.post("/api/v1/cases/intake", headers=headers, data=dict(body), content_type="multipart/form-data")
    assert r.status_code == 422 and "applicant.phone" in r.get_json()["errors"], r.get_json()
    body["applicant.phone"] = "0797-8123456"
    r = client.post("/api/v1/cases/intake", headers=headers, data=dict(body, **{"files.M01": (io.BytesIO(
        b"%PDF-1.4\n%%EOF\n"), "a.pdf", "application/pdf")}), content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    out = r.get_json()
    assert out["state"] == "county_review"
    assert out["particulars"] == {"address": "宁都县", "legal_representative": None,
                                  "agent": {"name": "李四", "id_code": AGENT_ID, "phone": None}}
