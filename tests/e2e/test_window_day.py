"""A county window clerk's day (issue 14), compact, in a real Chromium (Debian's /usr/bin/chromium, driven by
Playwright) on SQLite: what the clerk would notice, beyond test_window_browser.py's single steps.

- morning: an individual's intake refused for a missing phone keeps its files attached and its typing; the session
  runs out while the clerk fixes it, and 登记办件 then leads through the login back to the form with the text, the
  applicant's kind and the ticked materials put back (the files are chosen again), and registers the case;
- a 一次性告知 refused for a missing note keeps the problem typed beside each material; issued, then answered with a
  file; a 容缺 acceptance is listed under 容缺待补交 until the 补交 with its file;
- afternoon: the case the city returned is under 已退回 with its reasons and a paused clock; a decision waits under
  待出件; a mailed hand-out names the address and the waybill at once, then concludes the case;
- no state, mode or organisation code on the desk or the case pages."""
from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.e2e.desk_support import (PASSWORD, Served, case_no_from_url, check_page, credit_code, flash_text, serving,
                                    tiny_pdf)
from tests.integration.support import COUNTY, Api

pytestmark = pytest.mark.e2e

WINDOW = f"window-{COUNTY}"
COMMITMENT = "GZ-TZSB-001"  # 特种设备使用登记（电梯）, delegated_review, 容缺: M05, M06 non-core; M07 optional
FORWARD_ONLY = "GZ-TZSB-002"  # 特种设备使用登记（起重机械）, forward_only: M01–M05 core
# what a page must never show a clerk: the states', modes' and organisations' codes
CODES = re.compile(r"\b(submitted|accepted|correction_requested|county_review|city_review|forwarded|returned|"
                   r"decided|concluded|refused|forward_only|delegated_review|None)\b|\d{6}-(bureau|window)|\w@\d{6}")


def _resident_id(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


@pytest.fixture(scope="module")
def served(sqlite_template, tmp_path_factory):
    """The app on loopback with the day's background: a case the city returned, a decision to hand out, an
    incomplete forward_only application and a 容缺 one (registered through the API, as a colleague would)."""
    from app.extensions import db
    from delegation.workflow import Mode, State
    from tests.integration import factories

    folder = tmp_path_factory.mktemp("window-day")
    target = folder / "day.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", folder / "instance")
    with app.app_context():
        returned = factories.make_case(State.RETURNED, Mode.FORWARD_ONLY)
        decided = factories.make_case(State.DECIDED, Mode.DIRECT)
        background = {"returned": returned.case_no, "reasons": list(returned.return_reasons),
                      "decided": decided.case_no}
        db.session.commit()
        api = Api(app.test_client())
        applicant = {"kind": "enterprise", "name": "宁都县翠微峰旅行示范有限公司", "id_code": credit_code(9101),
                     "phone": "13907970201"}
        forward_only = next(i for i in api.get("/api/v1/items?mode=forward_only", user=WINDOW).get_json()
                            if i["code"] == FORWARD_ONLY)
        background["incomplete"] = api.create(forward_only, applicant=applicant,
                                              present=["M01", "M02", "M04", "M05"])["case_no"]
        commitment = next(i for i in api.get("/api/v1/items?mode=delegated_review", user=WINDOW).get_json()
                          if i["code"] == COMMITMENT)
        applicant = {**applicant, "name": "宁都县赣南电梯示范有限公司", "id_code": credit_code(9102)}
        background["commitment"] = api.create(commitment, applicant=applicant,
                                              present=["M01", "M02", "M03", "M04", "M06"])["case_no"]
        db.session.remove()
    with serving(app, "e2e-window-day") as base:
        yield Served(app, base, background)


def _case(served, case_no: str) -> dict:
    from delegation.models import Case

    with served.ctx():
        from app.extensions import db

        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        return {"state": case.state, "files": sorted((f.material_code, f.original_name) for f in case.files),
                "kind": case.applicant_kind, "committed_open": case.commitment_deadline is not None
                and case.commitment_met_at is None}


def _submit(page, selector: str) -> None:
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def _no_codes(page) -> None:
    text = page.inner_text("main")
    assert not CODES.search(text), (page.url, CODES.search(text).group(0))


def _pdf(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(tiny_pdf())
    return str(path)


def test_a_morning_intake_survives_a_refusal_and_the_session_running_out(served, sessions, tmp_path):
    clerk = sessions(WINDOW)
    page = clerk.page
    check_page(clerk, page.goto(served.url(f"/window/new/{COMMITMENT}")))
    page.check("[data-testid=kind-individual]")
    page.fill("[data-testid=applicant-name]", "赵六")
    page.fill("[data-testid=id-code]", _resident_id("36073019751212003"))
    page.fill("[data-testid=address]", "宁都县梅江镇中山路1号")
    page.check("[data-testid=present-M03]")
    page.set_input_files("[data-testid=file-M01]", [_pdf(tmp_path, "登记表.pdf"), _pdf(tmp_path, "登记表-副本.pdf")])
    page.set_input_files("[data-testid=file-M02]", _pdf(tmp_path, "营业执照.pdf"))
    page.evaluate("document.querySelector('[data-testid=phone]').removeAttribute('required')")
    _submit(page, "[data-testid=create-case]")  # no phone: refused
    clerk.problems.clear()  # the refusal's 422, as meant
    assert "联系电话" in page.inner_text("#error-summary")
    assert page.locator("[data-testid=draft-M01]:checked").count() == 2  # the files are still attached
    assert page.locator("[data-testid=draft-M02]:checked").count() == 1
    assert page.is_checked("[data-testid=kind-individual]") and page.is_checked("[data-testid=present-M03]")
    assert page.input_value("[data-testid=address]") == "宁都县梅江镇中山路1号"
    page.fill("[data-testid=phone]", "13907970301")
    clerk.context.clear_cookies()  # the session cookie runs out (30 minutes) while the clerk is away
    _submit(page, "[data-testid=create-case]")
    assert "/login" in page.url and "CSRF" not in page.content()  # not a dead end: the login, then the form
    assert "所选文件请重新选择" in page.inner_text("body")
    page.fill("#username", WINDOW)
    page.fill("#password", PASSWORD)
    _submit(page, "button[type=submit]")
    assert page.url.endswith(f"/window/new/{COMMITMENT}"), page.url
    assert page.input_value("[data-testid=applicant-name]") == "赵六"
    assert page.input_value("[data-testid=phone]") == "13907970301"
    assert page.is_checked("[data-testid=kind-individual]"), "the applicant's kind was not put back"
    assert page.is_checked("[data-testid=present-M03]"), "the ticked material was not put back"
    assert page.inner_text("[data-testid=id-check]") == "校验位正确"
    page.set_input_files("[data-testid=file-M01]", _pdf(tmp_path, "登记表.pdf"))
    _submit(page, "[data-testid=create-case]")
    case_no = case_no_from_url(page.url)
    check_page(clerk)
    out = _case(served, case_no)
    assert out["state"] == "submitted" and out["kind"] == "individual" and out["files"] == [("M01", "登记表.pdf")]
    _no_codes(page)


def test_a_correction_answered_with_a_file_and_a_commitment_supplied(served, sessions, tmp_path):
    clerk = sessions(WINDOW)
    page, case_no = clerk.page, served.background["incomplete"]
    check_page(clerk, page.goto(served.url(f"/window/cases/{case_no}")))
    page.fill("[data-testid=problem-M03]", "租赁合同未盖章")
    page.check("[data-testid=correct-M04]")
    page.fill("[data-testid=problem-M04]", "合格证复印件不清晰")
    page.evaluate("document.querySelector('[data-testid=correction-note]').removeAttribute('required')")
    page.once("dialog", lambda dialog: dialog.accept())  # the notice is confirmed first: nothing can be added to it
    _submit(page, "[data-testid=do-request-correction]")  # no note: refused, back on the case
    assert page.url.split("#")[0].endswith(f"/window/cases/{case_no}")
    assert page.input_value("[data-testid=problem-M03]") == "租赁合同未盖章"  # nothing typed is lost
    assert page.input_value("[data-testid=problem-M04]") == "合格证复印件不清晰"
    page.fill("[data-testid=correction-note]", "请补齐后重新提交")
    page.once("dialog", lambda dialog: dialog.accept())
    _submit(page, "[data-testid=do-request-correction]")
    assert "租赁合同未盖章" in page.inner_text("[data-testid=correction-items]")
    _no_codes(page)
    page.set_input_files("[data-testid=resubmit-materials-file-M03]", _pdf(tmp_path, "租赁合同盖章版.pdf"))
    _submit(page, "[data-testid=do-resubmit]")
    assert _case(served, case_no)["files"] == [("M03", "租赁合同盖章版.pdf")]
    assert _case(served, case_no)["state"] == "submitted"

    case_no = served.background["commitment"]
    check_page(clerk, page.goto(served.url(f"/window/cases/{case_no}")))
    page.fill("[data-testid=commitment-days]", "5")
    _submit(page, "[data-testid=do-accept-with-commitment]")
    check_page(clerk, page.goto(served.url("/window?queue=commitment")))
    row = page.locator(f"tr[data-case-no='{case_no}']")
    assert "容缺补交至" in row.inner_text()
    _no_codes(page)
    check_page(clerk, page.goto(served.url(f"/window/cases/{case_no}")))
    page.set_input_files("[data-testid=supply-materials-file-M05]", _pdf(tmp_path, "维保合同.pdf"))
    _submit(page, "[data-testid=do-supply-materials]")
    assert "已补齐" in page.inner_text("[data-testid=commitment-deadline]")
    assert not _case(served, case_no)["committed_open"]
    check_page(clerk, page.goto(served.url("/window?queue=commitment")))
    assert page.locator(f"tr[data-case-no='{case_no}']").count() == 0


def test_the_afternoon_returned_case_and_a_mailed_hand_out(served, sessions):
    clerk = sessions(WINDOW)
    page, returned, decided = clerk.page, served.background["returned"], served.background["decided"]
    check_page(clerk, page.goto(served.url("/window?queue=returned")))
    row = page.locator(f"tr[data-case-no='{returned}']")
    assert all(r in row.inner_text() for r in served.background["reasons"])
    assert page.inner_text(f"tr[data-case-no='{returned}'] [data-testid=row-left]") == "暂停计时"
    _no_codes(page)
    check_page(clerk, page.goto(served.url("/window?queue=handout")))
    before = int(page.inner_text("[data-testid=count-handout]"))
    _submit(page, f"tr[data-case-no='{decided}'] [data-testid=open-intake]")
    _no_codes(page)
    page.check("[data-testid=method-mail]")
    page.evaluate("document.querySelectorAll('#action-hand_out [required]').forEach(e => e.removeAttribute('required'))")
    page.once("dialog", lambda dialog: dialog.accept())
    _submit(page, "[data-testid=do-hand-out]")
    summary = page.inner_text("#error-summary")
    assert "邮寄地址" in summary and "快递单号" in summary, summary  # both at once
    assert page.is_checked("[data-testid=method-mail]")
    page.fill("[data-testid=address]", "宁都县梅江镇翠微大道8号")
    page.fill("[data-testid=tracking-no]", "SF1234567890")
    page.once("dialog", lambda dialog: dialog.accept())
    _submit(page, "[data-testid=do-hand-out]")
    assert "已出件" in flash_text(page) and _case(served, decided)["state"] == "concluded"
    check_page(clerk, page.goto(served.url("/window?queue=handout")))
    assert int(page.inner_text("[data-testid=count-handout]")) == before - 1
