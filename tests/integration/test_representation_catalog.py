"""帮办代办 on the demo catalogue (issue 17): every demo item lists the applicant's authorisation letter
("授权委托书及经办人身份证明（委托办理时提供）") as an optional, non-core material, so a window registers an agent
(经办人) on any of them with the letter; an applicant applying in person never lacks it (not missing at acceptance,
not on a correction notice, not promised under 容缺); an item whose catalogue lists no letter still takes no agent."""
from __future__ import annotations

import io
import re

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY, ENTERPRISE
from tests.integration.test_intake_credit_rules import TINY_PDF, WINDOW, PageApi, _db, written

AGENT = {"agent.name": "李四", "agent.id_code": "11010519491231002X", "agent.phone": "13900000000"}
ITEM = "GZ-SPSC-001"  # 食品生产许可, delegated_review, 容缺: M01–M04 core, M05–M07 non-core required
LETTER = "M08"  # the letter added to it (the item listed none before)
NAME = "授权委托书"


def _letter(item: dict) -> list[dict]:
    return [m for m in item["materials"] if NAME in m["name"]]


def _required(item: dict) -> list[str]:
    return [m["code"] for m in item["materials"] if m["required"]]


def _intake(client, headers, item_code, materials, **extra):
    data = {"item_code": item_code, "applicant.kind": "enterprise", "applicant.name": ENTERPRISE["name"],
            "applicant.id_code": ENTERPRISE["id_code"], "applicant.phone": ENTERPRISE["phone"],
            "materials": materials, **extra}
    return client.post("/api/v1/cases/intake", headers=headers, data=data, content_type="multipart/form-data")


def _items(api) -> list[dict]:
    return api.get("/api/v1/items", user=WINDOW).get_json()


def test_every_demo_item_takes_an_agent_with_the_letter_through_the_api(client):
    api = PageApi(client)
    headers = api._headers(WINDOW, "zh-CN")
    items = _items(api)
    assert len(items) >= 47
    # one letter per item, never core nor required: an applicant in person does not bring it
    wrong = {i["code"]: _letter(i) for i in items
             if len(_letter(i)) != 1 or _letter(i)[0]["core"] or _letter(i)[0]["required"]}
    assert wrong == {}

    for item in items:  # the agent is registered on each item, the letter ticked as brought
        r = _intake(client, headers, item["code"], _required(item) + [_letter(item)[0]["code"]], **AGENT)
        assert r.status_code == 201, (item["code"], r.get_json())
        assert r.get_json()["particulars"]["agent"]["name"] == "李四", item["code"]

    # without the letter the agent is refused, naming the letter's file field, and nothing is written
    spsc = next(i for i in items if i["code"] == ITEM)
    assert _letter(spsc)[0]["code"] == LETTER
    before = written(client)
    r = _intake(client, headers, ITEM, _required(spsc), **AGENT)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["field"] == f"files.{LETTER}" and NAME in r.get_json()["detail"]
    assert written(client) == before
    # the letter brought as a file is the authorisation
    r = _intake(client, headers, ITEM, _required(spsc), **AGENT,
                **{f"files.{LETTER}": (io.BytesIO(TINY_PDF), "letter.pdf", "application/pdf")})
    assert r.status_code == 201, r.get_json()
    assert next(m for m in r.get_json()["materials"] if m["code"] == LETTER)["present"] is True


def test_an_applicant_in_person_never_lacks_the_letter(client):
    api = PageApi(client)
    headers = api._headers(WINDOW, "zh-CN")

    def register(materials):
        r = _intake(client, headers, ITEM, materials)
        assert r.status_code == 201, r.get_json()
        case = r.get_json()
        assert next(m for m in case["materials"] if m["code"] == LETTER)["present"] is False
        return case["case_no"]

    def act(case_no, action, **payload):
        r = api.post(f"/api/v1/cases/{case_no}/actions", user=WINDOW, json={"action": action, **payload})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    required = _required(next(i for i in _items(api) if i["code"] == ITEM))
    # every required material brought: accepted, the letter not asked for
    assert act(register(required), "accept", comment="")["state"] in {"accepted", "county_review"}
    short = [c for c in required if c != "M05"]
    # a correction notice lists the missing required material, not the letter
    case_no = register(short)
    act(case_no, "request_correction", items=[], comment="")
    notice = api.get(f"/api/v1/cases/{case_no}", user=WINDOW).get_json()["correction_items"]
    assert [i["material_code"] for i in notice] == ["M05"], notice
    # 容缺 promises the missing required material only
    case = act(register(short), "accept_with_commitment", comment="", commitment_days=5)
    assert [m["code"] for m in case["materials"] if m["committed"]] == ["M05"]


def test_the_window_page_registers_an_agent_with_the_letter(client):
    log_in(client, WINDOW)
    path = f"/window/new/{ITEM}"
    form = client.get(path).get_data(as_text=True)
    assert f'data-testid="present-{LETTER}"' in form
    required = ["M01", "M02", "M03", "M04", "M05", "M06", "M07"]
    data = {"applicant_kind": "enterprise", "applicant_name": ENTERPRISE["name"], "id_code": ENTERPRISE["id_code"],
            "phone": ENTERPRISE["phone"], "present": required, "agent_name": "李四",
            "agent_id_code": AGENT["agent.id_code"], "agent_phone": AGENT["agent.phone"]}
    before = written(client)
    r = client.post(path, data={**data, "csrf_token": csrf_token(client, path)}, content_type="multipart/form-data",
                    follow_redirects=True)
    assert "经办人代为办理的，须提交授权委托书" in r.get_data(as_text=True)
    assert written(client) == before

    r = client.post(path, data={**data, "present": required + [LETTER], "csrf_token": csrf_token(client, path)},
                    content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r'data-testid="agent">李四', page)


def test_an_item_listing_no_letter_takes_no_agent(client):
    """An administrator's catalogue item without the letter: an agent is refused on it, naming the agent."""
    from delegation.catalog_io import ItemSpec, MaterialSpec, import_catalog

    def add(db):
        import_catalog(db.session, [ItemSpec(
            code="GZ-TEST-NOAGENT", name="不接受委托办理的事项", mode="direct", department_code="360700-sec-market",
            kind="promised", limit_unit="working_days", promised_limit=5, statutory_limit=20,
            legal_basis="测试", materials=[MaterialSpec("M01", "申请书"), MaterialSpec("M02", "身份证明")])], [COUNTY])
        db.session.commit()
    _db(client, add)
    api = PageApi(client)
    headers = api._headers(WINDOW, "zh-CN")
    before = written(client)
    r = _intake(client, headers, "GZ-TEST-NOAGENT", ["M01", "M02"], **AGENT)
    assert r.status_code == 422 and r.get_json()["field"] == "agent.name", r.get_json()
    assert r.get_json()["code"] == "agent_not_allowed"
    assert written(client) == before
    assert _intake(client, headers, "GZ-TEST-NOAGENT", ["M01", "M02"]).status_code == 201  # in person: fine


def test_the_review_desk_does_not_flag_the_letter_of_an_applicant_in_person(client):
    """The reviewer sees the letter as optional and not brought, not as a material overdue (red 未提交)."""
    api = PageApi(client)
    required = _required(next(i for i in _items(api) if i["code"] == ITEM))
    r = _intake(client, api._headers(WINDOW, "zh-CN"), ITEM, [c for c in required if c != "M05"])
    case_no = r.get_json()["case_no"]
    r = api.post(f"/api/v1/cases/{case_no}/actions", user=WINDOW,
                 json={"action": "accept_with_commitment", "comment": "", "commitment_days": 5})
    assert r.status_code == 200, r.get_json()
    log_in(client, f"review-{COUNTY}")
    page = client.get(f"/review/cases/{case_no}").get_data(as_text=True)

    def row(code):
        return re.search(rf'data-testid="material-{code}">(.*?)</tr>', page, re.S).group(1)
    assert "未提交" in row(LETTER) and "非必需" in row(LETTER) and "due-overdue" not in row(LETTER)
    assert "due-warning" in row("M05")  # the promised material still stands out
