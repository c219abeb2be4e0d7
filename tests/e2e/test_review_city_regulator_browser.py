"""The county review, city and regulator desks in a real Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no mocks), on SQLite, the exchange bus run in-process between steps (issue 14):

- a confirmation stops an accidental batch approval: the selection opens a preview and nothing is approved until the
  approver writes an opinion and confirms; an accidental 不予许可 is stopped by its confirmation dialog;
- closing supervision asks first;
- screenshots of the review, city and regulator desks at 1366×768 under tests/artifacts/ (ignored by git), each
  desk without sideways scrolling and without an org code or an account in its text."""
from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.e2e.desk_support import Served, check_page, flash_text, serving
from tests.integration.support import COUNTY, PERSON, Api, run_bus

pytestmark = pytest.mark.e2e

REVIEWER, CITY, REGULATOR = f"review-{COUNTY}", "city-approver", f"reg-{COUNTY}"
ORG_CODE = re.compile(r"\b\d{6}-[a-z]|@36|\((?:window|review|reg|city)-")


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """The app on loopback with, made through the API: two delegated_review cases at the city reviewed 同意 (batch
    approvable) and a forward_only one; a direct case at the county review desk; a direct case decided, pushed to
    the county regulator, claimed and fed back."""
    from app.extensions import db
    from supervision.models import SupervisionPush
    from supervision.push_actions import add_feedback, claim

    folder = tmp_path_factory.mktemp("review-city-regulator-e2e")
    target = folder / "e2e.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", folder / "instance")
    background = {}
    with app.app_context():
        api = Api(app.test_client())
        window = f"window-{COUNTY}"
        batch = []
        for applicant in (None, PERSON):
            no = api.create(api.item("delegated_review"), applicant=applicant)["case_no"]
            api.act(no, window, "accept")
            api.act(no, REVIEWER, "review", opinion="材料真实完整，同意", recommendation="approve")
            batch.append(no)
        forward_only = api.create(api.item("forward_only"))["case_no"]
        api.act(forward_only, window, "accept")
        at_county = api.create(api.item("direct"))["case_no"]
        api.act(at_county, window, "accept")
        decided = api.create(api.item("direct"))["case_no"]
        api.act(decided, window, "accept")
        api.act(decided, REVIEWER, "review", opinion="符合条件")
        api.act(decided, REVIEWER, "approve", certificate_no="NDX-E2E-0001")
        run_bus()
        push_id = db.session.execute(sa.select(SupervisionPush.id).filter_by(case_no=decided)).scalar_one()
        from delegation.actors import Actor
        from delegation.models import User

        regulator = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=REGULATOR))
                                   .unique().scalar_one())
        claim(regulator, push_id)
        add_feedback(regulator, push_id, {"kind": "inspection", "date": "2026-01-05", "result": "现场检查未发现问题"})
        db.session.commit()
        run_bus()
        background.update(batch=batch, forward_only=forward_only, at_county=at_county, push_id=push_id)
        db.session.remove()
    with serving(app, "e2e-rcr-server") as base:
        yield Served(app, base, background)


def state_of(served, case_no: str) -> str:
    from app.extensions import db
    from delegation.models import Case

    with served.ctx():
        return db.session.execute(sa.select(Case.state).filter_by(case_no=case_no)).scalar_one()


def submit(page, selector: str) -> None:
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def plain_desk(session, name: str) -> None:
    """The page fits 1366 px without sideways scrolling and names no org code or account; then its screenshot."""
    page = session.page
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url
    text = page.inner_text("main")
    assert not ORG_CODE.search(text), (page.url, ORG_CODE.findall(text))
    check_page(session, name=name)


def test_a_confirmation_stops_an_accidental_batch_approval(served, sessions):
    first, second = served.background["batch"]
    city = sessions(CITY)
    page = city.page
    check_page(city, page.goto(served.url("/city")))
    page.check("[data-testid=select-all]")
    assert page.is_checked(f"[data-testid=pick-{first}]") and page.is_checked(f"[data-testid=pick-{second}]")
    submit(page, "[data-testid=batch-approve]")  # the accidental click
    assert page.locator("[data-testid=batch-preview]").count() == 1
    assert page.locator(f"[data-testid=preview-{first}][data-eligible=true]").count() == 1
    assert "准予许可后不能撤销" in page.inner_text("[data-testid=batch-preview-note]")
    plain_desk(city, "desk-city-batch-preview")
    assert state_of(served, first) == state_of(served, second) == "city_review"  # nothing approved yet
    submit(page, "[data-testid=batch-cancel]")
    assert page.url.endswith("/city"), page.url
    assert page.locator(f"[data-testid=row-{first}]").count() == 1
    assert state_of(served, first) == state_of(served, second) == "city_review"

    # confirming without an opinion is not sent (the server refuses it too: tests/integration); with one, approved
    page.check(f"[data-testid=pick-{first}]")
    submit(page, "[data-testid=batch-approve]")
    page.click("[data-testid=batch-confirm]")
    assert page.eval_on_selector("[data-testid=batch-opinion]", "e => e.required && !e.validity.valid")
    assert page.locator("[data-testid=batch-preview]").count() == 1 and state_of(served, first) == "city_review"
    page.fill("[data-testid=batch-opinion]", "经审议，同意准予许可")
    submit(page, "[data-testid=batch-confirm]")
    assert "成功 1 件" in flash_text(page), flash_text(page)
    assert state_of(served, first) == "decided" and state_of(served, second) == "city_review"
    check_page(city)


def test_a_confirmation_stops_an_accidental_denial(served, sessions):
    case_no = served.background["forward_only"]
    served.bus()
    city = sessions(CITY)
    page = city.page
    check_page(city, page.goto(served.url(f"/city/cases/{case_no}")))
    page.fill("#deny-reasons", "选址不符合规划")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("[data-testid=deny-submit]")
    page.wait_for_timeout(300)
    assert asked and "不予许可" in asked[0] and "不能撤销" in asked[0]
    assert page.url.endswith(f"/city/cases/{case_no}") and state_of(served, case_no) == "city_review"
    check_page(city)


def test_closing_supervision_asks_first(served, sessions):
    push_id = served.background["push_id"]
    regulator = sessions(REGULATOR)
    page = regulator.page
    check_page(regulator, page.goto(served.url(f"/regulator/pushes/{push_id}")))
    submit(page, "[data-testid=close]")
    assert "办结后不能再反馈或变更" in page.inner_text("[data-testid=close-confirm]")
    plain_desk(regulator, "desk-regulator-close-confirm")
    submit(page, "[data-testid=close-cancel]")
    assert page.locator("[data-testid=push-state]").inner_text() == "已认领"


def test_desks_at_1366_in_plain_chinese(served, sessions):
    reviewer = sessions(REVIEWER)
    rp = reviewer.page
    check_page(reviewer, rp.goto(served.url("/review")))
    plain_desk(reviewer, "desk-review-worklist")
    check_page(reviewer, rp.goto(served.url(f"/review/cases/{served.background['at_county']}")))
    assert rp.locator("[data-testid=timeline]").count() == 1 and rp.locator("[data-testid=step-deadline]").count() == 1
    plain_desk(reviewer, "desk-review-work-page")

    city = sessions(CITY)
    cp = city.page
    check_page(city, cp.goto(served.url("/city")))
    cp.select_option("[data-testid=filter-county]", COUNTY)
    cp.fill("[data-testid=search]", PERSON["name"][:1])
    with cp.expect_navigation(wait_until="load"):
        cp.press("[data-testid=search]", "Enter")
    assert f"county={COUNTY}" in cp.url
    plain_desk(city, "desk-city-filtered")

    regulator = sessions(REGULATOR)
    gp = regulator.page
    check_page(regulator, gp.goto(served.url("/regulator?tab=all")))
    assert gp.locator("[data-testid=claim-deadlines]").count() == 1
    plain_desk(regulator, "desk-regulator-all")
