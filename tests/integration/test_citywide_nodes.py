"""全市通办 across three installations over a real OpenSSH SFTP server (issue 17 part D): 宁都县's node (360730) accepts
an application for 章贡区 (360702, its own node), which reviews and decides it; the decision comes back to 宁都县's
window, which hands it out; the city node (360700) takes no part. Both ends count the case; a county hosted by no
node this one exchanges with is refused at intake naming competent_county, and nothing is kept."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.integration.support import ENTERPRISE, Node
from tests.integration.test_two_nodes import build_node, sftp  # noqa: F401  (the SFTP server fixture)

ACCEPTING, COMPETENT, CITY, UNHOSTED = "360730", "360702", "360700", "360703"
ITEM = "GZ-CXYS-001"
PDF = b"%PDF-1.4\n%citywide test\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def nodes(tmp_path, sftp):  # noqa: F811
    accepting = build_node(tmp_path, ACCEPTING, sftp)
    competent = build_node(tmp_path, COMPETENT, sftp)
    city = build_node(tmp_path, CITY, sftp, remote=[ACCEPTING, COMPETENT])
    apps = {ACCEPTING: accepting, COMPETENT: competent, CITY: city}
    for node, app in apps.items():  # the operators exchange certificates out of band
        pem = tmp_path / f"{node}.pem"
        pem.write_bytes((tmp_path / f"instance-{node}" / "keys" / "node.crt").read_bytes())
    for node, app in apps.items():
        for peer in apps:
            if peer != node:
                result = app.test_cli_runner().invoke(args=["exchange", "trust", peer, str(tmp_path / f"{peer}.pem")])
                assert result.exit_code == 0, result.output
    yield Node(accepting), Node(competent), Node(city)
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()


def pump(*nodes: Node, rounds=3):
    for _ in range(rounds):
        for node in nodes:
            node.exchange()


def _body(node: Node, competent: str) -> dict:
    from delegation.models import Item

    with node.ctx():
        item = db.session.execute(sa.select(Item).filter_by(code=ITEM)).unique().scalar_one()
        materials = [{"code": m.code, "present": True} for m in item.materials]
    return {"item_code": ITEM, "applicant": ENTERPRISE, "competent_county": competent, "materials": materials}


def _cases(node: Node) -> int:
    from delegation.models import Case

    with node.ctx():
        return db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()


def test_accepted_in_one_county_decided_in_another_handed_out_where_accepted(nodes, sftp):  # noqa: F811
    accepting, competent, city = nodes
    window, reviewer = f"window-{ACCEPTING}", f"review-{COMPETENT}"

    counties = accepting.get(f"/api/v1/citywide/items/{ITEM}/counties", window)["counties"]
    assert counties == [{"code": COMPETENT, "name": "章贡区"}]  # the only other county a node here exchanges with

    refused = accepting.post("/api/v1/citywide/cases", window, expect=409, **_body(accepting, UNHOSTED))
    assert (refused["code"], refused["field"]) == ("county_not_hosted", "competent_county")
    assert "南康区" in refused["detail"] and _cases(accepting) == 0

    case_no = accepting.post("/api/v1/citywide/cases", window, expect=201, **_body(accepting, COMPETENT))["case_no"]
    with accepting.ctx():
        material = _body(accepting, COMPETENT)["materials"][0]["code"]
        r = accepting.api.post(f"/api/v1/cases/{case_no}/files", user=window, content_type="multipart/form-data",
                               data={"material_code": material, "file": (io.BytesIO(PDF), "车辆行驶证.pdf")})
        assert r.status_code == 201, r.get_json()
    assert accepting.act(case_no, window, "accept")["state"] == "forwarded"
    pump(accepting, competent, city)

    there = competent.case(case_no, reviewer)
    assert there["state"] == "county_review" and there["files"][0]["original_name"] == "车辆行驶证.pdf"
    with competent.ctx():
        from exchange.bus import get_bus

        assert get_bus().blobs.get(there["files"][0]["sha256"]) == PDF
    assert accepting.case(case_no, window)["state"] == "forwarded"  # waiting for the result
    competent.act(case_no, reviewer, "review", opinion="车辆、路线和护送方案符合要求")
    competent.act(case_no, reviewer, "approve", certificate_no="章超限2026-0009")
    pump(accepting, competent, city)

    result = accepting.case(case_no, window)
    assert result["state"] == "decided" and result["decision"]["certificate_no"] == "章超限2026-0009"
    done = accepting.act(case_no, window, "hand_out", method="pickup")
    assert done["state"] == "concluded"

    # counted at both ends, each node its own copy
    mine = accepting.get("/api/v1/citywide/statistics", window)
    assert [(r["county"], r["accepted_for_others"], r["accepted_concluded"]) for r in mine] == [(ACCEPTING, 1, 1)]
    theirs = competent.get("/api/v1/citywide/statistics", reviewer)
    assert [(r["county"], r["handled_for_others"], r["handled_decided"]) for r in theirs] == [(COMPETENT, 1, 1)]

    # the city took no part; every message was acknowledged; nothing left on the server
    assert _cases(city) == 0
    for node, peer in ((accepting, COMPETENT), (competent, ACCEPTING)):
        with node.ctx():
            from exchange.models import OutboxMessage

            rows = db.session.execute(sa.select(OutboxMessage).filter_by(to_node=peer)).scalars().all()
            assert {r.state for r in rows if r.type != "receipt"} == {"acknowledged"}
            assert {r.type for r in rows} >= {"case.forward" if node is accepting else "case.decision"}
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]


def test_materials_promised_under_rongque_follow_the_case_to_the_competent_county(nodes, sftp):  # noqa: F811
    accepting, competent, city = nodes
    window, reviewer = f"window-{ACCEPTING}", f"review-{COMPETENT}"
    from delegation.models import Item

    for node in (accepting, competent):  # the city lets the item take 容缺 (its non-core outline drawing later)
        with node.ctx():
            db.session.execute(sa.update(Item).where(Item.code == ITEM).values(allows_commitment=True))
            db.session.commit()
    body = _body(accepting, COMPETENT)
    later = "M05"  # 车货总体轮廓图: required, not core (the optional authorisation letter M06 comes after it)
    next(m for m in body["materials"] if m["code"] == later)["present"] = False
    case_no = accepting.post("/api/v1/citywide/cases", window, expect=201, **body)["case_no"]
    assert accepting.act(case_no, window, "accept_with_commitment")["state"] == "forwarded"
    pump(accepting, competent, city)
    there = competent.case(case_no, reviewer)
    assert there["state"] == "county_review"
    assert {m["code"]: m["present"] for m in there["materials"]}[later] is False

    with accepting.ctx():
        r = accepting.api.post(f"/api/v1/cases/{case_no}/files", user=window, content_type="multipart/form-data",
                               data={"material_code": later, "file": (io.BytesIO(PDF), "车货总体轮廓图.pdf")})
        assert r.status_code == 201, r.get_json()
    accepting.act(case_no, window, "supply_materials", materials=[later])
    pump(accepting, competent, city)
    there = competent.case(case_no, reviewer)
    assert {m["code"]: m["present"] for m in there["materials"]}[later] is True
    assert "车货总体轮廓图.pdf" in {f["original_name"] for f in there["files"]}
    assert _cases(city) == 0
