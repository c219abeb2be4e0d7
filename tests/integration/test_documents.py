"""What the applicant takes home (issue 16), read back from the PDFs as a person would read them (pdftotext,
pdfinfo from poppler-utils): the notices of each mode with the corrected wording, always in Chinese, on one page,
with the window's contact lines, a seal area and a 签收 line; the decision documents issued by the deciding level
in its own number series; the proof of service of a pickup and of a mailing."""
from __future__ import annotations

import re
import subprocess
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db, utcnow
from delegation import engine
from delegation.documents.models import CaseDocument, ServiceRecord
from delegation.models import Case, Org
from delegation.workflow import Action, Mode, State
from tests.integration import factories
from tests.integration.pages import log_in
from tests.integration.support import COUNTY, PERSON, Api

WINDOW = f"window-{COUNTY}"
REVIEWER = f"review-{COUNTY}"
WRONG_ACCEPTANCE = "申请材料齐全、符合法定形式"  # what a 容缺 acceptance must not say


def pdf_text(data: bytes, tmp_path, name="doc") -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"[ \t\u3000]+", "", out.stdout.decode("utf-8"))  # CJK lines wrap anywhere: compare unspaced


def pdf_pages(data: bytes, tmp_path, name="doc") -> int:
    path = tmp_path / f"{name}-info.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def flat(text: str) -> str:
    return text.replace("\n", "")


def fetch(client, case_no: str, kind: str):
    r = client.get(f"/window/cases/{case_no}/notice/{kind}.pdf")
    assert r.status_code == 200, (kind, r.status_code)
    assert r.mimetype == "application/pdf"
    return r.data


@pytest.fixture
def window_client(client):
    log_in(client, WINDOW)
    return client


@pytest.fixture
def browser(app, database_url, tmp_path):
    """A browser-like window clerk: an app of its own, no application context (no cached locale or CSRF token)
    held across requests; the test's own context (`app`) sees what it commits."""
    from tests.conftest import make_app

    browser_app = make_app(database_url, tmp_path / "browser")
    client = browser_app.test_client()
    log_in(client, WINDOW)
    yield client
    with browser_app.app_context():
        db.session.remove()
        db.engine.dispose()


def _case(state: State, mode: Mode) -> Case:
    case = factories.make_case(state, mode)
    db.session.commit()
    return case


DECIDERS = {  # who decides, by name, as the acceptance notice says it (the demo organisations)
    Mode.DIRECT: "由宁都县行政审批局审查并作出决定",
    Mode.DELEGATED_REVIEW: "由宁都县行政审批局进行实质性审核后，报赣州市行政审批局",
    Mode.FORWARD_ONLY: "本窗口负责受理和送达，由赣州市行政审批局",
}


@pytest.mark.parametrize("mode", list(Mode))
def test_acceptance_notice_names_the_decider_and_fits_one_page(window_client, mode, tmp_path):
    case = _case(State.COUNTY_REVIEW if mode is not Mode.FORWARD_ONLY else State.FORWARDED, mode)
    data = fetch(window_client, case.case_no, "acceptance")
    text = flat(pdf_text(data, tmp_path))
    assert "受理通知书" in text and case.case_no in text and case.query_code in text
    assert DECIDERS[mode] in text
    if mode is not Mode.DIRECT:  # the city section that handles it, by name
        section = db.session.get(Org, db.session.execute(sa.select(Org.id).filter_by(code=case.department_code))
                                 .scalar_one())
        assert f"（{section.name}承办）" in text
    window = case.window_org
    for line in (window.address, window.phone, window.office_hours):
        assert line and line.replace(" ", "") in text
    assert "盖章处" in text and "签收" in text
    assert WRONG_ACCEPTANCE in text  # a complete acceptance says so
    assert pdf_pages(data, tmp_path) == 1



def test_commitment_acceptance_does_not_claim_complete_materials(window_client, tmp_path):
    case = factories.submitted(Mode.DIRECT, commitment=True)
    engine.apply(case, factories.window(), Action.ACCEPT_WITH_COMMITMENT, {}, utcnow())
    db.session.commit()
    owed = [m.name for m in case.materials if m.committed]
    assert owed
    data = fetch(window_client, case.case_no, "acceptance")
    text = flat(pdf_text(data, tmp_path))
    assert WRONG_ACCEPTANCE not in text  # the old wording claimed complete materials while listing owed ones
    assert "容缺受理" in text and "待补交" in text and all(name in text for name in owed)
    assert pdf_pages(data, tmp_path) == 1


def test_refusal_notice_names_the_review_authority_court_and_time_limits(window_client, tmp_path):
    case = _case(State.REFUSED, Mode.DIRECT)
    data = fetch(window_client, case.case_no, "refusal")
    text = flat(pdf_text(data, tmp_path))
    assert "不予受理通知书" in text and case.case_no in text and "不属于本事项" in text
    assert "六十日内向宁都县人民政府申请行政复议" in text
    assert "六个月内向宁都县人民法院提起行政诉讼" in text
    assert "可依法申请行政复议或者提起行政诉讼" not in text  # the old sentence named neither authority nor limit
    assert "盖章处" in text and "签收" in text and case.window_org.phone in text
    assert pdf_pages(data, tmp_path) == 1


def test_correction_notice_fits_one_page_with_the_contact_lines(window_client, tmp_path):
    case = _case(State.CORRECTION_REQUESTED, Mode.FORWARD_ONLY)
    data = fetch(window_client, case.case_no, "correction")
    text = flat(pdf_text(data, tmp_path))
    assert "一次性告知书" in text and "复印件不清晰" in text and case.window_org.office_hours.replace(" ", "") in text
    assert pdf_pages(data, tmp_path) == 1


@pytest.mark.parametrize("state, kind, title", [
    (State.FORWARDED, "acceptance", "受理通知书"), (State.REFUSED, "refusal", "不予受理通知书"),
    (State.CORRECTION_REQUESTED, "correction", "一次性告知书"), (State.CONCLUDED, "decision", "准予行政许可决定书"),
    (State.CONCLUDED, "service", "送达回证")])
def test_documents_print_in_chinese_when_the_interface_is_english(browser, state, kind, title, tmp_path):
    case = _case(state, Mode.FORWARD_ONLY if state is not State.REFUSED else Mode.DIRECT)
    browser.get("/lang/en?next=/window")
    assert '<html lang="en">' in browser.get(f"/window/cases/{case.case_no}").get_data(as_text=True)
    text = pdf_text(fetch(browser, case.case_no, kind), tmp_path)
    assert title in text
    # not one word of the English catalogue (the old notices said "Case number", "Applicant", "Notice" …)
    data_printed = (case.item.code, case.certificate_no or "", case.case_no)  # the case's own codes may hold letters
    for value in data_printed:
        text = text.replace(value, "")
    assert not re.search(r"[a-z]{3,}", text), text  # English words; codes are capitals and digits


def _decided_document(mode: Mode, verdict: str = "approve", county: str = COUNTY) -> tuple[Case, CaseDocument]:
    now = utcnow()
    if verdict == "approve":
        case = factories.make_case(State.DECIDED, mode, county=county, now=now)
    else:
        state = State.COUNTY_REVIEW if mode is Mode.DIRECT else State.CITY_REVIEW
        case = factories.make_case(state, mode, county=county, now=now)
        if mode is Mode.DIRECT:
            engine.apply(case, factories.reviewer(county), Action.REVIEW, {"opinion": "不符合条件"}, now)
            who = factories.reviewer(county)
        else:
            who = factories.actor(factories.CITY)
        engine.apply(case, who, Action.DENY, {"reasons": ["生产场所与申报地址不一致", "安全管理人员资格证书已过期"]}, now)
    db.session.commit()
    return case, db.session.execute(sa.select(CaseDocument).filter_by(case_id=case.id)).scalar_one()


ISSUERS = {  # the deciding level, its number prefix and the remedies it names (demo organisations)
    Mode.DIRECT: ("宁都县行政审批局", "宁都行审许", "宁都县人民政府", "宁都县人民法院"),
    Mode.DELEGATED_REVIEW: ("赣州市行政审批局", "赣市行审许", "赣州市人民政府", "赣州市章贡区人民法院"),
    Mode.FORWARD_ONLY: ("赣州市行政审批局", "赣市行审许", "赣州市人民政府", "赣州市章贡区人民法院"),
}


@pytest.mark.parametrize("verdict", ["approve", "deny"])
@pytest.mark.parametrize("mode", list(Mode))
def test_decision_document_is_issued_by_the_deciding_level_in_its_series(window_client, mode, verdict, tmp_path):
    case, document = _decided_document(mode, verdict)
    issuer, prefix, review, court = ISSUERS[mode]
    assert document.doc_no == f"{prefix}〔{document.year}〕{document.seq}号"
    data = fetch(window_client, case.case_no, "decision")
    text = flat(pdf_text(data, tmp_path))
    title = "准予行政许可决定书" if verdict == "approve" else "不予行政许可决定书"
    assert title in text and issuer in text and document.doc_no in text and case.case_no in text
    assert f"验证码：{document.verify_code}" in text
    assert f"六十日内向{review}申请行政复议" in text and f"六个月内向{court}提起行政诉讼" in text
    assert case.applicant_name in text and case.item.name in text
    if verdict == "approve":
        assert "决定准予行政许可" in text and case.certificate_no in text
    else:
        assert "决定不予行政许可" in text and "生产场所与申报地址不一致" in text and "安全管理人员资格证书已过期" in text
    if mode is not Mode.DIRECT:  # the city section that handled it, by name
        assert f"承办机构：{db.session.execute(sa.select(Org.name).filter_by(code=case.department_code)).scalar_one()}" in text
    assert pdf_pages(data, tmp_path) == 1


def test_each_authority_numbers_its_documents_in_its_own_series(app):
    documents = [_decided_document(mode, verdict, county)[1]
                 for mode, verdict, county in ((Mode.DIRECT, "approve", COUNTY), (Mode.FORWARD_ONLY, "approve", COUNTY),
                                               (Mode.DIRECT, "deny", COUNTY), (Mode.DIRECT, "approve", "360731"),
                                               (Mode.DELEGATED_REVIEW, "deny", COUNTY),
                                               (Mode.DIRECT, "approve", COUNTY))]
    by_issuer: dict[str, list[int]] = {}
    for d in documents:
        by_issuer.setdefault(d.issuer_code, []).append(d.seq)
    assert by_issuer == {f"{COUNTY}-bureau": [1, 2, 3], "360700-bureau": [1, 2], "360731-bureau": [1]}
    assert len({d.doc_no for d in documents}) == len(documents)
    assert documents[3].doc_no.startswith("于都行审许〔")


def test_a_decision_rolled_back_leaves_no_gap_in_the_series(app):
    case = factories.make_case(State.COUNTY_REVIEW, Mode.DIRECT)
    db.session.commit()
    case_no = case.case_no
    engine.apply(case, factories.reviewer(), Action.REVIEW, {"opinion": "符合条件"}, utcnow())
    engine.apply(case, factories.reviewer(), Action.APPROVE, {}, utcnow())
    db.session.rollback()  # e.g. the page's unit of work failed after the number was drawn
    assert db.session.execute(sa.select(sa.func.count()).select_from(CaseDocument)).scalar() == 0
    _case_, document = _decided_document(Mode.DIRECT)
    assert document.seq == 1
    assert db.session.execute(sa.select(Case.state).filter_by(case_no=case_no)).scalar_one() is State.COUNTY_REVIEW


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # real parallel writers: a server database
def test_concurrent_decisions_of_one_authority_take_consecutive_numbers(database_url, tmp_path):
    from tests.conftest import make_app

    app = make_app(database_url, tmp_path / "instance")
    n = 10
    with app.app_context():
        case_nos = [factories.make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no for _ in range(n)]
        db.session.commit()
        api = Api(app.test_client())
        for no in case_nos:
            api.act(no, REVIEWER, "review", opinion="符合条件")
        token = api.token(REVIEWER)
        db.session.remove()
    start, statuses = threading.Barrier(n), []

    def decide(i, case_no):
        body = {"action": "approve"} if i % 2 else {"action": "deny", "reasons": ["不符合条件"]}
        start.wait()
        r = app.test_client().post(f"/api/v1/cases/{case_no}/actions", json=body,
                                   headers={"Authorization": f"Bearer {token}"})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=decide, args=(i, no)) for i, no in enumerate(case_nos)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * n
    with app.app_context():
        rows = db.session.execute(sa.select(CaseDocument.seq, CaseDocument.doc_no, CaseDocument.kind)).all()
        assert sorted(r.seq for r in rows) == list(range(1, n + 1))
        assert len({r.doc_no for r in rows}) == n and {r.kind for r in rows} == {"grant", "denial"}
        db.session.remove()
        db.engine.dispose()


# -- proof of service (送达回证) ----------------------------------------------------------------------------------

def _decided_case_no() -> str:
    case = factories.make_case(State.DECIDED, Mode.DIRECT)
    db.session.commit()
    return case.case_no


def _unchanged(case_no: str) -> None:
    case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
    db.session.refresh(case)
    assert case.state is State.DECIDED and case.handout_method is None
    assert db.session.execute(sa.select(ServiceRecord).filter_by(case_id=case.id)).first() is None


def test_pickup_by_the_applicant_records_and_prints_the_proof_of_service(client, window_client, tmp_path):
    api = Api(client)
    case_no = _decided_case_no()
    done = api.act(case_no, WINDOW, "hand_out", method="pickup")
    assert done["state"] == "concluded"
    case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
    record = db.session.execute(sa.select(ServiceRecord).filter_by(case_id=case.id)).scalar_one()
    assert (record.method, record.recipient_name, record.recipient_id_code) == \
        ("pickup", case.applicant_name, case.applicant_id_code)
    document = db.session.execute(sa.select(CaseDocument).filter_by(case_id=case.id)).scalar_one()
    data = fetch(window_client, case_no, "service")
    text = flat(pdf_text(data, tmp_path))
    assert "送达回证" in text and "直接送达" in text and case_no in text and f"验证码：{record.verify_code}" in text
    assert document.doc_no in text and case.certificate_no in text  # what was served
    assert case.applicant_id_code in text and "受送达人（签收人）签名" in text
    assert re.search(r"送达时间\d{4}-\d{2}-\d{2}\d{2}:\d{2}", text)
    assert pdf_pages(data, tmp_path) == 1


def test_pickup_by_an_agent_needs_a_valid_id_number(client, window_client, tmp_path):
    api = Api(client)
    case_no = _decided_case_no()
    r = api.act(case_no, WINDOW, "hand_out", expect=422, method="pickup", recipient_name="李四")
    assert r["field"] == "recipient_id_code" and "身份证号码" in r["detail"]
    _unchanged(case_no)
    r = api.act(case_no, WINDOW, "hand_out", expect=422, method="pickup", recipient_name="李四",
                recipient_id_code="110105194912310021")  # wrong check digit
    assert r["field"] == "recipient_id_code"
    _unchanged(case_no)
    api.act(case_no, WINDOW, "hand_out", method="pickup", recipient_name=PERSON["name"],
            recipient_id_code=PERSON["id_code"].lower())
    text = flat(pdf_text(fetch(window_client, case_no, "service"), tmp_path))
    assert f"签收人{PERSON['name']}" in text and f"签收人证件号码{PERSON['id_code']}" in text


def test_mail_needs_an_address_and_prints_the_waybill(client, window_client, tmp_path):
    api = Api(client)
    case_no = _decided_case_no()
    r = api.act(case_no, WINDOW, "hand_out", expect=422, method="mail", tracking_no="SF1234567890")
    assert r["field"] == "address" and "邮寄地址" in r["detail"]
    _unchanged(case_no)
    r = api.post(f"/api/v1/cases/{case_no}/actions", user=WINDOW, lang="en",
                 json={"action": "hand_out", "method": "mail", "tracking_no": "SF1234567890", "address": "赣州市",
                       "recipient_phone": "call me"})
    assert r.status_code == 422 and r.get_json()["field"] == "recipient_phone"
    _unchanged(case_no)
    api.act(case_no, WINDOW, "hand_out", method="mail", tracking_no="SF1234567890",
            address="江西省赣州市宁都县梅江镇中山路 8 号", recipient_name="王五", recipient_phone="13900000000")
    data = fetch(window_client, case_no, "service")
    text = flat(pdf_text(data, tmp_path))
    for expected in ("邮寄送达", "收件人王五", "江西省赣州市宁都县梅江镇中山路8号", "收件人电话13900000000",
                     "快递单号SF1234567890", "交寄时间"):
        assert expected in text
    assert pdf_pages(data, tmp_path) == 1


def test_hand_out_page_names_the_missing_address(browser):
    from tests.integration.pages import csrf_token

    case_no = _decided_case_no()
    page = f"/window/cases/{case_no}"
    r = browser.post(f"{page}/actions/hand_out", data={
        "csrf_token": csrf_token(browser, page), "method": "mail", "tracking_no": "SF1234567890"})
    assert r.status_code == 303 and r.headers["Location"].split("#")[0].endswith(page)  # back on the case (issue 14)
    html = browser.get(page).get_data(as_text=True)
    assert "邮寄出件请填写邮寄地址" in html
    field = html[html.rindex('<label class="field', 0, html.index('id="hand_out-address"')):]
    assert field.startswith('<label class="field invalid">') and "邮寄出件请填写邮寄地址" in field.split("</label>")[0]
    _unchanged(case_no)


# -- the contact lines, set by the administrator -------------------------------------------------------------------

def test_contact_lines_set_from_the_cli_print_on_the_notices(app, window_client, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["orgs", "contact", f"{COUNTY}-window", "--phone", "0797-6688001",
                                 "--hours", "工作日 8:30—17:30", "--address", "宁都县政务服务中心二楼 12 号窗口"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["orgs", "contact", f"{COUNTY}-window", "--phone", "9" * 41])
    assert result.exit_code != 0 and "--phone" in result.output
    db.session.expire_all()
    window = db.session.execute(sa.select(Org).filter_by(code=f"{COUNTY}-window")).scalar_one()
    assert window.phone == "0797-6688001"  # the refused value changed nothing
    case = _case(State.FORWARDED, Mode.FORWARD_ONLY)
    text = flat(pdf_text(fetch(window_client, case.case_no, "acceptance"), tmp_path))
    assert "0797-6688001" in text and "工作日8:30—17:30" in text and "宁都县政务服务中心二楼12号窗口" in text
    result = runner.invoke(args=["orgs", "show", f"{COUNTY}-window"])
    assert result.exit_code == 0 and "0797-6688001" in result.output


# -- the decision document over the bus -----------------------------------------------------------------------------

from tests.integration.test_two_nodes import COUNTY as NODE_COUNTY, nodes, pump, sftp  # noqa: E402,F401


def _document_at(node, case_no: str) -> tuple[dict, str]:
    """The node's copy of the case's decision document, and its text as that node prints it."""
    from app.web.notices import render_document

    with node.app.test_request_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        document = db.session.execute(sa.select(CaseDocument).filter_by(case_id=case.id)).scalar_one()
        facts = {"doc_no": document.doc_no, "verify_code": document.verify_code, "issuer": document.issuer_code,
                 "seq": document.seq, "content": document.content}
        pdf = render_document(case, "decision")
        db.session.remove()
    return facts, pdf


def test_the_city_decision_document_reaches_the_county_window_over_the_bus(nodes, tmp_path):
    from tests.integration.support import Node

    county, city = Node(nodes[0]), Node(nodes[1])
    window = f"window-{NODE_COUNTY}"
    with county.ctx():
        case_no = county.api.create(county.api.item("forward_only"))["case_no"]
    county.act(case_no, window, "accept")
    pump(county, city)
    city.act(case_no, "city-approver", "deny", reasons=["消防验收意见书载明的使用性质与申请不符"])
    pump(county, city)
    assert county.case(case_no, window)["state"] == "decided"

    at_city, city_pdf = _document_at(city, case_no)
    at_county, county_pdf = _document_at(county, case_no)
    assert at_county == at_city  # the same number, code, issuer and every fact it states
    assert at_city["issuer"] == "360700-bureau" and at_city["doc_no"].startswith("赣市行审许〔")
    assert pdf_text(county_pdf, tmp_path, "county") == pdf_text(city_pdf, tmp_path, "city")

    clerk = county.app.test_client()
    log_in(clerk, window)
    printed = flat(pdf_text(fetch(clerk, case_no, "decision"), tmp_path, "window"))
    assert "不予行政许可决定书" in printed and at_city["doc_no"] in printed and "赣州市行政审批局" in printed
    assert "消防验收意见书载明的使用性质与申请不符" in printed and "六十日内向赣州市人民政府申请行政复议" in printed

    done = county.act(case_no, window, "hand_out", method="mail", tracking_no="SF1234567890",
                      address="江西省赣州市宁都县梅江镇 1 号")
    assert done["state"] == "concluded"
    served = flat(pdf_text(fetch(clerk, case_no, "service"), tmp_path, "service"))
    assert at_city["doc_no"] in served and "SF1234567890" in served


def test_the_api_shows_the_decision_document_and_the_proof_of_service(client):
    api = Api(client)
    case_no = _decided_case_no()
    document = api.case(case_no)["decision"]["document"]
    assert document["kind"] == "grant" and document["number"].startswith("宁都行审许〔") and document["verify_code"]
    handout = api.act(case_no, WINDOW, "hand_out", method="pickup", recipient_name=PERSON["name"],
                      recipient_id_code=PERSON["id_code"])["handout"]
    assert handout["service"]["recipient_name"] == PERSON["name"]
    assert handout["service"]["recipient_id_code"] == PERSON["id_code"] and handout["service"]["served_at"]
