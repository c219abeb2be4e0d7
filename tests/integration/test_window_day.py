"""What a clerk hit in a day's work at the window (issue 14, tried after `make run`): the problems typed beside each
material survive a refused 一次性告知; a mailed hand-out names every missing field at once; 登记并受理 of an
incomplete application says what to do on the intake page; a form sent after the session ended leads back to the
form (through the login) instead of a dead end; a paused case's time left says the clock is paused."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_window_desk import DIRECT, TINY_PDF, act, db_case, intake, refused_intake

WINDOW = "window-360730"


def test_a_refused_correction_notice_keeps_the_problem_typed_beside_each_material(client):
    log_in(client, WINDOW)
    case_no = intake(client, DIRECT, ["M01", "M02", "M03", "M04", "M05"])
    page = act(client, case_no, "request_correction", expect=422, materials=["M02"], note="",
               problem_M02="章程缺少第2页", problem_M03="复印件不清晰").get_data(as_text=True)
    assert "请填写补正说明" in page
    assert re.search(r'name="problem_M02"[^>]*value="章程缺少第2页"', page), "the problem typed for M02 is lost"
    assert re.search(r'name="problem_M03"[^>]*value="复印件不清晰"', page)
    assert db_case(client, case_no)["state"] == "submitted"


def _decided(app) -> str:
    from app.extensions import db
    from delegation.workflow import Mode, State
    from tests.integration import factories

    with app.app_context():
        case_no = factories.make_case(State.DECIDED, Mode.DIRECT).case_no
        db.session.commit()
        db.session.remove()
    return case_no


def test_a_mailed_hand_out_names_the_address_and_the_waybill_at_once(client, app):
    case_no = _decided(app)
    log_in(client, WINDOW)
    page = act(client, case_no, "hand_out", expect=422, method="mail", tracking_no="", address="").get_data(as_text=True)
    summary = page[page.index('id="error-summary"'):]
    summary = summary[:summary.index("</div>")]
    assert "快递单号" in summary and "邮寄地址" in summary, summary
    assert page.count("邮寄出件请填写快递单号") == 1 and page.count("邮寄出件请填写邮寄地址") == 1
    assert db_case(client, case_no)["state"] == "decided"


def test_register_and_accept_of_an_incomplete_application_says_to_register_it_first(client):
    log_in(client, WINDOW)
    path = f"/window/new/{DIRECT}"
    data = {"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise", "applicant_name": "宁都县示范商贸有限公司",
            "id_code": "91350100M000100Y43", "phone": "0797-8123456", "present": ["M01"], "then_accept": "1"}
    page = refused_intake(client, client.post(path, data=data)).get_data(as_text=True)  # 409 before PRG
    # the intake page has no 一次性告知 or 容缺 of its own: the clerk is told to register, then act on the case page
    assert "材料不齐全" in page and "登记办件" in page[page.index('id="error-summary"'):][:600]
    assert "请出具一次性告知书或按容缺受理" not in page


def test_an_intake_sent_after_the_session_ended_leads_back_to_the_form(client):
    path = f"/window/new/{DIRECT}"
    log_in(client, WINDOW)
    token = csrf_token(client, path)
    client.delete_cookie("session")  # the session cookie ran out (its 30 minutes) while the clerk typed
    r = client.post(path, data={"csrf_token": token, "applicant_name": "宁都县示范商贸有限公司",
                                "file_0": (__import__("io").BytesIO(TINY_PDF), "a.pdf", "application/pdf")},
                    content_type="multipart/form-data")
    assert r.status_code in (302, 303), (r.status_code, r.get_data(as_text=True)[:300])
    assert "/login" in r.headers["Location"] and "next=" in r.headers["Location"]
    assert "%2Fwindow%2Fnew%2F" in r.headers["Location"] or "/window/new/" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "CSRF" not in page and "文件" in page  # says the files must be chosen again
    log_in(client, WINDOW)
    # logged in, a stale form (its token from an earlier session) comes back to its page too, not a dead end
    r = client.post(path, data={"csrf_token": "stale", "applicant_name": "宁都县示范商贸有限公司"})
    assert r.status_code in (302, 303) and r.headers["Location"].endswith(path)
    assert "CSRF" not in client.get(path).get_data(as_text=True)


def test_a_returned_case_says_its_clock_is_paused_on_the_desk(client, app):
    from app.extensions import db
    from delegation.workflow import Mode, State
    from tests.integration import factories

    with app.app_context():
        case_no = factories.make_case(State.RETURNED, Mode.FORWARD_ONLY).case_no
        db.session.commit()
    log_in(client, WINDOW)
    page = client.get("/window?queue=returned").get_data(as_text=True)
    start = page.index(f'data-case-no="{case_no}"')
    row = page[start:page.index("</tr>", start)]
    assert "暂停计时" in row, row
    with app.app_context():
        from delegation.models import Case

        assert db.session.execute(sa.select(Case.paused_at).filter_by(case_no=case_no)).scalar() is not None
