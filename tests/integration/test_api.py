"""The API as a client sees it: tokens, OpenAPI and its docs, problem+json errors in Chinese naming the field,
applicant identifiers, uploads."""
from __future__ import annotations

import io

import pytest

from tests.integration.support import COUNTY, ENTERPRISE, Api

WINDOW = f"window-{COUNTY}"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def api(client):
    return Api(client)


def test_token_login_and_bad_password(api, client):
    r = client.post("/api/v1/auth/token", json={"username": WINDOW, "password": "demo"})
    assert r.status_code == 200 and r.get_json()["role"] == "window"
    token = r.get_json()["token"]
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    r = client.post("/api/v1/auth/token", json={"username": WINDOW, "password": "wrong"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert r.get_json()["detail"] == "用户名或密码错误"
    assert client.get("/api/v1/items").status_code == 401
    assert client.get("/api/v1/items", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_repeated_failures_lock_the_account(client):
    for _ in range(5):
        client.post("/api/v1/auth/token", json={"username": WINDOW, "password": "wrong"})
    r = client.post("/api/v1/auth/token", json={"username": WINDOW, "password": "demo"})
    assert r.status_code == 401 and r.get_json()["code"] == "bad_credentials"  # locked reads as a wrong password


def test_openapi_and_docs_are_served_without_a_cdn(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/cases/{case_no}/actions" in spec["paths"]
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/_swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert client.get("/api/v1/_swagger/swagger-ui-bundle.js").status_code == 200
    home = client.get("/").get_data(as_text=True)
    assert "/api/v1/docs" not in home and "openapi" not in home.lower()  # developers' links left the public home


def test_validation_errors_name_the_field_in_chinese_or_english(api):
    item = api.item("direct")
    r = api.post("/api/v1/cases", user=WINDOW, json={"item_code": item["code"], "applicant": {"kind": "enterprise"}})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["code"] == "validation_failed" and "applicant.name" in body["errors"]
    assert body["errors"]["applicant.name"] == ["必填项"]
    r = api.post("/api/v1/cases", user=WINDOW, lang="en",
                 json={"item_code": item["code"], "applicant": {"kind": "enterprise"}})
    assert r.get_json()["errors"]["applicant.name"] == ["Missing data for required field."]
    r = api.post(f"/api/v1/cases/{COUNTY}-2026-999999/actions", user=WINDOW, json={"action": "fly"})
    assert r.status_code == 422 and "action" in r.get_json()["errors"]


@pytest.mark.parametrize("id_code,code", [
    ("91350100M000100Y44", "credit_code_checksum"),
    ("91350100M000100Y4", "credit_code_length"),
])
def test_credit_code_is_checked_at_intake(api, id_code, code):
    item = api.item("direct")
    r = api.post("/api/v1/cases", user=WINDOW, json={
        "item_code": item["code"], "applicant": {**ENTERPRISE, "id_code": id_code}, "materials": []})
    assert r.status_code == 422
    assert r.get_json()["code"] == code and r.get_json()["field"] == "applicant.id_code"
    assert "统一社会信用代码" in r.get_json()["detail"]


def test_staff_may_override_a_failing_credit_code_with_a_reason(api):
    item = api.item("direct")
    case = api.create(item, applicant={**ENTERPRISE, "id_code": "91350100M000100Y44"},
                      id_check_override="2015年前核发的代码，经登记机关核实有效")
    assert case["applicant"]["id_code"] == "91350100M000100Y44"
    assert case["timeline"][0]["data"]["id_check_override"].startswith("2015年前")


def test_resident_id_is_checked(api):
    item = api.item("direct")
    r = api.post("/api/v1/cases", user=WINDOW, json={
        "item_code": item["code"], "materials": [],
        "applicant": {"kind": "individual", "name": "张三", "id_code": "110105194912310021"}})
    assert r.status_code == 422 and r.get_json()["code"] == "resident_id_checksum"


def test_upload_is_checked_by_content_and_stored_under_its_digest(api, app):
    import hashlib

    item = api.item("forward_only")
    case = api.create(item, present=[])
    code = item["materials"][0]["code"]
    url = f"/api/v1/cases/{case['case_no']}/files"
    r = api.post(url, user=WINDOW, data={"material_code": code, "file": (io.BytesIO(PDF), "../../etc/passwd.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    digest = hashlib.sha256(PDF).hexdigest()
    assert r.get_json()["sha256"] == digest
    stored = list((app.instance_path and __import__("pathlib").Path(app.instance_path) / "uploads").rglob("*"))
    assert any(p.name == digest for p in stored) and not any("passwd" in p.name for p in stored)
    assert next(m for m in api.case(case["case_no"])["materials"] if m["code"] == code)["present"] is True
    r = api.post(url, user=WINDOW, data={"material_code": code, "file": (io.BytesIO(b"MZ\x90\x00evil"), "a.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 422 and r.get_json()["field"] == "file"
    r = api.post(url, user=f"window-360731", data={"material_code": code, "file": (io.BytesIO(PDF), "a.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 404


def test_oversized_upload_is_413(api, app):
    item = api.item("forward_only")
    case = api.create(item, present=[])
    big = b"%PDF-" + b"0" * (app.config["TONGQUAN"].max_upload_bytes + 100_000)
    r = api.post(f"/api/v1/cases/{case['case_no']}/files", user=WINDOW,
                 data={"material_code": item["materials"][0]["code"], "file": (io.BytesIO(big), "big.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 413 and r.get_json()["code"] == "upload_too_large"


def test_unexpected_errors_never_show_a_traceback(api, app, monkeypatch):
    from delegation import cases

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(cases, "list_cases", boom)
    r = api.get("/api/v1/cases", user=WINDOW)
    assert r.status_code == 500 and r.mimetype == "application/problem+json"
    assert "secret" not in r.get_data(as_text=True) and "Traceback" not in r.get_data(as_text=True)


def test_keyset_pagination_walks_every_case_once(api):
    item = api.item("direct")
    made = {api.create(item)["case_no"] for _ in range(5)}
    seen, after = [], None
    while True:
        url = "/api/v1/cases?limit=2" + (f"&after={after}" if after else "")
        page = api.get(url, user=WINDOW).get_json()
        seen += [c["case_no"] for c in page["items"]]
        after = page["next_after"]
        if not after:
            break
    assert set(seen) == made and len(seen) == len(made)


def test_case_answer_is_what_the_caseout_schema_dumps(api, monkeypatch):
    """The case endpoints build their body with schemas.case_out (no schema walk): over cases in many states
    (files, review, decision, hand-out, return, correction, refusal, withdrawal, 容缺 commitment, an override in
    the timeline's data) it must equal CaseOut().dump of the same case, key for key."""
    from app.api import cases as cases_api
    from app.api.schemas import CaseOut
    from tests.integration.support import run_bus

    schema, seen = CaseOut(), []

    def checked(case):
        fast = cases_api.__dict__["_case_out_unchecked"](case)
        assert fast == schema.dump(case)
        seen.append(case.state)
        return fast

    monkeypatch.setitem(cases_api.__dict__, "_case_out_unchecked", cases_api.case_out)
    monkeypatch.setattr(cases_api, "case_out", checked)
    reviewer, city = f"review-{COUNTY}", "city-approver"

    direct = api.item("direct")
    no = api.create(direct, applicant={**ENTERPRISE, "id_code": "91350100M000100Y44"},
                    id_check_override="2015年前核发的代码，经登记机关核实有效")["case_no"]
    api.act(no, WINDOW, "accept")
    api.act(no, reviewer, "review", opinion="材料真实完整，符合条件")
    api.act(no, reviewer, "approve", certificate_no="NDX-2026-001")
    api.act(no, WINDOW, "hand_out", method="mail", tracking_no="SF1234567890", address="赣州市宁都县梅江镇 1 号")
    api.case(no)

    fwd = api.item("forward_only")
    no = api.create(fwd, present=[])["case_no"]
    r = api.post(f"/api/v1/cases/{no}/files", user=WINDOW,
                 data={"material_code": fwd["materials"][0]["code"], "file": (io.BytesIO(PDF), "a.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 201
    api.act(no, WINDOW, "request_correction", items=[{"material_code": fwd["materials"][0]["code"], "problem": "盖章"}])
    api.act(no, WINDOW, "resubmit", materials=[m["code"] for m in fwd["materials"]])
    api.act(no, WINDOW, "accept")
    api.case(no)

    review = api.item("delegated_review")
    no = api.create(review)["case_no"]
    api.act(no, WINDOW, "accept")
    api.act(no, reviewer, "review", opinion="同意", recommendation="approve")
    run_bus()
    api.act(no, city, "return", reasons=["现场照片不清晰"])
    run_bus()
    api.case(no, reviewer)
    api.case(no, city)

    no = api.create(direct)["case_no"]
    api.act(no, WINDOW, "refuse", reason="不属于本窗口受理范围", redirect="赣州市政务服务中心")
    no = api.create(direct)["case_no"]
    api.act(no, WINDOW, "accept")
    api.act(no, WINDOW, "withdraw", comment="申请人书面申请撤回")

    committed = None
    for mode in ("direct", "delegated_review", "forward_only"):
        try:
            committed = api.item(mode, commitment=True)
            break
        except AssertionError:
            continue
    assert committed is not None
    optional = [m["code"] for m in committed["materials"] if not m["core"]]
    no = api.create(committed, present=[m["code"] for m in committed["materials"] if m["code"] not in optional])[
        "case_no"]
    api.act(no, WINDOW, "accept_with_commitment")
    api.case(no)
    assert {"concluded", "returned", "refused", "withdrawn", "forwarded", "submitted"} <= set(seen)
