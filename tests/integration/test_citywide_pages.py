"""全市通办 on the desks (issue 17 part D): the window's intake form offers the competent counties by name (never
codes), registers and accepts the case for the chosen one, whose reviewer finds it on the review desk; a choice the
item does not allow is refused beside the field and nothing is registered; the administrator flags items; both
ends' figures are on the statistics page."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_window_desk import case_count

WINDOW, COMPETENT = "window-360730", "360702"
ITEM, NOT_FLAGGED = "GZ-CXYS-001", "GZ-SCZT-001"


def _materials(client, item_code):
    from app.extensions import db
    from delegation.models import Item

    with client.application.app_context():
        item = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one()
        codes = [m.code for m in item.materials]
        db.session.remove()
        return codes


def _post(client, item_code, **data):
    path = f"/window/new/{item_code}"
    body = {"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise",
            "applicant_name": "赣州示范物流有限公司", "id_code": "91350100M000100Y43", "phone": "0797-8123456",
            "present": _materials(client, item_code), **data}
    return client.post(path, data=body, content_type="multipart/form-data")


def _page_after(client, r) -> str:
    """The page a refused form leads to (shown at once, or on its own address after a redirect)."""
    if r.status_code in (302, 303) and "/window/new/" in r.headers["Location"]:
        r = client.get(r.headers["Location"].split("#")[0])
    return r.get_data(as_text=True)


def _competent(client, case_no):
    from app.extensions import db
    from delegation.citywide_models import CitywideCase
    from delegation.models import Case

    with client.application.app_context():
        value = db.session.execute(sa.select(CitywideCase.competent_code).join(Case, Case.id == CitywideCase.case_id)
                                   .where(Case.case_no == case_no)).scalar_one_or_none()
        db.session.remove()
        return value


def test_the_window_chooses_the_competent_county_by_name_and_its_reviewer_gets_the_case(client):
    log_in(client, WINDOW)
    page = client.get(f"/window/new/{ITEM}").get_data(as_text=True)
    select = re.search(r'<select name="competent_county".*?</select>', page, re.S).group(0)
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select))
    assert options[COMPETENT] == "章贡区" and "360730" not in options
    assert not any(re.search(r"\d{6}", label) for label in options.values())  # names, never codes
    assert 'name="competent_county"' not in client.get(f"/window/new/{NOT_FLAGGED}").get_data(as_text=True)

    r = _post(client, ITEM, competent_county=COMPETENT, then_accept="1")
    assert r.status_code == 302, r.get_data(as_text=True)
    case_no = r.headers["Location"].rsplit("/", 1)[1]
    assert _competent(client, case_no) == COMPETENT

    from tests.integration.support import run_bus

    with client.application.app_context():
        run_bus()
    reviewer = client.application.test_client()
    log_in(reviewer, f"review-{COMPETENT}")
    assert case_no in reviewer.get("/review").get_data(as_text=True)
    said = "由宁都县窗口受理（负责出件），章贡区审批。"
    assert said in reviewer.get(f"/review/cases/{case_no}").get_data(as_text=True)
    assert said in client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    own = client.application.test_client()
    log_in(own, "review-360730")
    assert case_no not in own.get("/review").get_data(as_text=True)

    stats = reviewer.get("/citywide/statistics").get_data(as_text=True)
    assert re.search(r'data-testid="citywide-row-360702"><td>章贡区</td><td>0</td><td>0</td><td>0</td><td>1</td>', stats)


def test_a_choice_the_item_does_not_allow_is_refused_beside_the_field_and_nothing_is_registered(client):
    log_in(client, WINDOW)
    before = case_count(client)
    page = _page_after(client, _post(client, NOT_FLAGGED, competent_county=COMPETENT))
    assert "未开通全市通办" in page and 'data-testid="competent-county-field"' in page
    page = _page_after(client, _post(client, ITEM, competent_county="369999"))
    assert "所选的有权审批县（市、区）不存在" in page
    assert case_count(client) == before


def test_the_administrator_flags_an_item(client):
    log_in(client, "admin")
    page = client.get("/admin/citywide?q=GZ-SCZT").get_data(as_text=True)
    assert 'data-testid="toggle-GZ-SCZT-001"' in page
    r = client.post("/admin/citywide/GZ-SCZT-001", data={"csrf_token": csrf_token(client, "/admin/citywide"),
                                                         "citywide": "1"})
    assert r.status_code == 303
    assert "已开通全市通办" in client.get(r.headers["Location"]).get_data(as_text=True)
    window = client.application.test_client()
    log_in(window, WINDOW)
    assert 'name="competent_county"' in window.get(f"/window/new/{NOT_FLAGGED}").get_data(as_text=True)
