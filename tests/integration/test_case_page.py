"""The case page (/cases/<case_no>) and the file download every desk uses."""
from __future__ import annotations

import re

from tests.integration.test_review_city_pages import (CITY, COUNTY, OTHER, PDF, REVIEWER, WINDOW, Api, client,
                                                      login, logout, run_bus, text)

__all__ = ["client"]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _case_with_files(api, mode="direct"):
    case_no = api.create(mode)
    item = api.item(mode)
    pdf_id = api.upload(case_no, item["materials"][0]["code"])
    png_id = api.upload(case_no, item["materials"][-1]["code"], data=PNG, name="现场照片.png", mimetype="image/png")
    return case_no, pdf_id, png_id


def test_another_countys_case_and_its_file_look_absent(client):
    api = Api(client.application)
    case_no, pdf_id, _png = _case_with_files(api)
    login(client, f"window-{OTHER}")
    r = client.get(f"/cases/{case_no}")
    assert r.status_code == 404 and "页面不存在" in text(r)
    assert "赣州市示范贸易有限公司" not in text(r) and 'data-testid="case-head"' not in text(r)
    assert client.get(f"/cases/{case_no}/files/{pdf_id}").status_code == 404
    logout(client)
    login(client, f"reg-{COUNTY}")  # regulators see pushes, not cases
    assert client.get(f"/cases/{case_no}").status_code == 404
    assert client.get(f"/cases/{case_no}/files/{pdf_id}").status_code == 404


def test_files_stream_with_their_type_to_those_who_see_the_case(client):
    api = Api(client.application)
    case_no, pdf_id, png_id = _case_with_files(api)
    login(client, REVIEWER)
    r = client.get(f"/cases/{case_no}/files/{pdf_id}")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data == PDF
    assert r.headers["Content-Disposition"].startswith("inline")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = client.get(f"/cases/{case_no}/files/{png_id}")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == PNG
    # a file id of another case is not reachable through this case's number
    other_no, other_pdf, _ = _case_with_files(api)
    assert client.get(f"/cases/{case_no}/files/{other_pdf}").status_code == 404
    # the review work page lists them, a link each, and opens one in the page only when asked (issue 14)
    _listed_not_embedded(text(client.get(f"/review/cases/{case_no}")), case_no, pdf_id, png_id)


def _listed_not_embedded(page: str, case_no: str, *file_ids: int) -> None:
    """A work page with many scans loads none of them up front: no iframe or img of a file, a link per file and a
    查看 that opens it on demand (desks.js; the browser test opens one)."""
    assert "<iframe" not in page and f'<img src="/cases/{case_no}/files/' not in page
    for file_id in file_ids:
        href = f"/cases/{case_no}/files/{file_id}"
        assert f'<a href="{href}"' in page and f'data-src="{href}"' in page


def test_the_city_page_lists_the_forwarded_files_without_embedding_them(client):
    app = client.application
    api = Api(app)
    case_no = api.create("forward_only", accept=False)
    item = api.item("forward_only")
    api.upload(case_no, item["materials"][0]["code"])
    api.upload(case_no, item["materials"][1]["code"], data=PNG, name="现场照片.png", mimetype="image/png")
    api.act(case_no, WINDOW, "accept")
    run_bus(app)
    login(client, CITY)
    page = text(client.get(f"/city/cases/{case_no}"))
    assert "营业执照.pdf" in page and "现场照片.png" in page
    ids = re.findall(rf'data-src="/cases/{case_no}/files/(\d+)"', page)
    assert len(ids) == 2, page
    _listed_not_embedded(page, case_no, *map(int, ids))
    assert client.get(f"/cases/{case_no}/files/{ids[0]}").status_code == 200  # the download route, as before


def test_case_page_shows_header_deadline_parties_timeline_and_work_link(client):
    api = Api(client.application)
    case_no, pdf_id, _ = _case_with_files(api)
    login(client, REVIEWER)
    page = text(client.get(f"/cases/{case_no}"))
    assert case_no in page and "直接下放" in page and "县级审核中" in page and "宁都县" in page
    assert "赣州市示范贸易有限公司" in page
    assert 'data-testid="deadline"' in page and "到期时间" in page
    assert "宁都县行政审批局" in page and "宁都县行业主管部门" in page  # deciding and supervising
    # staff by name (the account only as the cell's title), never "name (account)"
    assert re.search(r'<td title="window-360730">宁都县窗口人员</td>', page)
    assert "宁都县窗口人员 (window-360730)" not in page
    assert "登记申请" in page and "受理" in page and "转县级审批" in page
    assert f'href="/review/cases/{case_no}"' in page  # the reviewer has something to do here
    assert f"/cases/{case_no}/files/{pdf_id}" in page
    assert 'data-testid="messages"' not in page  # the bus's messages are the administrator's
    logout(client)
    login(client, WINDOW)
    page = text(client.get(f"/cases/{case_no}"))
    assert 'data-testid="messages"' not in page  # the window does not read the bus
    assert "去办理（补交材料、撤回）" in page  # the window may still bring materials or withdraw


def test_case_page_shows_pauses_messages_and_the_city_decision(client):
    app = client.application
    api = Api(app)
    case_no = api.create("delegated_review")
    api.act(case_no, REVIEWER, "suspend", kind="expert_review", expected_end="2030-02-01", comment="组织专家评审")
    api.act(case_no, REVIEWER, "resume", comment="专家评审完毕")
    api.act(case_no, REVIEWER, "review", opinion="经审核同意", recommendation="approve")
    run_bus(app)
    api.act(case_no, CITY, "approve", certificate_no="GZ-2026-0001")
    run_bus(app)
    login(client, REVIEWER)
    page = text(client.get(f"/cases/{case_no}"))
    pauses = page[page.index('data-testid="pauses"'):]
    assert "专家评审" in pauses and "组织专家评审" in pauses
    assert 'data-testid="messages"' not in page and "case.forward" not in page
    assert "GZ-2026-0001" in page and "市级审批员" in page
    assert "经审核同意" in page
    logout(client)
    login(client, "admin")  # the administrator reads the case's messages, their type and state in words
    messages = text(client.get(f"/cases/{case_no}"))
    messages = messages[messages.index('data-testid="messages"'):]
    assert "case.forward" in messages and "case.decision" in messages and "发出" in messages
    assert "转报" in messages and "已确认" in messages and "acknowledged" not in messages
    logout(client)
    login(client, CITY)
    page = text(client.get(f"/cases/{case_no}"))
    assert 'data-testid="supervision"' in page  # the city decided: it sees the supervision of its approval
