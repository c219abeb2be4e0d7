"""Never lose the clerk's work (issue 14): files chosen on a refused intake are held as drafts and shown as attached
(one bad file drops only itself), a refused action sends the clerk back to the case's own address with the typed
text and the error once beside its field, irreversible actions ask first, files at every step (补交材料, 重新提交 of a
returned case, reaching the city), and only the actions possible in the case's state are offered."""
from __future__ import annotations

import hashlib
import io
import re
import stat

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_window_desk import (DIRECT, ENTERPRISE_ID, FORWARD_ONLY, TINY_PDF, act, case_count,
                                                db_case, intake, refused_intake)

WINDOW = "window-360730"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _drafts(page: str, code: str) -> list[str]:
    return re.findall(rf'name="draft" value="([0-9a-f]{{32}})" checked data-testid="draft-{code}"', page)


def _post_intake(client, item, data, files=()):
    path = f"/window/new/{item}"
    body = {"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise", "applicant_name": "赣州示范贸易有限公司",
            "id_code": ENTERPRISE_ID, "phone": "0797-8123456", **data}
    for field, content, name, mimetype in files:
        body.setdefault(field, []).append((io.BytesIO(content), name, mimetype))
    return client.post(path, data=body, content_type="multipart/form-data")


def test_a_refused_intake_keeps_its_good_files_and_drops_only_the_bad_one(client, app):
    log_in(client, WINDOW)
    r = _post_intake(client, FORWARD_ONLY, {"applicant_name": "", "present": ["M01", "M02"]},
                     files=[("file_0", TINY_PDF, "营业执照.pdf", "application/pdf"),
                            ("file_0", PNG, "营业执照-2.png", "image/png"),
                            ("file_1", b"MZ\x90\x00 not a pdf", "申请书.pdf", "application/pdf")])
    page = refused_intake(client, r).get_data(as_text=True)
    assert case_count(client) == 0
    held = _drafts(page, "M01")
    assert len(held) == 2 and "营业执照.pdf" in page and "营业执照-2.png" in page  # shown as attached
    assert _drafts(page, "M02") == [] and "申请书.pdf：只接受 PDF、PNG 或 JPEG 文件" in page  # the bad one, named
    # held on the server: 0600 under generated names, never the clerk's file name
    folder = app.config["TONGQUAN"].instance_path / "drafts"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert not any("营业执照" in p.name for p in files)
    # sent again with the name and only the first draft's box still ticked: the case has that file, not the other
    r = _post_intake(client, FORWARD_ONLY, {"present": ["M02", "M03", "M04", "M05"], "draft": [held[0]]})
    assert r.status_code == 302, r.get_data(as_text=True)
    case_no = r.headers["Location"].rsplit("/", 1)[1]
    out = db_case(client, case_no)
    assert out["files"] == [("M01", "application/pdf")] and out["materials"]["M01"][0] is True
    # the draft is used up; its token does not attach a file twice
    r = _post_intake(client, FORWARD_ONLY, {"present": ["M01"], "draft": [held[0]]})
    assert db_case(client, r.headers["Location"].rsplit("/", 1)[1])["files"] == []


def test_another_clerks_draft_token_attaches_nothing(client):
    log_in(client, WINDOW)
    r = _post_intake(client, DIRECT, {"applicant_name": ""}, files=[("file_0", TINY_PDF, "a.pdf", "application/pdf")])
    token = _drafts(refused_intake(client, r).get_data(as_text=True), "M01")[0]
    other = client.application.test_client()
    log_in(other, "window-360702")
    r = _post_intake(other, DIRECT, {"present": ["M01"], "draft": [token]})
    if r.status_code == 302:  # the item is delegated there too: the case has no file of the other clerk
        assert db_case(client, r.headers["Location"].rsplit("/", 1)[1])["files"] == []
    else:
        assert r.status_code == 404


def test_a_refused_action_stays_on_the_case_url_with_its_input_and_each_error_once(client):
    log_in(client, WINDOW)
    case_no = intake(client, DIRECT, ["M01"])
    path = f"/window/cases/{case_no}"
    r = client.post(f"{path}/actions/refuse", data={"csrf_token": csrf_token(client, path), "reason": "",
                                                     "redirect_to": "请到赣州市行政审批局办理"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"{path}#error-summary")
    page = client.get(path).get_data(as_text=True)
    assert 'id="error-summary"' in page and 'href="#refuse-reason"' in page  # the summary links to the field
    assert page.count("请填写不予受理的理由") == 1  # once, beside its field
    assert 'value="请到赣州市行政审批局办理"' in page  # what was typed is kept
    assert db_case(client, case_no)["state"] == "submitted"
    page = client.get(path).get_data(as_text=True)  # a reload shows the case as it is
    assert "请填写不予受理的理由" not in page and client.get(path).status_code == 200


def test_the_password_page_says_each_error_once(client):
    log_in(client, WINDOW)
    r = client.post("/account/password", data={"csrf_token": csrf_token(client, "/account/password"),
                                               "current_password": "", "new_password": "", "confirm_password": ""})
    page = r.get_data(as_text=True)
    messages = re.findall(r'<small class="err">([^<]+)</small>', page)
    assert messages and all(page.count(m.split("：", 1)[-1]) == 1 for m in messages), messages


def test_irreversible_window_actions_ask_first_and_impossible_ones_are_not_offered(client):
    log_in(client, WINDOW)
    case_no = intake(client, DIRECT, ["M01"])  # M02–M05 missing, direct: no 容缺
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="do-accept"' not in page and 'data-testid="do-accept-with-commitment"' not in page
    assert 'data-testid="do-request-correction"' in page
    for action in ("refuse", "withdraw", "request_correction"):  # a one-time notice cannot be added to
        form = re.search(rf'<form[^>]*actions/{action}"[^>]*>', page).group(0)
        assert "data-confirm=" in form, form
    complete = intake(client, DIRECT, ["M01", "M02", "M03", "M04", "M05"])
    assert 'data-testid="do-accept"' in client.get(f"/window/cases/{complete}").get_data(as_text=True)


def test_a_forward_only_core_material_without_an_electronic_copy_is_warned(client):
    log_in(client, WINDOW)
    case_no = intake(client, FORWARD_ONLY, ["M01", "M02", "M03", "M04", "M05"],
                     files={"file_0": (TINY_PDF, "a.pdf", "application/pdf")})
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    warning = re.search(r'data-testid="no-electronic-copy">([^<]+)<', page).group(1)
    assert "起重机械安装监督检验报告" in warning or "M02" not in warning  # names the materials without a file
    assert "没有电子件" in warning


def test_correction_resubmitted_with_files_several_per_material(client):
    log_in(client, WINDOW)
    case_no = intake(client, DIRECT, ["M01", "M02", "M03"])
    act(client, case_no, "request_correction", materials=["M04", "M05"], note="请补交")
    path = f"/window/cases/{case_no}"
    data = {"csrf_token": csrf_token(client, path), "materials": ["M04"],
            "files-M04": [(io.BytesIO(TINY_PDF), "章程.pdf", "application/pdf"), (io.BytesIO(PNG), "章程2.png", "image/png")],
            "files-M05": [(io.BytesIO(TINY_PDF), "住所.pdf", "application/pdf")]}
    r = client.post(f"{path}/actions/resubmit", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    out = db_case(client, case_no)
    assert sorted(out["files"]) == [("M04", "application/pdf"), ("M04", "image/png"), ("M05", "application/pdf")]
    assert out["materials"]["M05"][0] is True  # a file brought marks its material as brought


def test_a_bad_file_on_an_action_keeps_the_good_one_and_the_case_url(client):
    log_in(client, WINDOW)
    case_no = intake(client, DIRECT, ["M01", "M02", "M03"])
    act(client, case_no, "request_correction", materials=["M04", "M05"], note="请补交")
    path = f"/window/cases/{case_no}"
    data = {"csrf_token": csrf_token(client, path), "materials": ["M04", "M05"],
            "files-M04": [(io.BytesIO(TINY_PDF), "章程.pdf", "application/pdf")],
            "files-M05": [(io.BytesIO(b"GIF89a"), "住所.gif", "image/gif")]}
    r = client.post(f"{path}/actions/resubmit", data=data, content_type="multipart/form-data")
    assert r.status_code == 303 and r.headers["Location"].split("#")[0].endswith(path)
    page = client.get(path).get_data(as_text=True)
    assert "住所.gif：只接受 PDF、PNG 或 JPEG 文件" in page and "章程.pdf" in page
    token = _drafts(page, "M04")
    assert len(token) == 1 and db_case(client, case_no)["files"] == []
    r = client.post(f"{path}/actions/resubmit", data={"csrf_token": csrf_token(client, path),
                                                      "materials": ["M04", "M05"], "draft": token})
    assert r.status_code == 302
    assert db_case(client, case_no)["files"] == [("M04", "application/pdf")]


def test_a_returned_case_shows_the_citys_reasons_and_its_upload_reaches_the_city(client, app):
    from app.extensions import db
    from delegation.workflow import Mode, State
    from exchange.models import OutboxMessage
    from tests.integration import factories

    with app.app_context():
        case = factories.make_case(State.RETURNED, Mode.FORWARD_ONLY)
        case_no, code = case.case_no, case.materials[0].code
        reasons = list(case.return_reasons)
        db.session.commit()
    log_in(client, WINDOW)
    path = f"/window/cases/{case_no}"
    page = client.get(path).get_data(as_text=True)
    assert 'data-testid="return-reasons"' in page and all(r in page for r in reasons)
    r = client.post(f"{path}/actions/resubmit", content_type="multipart/form-data",
                    data={"csrf_token": csrf_token(client, path), "comment": "已补扫描件",
                          f"files-{code}": [(io.BytesIO(TINY_PDF), "扫描件.pdf", "application/pdf")]})
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        sent = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.supplement")
                                  .order_by(OutboxMessage.id.desc())).scalars().first()
        assert sent is not None
        assert hashlib.sha256(TINY_PDF).hexdigest() in {a["sha256"] for a in sent.attachments}
