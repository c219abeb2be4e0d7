"""Approval kinds decided at the window (issue 17, part A) through the desks, on both backends: the window case
page shows the commitment text and approves on the applicant's signature, decides an instant item, files an
exempt item; a clerk without the authority is refused on the page; the regulator verifies the commitment on its
page (a false one revokes the licence); the administrator grants the authorities; the dashboard counts them."""
from __future__ import annotations

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY, ENTERPRISE, OTHER_COUNTY, run_bus
from tests.integration.test_intake_credit_rules import PageApi, item
from tests.integration.test_window_decisions import COMMITMENT_ITEM, FILING_ITEM, INSTANT_ITEM, REGULATOR

WINDOW = f"window-{COUNTY}"
UNAUTHORISED = f"window-{OTHER_COUNTY}"


def browser(client, username):
    """Another browser (its own session) of the same app, logged in as `username`."""
    other = client.application.test_client()
    log_in(other, username)
    return other


def register(api, code, county=COUNTY):
    return api.create(item(api, code), county=county, applicant=ENTERPRISE)["case_no"]


def post(page, path, form_page, **data):
    r = page.post(path, data={"csrf_token": csrf_token(page, form_page), **data})
    assert r.status_code == 303, r.get_data(as_text=True)
    return page.get(r.headers["Location"]).get_data(as_text=True)


def licence_status(api, certificate):
    return api.get(f"/api/v1/licences/{certificate}", user="admin").get_json()["status"]


def test_window_signs_the_commitment_and_approves_then_the_regulator_finds_it_false(client):
    api = PageApi(client)
    case_no = register(api, COMMITMENT_ITEM)
    window = browser(client, WINDOW)
    path = f"/window/cases/{case_no}"
    page = window.get(path).get_data(as_text=True)
    assert 'data-testid="commitment-text"' in page and "劳务派遣" in page and "签署承诺并当场审批" in page

    action = f"{path}/on-the-spot"
    page = post(window, action, path, action="approve_on_commitment", signer_name="李四")  # not ticked as signed: refused, nothing changes
    assert "请确认申请人已当场签署告知承诺书" in page
    assert api.case(case_no)["state"] == "submitted"

    page = post(window, action, path, action="approve_on_commitment", commitment_signed="y", signer_name="李四")
    assert "已签署告知承诺并当场审批" in page and 'data-testid="decision">准予许可' in page
    assert 'data-testid="notice-decision"' in page and 'data-testid="notice-service"' in page  # to print
    case = api.case(case_no)
    assert case["state"] == "concluded"
    certificate = case["decision"]["certificate_no"]

    regulator = browser(client, REGULATOR)
    desk = regulator.get("/regulator").get_data(as_text=True)
    assert 'data-testid="commitment-checks"' in desk and "告知承诺核查（待核查 1 件）" in desk
    checks = "/regulator/commitment-checks"
    page = regulator.get(checks).get_data(as_text=True)
    assert f'data-testid="check-{case_no}"' in page and "李四" in page
    page = post(regulator, f"{checks}/{case_no}", checks, result="false")  # false must say what was found
    assert "承诺不实的，请填写核查发现的情况" in page and licence_status(api, certificate) == "valid"
    page = post(regulator, f"{checks}/{case_no}", checks, result="false", note="实地核查：无固定经营场所")
    assert "已记录核查结果" in page and f'data-testid="check-{case_no}"' not in page
    assert licence_status(api, certificate) == "revoked"
    timeline = window.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "告知承诺核查：承诺不实" in timeline
    assert "<td>commitment_verification</td>" not in timeline and "<td>告知承诺核查</td>" in timeline  # in words

    dashboard = browser(client, "admin").get("/dashboard").get_data(as_text=True)
    assert "告知承诺审批 1 件：核查属实 0 件，承诺不实 1 件，待核查 0 件" in dashboard


def test_a_clerk_without_the_authority_is_refused_on_the_page(client):
    api = PageApi(client)
    case_no = register(api, INSTANT_ITEM, county=OTHER_COUNTY)
    window = browser(client, UNAUTHORISED)
    path = f"/window/cases/{case_no}"
    page = window.get(path).get_data(as_text=True)
    assert 'data-testid="no-authority"' in page
    page = post(window, f"{path}/on-the-spot", path, action="decide_instant")
    assert "您没有“即办件当场办结”权限" in page
    assert api.case(case_no, user=UNAUTHORISED)["state"] == "submitted"

    # the administrator grants it on the authorities page; the same clerk now concludes the case on the spot
    admin = browser(client, "admin")
    authorities = "/admin/window-authorities"
    page = admin.get(f"{authorities}?q={UNAUTHORISED}").get_data(as_text=True)
    assert f'data-testid="authority-{UNAUTHORISED}-instant_decision"' in page
    page = post(admin, authorities, f"{authorities}?q={UNAUTHORISED}", username=UNAUTHORISED,
                instant_decision="y", q=UNAUTHORISED)
    with client.application.app_context():
        import sqlalchemy as sa

        from app.extensions import db
        from delegation.models import User

        name = db.session.execute(sa.select(User.display_name).filter_by(username=UNAUTHORISED)).scalar_one()
    assert f"已保存 {name} 的当场审批权限" in page and f"已保存 {UNAUTHORISED}" not in page  # by name, not account
    page = post(window, f"{path}/on-the-spot", path, action="decide_instant")
    assert "即办件已当场办结" in page and 'data-testid="decision">准予许可' in page


def test_an_exempt_item_is_filed_at_the_window(client):
    api = PageApi(client)
    case_no = register(api, FILING_ITEM)
    window = browser(client, WINDOW)
    path = f"/window/cases/{case_no}"
    assert "豁免审批：备案" in window.get(path).get_data(as_text=True)
    page = post(window, f"{path}/on-the-spot", path, action="file")
    assert "已备案，并已推送监管部门" in page and 'data-testid="decision">已备案' in page
    assert api.case(case_no)["decision"]["decision"] == "file"
    assert "已备案" in window.get(f"/cases/{case_no}").get_data(as_text=True)
    with client.application.app_context():
        run_bus()  # the filing reaches the county's regulator, who sees it is no approval
    push = api.get(f"/api/v1/supervision/pushes?case_no={case_no}", user=REGULATOR).get_json()["items"][0]
    page = browser(client, REGULATOR).get(f"/regulator/pushes/{push['id']}").get_data(as_text=True)
    assert 'data-testid="push-filing"' in page
