"""Issue 12, finding 5: one correction notice took the server down. A window clerk posted request_correction with
3,000 items of 200 characters (accepted with 200) and printing its PDF took 732 s of CPU. Every list and text a
request carries is bounded (refused with a 422 naming the field, changing nothing), and printing a notice is
bounded whatever is stored."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in, refused  # noqa: F401  (the page client fixture)

WINDOW = "window-360730"
FORWARD_ONLY = "GZ-TZSB-002"  # M01–M05 core and required, M06 optional
ENTERPRISE = {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43"}


def _token(client, username=WINDOW):  # noqa: F811
    r = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def _new_case(client, headers):  # noqa: F811
    materials = [{"code": f"M0{i}", "present": i != 6} for i in range(1, 7)]
    r = client.post("/api/v1/cases", json={"item_code": FORWARD_ONLY, "applicant": ENTERPRISE, "materials": materials},
                    headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def _act(client, headers, case_no, lang="zh-CN", **payload):  # noqa: F811
    return client.post(f"/api/v1/cases/{case_no}/actions", json=payload, headers={**headers, "Accept-Language": lang})


def _stored(client, case_no):  # noqa: F811
    from app.extensions import db
    from delegation.models import Case

    with client.application.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        out = (case.state, case.correction_history, len(case.events))
        db.session.remove()
        return out


def test_three_thousand_correction_items_are_refused_naming_the_field(client):  # noqa: F811
    headers = _token(client)
    case_no = _new_case(client, headers)
    before = _stored(client, case_no)
    items = [{"material_code": None, "problem": "缺" * 200} for _ in range(3000)]
    r = _act(client, headers, case_no, action="request_correction", items=items)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["field"] == "items" and "200" in body["detail"], body
    r = _act(client, headers, case_no, lang="en", action="request_correction", items=items)
    assert r.status_code == 422 and "maximum length 200" in r.get_json()["detail"]
    assert _stored(client, case_no) == before


@pytest.mark.parametrize("items,english", [
    ([{"material_code": "M01", "problem": "缺页"}, {"material_code": "M01", "problem": "缺页"}], "one item per material"),
    ([{"material_code": None, "problem": f"问题{i}"} for i in range(21)], "at most 20 items"),
])
def test_a_notice_lists_one_item_per_material_and_few_free_lines(client, items, english):  # noqa: F811
    headers = _token(client)
    case_no = _new_case(client, headers)
    before = _stored(client, case_no)
    r = _act(client, headers, case_no, lang="en", action="request_correction", items=items)
    assert r.status_code == 422 and r.get_json()["field"] == "items", r.get_json()
    assert english in r.get_json()["detail"]
    r = _act(client, headers, case_no, action="request_correction", items=items)
    assert r.status_code == 422 and "项" in r.get_json()["detail"]
    assert _stored(client, case_no) == before


@pytest.mark.parametrize("payload,field", [
    ({"action": "deny", "reasons": ["理由"] * 31}, "reasons"),
    ({"action": "supply_materials", "materials": ["M01"] * 201}, "materials"),
])
def test_the_lists_of_an_action_are_bounded(client, payload, field):  # noqa: F811
    headers = _token(client)
    case_no = _new_case(client, headers)
    before = _stored(client, case_no)
    r = _act(client, headers, case_no, **payload)
    assert r.status_code == 422 and r.get_json()["field"] == field, r.get_json()
    assert _stored(client, case_no) == before


def test_any_list_or_text_of_any_request_schema_is_bounded(client):  # noqa: F811
    """The rule of every request schema, whatever a field's own bounds: a free-standing field such as the spot
    check's inspector pool had none."""
    headers = _token(client, "admin")
    r = client.post("/api/v1/spot-checks", json={"rate": 0.1, "inspector_pool": ["reg-360730"] * 5000},
                    headers=headers)
    assert r.status_code == 422 and r.get_json()["field"] == "inspector_pool", r.get_json()


def _pdf_pages(client, case_no) -> list[str]:  # noqa: F811
    from pypdf import PdfReader

    r = client.get(f"/window/cases/{case_no}/notice/correction.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    return [page.extract_text() for page in PdfReader(io.BytesIO(r.data)).pages]


def _pdf_text(client, case_no) -> str:  # noqa: F811
    return "\n".join(_pdf_pages(client, case_no))


def test_a_legitimate_correction_notice_still_prints(client):  # noqa: F811
    headers = _token(client)
    case_no = _new_case(client, headers)
    items = [{"material_code": f"M0{i}", "problem": f"第{i}项材料需加盖公章"} for i in range(1, 7)]
    items += [{"material_code": None, "problem": "申请表第二页漏填联系人"}]
    r = _act(client, headers, case_no, action="request_correction", items=items, comment="请一次补齐")
    assert r.status_code == 200, r.get_json()
    log_in(client, WINDOW)
    text = _pdf_text(client, case_no)
    assert "一次性告知书" in text and "第6项材料需加盖公章" in text and "申请表第二页漏填联系人" in text


def test_printing_a_notice_is_bounded_whatever_is_stored(client):  # noqa: F811
    """Data stored before the bounds (or written around them) cannot make one rendering take minutes."""
    from app.extensions import db
    from delegation.models import Case

    headers = _token(client)
    case_no = _new_case(client, headers)
    r = _act(client, headers, case_no, action="request_correction", items=[{"material_code": "M06", "problem": "x"}])
    assert r.status_code == 200, r.get_json()
    with client.application.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        notice = dict(case.correction_history[-1])
        notice["items"] = [{"material_code": None, "problem": "缺" * 200} for _ in range(3000)]
        case.correction_history = [*case.correction_history[:-1], notice]
        db.session.commit()
        from app.web.notices import notice_context

        with client.application.test_request_context():
            items = notice_context(case, "correction")["items"]
        db.session.remove()
    assert len(items) <= 101 and "另有 2900 项" in items[-1]["problem"]
    log_in(client, WINDOW)
    pages = _pdf_pages(client, case_no)
    # 3,000 such rows would fill hundreds of pages; a hundred of them fill a few dozen at most
    assert len(pages) <= 40, len(pages)
    assert "另有 2900 项" in "\n".join(pages)


def test_the_bureau_correction_form_is_bounded_like_the_api(client):  # noqa: F811
    headers = _token(client)
    materials = [{"code": f"M0{i}", "present": True} for i in range(1, 6)]
    r = client.post("/api/v1/cases", json={"item_code": "GZ-SCZT-001", "applicant": ENTERPRISE,
                                           "materials": materials}, headers=headers)
    assert r.status_code == 201, r.get_json()
    case_no = r.get_json()["case_no"]
    assert _act(client, headers, case_no, action="accept").status_code == 200
    before = _stored(client, case_no)
    log_in(client, "review-360730")
    path = f"/review/cases/{case_no}"
    problems = "\n".join(f"第{i}处需要补正" for i in range(25))
    r = client.post(f"{path}/correction", data={"csrf_token": csrf_token(client, path),
                                                "correction-problems": problems})
    assert "最多 20 条" in refused(client, r, path).get_data(as_text=True)
    assert _stored(client, case_no) == before
