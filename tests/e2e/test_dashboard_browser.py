"""The statistics dashboard in a real Chromium (Debian's /usr/bin/chromium, driven by Playwright; no mocks): the app
is served by werkzeug on loopback, cases are created and concluded through the API, an admin logs in through the
login page and the charts must be drawn. Screenshots go to tests/artifacts/ (ignored by git)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_app
from tests.e2e.desk_support import ARTIFACTS, VIEWPORT, serving
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, run_bus

pytestmark = pytest.mark.e2e



def _conclude_direct(api: Api, county: str, score: int | None = None) -> dict:
    from delegation import ratings

    case = api.create(api.item("direct"), county=county)
    no = case["case_no"]
    api.act(no, f"window-{county}", "accept")
    api.act(no, f"review-{county}", "review", opinion="材料真实完整，符合条件")
    api.act(no, f"review-{county}", "approve")  # the licence number comes from the authority's series
    api.act(no, f"window-{county}", "hand_out", method="pickup")
    if score is not None:
        ratings.rate(no, case["query_code"], score, "办理太慢" if score < 3 else "")  # a bad one: its reason
    return case


def _conclude_forward_only(api: Api, county: str) -> dict:
    case = api.create(api.item("forward_only"), county=county)
    no = case["case_no"]
    api.act(no, f"window-{county}", "accept")
    run_bus()
    api.act(no, "city-approver", "approve")
    run_bus()
    api.act(no, f"window-{county}", "hand_out", method="pickup")
    return case


@pytest.fixture
def served(sqlite_template, tmp_path):
    """The app on http://127.0.0.1:<free port>, with a few concluded cases in two counties and one still open."""
    from app.extensions import db

    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", tmp_path / "instance")
    with app.app_context():
        api = Api(app.test_client())
        _conclude_direct(api, COUNTY, score=5)
        _conclude_direct(api, COUNTY, score=4)
        _conclude_forward_only(api, COUNTY)
        _conclude_direct(api, OTHER_COUNTY, score=1)  # 于都县: satisfaction 0 %, flagged
        open_case = api.create(api.item("direct"), county=OTHER_COUNTY)
        api.act(open_case["case_no"], f"window-{OTHER_COUNTY}", "accept")
        db.session.commit()
        db.session.remove()
    with serving(app, "e2e-server") as base:
        yield base


def _login(browser, base: str, username: str):
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page, problems


# Counts the pixels of a canvas that are not fully transparent (ECharts draws on a transparent canvas).
PAINTED_PIXELS = """(canvas) => {
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) painted++; }
  return painted;
}"""


# The KPI names whose text is wider than their box (cut off): none may be.
CUT_LABELS = """() => Array.from(document.querySelectorAll('[data-testid=cards] .figure .name'))
  .filter(el => el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight + 1)
  .map(el => el.textContent)"""


def test_admin_sees_the_dashboard_with_its_charts_drawn(served, browser):
    context, page, problems = _login(browser, served, "admin")
    try:
        assert page.url.endswith("/admin"), page.url  # the admin lands on their desk; the top bar leads on
        page.click("[data-testid=desks] >> text=统计分析")
        assert page.url.endswith("/dashboard"), page.url
        page.wait_for_selector("body[data-charts-ready='1']", timeout=15000)

        header = page.inner_text("[data-testid=who]")
        assert "市行政审批局管理员" in header and "市级管理员" in header and "行政审批局" in header

        assert page.inner_text("[data-field=total_cases] .value") == "5"
        assert page.inner_text("[data-field=concluded] .value") == "4"
        ranking = page.inner_text("[data-testid=county-ranking]")
        assert "宁都县" in ranking and "于都县" in ranking
        flagged = page.locator("[data-testid=county-ranking] tr.flag")
        assert flagged.count() == 1 and "于都县" in flagged.inner_text()

        for chart in ("chart-month", "chart-mode", "chart-county"):
            canvas = page.locator(f"#{chart} canvas").first
            assert canvas.evaluate(PAINTED_PIXELS) > 500, f"{chart} is blank"

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
        page.screenshot(path=str(ARTIFACTS / "dashboard-full.png"), full_page=True)

        # every county of the city is ranked, those without a case too (the divisions are reference data)
        counties = page.eval_on_selector_all("select[name=county] option[value]:not([value=''])",
                                             "options => options.map(o => o.textContent.trim())")
        assert len(counties) > 2  # the reference list, far more than the two counties with cases
        ranked = page.eval_on_selector_all("[data-testid=county-ranking] tbody tr td:nth-child(2)",
                                           "cells => cells.map(c => c.textContent.trim())")
        assert sorted(ranked) == sorted(counties)
        # each KPI's name is whole (never cut off with an ellipsis), at 1366 and at 1920 px
        for width, height in ((1366, 768), (1920, 1080)):
            page.set_viewport_size({"width": width, "height": height})
            cut = page.evaluate(CUT_LABELS)
            assert cut == [], f"KPI names cut off at {width} px: {cut}"
        page.set_viewport_size(VIEWPORT)
        # satisfaction comes with the number of ratings; a card opens the cases behind its figure
        assert "3" in page.inner_text("[data-field=satisfaction] [data-testid=ratings-count]")
        page.click("[data-field=concluded]")
        page.wait_for_selector("[data-testid=figure-cases]")
        assert page.inner_text("[data-testid=case-total]") == "4"
        assert page.locator("[data-testid=figure-cases] tbody a[href^='/cases/']").count() == 4
        page.screenshot(path=str(ARTIFACTS / "dashboard-cases.png"))
        page.click("[data-testid=back-to-dashboard]")
        page.wait_for_selector("body[data-charts-ready='1']", timeout=15000)

        # the filter form narrows the figures (GET), and the downloads work from the browser session
        page.select_option("select[name=county]", OTHER_COUNTY)
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("body[data-charts-ready='1']", timeout=15000)
        assert f"county={OTHER_COUNTY}" in page.url
        assert page.inner_text("[data-field=total_cases] .value") == "2"
        with page.expect_download() as download:
            page.click("[data-testid=export-xlsx]")
        path = download.value.path()
        assert path and Path(path).read_bytes()[:2] == b"PK"  # a zip: the XLSX

        # in English the names are longer: still whole
        page.goto(f"{served}/lang/en?next=/dashboard")
        page.wait_for_selector("body[data-charts-ready='1']", timeout=15000)
        assert "Total cases" in page.inner_text("[data-field=total_cases] .name")
        for width, height in ((1366, 768), (1920, 1080)):
            page.set_viewport_size({"width": width, "height": height})
            cut = page.evaluate(CUT_LABELS)
            assert cut == [], f"KPI names cut off at {width} px in English: {cut}"
        assert problems == [], problems
    finally:
        context.close()


def test_county_staff_get_the_forbidden_page(served, browser):
    context, page, _ = _login(browser, served, f"window-{COUNTY}")
    try:
        response = page.goto(f"{served}/dashboard")
        assert response.status == 403
        text = page.inner_text("body")
        assert "无权访问" in text and "宁都县窗口人员" in text and "县级窗口人员" in text
        assert "Traceback" not in page.content()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-forbidden.png"))
    finally:
        context.close()
