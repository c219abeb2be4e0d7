"""Assignment in a real Chromium (issue 15), as a county reviewer would do it from the desk: the desk's 本单位未分配
count leads to the list, 领取 claims the case and shows it on the case page with its claimant, the desk's 我的待办
counts it, 退回本单位 gives it back; a colleague is named as stand-in on /stand-ins."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import make_app
from tests.e2e.desk_support import Served, check_page, flash_text, serving
from tests.integration.support import COUNTY, Api

pytestmark = pytest.mark.e2e
REVIEWER = f"review-{COUNTY}"


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """A direct case at the county review desk, and a colleague of the reviewer."""
    from app.extensions import db
    from delegation import staff

    folder = tmp_path_factory.mktemp("assignment-e2e")
    target = folder / "e2e.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", folder / "instance")
    with app.app_context():
        api = Api(app.test_client())
        case_no = api.create(api.item("direct"))["case_no"]
        api.act(case_no, f"window-{COUNTY}", "accept")
        staff.create_account("review-colleague", "宁都县审批人员乙", f"{COUNTY}-bureau", "reviewer", "password-123",
                             must_change_password=False)
        db.session.commit()
        db.session.remove()
    with serving(app, "assignment-e2e") as base:
        yield Served(app, base, {"case_no": case_no})


def _count(page, key: str) -> str:
    return page.inner_text(f"[data-testid=assign-count-{key}]").strip()


def test_a_reviewer_claims_from_the_desk_and_releases_from_the_case_page(served, sessions):
    me = sessions(REVIEWER)
    page, case_no = me.page, served.background["case_no"]
    check_page(me, page.goto(served.url("/review")))
    assert (_count(page, "mine"), _count(page, "unassigned")) == ("0", "1")
    page.click("[data-testid=assign-queue-unassigned]")
    page.click(f"[data-testid=claim-{case_no}]")
    page.wait_for_load_state("networkidle")
    check_page(me, name="assignment-case-claimed")
    assert f"/cases/{case_no}" in page.url and "已领取" in flash_text(page)
    assert page.inner_text("[data-testid=assignee]").strip() == me.display_name
    check_page(me, page.goto(served.url("/review")))
    assert (_count(page, "mine"), _count(page, "unassigned")) == ("1", "0")
    page.goto(served.url(f"/cases/{case_no}"))
    page.click("[data-testid=release-form] button")
    page.wait_for_load_state("networkidle")
    check_page(me)
    assert page.inner_text("[data-testid=assignee]").strip() == "本单位未分配"


def test_a_reviewer_names_a_colleague_as_stand_in(served, sessions):
    me = sessions(REVIEWER)
    page = me.page
    check_page(me, page.goto(served.url("/review")))
    page.click("[data-testid=stand-ins-link]")
    page.select_option("#stand_in", "review-colleague")
    page.fill("#starts_on", "2099-01-04")
    page.fill("#ends_on", "2098-12-31")
    page.click("[data-testid=stand-in-form] button[type=submit]")
    assert "结束日期不能早于开始日期" in page.inner_text("[data-testid=error-ends_on]")
    me.problems.clear()  # the refusal's 422, as meant
    page.fill("#ends_on", "2099-01-08")
    page.click("[data-testid=stand-in-form] button[type=submit]")
    page.wait_for_load_state("networkidle")
    check_page(me, name="assignment-stand-in")
    assert "已设置委托代办" in flash_text(page)
    assert "宁都县审批人员乙" in page.inner_text("[data-testid=stand-in-periods]")
