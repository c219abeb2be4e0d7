"""告知承诺 verified by a regulator on another node (issue 17), over a real OpenSSH SFTP server: the county node
宁都县 (360730) approves on the applicant's signed commitment; its regulator (360730-industry) runs its own system
(node 360730-sj). The push carries the commitment, so the task shows on the regulator's desk there; the finding
travels back and the county revokes the licence and blacklists the applicant, once. XML and JSON."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.integration.pages import csrf_token, log_in
from tests.integration.support import ENTERPRISE, Node
from tests.integration.test_supervision_nodes import _sftp_env, sftp, trust  # noqa: F401  (sftp: the fixture)
from tests.conftest import make_app

COUNTY, SJ = "360730", "360730-sj"
WINDOW, REGULATOR = f"window-{COUNTY}", f"reg-{COUNTY}"
COMMITMENT_ITEM = "GZ-LWPQ-001"  # 劳务派遣经营许可, direct, 告知承诺制 in the demo data
CHECKS = "/api/v1/window-decisions/commitment-checks"


def build_node(tmp_path, node_id, server, fmt):
    import flask_migrate

    app = make_app(f"sqlite:///{tmp_path / f'node-{node_id}.db'}", tmp_path / f"instance-{node_id}",
                   NODE_ID=node_id, EXCHANGE_FORMAT=fmt, **_sftp_env(server))
    with app.app_context():
        flask_migrate.upgrade()
    # the county's regulator placed on a node of its own, as its operator seeds it
    result = app.test_cli_runner().invoke(args=["seed-demo", "--org-node", f"{COUNTY}-industry={SJ}",
                                                "--remote-county", COUNTY])
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture(params=["xml", "json"])
def nodes(request, tmp_path, sftp):  # noqa: F811
    county = build_node(tmp_path, COUNTY, sftp, request.param)
    regulator = build_node(tmp_path, SJ, sftp, request.param)
    trust(tmp_path, county, SJ)
    trust(tmp_path, regulator, COUNTY)
    yield Node(county), Node(regulator)
    for app in (county, regulator):
        with app.app_context():
            db.engine.dispose()


def pump(*nodes, rounds=3):
    for _ in range(rounds):
        for node in nodes:
            node.exchange()


def licence_status(certificate):
    """What the licence check (/verify) says of it on the issuing node (the licence API is the city admin's)."""
    from delegation import licences

    return licences.status(licences.find(certificate), licences.today_local())


def approve_on_commitment(county, applicant=ENTERPRISE):
    with county.ctx():
        item = next(i for i in county.api.get("/api/v1/items", user=WINDOW).get_json() if i["code"] == COMMITMENT_ITEM)
        case_no = county.api.create(item, county=COUNTY, applicant=applicant)["case_no"]
    return case_no, county.act(case_no, WINDOW, "approve_on_commitment", commitment_signed=True, signer_name="李四")


def test_regulator_on_another_node_verifies_the_commitment_and_the_county_applies_it_once(nodes):
    county, regulator = nodes
    case_no, case = approve_on_commitment(county)
    certificate = case["decision"]["certificate_no"]
    pump(county, regulator)

    # the task is on the regulator's node, with what it must verify
    (task,) = [t for t in regulator.get(CHECKS, REGULATOR) if t["case_no"] == case_no]
    assert task["signer_name"] == "李四" and "劳务派遣" in task["commitment_text"] and WINDOW in task["signed_by"]
    assert task["verify_due_at"] > task["signed_at"] and not task["overdue"]
    with regulator.app.test_client() as page:  # and on its desk page
        log_in(page, REGULATOR)
        desk = page.get("/regulator/commitment-checks").get_data(as_text=True)
        assert f'data-testid="check-{case_no}"' in desk and "李四" in desk

    # bad input refused naming the field, nothing sent
    sent = len(regulator.outbox())
    assert regulator.post(f"{CHECKS}/{case_no}", REGULATOR, 422, result="false")["field"] == "note"
    assert regulator.post(f"{CHECKS}/{case_no}", REGULATOR, 422, result="maybe", note="x")["field"] == "result"
    assert len(regulator.outbox()) == sent

    found = regulator.post(f"{CHECKS}/{case_no}", REGULATOR, result="false", note="实地核查：无固定经营场所")
    assert found["result"] == "false"
    assert regulator.post(f"{CHECKS}/{case_no}", REGULATOR, 409, result="verified")["field"] == "result"
    assert case_no not in [t["case_no"] for t in regulator.get(CHECKS, REGULATOR)]
    assert [m[0] for m in regulator.outbox()].count("supervision.commitment_result") == 1
    pump(county, regulator)

    # the county applied it: licence revoked, applicant blacklisted, one line on the timeline, one credit record
    with county.ctx():
        assert licence_status(certificate) == "revoked"
        from supervision.models import CreditRecord
        from delegation.window_decision_models import CommitmentRecord

        records = db.session.execute(sa.select(CreditRecord).filter_by(case_no=case_no)).scalars().all()
        assert [(c.kind, c.blacklisted) for c in records] == [("false_commitment", True)]
        (mine,) = db.session.execute(sa.select(CommitmentRecord).filter_by(case_no=case_no)).scalars()
        assert (mine.result, mine.result_note) == ("false", "实地核查：无固定经营场所") and REGULATOR in mine.result_by
    lines = [e for e in county.case(case_no, WINDOW)["timeline"] if e["action"] == "commitment_verification"]
    assert len(lines) == 1 and "承诺不实" in lines[0]["comment"]
    # the blacklisted applicant gets no 告知承诺 any more
    with county.ctx():
        item = next(i for i in county.api.get("/api/v1/items", user=WINDOW).get_json() if i["code"] == COMMITMENT_ITEM)
        again = county.api.create(item, county=COUNTY, applicant=ENTERPRISE)["case_no"]
        refused = county.api.act(again, WINDOW, "approve_on_commitment", expect=409, commitment_signed=True)
    assert refused["field"] == "applicant.id_code"

    # delivered again (a retry of the same finding) changes nothing
    pump(county, regulator)
    assert len([e for e in county.case(case_no, WINDOW)["timeline"] if e["action"] == "commitment_verification"]) == 1

    # a contrary finding sent later by the regulator's node is refused by the county: the first one stands
    with regulator.ctx():
        from exchange.models import OutboxMessage
        from exchange.outbox import enqueue
        from supervision.models import SupervisionPush

        push = db.session.execute(sa.select(SupervisionPush).filter_by(case_no=case_no)).scalar_one()
        contrary = enqueue("supervision.commitment_result", from_org=push.supervising_org, to_node=COUNTY,
                           to_org=push.deciding_org, case_no=case_no,
                           body={"result": "verified", "by": "另一人", "at": "2026-12-03T10:00:00+08:00"}).message_id
        db.session.commit()
    pump(county, regulator)
    with regulator.ctx():
        row = db.session.execute(sa.select(OutboxMessage).filter_by(message_id=contrary)).scalar_one()
        assert (row.receipt_status, "already found false" in (row.receipt_reason or "")) == ("rejected", True), \
            row.receipt_reason
    with county.ctx():
        assert licence_status(certificate) == "revoked"


def test_a_commitment_verified_on_the_regulator_page_travels_back_and_leaves_the_licence_valid(nodes):
    county, regulator = nodes
    case_no, case = approve_on_commitment(county)
    pump(county, regulator)
    with regulator.app.test_client() as page:  # the regulator's desk page, on its node
        log_in(page, REGULATOR)
        r = page.post(f"/regulator/commitment-checks/{case_no}", follow_redirects=True, data={
            "result": "verified", "note": "", "csrf_token": csrf_token(page, "/regulator/commitment-checks")})
        assert "已记录核查结果" in r.get_data(as_text=True) and f'data-testid="check-{case_no}"' not in r.get_data(
            as_text=True)
    pump(county, regulator)
    with county.ctx():
        assert licence_status(case["decision"]["certificate_no"]) == "valid"
    (line,) = [e for e in county.case(case_no, WINDOW)["timeline"] if e["action"] == "commitment_verification"]
    assert "承诺属实" in line["comment"] and line["data"]["result"] == "verified"
