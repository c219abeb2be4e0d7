"""The county window desk as a clerk uses it all day (issue 14), in a real Chromium (Debian's /usr/bin/chromium,
driven by Playwright; no mocks), on SQLite, the exchange bus run in-process between steps:

- a refused intake keeps the file chosen (held as a draft, shown as attached) and registers it once corrected;
- a case the city returned is under 已退回 with the city's reasons, and a file uploaded with 重新提交 reaches the city;
- searching the desk by credit code finds the case;
- the confirmation dialog stops an accidental 不予受理;
- after a refused action the address is the case's own, opened at the error summary;
- a screenshot of the window desk at 1366×768 under tests/artifacts/, without sideways scrolling."""
from __future__ import annotations

import hashlib
import re
import shutil

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.e2e.desk_support import (Served, case_no_from_url, check_page, credit_code, new_session, serving,
                                    tiny_pdf)
from tests.integration.support import COUNTY, Api, run_bus

pytestmark = pytest.mark.e2e

WINDOW, CITY = f"window-{COUNTY}", "city-approver"
REASON = "起重机械安装监督检验报告扫描件缺页，请补充完整"


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """The app on loopback with a forward_only case the city returned, and a submitted case of its own applicant."""
    from app.extensions import db

    folder = tmp_path_factory.mktemp("window-e2e")
    target = folder / "e2e.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", folder / "instance")
    background = {}
    with app.app_context():
        api = Api(app.test_client())
        forward_only = api.item("forward_only")
        returned = api.create(forward_only)["case_no"]
        api.act(returned, WINDOW, "accept")
        run_bus()
        api.act(returned, CITY, "return", reasons=[REASON])
        run_bus()
        code = credit_code(4242)
        applicant = {"kind": "enterprise", "name": "宁都县查找示范有限公司", "id_code": code, "phone": "13907970001"}
        submitted = api.create(api.item("direct"), applicant=applicant)["case_no"]
        background.update(returned=returned, submitted=submitted, credit_code=code,
                          forward_only=forward_only["code"], material=forward_only["materials"][0]["code"])
        db.session.remove()
    with serving(app, "e2e-window-server") as base:
        yield Served(app, base, background)


@pytest.fixture
def clerk(browser, served):
    session = new_session(browser, served.base, WINDOW)
    yield session
    session.close()


def _case(served, case_no: str):
    from app.extensions import db
    from delegation.models import Case

    with served.ctx():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        return case.state, [(f.material_code, f.original_name) for f in case.files]


def _submit(page, selector: str) -> None:
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def test_a_refused_intake_keeps_its_file(served, clerk, tmp_path):
    page = clerk.page
    item, material = served.background["forward_only"], served.background["material"]
    check_page(clerk, page.goto(served.url(f"/window/new/{item}")))
    scan = tmp_path / "营业执照扫描件.pdf"
    scan.write_bytes(tiny_pdf())
    page.fill("[data-testid=applicant-name]", "宁都县草稿示范有限公司")
    good = credit_code(777)
    page.fill("[data-testid=id-code]", good[:-1] + ("0" if good[-1] != "0" else "1"))  # a wrong check character
    page.fill("[data-testid=phone]", "0797-8123456")
    page.set_input_files(f"[data-testid=file-{material}]", str(scan))
    _submit(page, "[data-testid=create-case]")
    assert "/window/new/" in page.url
    draft = page.locator(f"[data-testid=draft-{material}]")
    assert draft.count() == 1 and draft.is_checked()
    assert "营业执照扫描件.pdf" in page.inner_text(f"tr[data-code={material}]")  # shown as attached
    assert page.evaluate("document.activeElement.id") == "error-summary"  # the page opens at its errors
    page.fill("[data-testid=id-code]", good)
    _submit(page, "[data-testid=create-case]")
    case_no = case_no_from_url(page.url)
    state, files = _case(served, case_no)
    assert (material, "营业执照扫描件.pdf") in files and state == "submitted"


def test_a_returned_case_shows_the_citys_reasons_and_its_upload_reaches_the_city(served, clerk, tmp_path):
    from app.extensions import db
    from exchange.models import OutboxMessage

    page, case_no = clerk.page, served.background["returned"]
    check_page(clerk, page.goto(served.url("/window")))
    assert page.inner_text("[data-testid=count-returned]") == "1"
    assert page.inner_text("[data-testid=needs-me-total]") != "0"
    _submit(page, "[data-testid=queue-returned]")
    row = page.locator(f"tr[data-case-no='{case_no}']")
    assert REASON in row.inner_text()
    _submit(page, f"tr[data-case-no='{case_no}'] [data-testid=open-intake]")
    assert REASON in page.inner_text("[data-testid=return-reasons]")
    scan = tmp_path / "检验报告.pdf"
    data = tiny_pdf()
    scan.write_bytes(data)
    material = served.background["material"]
    page.set_input_files(f"[data-testid=resubmit-materials-file-{material}]", str(scan))
    assert page.locator(f"[data-testid=resubmit-materials-{material}]").is_checked()  # choosing a file ticks it
    _submit(page, "[data-testid=do-resubmit]")
    check_page(clerk)
    state, files = _case(served, case_no)
    assert state == "forwarded" and (material, "检验报告.pdf") in files
    with served.ctx():
        sent = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.supplement")
                                  ).scalars().all()
        assert any(hashlib.sha256(data).hexdigest() in {a["sha256"] for a in m.attachments} for m in sent)
    served.bus()
    assert _case(served, case_no)[0] == "city_review"  # the city has it, with the file


def test_search_by_credit_code_finds_the_case(served, clerk):
    page = clerk.page
    check_page(clerk, page.goto(served.url("/window?queue=all")))
    page.fill("[data-testid=desk-q]", served.background["credit_code"].lower())
    _submit(page, "[data-testid=desk-search-go]")
    rows = page.locator("[data-testid=case-row]")
    assert rows.count() == 1 and rows.first.get_attribute("data-case-no") == served.background["submitted"]
    assert "宁都县查找示范有限公司" in rows.first.inner_text()


def test_a_confirmation_stops_an_accidental_refusal_and_an_error_keeps_the_case_url(served, clerk):
    page, case_no = clerk.page, served.background["submitted"]
    check_page(clerk, page.goto(served.url(f"/window/cases/{case_no}")))
    page.fill("[data-testid=refuse-reason]", "不属于本级受理范围")
    page.fill("[data-testid=refuse-redirect]", "赣州市行政审批局")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("[data-testid=do-refuse]")
    page.wait_for_timeout(300)
    assert _case(served, case_no)[0] == "submitted" and page.url.endswith(f"/window/cases/{case_no}")
    # a refusal the server refuses (the reason emptied past the browser's own check): back on the case's address
    page.fill("[data-testid=refuse-reason]", "")
    page.evaluate("document.querySelector('[data-testid=refuse-reason]').removeAttribute('required')")
    page.once("dialog", lambda dialog: dialog.accept())
    _submit(page, "[data-testid=do-refuse]")
    assert re.search(rf"/window/cases/{case_no}#error-summary$", page.url), page.url
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.input_value("[data-testid=refuse-redirect]") == "赣州市行政审批局"  # the typed text is kept
    assert page.locator("text=请填写不予受理的理由").count() == 1
    check_page(clerk, page.reload())  # a reload is a GET of the case, not a 405
    assert _case(served, case_no)[0] == "submitted"


def test_the_window_desk_at_1366(served, clerk):
    page = clerk.page
    check_page(clerk, page.goto(served.url("/window?queue=all")))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url
    check_page(clerk, name="desk-window-worklist")


def test_typed_intake_text_survives_an_expired_session(served, clerk):
    from tests.e2e.desk_support import PASSWORD

    page, item = clerk.page, served.background["forward_only"]
    check_page(clerk, page.goto(served.url(f"/window/new/{item}")))
    page.fill("[data-testid=applicant-name]", "宁都县会话过期示范有限公司")
    page.fill("[data-testid=phone]", "13907970002")
    clerk.context.clear_cookies()  # the session expires while the clerk types
    page.goto(served.url(f"/window/new/{item}"))
    assert "/login" in page.url
    page.fill("#username", WINDOW)
    page.fill("#password", PASSWORD)
    _submit(page, "button[type=submit]")
    page.goto(served.url(f"/window/new/{item}"))
    assert page.input_value("[data-testid=applicant-name]") == "宁都县会话过期示范有限公司"
    assert page.input_value("[data-testid=phone]") == "13907970002"
