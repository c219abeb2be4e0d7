"""Every public page on a 390×844 phone screen in a real Chromium (Debian's /usr/bin/chromium through Playwright):
no sideways scrolling (`document.documentElement.scrollWidth <= window.innerWidth`) and the site header present,
the spot-check pages and the licence check too (issue 14). Each page's screenshot goes to
tests/artifacts/public-<name>.png."""
from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.e2e.desk_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SERVER_ERROR_MARKS, serving
from tests.integration.support import COUNTY, Api

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
FITS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """The app on loopback with a concluded case (its licence), a refused case, a case awaiting correction and a
    published spot check, all made through the API."""
    from app.extensions import db
    from delegation.models import Case

    folder = tmp_path_factory.mktemp("public-phone")
    shutil.copy(sqlite_template, folder / "e2e.db")
    app = make_app(f"sqlite:///{folder / 'e2e.db'}", folder / "instance")
    data = {}
    with app.app_context():
        api = Api(app.test_client())
        window, reviewer = f"window-{COUNTY}", f"review-{COUNTY}"
        item = api.item("direct")
        data["item"] = item["code"]
        done = api.create(item)
        api.act(done["case_no"], window, "accept")
        api.act(done["case_no"], reviewer, "review", opinion="材料真实完整，符合条件")
        api.act(done["case_no"], reviewer, "approve")
        api.act(done["case_no"], window, "hand_out", method="pickup")
        data["concluded"] = (done["case_no"], done["query_code"])
        data["licence"] = db.session.execute(sa.select(Case.certificate_no).filter_by(case_no=done["case_no"])
                                             ).scalar_one()  # numbered by the authority's licence series
        refused = api.create(item)
        api.act(refused["case_no"], window, "refuse", reason="申请事项依法不需要取得行政许可，不属于本机关受理范围",
                redirect="请向赣州市市场监督管理局或所在县（市、区）市场监督管理局咨询办理")
        data["refused"] = (refused["case_no"], refused["query_code"])
        corrected = api.create(item)
        material = item["materials"][0]["code"]
        api.act(corrected["case_no"], window, "request_correction",
                items=[{"material_code": material, "problem": "复印件模糊不清，请提供加盖公章的清晰复印件"}])
        data["correction"] = (corrected["case_no"], corrected["query_code"])
        check = api.post("/api/v1/spot-checks", user="admin",
                         json={"rate": 1, "seed": "phone", "county": COUNTY, "title": "2026年第一批双随机抽查"})
        assert check.status_code == 201, check.get_json()
        data["check"] = check.get_json()["id"]
        assert api.post(f"/api/v1/spot-checks/{data['check']}/publish", user="admin").status_code == 200
        db.session.commit()
        db.session.remove()
    with serving(app, "e2e-public-server") as base:
        yield base, data


@pytest.fixture(scope="module")
def phone():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True,
                                       device_scale_factor=2)
        page = context.new_page()
        page.set_default_timeout(15000)
        try:
            yield page
        finally:
            context.close()
            chromium.close()


def check_phone(page, name: str, status: int = 200) -> None:
    """The page fits the phone's width, carries the site header with its home link, and its screenshot is saved."""
    html = page.content()
    for mark in SERVER_ERROR_MARKS:
        assert mark not in html, f"{page.url} shows {mark!r}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"public-{name}.png"), full_page=True)
    scroll, inner = page.evaluate(FITS)
    # A mobile browser zooms a too-wide page out until it fits, and innerWidth grows with it: the window must
    # still be the phone's 390 px, and the page no wider.
    assert inner == PHONE["width"], f"{name} ({page.url}) is zoomed out to {inner} px to fit"
    assert scroll <= inner, f"{name} ({page.url}) scrolls sideways: {scroll} > {inner} px"
    header = page.locator("header.topbar")
    assert header.count() == 1 and header.is_visible(), f"{name} ({page.url}) has no site header"
    assert page.locator("header.topbar a.brand").get_attribute("href") == "/"


def _open(page, url: str, status: int = 200):
    response = page.goto(url)
    assert response.status == status, (url, response.status)


def _look_up(page, base: str, case: tuple[str, str]) -> None:
    _open(page, f"{base}/lookup")
    page.fill("input[name=case_no]", case[0])
    page.fill("input[name=query_code]", case[1])
    page.click("form.lookup-form button[type=submit]")
    page.wait_for_selector("[data-testid=lookup-result]")


def test_every_public_page_fits_a_phone_with_the_site_header(served, phone):
    base, data = served
    pages = [("home", "/", 200), ("guide", "/guide", 200), ("guide-item", f"/guide/{data['item']}", 200),
             ("guide-missing", "/guide/NO-SUCH-ITEM", 404), ("lookup", "/lookup", 200), ("login", "/login", 200),
             ("spot-checks", "/public/spot-checks", 200), ("spot-check", f"/public/spot-checks/{data['check']}", 200),
             ("spot-check-missing", "/public/spot-checks/99999", 404), ("verify", f"/verify/{data['licence']}", 200),
             ("verify-missing", "/verify/NOPE-XK2026-000000", 404)]
    for name, path, status in pages:
        _open(phone, base + path, status)
        check_phone(phone, name)

    _look_up(phone, base, data["concluded"])
    check_phone(phone, "lookup-concluded")
    phone.click("[data-testid=rate-link]")
    phone.wait_for_selector("form.rating-form")
    check_phone(phone, "rating")
    phone.check("input[name=score][value='5']")
    phone.fill("textarea[name=comment]", "窗口服务热情，一次办好")
    phone.click("form.rating-form button[type=submit]")
    phone.wait_for_load_state("networkidle")
    assert "窗口服务热情，一次办好" in phone.inner_text("main")
    check_phone(phone, "rating-done")

    _look_up(phone, base, data["refused"])
    assert "申请事项依法不需要取得行政许可" in phone.inner_text("[data-testid=result-refusal]")
    check_phone(phone, "lookup-refused")
    _look_up(phone, base, data["correction"])
    assert "复印件模糊不清" in phone.inner_text("[data-testid=result-corrections]")
    check_phone(phone, "lookup-correction")


def test_the_public_pages_fit_a_phone_in_english_too(served, phone):
    base, data = served
    _open(phone, f"{base}/lang/en?next=/")
    assert "Service guide" in phone.inner_text("header.topbar")
    for name, path in (("home", "/"), ("guide", "/guide"), ("guide-item", f"/guide/{data['item']}"),
                       ("lookup", "/lookup"), ("verify", f"/verify/{data['licence']}"),
                       ("spot-check", f"/public/spot-checks/{data['check']}")):
        _open(phone, base + path)
        check_phone(phone, f"en-{name}")
    _look_up(phone, base, data["correction"])
    check_phone(phone, "en-lookup-correction")
    _open(phone, f"{base}/lang/zh?next=/")


def test_the_too_many_guesses_page_fits_a_phone(served, phone):
    """Last in this module: it spends the address's budget of wrong query codes."""
    base, data = served
    case_no = data["concluded"][0]
    wrong = "000000" if data["concluded"][1] != "000000" else "111111"
    for _ in range(12):
        _open(phone, f"{base}/lookup")
        phone.fill("input[name=case_no]", case_no)
        phone.fill("input[name=query_code]", wrong)
        with phone.expect_navigation() as navigation:
            phone.click("form.lookup-form button[type=submit]")
        if navigation.value.status == 429:
            break
    assert navigation.value.status == 429
    check_phone(phone, "too-many")
