"""全市通办 between two county nodes after the forward (issue 17 part D): what the competent county (章贡区, its own
node) does that the applicant must hear of reaches the accepting window (宁都县's node), and what the applicant
does at that window reaches the competent county. Over a real OpenSSH SFTP server, three installations."""
from __future__ import annotations

import io

import pytest

from tests.integration.pages import csrf_token, log_in
from tests.integration.test_citywide_nodes import ACCEPTING, COMPETENT, PDF, _body, nodes, pump  # noqa: F401
from tests.integration.test_two_nodes import sftp  # noqa: F401  (the SFTP server fixture)

WINDOW, REVIEWER = f"window-{ACCEPTING}", f"review-{COMPETENT}"


def _accepted(accepting, competent, city) -> str:
    case_no = accepting.post("/api/v1/citywide/cases", WINDOW, expect=201, **_body(accepting, COMPETENT))["case_no"]
    assert accepting.act(case_no, WINDOW, "accept")["state"] == "forwarded"
    pump(accepting, competent, city)
    assert competent.case(case_no, REVIEWER)["state"] == "county_review"
    return case_no


def test_a_correction_asked_by_the_competent_county_is_returned_to_the_window_and_supplied_back(nodes):
    accepting, competent, city = nodes
    case_no = _accepted(accepting, competent, city)
    material = _body(accepting, COMPETENT)["materials"][0]["code"]
    asked = competent.act(case_no, REVIEWER, "request_correction",
                          items=[{"material_code": material, "problem": "行驶证已过有效期"}])
    assert asked["state"] == "correction_requested"
    pump(accepting, competent, city)

    here = accepting.case(case_no, WINDOW)
    assert here["state"] == "returned"
    assert any("行驶证已过有效期" in r for r in here["return_reasons"])
    client = accepting.app.test_client()  # the clerk finds it under 已退回, with the reasons
    log_in(client, WINDOW)
    desk = client.get("/window?queue=returned").get_data(as_text=True)
    assert case_no in desk and "行驶证已过有效期" in desk

    path = f"/window/cases/{case_no}"  # the clerk supplies the corrected file on the case page (重新提交)
    page = client.get(path).get_data(as_text=True)
    assert 'data-testid="return-reasons"' in page and 'data-testid="do-resubmit"' in page
    r = client.post(f"{path}/actions/resubmit", content_type="multipart/form-data",
                    data={"csrf_token": csrf_token(client, path), "materials": [material],
                          f"files-{material}": [(io.BytesIO(PDF), "新行驶证.pdf", "application/pdf")]})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert accepting.case(case_no, WINDOW)["state"] == "forwarded"
    pump(accepting, competent, city)
    there = competent.case(case_no, REVIEWER)
    assert there["state"] == "county_review"  # back on the reviewer's desk with the new file
    assert "新行驶证.pdf" in {f["original_name"] for f in there["files"]}
    assert accepting.case(case_no, WINDOW)["state"] == "forwarded"

    competent.act(case_no, REVIEWER, "review", opinion="补正后符合要求")
    competent.act(case_no, REVIEWER, "approve", certificate_no="章超限2026-0011")
    pump(accepting, competent, city)
    assert accepting.case(case_no, WINDOW)["state"] == "decided"


def test_a_withdrawal_at_the_accepting_window_ends_the_competent_countys_copy(nodes):
    accepting, competent, city = nodes
    case_no = _accepted(accepting, competent, city)
    client = accepting.app.test_client()  # the clerk is offered 撤回 while the competent county reviews
    log_in(client, WINDOW)
    assert 'data-testid="do-withdraw"' in client.get(f"/window/cases/{case_no}").get_data(as_text=True)

    done = accepting.act(case_no, WINDOW, "withdraw", comment="申请人不再需要通行")
    assert done["state"] == "withdrawn"
    pump(accepting, competent, city)
    there = competent.case(case_no, REVIEWER)
    assert there["state"] == "withdrawn"
    assert any("申请人不再需要通行" in (e.get("comment") or "") for e in there["timeline"])
    competent.act(case_no, REVIEWER, "review", expect=409, opinion="已撤回的件")  # nothing left to decide


def test_a_suspension_at_the_competent_county_shows_at_the_window_until_it_ends(nodes):
    accepting, competent, city = nodes
    case_no = _accepted(accepting, competent, city)
    competent.act(case_no, REVIEWER, "suspend", kind="expert_review", expected_end="2030-01-15",
                  comment="组织专家评审护送方案")
    pump(accepting, competent, city)
    here = accepting.case(case_no, WINDOW)
    assert here["state"] == "suspended" and here["suspension"]["kind"] == "expert_review"
    assert competent.act(case_no, REVIEWER, "resume")["state"] == "county_review"
    pump(accepting, competent, city)
    assert accepting.case(case_no, WINDOW)["state"] == "forwarded"  # waiting for the decision again


def test_a_rongque_commitment_broken_at_the_accepting_window_terminates_the_competent_countys_copy(nodes):
    from datetime import timedelta

    import sqlalchemy as sa

    from app.extensions import db
    from delegation import cases
    from delegation.models import Item
    from persistence import utcnow

    accepting, competent, city = nodes
    for node in (accepting, competent):  # the city lets the item take 容缺 (its outline drawing M05 later)
        with node.ctx():
            db.session.execute(sa.update(Item).where(Item.code == "GZ-CXYS-001").values(allows_commitment=True))
            db.session.commit()
    body = _body(accepting, COMPETENT)
    next(m for m in body["materials"] if m["code"] == "M05")["present"] = False
    case_no = accepting.post("/api/v1/citywide/cases", WINDOW, expect=201, **body)["case_no"]
    assert accepting.act(case_no, WINDOW, "accept_with_commitment")["state"] == "forwarded"
    pump(accepting, competent, city)
    assert competent.case(case_no, REVIEWER)["state"] == "county_review"

    with accepting.ctx():  # the promised drawing never came: the window's deadline job ends the case
        assert cases.sweep(utcnow() + timedelta(days=60))["terminated"] == 1
    assert accepting.case(case_no, WINDOW)["state"] == "terminated"
    pump(accepting, competent, city)
    there = competent.case(case_no, REVIEWER)
    assert there["state"] == "terminated"
    assert any("容缺承诺逾期未补齐材料" in (e.get("comment") or "") for e in there["timeline"])
