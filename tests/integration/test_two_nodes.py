"""Two installations, each with its own database and key: the county node 宁都县 (360730) and the city node
(360700), exchanging over a real OpenSSH SFTP server — county→city in XML, city→county in JSON (JWS).
Walks a delegated_review and a forward_only case end to end, and shows store-and-forward through an outage."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.conftest import make_app
from tests.integration.support import Node
from tests.sftpserver import SftpServer

COUNTY, CITY = "360730", "360700"
PDF = b"%PDF-1.4\n%two-node test\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def sftp(tmp_path):
    server = SftpServer(tmp_path / "sftp").start()
    yield server
    server.stop()


def build_node(tmp_path, node_id, server, remote=()):
    import flask_migrate

    from delegation.seed import seed_demo

    sftp_env = {"EXCHANGE_TRANSPORT": "sftp", "EXCHANGE_SFTP_HOST": "127.0.0.1",
                "EXCHANGE_SFTP_PORT": str(server.port), "EXCHANGE_SFTP_USER": server.user,
                "EXCHANGE_SFTP_KEY": str(server.client_key), "EXCHANGE_SFTP_KNOWN_HOSTS": str(server.known_hosts),
                "EXCHANGE_SFTP_ROOT": str(server.root)}
    app = make_app(f"sqlite:///{tmp_path / f'node-{node_id}.db'}", tmp_path / f"instance-{node_id}",
                   NODE_ID=node_id, **sftp_env)
    with app.app_context():
        flask_migrate.upgrade()
        seed_demo(node_id, set(remote))
        db.session.commit()
    return app


@pytest.fixture
def nodes(tmp_path, sftp):
    county = build_node(tmp_path, COUNTY, sftp)
    city = build_node(tmp_path, CITY, sftp, remote=[COUNTY])
    # the operators exchange certificates out of band and trust each other
    county_pem = (tmp_path / f"instance-{COUNTY}" / "keys" / "node.crt").read_bytes()
    city_pem = (tmp_path / f"instance-{CITY}" / "keys" / "node.crt").read_bytes()
    for app, node, pem_path in ((county, CITY, "city.pem"), (city, COUNTY, "county.pem")):
        (tmp_path / pem_path).write_bytes(city_pem if node == CITY else county_pem)
        result = app.test_cli_runner().invoke(args=["exchange", "trust", node, str(tmp_path / pem_path)])
        assert result.exit_code == 0, result.output
    result = city.test_cli_runner().invoke(args=[
        "exchange", "peer-set", COUNTY, "--transport", "sftp", "--format", "json", "--host", "127.0.0.1",
        "--port", str(sftp.port), "--user", sftp.user, "--key", str(sftp.client_key),
        "--known-hosts", str(sftp.known_hosts), "--root", str(sftp.root)])
    assert result.exit_code == 0, result.output
    yield county, city
    for app in (county, city):
        with app.app_context():
            db.engine.dispose()


def pump(county: Node, city: Node, rounds=3):
    for _ in range(rounds):
        county.exchange()
        city.exchange()


def test_delegated_review_and_forward_only_across_two_nodes(nodes, sftp):
    county, city = Node(nodes[0]), Node(nodes[1])
    window, reviewer = f"window-{COUNTY}", f"review-{COUNTY}"

    with county.ctx():
        item = county.api.item("delegated_review")
        case_no = county.api.create(item)["case_no"]
        material = item["materials"][0]["code"]
        r = county.api.post(f"/api/v1/cases/{case_no}/files", user=window,
                            data={"material_code": material, "file": (io.BytesIO(PDF), "营业执照.pdf")},
                            content_type="multipart/form-data")
        assert r.status_code == 201
    with city.ctx():  # the county's staff have no account on the city node
        assert city.api.client.post("/api/v1/auth/token",
                                    json={"username": window, "password": "demo"}).status_code == 401

    county.act(case_no, window, "accept")
    assert county.act(case_no, reviewer, "review", opinion="经实地核查，符合条件",
                      recommendation="approve")["state"] == "forwarded"
    pump(county, city)
    assert county.case(case_no, window)["state"] == "city_review"  # the city's receipt arrived
    at_city = city.case(case_no, "city-approver")
    assert at_city["state"] == "city_review" and at_city["review"]["opinion"] == "经实地核查，符合条件"
    assert at_city["files"][0]["original_name"] == "营业执照.pdf"
    with city.ctx():
        from exchange.bus import get_bus

        assert get_bus().blobs.get(at_city["files"][0]["sha256"]) == PDF

    city.act(case_no, "city-approver", "approve", certificate_no="赣特登2026-0001")
    pump(county, city)
    done = county.act(case_no, window, "hand_out", method="mail", tracking_no="SF1234567890",
                      address="赣州市宁都县梅江镇 1 号")
    assert done["state"] == "concluded" and done["decision"]["certificate_no"] == "赣特登2026-0001"

    # forward_only: the city reviews and returns once, then decides
    with county.ctx():
        item = county.api.item("forward_only")
        fo = county.api.create(item)["case_no"]
    county.act(fo, window, "accept")
    pump(county, city)
    city.act(fo, "city-approver", "return", reasons=["场地平面图比例不符"])
    pump(county, city)
    assert county.case(fo, window)["state"] == "returned"
    county.act(fo, window, "resubmit", materials=[item["materials"][0]["code"]])
    pump(county, city)
    assert city.case(fo, "city-approver")["state"] == "city_review"
    city.act(fo, "city-approver", "approve")
    pump(county, city)
    assert county.act(fo, window, "hand_out", method="pickup")["state"] == "concluded"

    # every message was acknowledged on both sides, in the peer's format, nothing left on the server
    for node, fmt, peer in ((county, "xml", CITY), (city, "json", COUNTY)):
        with node.ctx():
            from exchange.models import OutboxMessage

            # (the city also pushes each approval to its own regulator, over its home store)
            rows = db.session.execute(sa.select(OutboxMessage).filter_by(to_node=peer)).scalars().all()
            assert rows and {r.fmt for r in rows} == {fmt}
            assert {r.state for r in rows if r.type != "receipt"} == {"acknowledged"}
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]


def test_county_keeps_working_while_the_store_is_down(nodes, sftp):
    county, city = Node(nodes[0]), Node(nodes[1])
    window = f"window-{COUNTY}"
    sftp.stop()
    with county.ctx():
        item = county.api.item("forward_only")
        cases = [county.api.create(item)["case_no"] for _ in range(3)]
    for case_no in cases:
        assert county.act(case_no, window, "accept")["state"] == "forwarded"
    county.exchange()
    with county.ctx():
        from exchange.models import OutboxMessage

        rows = db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        assert len(rows) == 3 and {r.state for r in rows} <= {"queued", "retry"}  # waiting, none lost
        assert any("connect" in (r.last_error or "") for r in rows)
        for r in rows:  # the backoff has passed
            r.next_attempt_at = r.created_at
        db.session.commit()
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]  # a real outage: nothing reached the store
    sftp.restart()
    pump(county, city)
    for case_no in cases:
        assert city.case(case_no, "city-approver")["state"] == "city_review"
        assert county.case(case_no, window)["state"] == "city_review"
