"""Two window rules of issue 17: an item whose delegation to the county is revoked is refused already at
registration (telling the applicant where to apply instead), and a blacklisted applicant cannot be accepted with
a 容缺 commitment (normal acceptance still works). Through the API and through the window's pages."""
from __future__ import annotations

import io

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY, ENTERPRISE, PERSON, Api
from tests.integration.test_window_desk import refused_intake

WINDOW = f"window-{COUNTY}"
DIRECT = "GZ-SCZT-001"  # 市场主体设立登记, direct: M01–M05 core and required
COMMITMENT = "GZ-TZSB-001"  # delegated_review, 容缺: M05, M06 non-core required, M07 optional
CORE = ["M01", "M02", "M03", "M04"]
TINY_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class PageApi(Api):
    """The API beside the window's pages (whose client has no application context of its own)."""

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = self.client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
            assert r.status_code == 200, r.get_json()
            self._tokens[username] = r.get_json()["token"]
        return self._tokens[username]


def _db(client, fn):
    from app.extensions import db

    with client.application.app_context():
        try:
            return fn(db)
        finally:
            db.session.remove()


def written(client) -> dict:
    """What a registration would leave behind: cases, their events, case numbers given, outbox rows."""
    from delegation.models import Case, CaseEvent, CaseNoCounter
    from exchange.models import OutboxMessage

    def count(db):
        out = {m.__name__: db.session.execute(sa.select(sa.func.count()).select_from(m)).scalar()
               for m in (Case, CaseEvent, OutboxMessage)}
        out["last_case_no"] = db.session.execute(sa.select(sa.func.sum(CaseNoCounter.last))).scalar()
        return out
    return _db(client, count)


def competent(client, item_code: str) -> dict:
    from delegation.models import Item

    def read(db):
        org = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one().department
        return {"org": org.name, "address": org.address, "phone": org.phone}
    return _db(client, read)


def revoke(api, item_code: str) -> None:
    r = api.post("/api/v1/delegations/revoke", user="admin",
                 json={"item_code": item_code, "county": COUNTY, "reason": "抽查发现违法审批，情节严重"})
    assert r.status_code == 200, r.get_json()


def blacklist(api, applicant: dict) -> None:
    r = api.post("/api/v1/delegations/credit-records", user="admin",
                 json={"id_code": applicant["id_code"], "name": applicant["name"], "detail": "告知承诺不实"})
    assert r.status_code == 201, r.get_json()


def item(api, code: str) -> dict:
    return next(i for i in api.get("/api/v1/items", user=WINDOW).get_json() if i["code"] == code)


# -- revoked delegations: refused at registration --------------------------------------------------------------

def test_a_revoked_item_is_refused_at_registration_through_the_api_saying_where_to_apply(client):
    api = PageApi(client)
    direct = item(api, DIRECT)
    revoke(api, DIRECT)
    where = competent(client, DIRECT)
    assert where["address"] and where["phone"]  # the demo's city organisations have a window address
    before = written(client)

    refused = api.create(direct, expect=409)
    assert refused["code"] == "delegation_revoked" and refused["field"] == "item_code"
    for line in where.values():
        assert line in refused["detail"]
    assert refused["apply_at"] == where

    headers = api._headers(WINDOW, "zh-CN")
    for accept in ("false", "true"):  # 登记 and 登记并受理 of the multipart intake
        data = {"item_code": DIRECT, "applicant.kind": "enterprise", "applicant.name": ENTERPRISE["name"],
                "applicant.id_code": ENTERPRISE["id_code"], "applicant.phone": ENTERPRISE["phone"],
                "accept": accept, "materials": [m["code"] for m in direct["materials"]],
                "files.M01": (io.BytesIO(TINY_PDF), "m01.pdf", "application/pdf")}
        r = client.post("/api/v1/cases/intake", headers=headers, data=data, content_type="multipart/form-data")
        assert r.status_code == 409, r.get_json()
        assert r.get_json()["field"] == "item_code" and where["org"] in r.get_json()["detail"]
    assert written(client) == before  # no case, no event, no number given, no message


def test_a_revoked_item_is_refused_on_the_intake_page_and_no_longer_offered(client):
    api = PageApi(client)
    log_in(client, WINDOW)
    path = f"/window/new/{DIRECT}"
    token = csrf_token(client, path)  # the clerk opened the form before the revocation
    revoke(api, DIRECT)
    where = competent(client, DIRECT)
    before = written(client)
    for then_accept in (None, "1"):  # 登记 and 登记并受理
        data = {"csrf_token": token, "applicant_kind": "enterprise", "applicant_name": ENTERPRISE["name"],
                "id_code": ENTERPRISE["id_code"], "phone": ENTERPRISE["phone"], "present": CORE + ["M05"]}
        if then_accept:
            data["then_accept"] = then_accept
        r = client.post(path, data=data, content_type="multipart/form-data")
        page = refused_intake(client, r).get_data(as_text=True)  # 409 before post/redirect/get
        assert "暂无事项" in page and where["org"] in page and where["phone"] in page
        assert ENTERPRISE["name"] in page  # what the clerk typed is kept
    assert written(client) == before

    assert DIRECT not in client.get("/window/new").get_data(as_text=True)
    r = client.get(path)  # a link to it: the list again, saying why
    assert r.status_code == 302 and r.headers["Location"].endswith("/window/new")
    assert where["org"] in client.get("/window/new").get_data(as_text=True)


# -- a blacklisted applicant cannot use 容缺 --------------------------------------------------------------------

def test_a_blacklisted_applicant_is_refused_commitment_acceptance_through_the_api(client):
    api = PageApi(client)
    commitment = item(api, COMMITMENT)
    blacklist(api, PERSON)

    case_no = api.create(commitment, present=CORE, applicant=PERSON)["case_no"]
    refused = api.act(case_no, WINDOW, "accept_with_commitment", expect=409, commitment_days=5)
    assert refused["code"] == "applicant_blacklisted" and refused["field"] == "applicant.id_code"
    assert "黑名单" in refused["detail"] and "容缺" in refused["detail"]
    case = api.case(case_no)
    assert case["state"] == "submitted" and not case["commitment"]
    # the same applicant with every material is accepted normally
    complete = api.create(commitment, applicant=PERSON)["case_no"]
    assert api.act(complete, WINDOW, "accept")["state"] == "county_review"
    # an applicant not on the blacklist still gets 容缺
    clean = api.create(commitment, present=CORE, applicant=ENTERPRISE)["case_no"]
    assert api.act(clean, WINDOW, "accept_with_commitment", commitment_days=5)["state"] == "county_review"


def test_a_blacklisted_applicant_is_refused_commitment_acceptance_on_the_case_page(client):
    api = PageApi(client)
    commitment = item(api, COMMITMENT)
    blacklist(api, PERSON)
    case_no = api.create(commitment, present=CORE, applicant=PERSON)["case_no"]
    clean = api.create(commitment, present=CORE, applicant=ENTERPRISE)["case_no"]
    log_in(client, WINDOW)

    path = f"/window/cases/{case_no}"
    r = client.post(f"{path}/actions/accept_with_commitment",
                    data={"csrf_token": csrf_token(client, path), "commitment_days": "5"})
    assert r.status_code == 303, r.get_data(as_text=True)
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "黑名单" in page and "不能容缺受理" in page
    assert api.case(case_no)["state"] == "submitted"

    path = f"/window/cases/{clean}"
    r = client.post(f"{path}/actions/accept_with_commitment",
                    data={"csrf_token": csrf_token(client, path), "commitment_days": "5"})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert api.case(clean)["state"] == "county_review"
