"""The staff desks in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright; no mocks), on SQLite like
tests/e2e/test_dashboard_browser.py: the app is served by werkzeug on loopback and the exchange bus is run
in-process between the steps, as the worker would run it.

- a forward_only case from the county window to the city and back, every user step in the browser (intake with an
  upload, acceptance, city approval, hand-out), then the public lookup shows it concluded;
- 容缺受理 with a non-core required material missing;
- 一次性告知: the correction notice as PDF names the case and every missing material;
- every desk renders (user's name in the top bar, no server or script error); screenshots at 1366×768 go to
  tests/artifacts/ (ignored by git);
- the language switch.
Background cases for the desks that are not under test (review queue, concluded case) are made through the API."""
from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import make_app
from tests.e2e.desk_support import (ARTIFACTS, DISPLAY_NAME, Served, case_no_from_url, check_page, credit_code,
                                    flash_text, pdf_text, serving, tiny_pdf)
from tests.integration.support import COUNTY, Api, run_bus

pytestmark = pytest.mark.e2e

FORWARD_ONLY_ITEM = "GZ-FSZL-001"  # 放射诊疗许可: forward_only, five required materials
COMMITMENT_ITEM = "GZ-JZLJ-001"  # 城市建筑垃圾处置核准: direct, allows 容缺; M04, M05 non-core required
COMMITMENT_LEFT_OUT = ("M04", "与消纳场所签订的消纳协议")
CORRECTION_ITEM = "GZ-CXYS-001"  # 超限运输车辆行驶公路许可（一类）: direct
CORRECTION_MISSING = {"M02": "车辆行驶证", "M05": "车货总体轮廓图"}  # one core, one non-core


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """The app on http://127.0.0.1:<free port>; in the background one concluded forward_only case, one direct case
    waiting at the county review desk and two cases at the city (made through the API: not the steps under test)."""
    from app.extensions import db

    folder = tmp_path_factory.mktemp("desks-e2e")
    target = folder / "e2e.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", folder / "instance")
    background = {}
    with app.app_context():
        api = Api(app.test_client())
        case = api.create(api.item("forward_only"))
        no = case["case_no"]
        api.act(no, f"window-{COUNTY}", "accept")
        run_bus()
        api.act(no, "city-approver", "approve", certificate_no=f"E2E-{no[-6:]}")
        run_bus()
        api.act(no, f"window-{COUNTY}", "hand_out", method="pickup")
        run_bus()
        background["concluded"] = (no, case["query_code"])
        review = api.create(api.item("direct"))
        api.act(review["case_no"], f"window-{COUNTY}", "accept")
        background["review"] = review["case_no"]
        at_city = api.create(api.item("forward_only"))  # waiting at the city: the city desk is not empty
        api.act(at_city["case_no"], f"window-{COUNTY}", "accept")
        reviewed = api.create(api.item("delegated_review"))  # reviewed 同意 by the county: batch-approvable
        api.act(reviewed["case_no"], f"window-{COUNTY}", "accept")
        api.act(reviewed["case_no"], f"review-{COUNTY}", "review", opinion="材料真实完整，同意", recommendation="approve")
        run_bus()
        background["city"] = [at_city["case_no"], reviewed["case_no"]]
        db.session.commit()
        db.session.remove()
    with serving(app, "e2e-desks-server") as base:
        yield Served(app, base, background)


# -- the window's intake, in the browser ---------------------------------------------------------------------------

def submit(page, selector: str) -> None:
    """Click what posts a form (or follows a link) and wait for the page it leads to (after any redirect)."""
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def fetch_pdf(page, url: str, save_as: str | None = None) -> str:
    """A notice link fetched with the page's cookies (as a click would send them); its text, whitespace removed."""
    response = page.request.get(url)
    assert response.status == 200, response.text()[:300]
    assert response.headers["content-type"] == "application/pdf"
    body = response.body()
    assert body[:5] == b"%PDF-"
    if save_as:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / save_as).write_bytes(body)
    return pdf_text(body)


def _start_case(served, clerk, item_code: str, applicant: str, id_code: str, present: set[str] | None,
                upload: str | None = None) -> str:
    """From the window desk: 登记新办件 → pick the item → applicant, materials (ticked; `upload` gets a PDF) → 登记办件.
    `present` None ticks every material. Returns the case number from the intake page it lands on."""
    page = clerk.page
    check_page(clerk, page.goto(served.url("/window")))
    page.click("[data-testid=new-case]")
    page.wait_for_url("**/window/new")
    page.locator(f"[data-testid=pick-item][data-item-code='{item_code}']").click()
    page.wait_for_url(f"**/window/new/{item_code}")
    page.check("[data-testid=kind-enterprise]")
    page.fill("[data-testid=applicant-name]", applicant)
    page.fill("[data-testid=id-code]", id_code)
    assert page.inner_text("[data-testid=id-check]") == "校验位正确"  # window.js checks GB 32100 as it is typed
    page.fill("[data-testid=phone]", "0797-8123456")
    codes = page.locator("[data-testid=material]").evaluate_all("rows => rows.map(r => r.dataset.code)")
    for code in codes:
        if present is None or code in present:
            page.check(f"[data-testid=present-{code}]")
        else:
            assert not page.is_checked(f"[data-testid=present-{code}]")
    if upload:
        page.set_input_files(f"[data-testid=file-{upload}]",
                             files=[{"name": f"{upload}.pdf", "mimeType": "application/pdf", "buffer": tiny_pdf()}])
        assert page.is_checked(f"[data-testid=present-{upload}]")
    submit(page, "[data-testid=create-case]")
    case_no = case_no_from_url(page.url)
    assert f"已登记办件 {case_no}" in flash_text(page)
    check_page(clerk)
    return case_no


def test_forward_only_case_from_the_window_to_the_city_and_back(served, sessions):
    clerk = sessions("window-360730")
    page = clerk.page
    case_no = _start_case(served, clerk, FORWARD_ONLY_ITEM, "赣州市宁都放射诊疗示范医院有限公司", credit_code(1),
                          present=None, upload="M01")
    assert "已提交" in page.inner_text("[data-testid=case-no]")
    files = page.locator("[data-testid=case-materials] tr[data-code=M01]").inner_text()
    assert "M01.pdf" in files and "已提交" in files
    query_code = page.inner_text("[data-testid=query-code]").strip()
    assert query_code.isdigit() and len(query_code) == 6

    page.fill("#accept-comment", "材料齐全，符合法定形式")
    submit(page, "[data-testid=do-accept]")
    assert "已受理" in flash_text(page), flash_text(page)
    check_page(clerk)
    # the acceptance notice gives the applicant the case number and the query code for the public lookup
    notice = fetch_pdf(page, served.url(page.get_attribute("[data-testid=notice-acceptance]", "href")))
    assert "受理通知书" in notice and case_no in notice, notice[:500]
    match = re.search(r"查询码(\d{6})", notice)
    assert match and match.group(1) == query_code, notice[:500]
    served.bus()  # the forward reaches the city and its receipt comes back

    city = sessions("city-approver")
    cp = city.page
    check_page(city, cp.goto(served.url("/city")))
    row = cp.locator(f"[data-testid=row-{case_no}]")
    assert "市级审批中" in row.inner_text() and "宁都县" in row.inner_text()
    assert "市级实质审查" in row.inner_text()  # no county opinion on a forward_only case
    assert row.locator(f"[data-testid=pick-{case_no}]").count() == 0  # never in a batch: reviewed one by one
    check_page(city, name="desk-city-queue")
    cp.click(f"[data-testid=work-{case_no}]")
    cp.wait_for_url(f"**/city/cases/{case_no}")
    check_page(city, name="desk-city-case")
    assert "M01.pdf" in cp.inner_text("[data-testid=materials]")
    cp.fill("#approve-comment", "经审查，符合放射诊疗许可条件")
    cp.fill("#approve-certificate_no", f"FSZL-{case_no[-6:]}")
    cp.once("dialog", lambda dialog: dialog.accept())  # a decision is confirmed first (issue 14)
    submit(cp, "[data-testid=approve-submit]")
    assert f"{case_no}：" in flash_text(cp) and "已完成" in flash_text(cp), flash_text(cp)
    check_page(city)
    assert cp.locator(f"[data-testid=row-{case_no}]").count() == 0  # off the city's queue
    served.bus()  # the decision reaches the window

    check_page(clerk, page.goto(served.url("/window?queue=handout")))
    page.click(f"[data-testid=case-row][data-case-no='{case_no}'] [data-testid=open-intake]")
    page.wait_for_url(f"**/window/cases/{case_no}")
    assert "准予许可" in page.inner_text("[data-testid=decision]")
    assert page.is_checked("[data-testid=method-pickup]")
    page.once("dialog", lambda dialog: dialog.accept())  # the hand-out is confirmed first (issue 14)
    submit(page, "[data-testid=do-hand-out]")
    assert "已出件，办件办结" in flash_text(page), flash_text(page)
    assert "已办结" in page.inner_text("[data-testid=case-no]")
    check_page(clerk)
    served.bus()

    public = sessions()
    pp = public.page
    check_page(public, pp.goto(served.url("/lookup")))
    pp.fill("[data-testid=lookup-case-no]", case_no)
    pp.fill("[data-testid=lookup-query-code]", query_code)
    submit(pp, "[data-testid=lookup-submit]")
    assert pp.inner_text("[data-testid=result-case-no]") == case_no
    assert "已办结" in pp.inner_text("[data-testid=result-state]")
    assert "准予许可" in pp.inner_text("[data-testid=result-decision]")
    timeline = pp.inner_text("[data-testid=result-timeline]")
    for step in ("提交申请", "受理", "准予许可", "出件"):
        assert step in timeline
    assert credit_code(1) not in pp.content()  # the public page never shows the applicant's ID code
    check_page(public)


def test_acceptance_with_commitment_leaves_a_non_core_material_to_supply(served, sessions):
    clerk = sessions("window-360730")
    page = clerk.page
    left_code, left_name = COMMITMENT_LEFT_OUT
    codes = {"M01", "M02", "M03", "M05"}
    case_no = _start_case(served, clerk, COMMITMENT_ITEM, "宁都县示范建筑垃圾清运有限公司", credit_code(2),
                          present=codes)
    assert "缺少" in page.inner_text(f"[data-testid=case-materials] tr[data-code={left_code}]")
    # 受理 proper is not offered while a required material is missing (issue 14: only possible actions); 容缺受理 is
    assert page.locator("[data-testid=action-accept]").count() == 0
    commit = page.locator("[data-testid=action-accept_with_commitment]")
    assert left_name in commit.locator("[data-testid=commit-materials]").inner_text()
    assert page.input_value("[data-testid=commitment-days]").isdigit()
    page.fill("[data-testid=commitment-days]", "5")
    submit(page, "[data-testid=do-accept-with-commitment]")
    assert "已容缺受理" in flash_text(page), flash_text(page)
    check_page(clerk)
    assert "容缺待补交" in page.inner_text(f"[data-testid=case-materials] tr[data-code={left_code}]")
    facts = page.inner_text("[data-testid=case-facts]")
    assert "容缺补交期限" in facts and "受理时间" in facts
    assert page.locator("[data-testid=notice-acceptance]").count() == 1
    # the applicant may bring it later: 补交材料 lists the missing one, besides the optional materials not brought
    # (the authorisation letter an agent would bring, 视情形提交)
    offered = page.locator("[data-testid=supply-materials] input[type=checkbox]").evaluate_all(
        "boxes => boxes.map(b => b.value)")
    optional = [code for code in offered if "视情形提交" in page.inner_text(
        f"[data-testid=case-materials] tr[data-code={code}]")]
    assert left_code in offered and sorted(offered) == sorted([left_code, *optional]) and left_code not in optional


def test_correction_notice_pdf_names_the_case_and_every_missing_material(served, sessions):
    clerk = sessions("window-360730")
    page = clerk.page
    case_no = _start_case(served, clerk, CORRECTION_ITEM, "宁都县示范大件运输有限公司", credit_code(3),
                          present={"M01", "M03", "M04"}, upload="M01")
    form = page.locator("[data-testid=action-request_correction]")
    for code in CORRECTION_MISSING:
        box = form.locator(f"[data-testid=correct-{code}]")
        box.check()  # the missing required materials come pre-ticked; tick them as a clerk would anyway
        assert box.is_checked()
    assert not form.locator("[data-testid=correct-M03]").is_checked()
    form.locator("[data-testid=problem-M02]").fill("请提供车辆行驶证原件及复印件")
    page.fill("[data-testid=correction-note]", "请一次性补齐以上材料后重新提交")
    page.once("dialog", lambda dialog: dialog.accept())  # the one-time notice is confirmed first (issue 14)
    submit(page, "[data-testid=do-request-correction]")
    assert "已出具一次性告知书" in flash_text(page), flash_text(page)
    check_page(clerk)
    assert "待补正" in page.inner_text("[data-testid=case-no]")
    items = page.inner_text("[data-testid=correction-items]")
    for name in CORRECTION_MISSING.values():
        assert name in items

    href = page.get_attribute("[data-testid=notice-correction]", "href")
    text = fetch_pdf(page, served.url(href), save_as="correction-notice.pdf")
    assert "一次性告知书" in text
    assert case_no in text, text[:500]
    for name in CORRECTION_MISSING.values():
        assert name in text, (name, text[:800])
    assert "请提供车辆行驶证原件及复印件" in text and "请一次性补齐以上材料后重新提交" in text


# -- every desk renders ----------------------------------------------------------------------------------------------

def test_every_desk_renders_with_the_user_in_the_top_bar(served, sessions):
    concluded, query_code = served.background["concluded"]
    review_case = served.background["review"]

    clerk = sessions("window-360730")
    page = clerk.page
    check_page(clerk, page.goto(served.url("/window?queue=recent")), name="desk-window")
    assert page.locator(f"[data-testid=case-row][data-case-no='{concluded}']").count() == 1
    check_page(clerk, page.goto(served.url(f"/window/new/{FORWARD_ONLY_ITEM}")), name="desk-window-intake-form")
    check_page(clerk, page.goto(served.url(f"/window/cases/{concluded}")), name="desk-window-case")
    check_page(clerk, page.goto(served.url(f"/cases/{concluded}")), name="case-page")
    assert concluded in page.inner_text("[data-testid=case-no]")
    check_page(clerk, page.goto(served.url("/guide")), name="public-guide")
    assert FORWARD_ONLY_ITEM in page.content()
    page.goto(served.url("/lookup"))
    page.fill("[data-testid=lookup-case-no]", concluded)
    page.fill("[data-testid=lookup-query-code]", query_code)
    submit(page, "[data-testid=lookup-submit]")
    assert "已办结" in page.inner_text("[data-testid=result-state]")
    check_page(clerk, name="public-lookup-result")

    city = sessions("city-approver")
    check_page(city, city.page.goto(served.url("/city")), name="desk-city")
    at_city, reviewed = served.background["city"]
    assert city.page.locator(f"[data-testid=row-{at_city}]").count() == 1
    assert city.page.locator(f"[data-testid=pick-{reviewed}]").count() == 1  # batch-approvable

    reviewer = sessions("review-360730")
    rp = reviewer.page
    check_page(reviewer, rp.goto(served.url("/review")), name="desk-review")
    assert rp.locator(f"[data-testid=row-{review_case}]").count() == 1
    check_page(reviewer, rp.goto(served.url(f"/review/cases/{review_case}")), name="desk-review-case")

    regulator = sessions("reg-city")
    check_page(regulator, regulator.page.goto(served.url("/regulator")), name="desk-regulator")
    assert regulator.page.locator("[data-testid=push-list]").count() == 1

    admin = sessions("admin")
    ap = admin.page
    for tab in ("catalog", "delegations", "users", "exchange"):
        check_page(admin, ap.goto(served.url(f"/admin/{tab}")), name=f"admin-{tab}")
        assert ap.locator("[data-testid=admin-tabs] [aria-current=page]").count() == 1
    check_page(admin, ap.goto(served.url(f"/cases/{concluded}")))
    response = ap.goto(served.url("/dashboard"))
    ap.wait_for_selector("body[data-charts-ready='1']", timeout=15000)
    check_page(admin, response, name="dashboard")


def test_language_switch_to_english(served, sessions):
    clerk = sessions("window-360730")
    page = clerk.page
    page.goto(served.url("/window"))
    submit(page, "header .lang a[hreflang=en]")
    assert page.url.endswith("/window"), page.url
    check_page(clerk, name="desk-window-en")
    assert page.get_attribute("html", "lang") == "en"
    topbar = page.inner_text("header.topbar")
    assert page.inner_text("header .lang strong") == "English"
    assert "Window desk" in page.inner_text("[data-testid=desks]")
    assert "County window clerk" in page.inner_text("[data-testid=who]") and "Log out" in topbar
    assert "窗口受理" not in topbar and "退出登录" not in topbar and "县级窗口人员" not in topbar
    assert DISPLAY_NAME["window-360730"] in topbar  # names are data, never translated
    assert "Register a new case" in page.inner_text("[data-testid=new-case]")
    page.goto(served.url("/lang/zh?next=/window"))
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "窗口受理" in page.inner_text("[data-testid=desks]") and "县级窗口人员" in page.inner_text("[data-testid=who]")
