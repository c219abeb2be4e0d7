"""The flows the pages run as one piece of work, through the API (issue 13): intake with files, the county's review
then decision, the city's batch approval. Each is tried beside its page on an equal case: the same state after, the
same timeline and the same messages for the bus; another organisation's case is refused and stays as it was; a
bad field is named."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from tests.integration import factories
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import Api

WINDOW, OTHER_WINDOW, REVIEWER, OTHER_REVIEWER = "window-360730", "window-360731", "review-360730", "review-360731"
CITY = "city-approver"
DIRECT = "GZ-SCZT-001"  # 市场主体设立登记, direct: M01–M05 core and required
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
APPLICANT = {"applicant.kind": "enterprise", "applicant.name": "赣州市示范贸易有限公司",
             "applicant.id_code": "91350100M000100Y43", "applicant.phone": "0797-8123456"}


def _in_app(client, fn):
    from app.extensions import db

    with client.application.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def _api(client) -> Api:
    return Api(client.application.test_client())


def _post(client, api: Api, path: str, user: str, **kw):
    """An API call; the token is issued inside the application (Api.token reads the user)."""
    _in_app(client, lambda: api.token(user))
    return api.post(path, user=user, **kw)


def _seen(client, case_no: str) -> dict:
    """What a user and a peer notice of a case: its state, its timeline, its files and the bus messages."""
    from app.extensions import db
    from delegation.models import Case
    from exchange.models import OutboxMessage

    def read():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        outbox = db.session.execute(sa.select(OutboxMessage.type, OutboxMessage.to_org)
                                    .filter_by(case_no=case_no).order_by(OutboxMessage.id)).all()
        return {"state": case.state.value, "review_opinion": case.review_opinion, "decision": case.decision,
                "timeline": [(e.action, e.from_state, e.to_state, e.actor_org, e.comment) for e in case.events],
                "files": sorted((f.material_code, f.sha256) for f in case.files),
                "present": sorted(m.code for m in case.materials if m.present), "outbox": [tuple(r) for r in outbox]}
    return _in_app(client, read)


def _case_count(client) -> int:
    from app.extensions import db
    from delegation.models import Case

    return _in_app(client, lambda: db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar())


def _made(client, state, mode, county="360730") -> str:
    from app.extensions import db

    def make():
        case_no = factories.make_case(state, mode, county=county).case_no
        db.session.commit()
        return case_no
    return _in_app(client, make)


def _files(**parts) -> dict:
    return {name: (io.BytesIO(content), filename, "application/pdf") for name, (content, filename) in parts.items()}


# -- intake with files ------------------------------------------------------------------------------------------

def test_intake_with_files_does_what_the_intake_page_does(client):
    log_in(client, WINDOW)
    path = f"/window/new/{DIRECT}"
    page = {"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise",
            "applicant_name": APPLICANT["applicant.name"], "id_code": APPLICANT["applicant.id_code"],
            "phone": APPLICANT["applicant.phone"], "present": ["M01", "M02", "M03"], "file_3": (io.BytesIO(PDF),
                                                                                               "m04.pdf")}
    r = client.post(path, data=page, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    by_page = r.headers["Location"].rsplit("/", 1)[1]

    api = _api(client)
    r = _post(client, api, "/api/v1/cases/intake", WINDOW, content_type="multipart/form-data",
              data={"item_code": DIRECT, **APPLICANT, "materials": ["M01", "M02", "M03"],
                    **_files(**{"files.M04": (PDF, "m04.pdf")})})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["state"] == "submitted" and [f["material_code"] for f in body["files"]] == ["M04"]
    assert body["timeline"][0]["action"] == "submit"
    seen, expected = _seen(client, body["case_no"]), _seen(client, by_page)
    assert seen == expected and seen["present"] == ["M01", "M02", "M03", "M04"]
    openapi = client.get("/api/v1/openapi.json").get_json()
    assert "multipart/form-data" in openapi["paths"]["/api/v1/cases/intake"]["post"]["requestBody"]["content"]


def test_intake_with_a_refused_file_names_its_part_and_registers_nothing(client):
    api, before = _api(client), _case_count(client)
    r = _post(client, api, "/api/v1/cases/intake", WINDOW, content_type="multipart/form-data",
              data={"item_code": DIRECT, **APPLICANT, "materials": ["M01"],
                    **_files(**{"files.M01": (PDF, "m01.pdf"), "files.M02": (b"MZ\x90\x00not a pdf", "m02.pdf")})})
    assert r.status_code == 422 and r.get_json()["field"] == "files.M02", r.get_json()
    r = _post(client, api, "/api/v1/cases/intake", WINDOW, content_type="multipart/form-data",
              data={"item_code": DIRECT, **APPLICANT, **_files(**{"photo": (PDF, "m01.pdf")})})
    assert r.status_code == 422 and "photo" in r.get_json()["errors"], r.get_json()
    r = _post(client, api, "/api/v1/cases/intake", WINDOW, content_type="multipart/form-data",
              data={"item_code": DIRECT, **{**APPLICANT, "applicant.name": ""}})
    assert r.status_code == 422 and r.get_json()["field"] == "applicant.name", r.get_json()
    r = _post(client, api, "/api/v1/cases/intake", WINDOW, content_type="multipart/form-data",
              data={"item_code": DIRECT, **{**APPLICANT, "applicant.id_code": "91350100M000100Y44"}})
    assert r.status_code == 422 and r.get_json()["field"] == "applicant.id_code", r.get_json()
    r = _post(client, api, "/api/v1/cases/intake", REVIEWER, content_type="multipart/form-data",
              data={"item_code": DIRECT, **APPLICANT})
    assert r.status_code == 403
    assert _case_count(client) == before


# -- review then decide -----------------------------------------------------------------------------------------

def test_review_and_decide_does_what_the_review_page_does(client):
    from delegation.workflow import Mode, State

    by_page, by_api = (_made(client, State.COUNTY_REVIEW, Mode.DIRECT) for _ in range(2))
    log_in(client, REVIEWER)
    r = client.post(f"/review/cases/{by_page}/decide",
                    data={"csrf_token": csrf_token(client, f"/review/cases/{by_page}"), "decide-decision": "approve",
                          "decide-opinion": "材料齐全，同意许可", "decide-certificate_no": "ZS-1"})
    assert r.status_code == 302, r.get_data(as_text=True)

    r = _post(client, _api(client), f"/api/v1/cases/{by_api}/decide", REVIEWER,
              json={"decision": "approve", "opinion": "材料齐全，同意许可", "certificate_no": "ZS-2"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["state"] == "decided" and r.get_json()["decision"]["certificate_no"] == "ZS-2"
    seen = _seen(client, by_api)
    assert seen == _seen(client, by_page)
    assert [line[0] for line in seen["timeline"][-2:]] == ["review", "approve"]


def test_review_and_decide_refuses_another_countys_case_and_names_the_bad_field(client):
    from delegation.workflow import Mode, State

    case_no, api = _made(client, State.COUNTY_REVIEW, Mode.DIRECT), _api(client)
    before = _seen(client, case_no)
    r = _post(client, api, f"/api/v1/cases/{case_no}/decide", OTHER_REVIEWER,
              json={"decision": "approve", "opinion": "同意"})
    assert r.status_code == 404 and r.get_json()["code"] == "case_not_found"
    r = _post(client, api, f"/api/v1/cases/{case_no}/decide", REVIEWER,
              json={"decision": "deny", "opinion": "不符合条件"})
    assert r.status_code == 422 and r.get_json()["field"] == "reasons", r.get_json()
    r = _post(client, api, f"/api/v1/cases/{case_no}/decide", REVIEWER, json={"decision": "maybe", "opinion": "?"})
    assert r.status_code == 422 and r.get_json()["field"] == "decision"
    r = _post(client, api, f"/api/v1/cases/{case_no}/decide", REVIEWER,
              json={"decision": "approve", "opinion": "x" * 100_000})
    assert r.status_code == 422 and r.get_json()["field"] == "opinion"
    assert _seen(client, case_no) == before  # the opinion of the refused denial was not kept either


# -- batch approval ---------------------------------------------------------------------------------------------

def test_batch_approval_does_what_the_city_desk_does(client):
    from delegation.workflow import Mode, State

    by_page, by_api = (_made(client, State.CITY_REVIEW, Mode.DELEGATED_REVIEW) for _ in range(2))
    blocked = _made(client, State.CITY_REVIEW, Mode.FORWARD_ONLY)
    log_in(client, CITY)
    r = client.post("/city/batch-approve", data={"csrf_token": csrf_token(client, "/city"), "case_no": [by_page],
                                                 "confirm": "1", "batch-opinion": "县级审核意见属实，同意"})
    assert r.status_code == 200 and "已准予许可" in r.get_data(as_text=True), r.get_data(as_text=True)

    r = _post(client, _api(client), "/api/v1/cases/batch-approve", CITY,
              json={"case_nos": [by_api, blocked, by_api], "opinion": "县级审核意见属实，同意"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["approved"] == 1
    assert [(x["case_no"], x["ok"]) for x in body["results"]] == [(by_api, True), (blocked, False)]
    assert body["results"][1]["blockers"][0] == "forward_only"
    seen = _seen(client, by_api)
    assert seen == _seen(client, by_page) and seen["state"] == "decided"
    assert "case.decision" in [kind for kind, _to in seen["outbox"]]
    assert _seen(client, blocked)["state"] == "city_review"


def test_batch_approval_refuses_another_departments_case_other_roles_and_names_the_bad_field(client):
    from delegation.workflow import Mode, State

    case_no, api = _made(client, State.CITY_REVIEW, Mode.DELEGATED_REVIEW), _api(client)
    section = _other_section_approver(client, case_no)
    before = _seen(client, case_no)
    r = _post(client, api, "/api/v1/cases/batch-approve", section, json={"case_nos": [case_no], "opinion": "同意"})
    assert r.status_code == 200
    result, = r.get_json()["results"]
    assert result["ok"] is False and result["error"]["code"] == "case_not_found"
    r = _post(client, api, "/api/v1/cases/batch-approve", REVIEWER, json={"case_nos": [case_no], "opinion": "同意"})
    assert r.status_code == 403
    r = _post(client, api, "/api/v1/cases/batch-approve", CITY, json={"case_nos": [f"C-{n}" for n in range(101)], "opinion": "同意"})
    assert r.status_code == 422 and r.get_json()["field"] == "case_nos"
    r = _post(client, api, "/api/v1/cases/batch-approve", CITY, json={"case_nos": [case_no], "opinion": "a\x00b"})
    assert r.status_code == 422 and r.get_json()["field"] == "opinion"
    r = _post(client, api, "/api/v1/cases/batch-approve", CITY, json={"case_nos": [case_no]})
    assert r.status_code == 422 and r.get_json()["field"] == "opinion"
    assert _seen(client, case_no) == before


def _other_section_approver(client, case_no: str) -> str:
    """A city approver of a section other than the one the case belongs to."""
    from app.extensions import db
    from delegation import staff
    from delegation.models import Case, Org

    def create():
        department = db.session.execute(sa.select(Case.department_code).filter_by(case_no=case_no)).scalar_one()
        other = db.session.execute(sa.select(Org.code).where(Org.kind == "city_section", Org.code != department)
                                   .order_by(Org.code)).scalars().first()
        staff.create_user(factories.actor("admin"), "city-other-section", "另一审批科", other, "city_approver",
                          "other-section-password-1")
        db.session.commit()
        return "city-other-section"
    return _in_app(client, create)


@pytest.mark.parametrize("path", ["/api/v1/cases/intake", "/api/v1/cases/batch-approve",
                                  "/api/v1/cases/360730-2026-000001/decide"])
def test_the_flows_are_documented_and_closed_to_anonymous_callers(client, path):
    openapi = client.get("/api/v1/openapi.json").get_json()
    assert path.replace("360730-2026-000001", "{case_no}") in openapi["paths"]
    assert client.post(path, json={}).status_code == 401
