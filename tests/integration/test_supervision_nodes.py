"""Three installations over a real OpenSSH SFTP server, each with its own database and key: the county node 宁都县
(360730), the city node (360700) and the city regulator's own system (360700-sj, hosting 360700-industry).
A case accepted at the county and approved by the city is pushed to the regulator's node, claimed and fed back
there, and the city approver sees the result. City→regulator in JSON (JWS), regulator→city in XML."""
from __future__ import annotations


import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.conftest import make_app
from tests.integration.support import Node
from tests.sftpserver import SftpServer

COUNTY, CITY, SJ = "360730", "360700", "360700-sj"
PLACED = {"360700-industry": SJ}
WINDOW, REVIEWER, APPROVER, REGULATOR = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver", "reg-city"
BASE = "/api/v1/supervision"


@pytest.fixture
def sftp(tmp_path):
    server = SftpServer(tmp_path / "sftp").start()
    yield server
    server.stop()


def _sftp_env(server) -> dict:
    return {"EXCHANGE_TRANSPORT": "sftp", "EXCHANGE_SFTP_HOST": "127.0.0.1", "EXCHANGE_SFTP_PORT": str(server.port),
            "EXCHANGE_SFTP_USER": server.user, "EXCHANGE_SFTP_KEY": str(server.client_key),
            "EXCHANGE_SFTP_KNOWN_HOSTS": str(server.known_hosts), "EXCHANGE_SFTP_ROOT": str(server.root)}


def build_node(tmp_path, node_id, server, remote=()):
    import flask_migrate

    app = make_app(f"sqlite:///{tmp_path / f'node-{node_id}.db'}", tmp_path / f"instance-{node_id}",
                   NODE_ID=node_id, **_sftp_env(server))
    with app.app_context():
        flask_migrate.upgrade()
    # seeded the way an operator does it, with the regulator's organisation placed on its own node
    args = ["seed-demo", "--org-node", f"360700-industry={SJ}"] + [a for c in remote for a in ("--remote-county", c)]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return app


def trust(tmp_path, app, node):
    pem = tmp_path / f"{node}.pem"
    pem.write_bytes((tmp_path / f"instance-{node}" / "keys" / "node.crt").read_bytes())
    result = app.test_cli_runner().invoke(args=["exchange", "trust", node, str(pem)])
    assert result.exit_code == 0, result.output


def peer_json(app, node, server):
    result = app.test_cli_runner().invoke(args=[
        "exchange", "peer-set", node, "--transport", "sftp", "--format", "json", "--host", "127.0.0.1",
        "--port", str(server.port), "--user", server.user, "--key", str(server.client_key),
        "--known-hosts", str(server.known_hosts), "--root", str(server.root)])
    assert result.exit_code == 0, result.output


@pytest.fixture
def nodes(tmp_path, sftp):
    county = build_node(tmp_path, COUNTY, sftp)
    city = build_node(tmp_path, CITY, sftp, remote=[COUNTY])
    regulator = build_node(tmp_path, SJ, sftp, remote=[COUNTY])
    # the operators exchange certificates out of band: the city trusts both, each of them trusts the city
    for app, node in ((county, CITY), (city, COUNTY), (city, SJ), (regulator, CITY)):
        trust(tmp_path, app, node)
    peer_json(city, COUNTY, sftp)
    peer_json(city, SJ, sftp)
    yield Node(county), Node(city), Node(regulator)
    for app in (county, city, regulator):
        with app.app_context():
            db.engine.dispose()


def pump(*nodes, rounds=3):
    for _ in range(rounds):
        for node in nodes:
            node.exchange()


def test_regulator_on_its_own_node_claims_and_feeds_back(nodes, sftp):
    county, city, regulator = nodes
    everyone = (county, city, regulator)
    with regulator.ctx():  # the regulator's node knows only its own staff
        from delegation.models import Org, User

        assert [u.username for u in db.session.execute(sa.select(User)).unique().scalars()] == [REGULATOR]
        assert db.session.execute(sa.select(Org.node_id).filter_by(code="360700-industry")).scalar() == SJ
    with city.ctx():
        assert not db.session.execute(sa.select(User).filter_by(username=REGULATOR)).first()

    with county.ctx():
        case_no = county.api.create(county.api.item("delegated_review"))["case_no"]
    county.act(case_no, WINDOW, "accept")
    county.act(case_no, REVIEWER, "review", opinion="经实地核查，符合条件", recommendation="approve")
    pump(*everyone)
    city.act(case_no, APPROVER, "approve", certificate_no="赣特登2026-0007")
    pump(*everyone)

    # the push arrived on the regulator's node, in its own database
    (item,) = regulator.get(f"{BASE}/pushes", REGULATOR)["items"]
    assert item["case_no"] == case_no and item["state"] == "pushed" and item["claim_due_at"]
    push = regulator.get(f"{BASE}/pushes/{item['id']}", REGULATOR)
    assert (push["deciding_org"], push["deciding_node"]) == ("360700-bureau", CITY)
    assert (push["supervising_org"], push["supervising_node"]) == ("360700-industry", SJ)
    assert push["certificate_no"] == "赣特登2026-0007" and push["applicant_name"]
    assert {p["role"]: p["org"] for p in push["responsible"]}["review"] == f"{COUNTY}-bureau"
    # the city keeps its own copy, delivered but not yet claimed
    (at_city,) = city.get(f"{BASE}/cases/{case_no}", APPROVER)
    assert at_city["state"] == "pushed" and at_city["received_at"] and at_city["supervising_node"] == SJ

    pid = item["id"]
    regulator.post(f"{BASE}/pushes/{pid}/claim", REGULATOR)
    regulator.post(f"{BASE}/pushes/{pid}/feedback", REGULATOR, 201, kind="inspection", date="2026-01-05",
                   result="现场检查，发现设备未按期检验", rectification_ordered=True)
    pump(*everyone)
    (at_city,) = city.get(f"{BASE}/cases/{case_no}", APPROVER)
    assert at_city["state"] == "claimed" and "市级监管员" in at_city["claimed_by"]
    assert [(f["kind"], f["rectification_ordered"]) for f in at_city["feedback"]] == [("inspection", True)]

    regulator.post(f"{BASE}/pushes/{pid}/feedback", REGULATOR, 201, kind="penalty", date="2026-01-06",
                   result="逾期未整改，处以罚款", decision_no="赣市监罚〔2026〕21号", amount="3000.50", close=True)
    r = regulator.post(f"{BASE}/pushes/{pid}/feedback", REGULATOR, 409, kind="no_issue", date="2026-01-07",
                       result="复查")
    assert r["code"] == "supervision_closed"
    pump(*everyone)

    # the approver sees the whole loop: on the supervision view and on the case's timeline
    (at_city,) = city.get(f"{BASE}/cases/{case_no}", APPROVER)
    assert at_city["state"] == "closed" and at_city["closed_by"] == f"360700-industry@{SJ}"
    assert [f["kind"] for f in at_city["feedback"]] == ["inspection", "penalty"]
    assert at_city["feedback"][1]["decision_no"] == "赣市监罚〔2026〕21号"
    assert at_city["feedback"][1]["amount"] == "3000.50"
    assert [f["id"] for f in at_city["feedback"]] == [
        f["id"] for f in regulator.get(f"{BASE}/pushes/{pid}", REGULATOR)["feedback"]]  # one feedback, two copies
    timeline = city.get(f"/api/v1/cases/{case_no}", APPROVER)["timeline"]
    supervision = [e for e in timeline if e["action"].startswith("supervision_")]
    assert [e["action"] for e in supervision] == ["supervision_claim", "supervision_feedback", "supervision_feedback"]
    assert supervision[-1]["actor"] == f"360700-industry@{SJ}" and "监管已办结" in supervision[-1]["comment"]
    # the county still hands the result out; the regulator's node never saw the case itself
    assert county.act(case_no, WINDOW, "hand_out", method="pickup")["state"] == "concluded"
    regulator.get(f"/api/v1/cases/{case_no}", REGULATOR, expect=404)

    # every message acknowledged, each in the format its receiver asked for; nothing left on the server
    pump(*everyone)
    sj_out = [m for m in regulator.outbox() if m[0] != "receipt"]
    assert sj_out == [("supervision.claim", CITY, "xml", "acknowledged")] + \
        [("supervision.feedback", CITY, "xml", "acknowledged")] * 2
    city_out = [m for m in city.outbox() if m[0] != "receipt"]
    assert ("supervision.push", SJ, "json", "acknowledged") in city_out
    assert {m[3] for m in city_out} == {"acknowledged"}
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]


def test_a_push_from_an_organisation_that_did_not_decide_is_refused(nodes):
    """The regulator's node applies a push only from the organisation that decides the item in its mode."""
    county, city, regulator = nodes
    with county.ctx():
        case_no = county.api.create(county.api.item("forward_only"))["case_no"]
    county.act(case_no, WINDOW, "accept")
    pump(county, city, regulator)
    with city.ctx():  # a forged push: the county window pretends to have decided a forward_only case
        from delegation.models import Case
        from exchange.outbox import enqueue
        from supervision.pushes import _push_body
        from supervision.models import SupervisionPush

        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        fake = SupervisionPush(case_no=case_no, item_code=case.item.code, item_name=case.item.name, mode=case.mode,
                               county_code=COUNTY, applicant_name="x", applicant_id_code=case.applicant_id_code,
                               decision="approve", accepting_org=f"{COUNTY}-window", deciding_org="360700-sec-market",
                               deciding_node=CITY, supervising_org="360700-industry", supervising_node=SJ,
                               responsible=[{"role": "decide", "org": "360700-sec-market", "person": None}],
                               accepted_at=case.accepted_at, decided_at=case.accepted_at)
        body = _push_body(fake, case)
        enqueue("supervision.push", from_org="360700-industry", to_node=SJ, to_org="360700-industry", body=body,
                case_no=case_no)
        db.session.commit()
    pump(county, city, regulator)
    assert regulator.get(f"{BASE}/pushes", REGULATOR)["items"] == []
    rejected = [m for m in city.outbox() if m[0] == "supervision.push"]
    assert rejected == [("supervision.push", SJ, "json", "rejected")]
