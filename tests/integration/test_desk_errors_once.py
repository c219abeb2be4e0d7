"""Each error once on the review, city, regulator and administrator desks (issue 14): a refused form opens at an
error summary whose entry links to the field, and the message itself stands once, beside its field (not again in
the summary, nor in the message bar)."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in, refused  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_review_city_pages import CITY, REVIEWER, Api, run_bus

REGULATOR = "reg-360730"


def _once(page: str, message: str, field_id: str) -> None:
    summary = re.search(r'<div[^>]*id="error-summary".*?</div>', page, flags=re.S)
    assert summary, page[-3000:]
    assert f'href="#{field_id}"' in summary.group(0), summary.group(0)  # the summary leads to the field
    assert page.count(message) == 1, (message, page.count(message))
    beside = re.search(rf'<label class="field invalid">(?:(?!</label>).)*id="{field_id}"(?:(?!</label>).)*'
                       rf'{re.escape(message)}', page, flags=re.S)
    assert beside, f"{message} is not beside #{field_id}"


def _post(client, path, page, data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def test_the_review_desk_says_each_error_once(client):
    case_no = Api(client.application).create("direct")
    log_in(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    r = _post(client, f"{work}/review", work, {"review-opinion": " "})
    r = refused(client, r, work)
    _once(r.get_data(as_text=True), "请填写审核意见", "review-opinion")
    r = _post(client, f"{work}/suspend", work, {"suspend-kind": "hearing", "suspend-expected_end": "15.01.2030",
                                               "suspend-comment": "听证"})
    r = refused(client, r, work)
    _once(r.get_data(as_text=True), "日期格式应为 YYYY-MM-DD", "suspend-expected_end")
    # the domain's refusal of a field lands on that field too (not in the message bar)
    r = _post(client, f"{work}/decide", work, {"decide-decision": "approve", "decide-opinion": "同意",
                                              "decide-certificate_no": "NDX 2026/1"})
    r = refused(client, r, work)
    _once(r.get_data(as_text=True), "证书编号不能超过", "decide-certificate_no")


def test_the_city_desk_says_each_error_once(client):
    app = client.application
    api = Api(app)
    case_no = api.create("delegated_review")
    api.act(case_no, REVIEWER, "review", opinion="经审核，符合条件", recommendation="approve")
    run_bus(app)
    log_in(client, CITY)
    work = f"/city/cases/{case_no}"
    r = _post(client, f"{work}/return", work, {"return-reasons": "", "return-comment": "请补充"})
    r = refused(client, r, work)
    _once(r.get_data(as_text=True), "请一次写明退回的全部理由，每行一条", "return-reasons")
    r = _post(client, f"{work}/approve", work, {"approve-comment": "同意", "approve-certificate_no": "NDX 2026/1"})
    r = refused(client, r, work)
    _once(r.get_data(as_text=True), "证书编号不能超过", "approve-certificate_no")


def test_the_regulator_desk_says_each_error_once(client):
    from app.extensions import db
    from supervision.models import SupervisionPush

    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    api.act(case_no, REVIEWER, "review", opinion="材料齐全")
    api.act(case_no, REVIEWER, "approve", certificate_no="NDX-2026-0009")
    run_bus(app)
    with app.app_context():
        push_id = db.session.execute(sa.select(SupervisionPush.id).filter_by(case_no=case_no)).scalar_one()
        db.session.remove()
    log_in(client, REGULATOR)
    page = f"/regulator/pushes/{push_id}"
    assert _post(client, f"{page}/claim", "/regulator", {}).status_code == 302
    r = _post(client, f"{page}/feedback", page, {"kind": "inspection", "date": "2026-01-05", "result": ""})
    r = refused(client, r, page)
    text = r.get_data(as_text=True)
    message = re.search(r'<small class="err">监管结果：([^<]+)</small>', text)
    assert message, text[-3000:]
    _once(text, message.group(1), "result")


def test_the_admin_desk_says_each_error_once(client):
    log_in(client, "admin")
    r = _post(client, "/admin/users", "/admin/users", {"username": "", "display_name": "新同事", "password": ""})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    _once(page, "请填写用户名", "username")
    _once(page, "请填写初始密码", "password")
    r = _post(client, "/admin/holidays/days", "/admin/holidays", {"day": "2026-13-40", "kind": "holiday", "name": "春节"})
    assert r.status_code == 422
    text = r.get_data(as_text=True)
    message = re.search(r'<small class="err">日期：([^<]+)</small>', text)
    assert message, text[-3000:]
    _once(text, message.group(1), "day")


def test_a_refused_form_keeps_only_its_own_fields_and_one_stash_at_a_time(client):
    """What a refused desk form keeps on the server is bounded: only the form's own fields (a request's strings are
    bounded already), and a refusal not followed to its page replaces the one before."""
    case_no = Api(client.application).create("direct")
    log_in(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    drafts_root = client.application.config["TONGQUAN"].instance_path / "drafts"
    junk = {f"junk{i}": "x" * 9_000 for i in range(20)}
    for _ in range(3):  # never following the redirect
        r = _post(client, f"{work}/review", work, {"review-opinion": " ", **junk})
        assert r.status_code == 303
    stashes = list(drafts_root.rglob("*.form"))
    assert len(stashes) == 1, stashes
    assert stashes[0].stat().st_size < 5_000 and "junk" not in stashes[0].read_text()
    assert "请填写审核意见" in refused(client, r, work).get_data(as_text=True)
