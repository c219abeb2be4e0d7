"""The county window desk (/window): queues, intake of a new case with uploads, 受理 / 容缺受理 / 一次性告知 / 不予受理,
the PDF notices, hand-out, and who may see what."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)

WINDOW, OTHER_WINDOW, REVIEWER = "window-360730", "window-360731", "review-360730"
ENTERPRISE_ID = "91350100M000100Y43"
PERSON_ID = "11010519491231002X"
FORWARD_ONLY = "GZ-TZSB-002"  # 特种设备使用登记（起重机械）: M01–M05 core and required, M06 optional
COMMITMENT = "GZ-TZSB-001"  # 特种设备使用登记（电梯）, delegated_review, 容缺: M05, M06 non-core required, M07 optional
DIRECT = "GZ-SCZT-001"  # 市场主体设立登记, direct: M01–M05 core and required
TINY_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def login(client, username=WINDOW):
    log_in(client, username)
    return client


def other_client(client, username):
    return login(client.application.test_client(), username)


def db_case(client, case_no):
    from app.extensions import db
    from delegation.models import Case

    with client.application.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        out = {"state": case.state, "files": [(f.material_code, f.media_type) for f in case.files],
               "materials": {m.code: (m.present, m.committed) for m in case.materials},
               "tracking_no": case.tracking_no, "handout_method": case.handout_method}
        db.session.remove()
        return out


def case_count(client):
    from app.extensions import db
    from delegation.models import Case

    with client.application.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar()
        db.session.remove()
        return n


def intake(client, item_code, present, files=None, id_code=ENTERPRISE_ID, kind="enterprise", expect=302,
           name="赣州市示范贸易有限公司"):
    path = f"/window/new/{item_code}"
    data = {"csrf_token": csrf_token(client, path), "applicant_kind": kind, "applicant_name": name,
            "id_code": id_code, "phone": "0797-8123456", "present": list(present)}
    for field, (content, filename, mimetype) in (files or {}).items():
        data[field] = (io.BytesIO(content), filename, mimetype)
    r = client.post(path, data=data, content_type="multipart/form-data")
    if expect != 302:  # refused (expect: the status it stood for before post/redirect/get)
        return refused_intake(client, r)
    assert r.status_code == expect, r.get_data(as_text=True)
    match = re.search(r"/window/cases/([0-9A-Za-z\-]+)$", r.headers["Location"])
    assert match, r.headers["Location"]
    return match.group(1)


def refused_intake(client, r):
    """A refused intake sends the clerk to the form's own address (303, post/redirect/get), where the page shows
    what was typed and why it was refused: that page is returned."""
    assert r.status_code == 303, (r.status_code, r.get_data(as_text=True))
    location = r.headers["Location"]
    assert "/window/new/" in location and location.endswith("#error-summary"), location
    r = client.get(location.split("#")[0])
    assert r.status_code == 200
    return r


def act(client, case_no, action, expect=302, **data):
    """A window action; a refused one (expect: the status it stood for before post/redirect/get) sends the clerk
    back to the case's own address (303), and the page there says why: that page is returned."""
    path = f"/window/cases/{case_no}"
    r = client.post(f"{path}/actions/{action}", data={"csrf_token": csrf_token(client, path), **data})
    if expect == 302:
        assert r.status_code == 302, (action, r.status_code, r.get_data(as_text=True))
        return r
    assert r.status_code == 303, (action, r.status_code, r.get_data(as_text=True))
    assert r.headers["Location"].split("#")[0].endswith(path), r.headers["Location"]
    r = client.get(path)
    assert r.status_code == 200
    return r


def pdf_text(client, case_no, kind) -> str:
    from pypdf import PdfReader

    r = client.get(f"/window/cases/{case_no}/notice/{kind}.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert case_no in r.headers["Content-Disposition"]
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.data)).pages)


def api_token(client, username):
    r = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


# -- tests ---------------------------------------------------------------------------------------------------------

def test_the_picker_lists_delegated_items_by_mode_and_searches(client):
    login(client)
    page = client.get("/window").get_data(as_text=True)
    assert "登记新办件" in page and "待受理" in page and "待出件" in page
    page = client.get("/window/new").get_data(as_text=True)
    for label in ("直接下放", "下放实质性审核权", "服务窗口前移"):
        assert label in page
    assert FORWARD_ONLY in page and DIRECT in page
    page = client.get("/window/new?q=起重机械").get_data(as_text=True)
    assert FORWARD_ONLY in page and DIRECT not in page
    page = client.get(f"/window/new?q={DIRECT.lower()}").get_data(as_text=True)
    assert DIRECT in page and FORWARD_ONLY not in page
    page = client.get(f"/window/new/{FORWARD_ONLY}").get_data(as_text=True)
    assert "起重机械安装监督检验报告" in page and "核心" in page and 'type="file"' in page
    assert client.get("/window/new/NO-SUCH-ITEM").status_code == 404


def test_a_revoked_item_is_not_offered(client):
    login(client)
    admin = api_token(client, "admin")
    r = client.post("/api/v1/delegations/revoke", headers=admin,
                    json={"item_code": FORWARD_ONLY, "county": "360730", "reason": "抽查发现违法审批"})
    assert r.status_code in (200, 201), r.get_json()
    assert FORWARD_ONLY not in client.get("/window/new").get_data(as_text=True)
    # a form opened from an old link: the list again, saying where to apply instead (issue 17; was a 404)
    r = client.get(f"/window/new/{FORWARD_ONLY}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/window/new")
    assert "暂无事项" in client.get("/window/new").get_data(as_text=True)


def test_forward_only_case_with_an_upload_is_accepted_and_forwarded(client):
    login(client)
    before = case_count(client)
    case_no = intake(client, FORWARD_ONLY, ["M01", "M02", "M03", "M05"],
                     files={"file_3": (TINY_PDF, "合格证.pdf", "application/pdf")})  # M04 by its upload
    assert case_count(client) == before + 1
    case = db_case(client, case_no)
    assert case["state"] == "submitted" and case["files"] == [("M04", "application/pdf")]
    assert all(case["materials"][c][0] for c in ("M01", "M02", "M03", "M04", "M05"))
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "合格证.pdf" in page and 'data-testid="do-accept"' in page
    assert case_no in client.get("/window?queue=submitted").get_data(as_text=True)
    act(client, case_no, "accept")
    assert db_case(client, case_no)["state"] == "forwarded"
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "已受理" in page and "notice-acceptance" in page
    text = pdf_text(client, case_no, "acceptance")
    assert "受理通知书" in text and case_no in text and "特种设备使用登记（起重机械）" in text
    assert "5 个工作日" in text and "宁都县" in text
    assert client.get(f"/window/cases/{case_no}/notice/refusal.pdf").status_code == 404
    assert client.get(f"/window/cases/{case_no}/notice/correction.pdf").status_code == 404
    assert client.get(f"/window/cases/{case_no}/notice/other.pdf").status_code == 404


def test_an_upload_that_is_not_pdf_png_or_jpeg_saves_nothing(client):
    login(client)
    before = case_count(client)
    r = intake(client, FORWARD_ONLY, ["M01"], files={"file_1": (b"MZ\x90\x00 not a pdf", "x.pdf", "application/pdf")},
               expect=422)
    assert "只接受 PDF、PNG 或 JPEG 文件" in r.get_data(as_text=True)
    assert case_count(client) == before


def test_commitment_acceptance(client):
    login(client)
    case_no = intake(client, COMMITMENT, ["M01", "M02", "M03", "M04"], kind="individual", id_code=PERSON_ID,
                     name="张三")
    r = act(client, case_no, "accept", expect=409)  # non-core materials are missing
    assert "材料不齐全" in r.get_data(as_text=True)
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "电梯维护保养合同" in page and 'data-testid="do-accept-with-commitment"' in page
    r = act(client, case_no, "accept_with_commitment", expect=422, commitment_days="99")
    assert "承诺补交期限（工作日）" in r.get_data(as_text=True)
    assert db_case(client, case_no)["state"] == "submitted"
    act(client, case_no, "accept_with_commitment", commitment_days="5")
    case = db_case(client, case_no)
    assert case["state"] == "county_review"
    assert case["materials"]["M05"] == (False, True) and case["materials"]["M06"] == (False, True)
    assert case["materials"]["M07"] == (False, False)  # optional: never promised
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "容缺补交期限" in page and "容缺待补交" in page
    text = pdf_text(client, case_no, "acceptance")
    assert case_no in text and "电梯维护保养合同" in text and "容缺" in text
    act(client, case_no, "supply_materials", materials=["M05", "M06"])
    assert db_case(client, case_no)["materials"]["M05"] == (True, True)


def test_one_time_correction_notice_lists_every_missing_material(client):
    login(client)
    case_no = intake(client, DIRECT, ["M01", "M02", "M03"])  # M04 and M05 missing
    r = act(client, case_no, "request_correction", expect=422, materials=["M02"], note="")
    assert "补正说明：请填写补正说明" in r.get_data(as_text=True)
    assert db_case(client, case_no)["state"] == "submitted"
    act(client, case_no, "request_correction", materials=["M02"], problem_M02="复印件不清晰",
        note="请携带原件到窗口核对")
    assert db_case(client, case_no)["state"] == "correction_requested"
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert "notice-correction" in page and 'data-testid="do-resubmit"' in page
    text = pdf_text(client, case_no, "correction")
    assert "一次性告知书" in text and case_no in text
    for name in ("公司章程或合伙协议", "法定代表人、董事、监事和高级管理人员任职文件", "住所使用相关文件"):
        # the PDF may wrap a long name across lines
        assert name in text.replace("\n", ""), (name, text)
    assert "股东（投资人）主体资格证明" not in text  # brought, not on the notice
    assert "复印件不清晰" in text and "请携带原件到窗口核对" in text
    assert client.get(f"/window/cases/{case_no}/notice/acceptance.pdf").status_code == 404
    assert case_no in client.get("/window?queue=correction").get_data(as_text=True)
    act(client, case_no, "resubmit", materials=["M02", "M04", "M05"])
    assert db_case(client, case_no)["state"] == "submitted"


def test_refusal_needs_a_reason_and_where_to_go(client):
    login(client)
    case_no = intake(client, DIRECT, ["M01"])
    r = act(client, case_no, "refuse", expect=422, reason="", redirect_to="")
    page = r.get_data(as_text=True)
    assert "不予受理的理由：请填写不予受理的理由" in page and "申请人可以去办理的地方" in page
    assert db_case(client, case_no)["state"] == "submitted"
    assert client.get(f"/window/cases/{case_no}/notice/refusal.pdf").status_code == 404
    act(client, case_no, "refuse", reason="申请事项不属于本机关职权范围", redirect_to="赣州市政务服务中心市级窗口")
    assert db_case(client, case_no)["state"] == "refused"
    text = pdf_text(client, case_no, "refusal").replace("\n", "")
    assert "不予受理通知书" in text and case_no in text
    assert "申请事项不属于本机关职权范围" in text and "赣州市政务服务中心市级窗口" in text


def test_hand_out_by_mail_needs_a_tracking_number(client):
    login(client)
    case_no = intake(client, DIRECT, ["M01", "M02", "M03", "M04", "M05"])
    act(client, case_no, "accept")
    reviewer = api_token(client, REVIEWER)
    for body in ({"action": "review", "opinion": "材料齐全，符合条件"}, {"action": "approve"}):
        r = client.post(f"/api/v1/cases/{case_no}/actions", headers=reviewer, json=body)
        assert r.status_code == 200, r.get_json()
    assert case_no in client.get("/window?queue=handout").get_data(as_text=True)
    r = act(client, case_no, "hand_out", expect=422, method="mail", tracking_no="")
    assert "快递单号：邮寄出件请填写快递单号" in r.get_data(as_text=True)
    assert db_case(client, case_no)["state"] == "decided"
    act(client, case_no, "hand_out", method="mail", tracking_no="SF1234567890", address="赣州市宁都县梅江镇 1 号")
    case = db_case(client, case_no)
    assert case["state"] == "concluded" and case["handout_method"] == "mail" and case["tracking_no"] == "SF1234567890"
    assert "SF1234567890" in client.get(f"/window/cases/{case_no}").get_data(as_text=True)


def test_a_bad_credit_code_is_refused_naming_the_field(client):
    login(client)
    before = case_count(client)
    r = intake(client, DIRECT, ["M01"], id_code="91350100M000100Y44", expect=422)
    page = r.get_data(as_text=True)
    assert "统一社会信用代码/证件号码：" in page and "校验位" in page
    r = intake(client, DIRECT, ["M01"], id_code="110105194912310021", kind="individual", expect=422)
    assert "统一社会信用代码/证件号码：身份证号码校验位不正确" in r.get_data(as_text=True)
    r = intake(client, DIRECT, ["M01"], name="", expect=422)
    assert "申请人名称：请填写申请人名称" in r.get_data(as_text=True)
    assert case_count(client) == before


@pytest.mark.parametrize("username", [REVIEWER, "city-approver", "admin"])
def test_other_roles_get_403(client, username):
    login(client, username)
    for path in ("/window", "/window/new", f"/window/new/{DIRECT}"):
        r = client.get(path)
        assert r.status_code == 403 and "无权访问" in r.get_data(as_text=True)


def test_another_countys_window_gets_404(client):
    login(client)
    case_no = intake(client, DIRECT, ["M01"])
    act(client, case_no, "refuse", reason="不属于受理范围", redirect_to="市级窗口")
    other = other_client(client, OTHER_WINDOW)
    assert other.get(f"/window/cases/{case_no}").status_code == 404
    assert other.get(f"/window/cases/{case_no}/notice/refusal.pdf").status_code == 404
    token = csrf_token(other, "/window")
    r = other.post(f"/window/cases/{case_no}/actions/withdraw", data={"csrf_token": token, "comment": "x"})
    assert r.status_code == 404
    assert case_no not in other.get("/window?queue=recent").get_data(as_text=True)


def test_queues_page_with_keyset_and_constant_queries(client):
    from app.extensions import db

    login(client)
    numbers = [intake(client, DIRECT, ["M01"]) for _ in range(3)]
    app = client.application
    import app.web.window as window

    old = window.PAGE_SIZE
    window.PAGE_SIZE = 2
    try:
        statements = []

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            page = client.get("/window?queue=submitted").get_data(as_text=True)
            first = len(statements)
            assert numbers[2] in page and numbers[1] in page and numbers[0] not in page
            match = re.search(r'href="([^"]*after=\d+[^"]*)"', page)
            assert match, page
            statements.clear()
            page = client.get(match.group(1).replace("&amp;", "&")).get_data(as_text=True)
            assert numbers[0] in page and numbers[2] not in page
            assert len(statements) == first  # the same queries whatever the page
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    finally:
        window.PAGE_SIZE = old
