"""What the window recorded at intake reaches the city on case.forward (issue 14): the agent (经办人: name, ID
number, phone), the legal representative and the address travel as optional elements of tq:ForwardApplicant, in
XML (checked by xmlsec1) and in JSON, between two nodes over a real SFTP store; the city node stores them and its
case page shows them. A forward without them (an older peer's form) is still applied; a value longer than the wire
allows is refused at the sender, naming the field, and nothing is forwarded."""
from __future__ import annotations

import shutil
import subprocess

import sqlalchemy as sa

from app.extensions import db
from tests.integration.pages import log_in
from tests.integration.support import ENTERPRISE, Node
from tests.integration.test_two_nodes import CITY, COUNTY, nodes, pump, sftp  # noqa: F401  (fixtures)

WINDOW = f"window-{COUNTY}"
AGENT_ID = "11010519491231002X"
PARTICULARS = {"address": "江西省赣州市宁都县梅江镇示范路 1 号", "legal_representative": "王五",
               "agent": {"name": "李四", "id_code": AGENT_ID, "phone": "13900000000"}}


def _intake(county: Node, item: dict, *, particulars: bool = True) -> str:
    """Register a complete application at the county window (POST /api/v1/cases/intake, as the page does)."""
    form = {"item_code": item["code"], "applicant.kind": ENTERPRISE["kind"], "applicant.name": ENTERPRISE["name"],
            "applicant.id_code": ENTERPRISE["id_code"], "applicant.phone": ENTERPRISE["phone"],
            "materials": [m["code"] for m in item["materials"]]}
    if particulars:
        form.update({"applicant.address": PARTICULARS["address"],
                     "applicant.legal_representative": PARTICULARS["legal_representative"],
                     "agent.name": "李四", "agent.id_code": AGENT_ID, "agent.phone": "13900000000"})
    with county.ctx():
        r = county.api.post("/api/v1/cases/intake", user=WINDOW, data=form, content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        return r.get_json()["case_no"]


def _item_with_letter(county: Node) -> dict:
    """A forward-only item listing the authorisation letter: an agent applies only with it (issue 17)."""
    items = county.api.get("/api/v1/items?mode=forward_only", user=WINDOW).get_json()
    return next(i for i in items if any("授权委托书" in m["name"] for m in i["materials"]))


def _forward_row(node: Node, case_no: str):
    from exchange.models import OutboxMessage

    with node.ctx():
        row = db.session.execute(sa.select(OutboxMessage).filter_by(case_no=case_no, type="case.forward")
                                 ).scalar_one_or_none()
        return None if row is None else (row.fmt, row.state, bytes(row.raw))


def _city_page(city: Node, case_no: str) -> str:
    client = city.app.test_client()
    with city.ctx():
        log_in(client, "city-approver")
        r = client.get(f"/city/cases/{case_no}")
        assert r.status_code == 200
        return r.get_data(as_text=True)


def _xmlsec1_verifies(raw: bytes, tmp_path) -> None:
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1, "xmlsec1 is required (apt-get install xmlsec1)"
    message = tmp_path / "case_forward.xml"
    cert = tmp_path / f"instance-{COUNTY}" / "keys" / "node.crt"
    for data, ok in ((raw, True), (raw.replace(b"13900000000", b"13900000001"), False)):  # a changed phone fails
        message.write_bytes(data)
        result = subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(message)],
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode == 0) == ok, result.stderr


def test_the_agent_legal_representative_and_address_reach_the_city_in_xml_and_json(nodes, sftp, tmp_path):
    county, city = Node(nodes[0]), Node(nodes[1])
    with county.ctx():
        item = _item_with_letter(county)
    for fmt in ("xml", "json"):
        if fmt == "json":  # the county speaks JSON (JWS) to the city from now on
            result = nodes[0].test_cli_runner().invoke(args=[
                "exchange", "peer-set", CITY, "--transport", "sftp", "--format", "json", "--host", "127.0.0.1",
                "--port", str(sftp.port), "--user", sftp.user, "--key", str(sftp.client_key),
                "--known-hosts", str(sftp.known_hosts), "--root", str(sftp.root)])
            assert result.exit_code == 0, result.output
        case_no = _intake(county, item)
        assert county.act(case_no, WINDOW, "accept")["state"] == "forwarded"
        pump(county, city)

        sent_fmt, state, raw = _forward_row(county, case_no)
        assert (sent_fmt, state) == (fmt, "acknowledged")
        if fmt == "xml":
            assert b"<Agent>" in raw and AGENT_ID.encode() in raw and b"<LegalRepresentative>" in raw
            _xmlsec1_verifies(raw, tmp_path)

        at_city = city.case(case_no, "city-approver")
        assert at_city["state"] == "city_review"
        assert at_city["particulars"] == PARTICULARS
        page = _city_page(city, case_no)
        assert 'data-testid="particulars"' in page
        for shown in ("经办人", "李四", AGENT_ID, "13900000000", "法定代表人", "王五", PARTICULARS["address"]):
            assert shown in page, shown


def test_an_old_form_forward_is_applied_and_a_too_long_field_is_refused_at_the_sender(nodes):
    county, city = Node(nodes[0]), Node(nodes[1])
    with county.ctx():
        item = _item_with_letter(county)

    # without the particulars the forward is exactly the form of a peer that predates them: applied as before
    old = _intake(county, item, particulars=False)
    county.act(old, WINDOW, "accept")
    pump(county, city)
    _, state, raw = _forward_row(county, old)
    assert state == "acknowledged"
    assert not any(tag in raw for tag in (b"<Address>", b"<LegalRepresentative>", b"<Agent>"))
    at_city = city.case(old, "city-approver")
    assert at_city["state"] == "city_review"
    assert at_city["particulars"] == {"address": None, "legal_representative": None, "agent": None}
    assert 'data-testid="particulars"' not in _city_page(city, old)

    # an agent's name longer than the wire allows (written past the intake's bound; SQLite keeps it) is refused
    # when the window forwards: the error names the field, the case stays where it was, nothing is queued
    case_no = _intake(county, item)
    with county.ctx():
        db.session.execute(sa.text("UPDATE case_file SET agent_name = :name WHERE case_no = :no"),
                           {"name": "李" * 101, "no": case_no})
        db.session.commit()
    with county.ctx():
        r = county.api.post(f"/api/v1/cases/{case_no}/actions", user=WINDOW, json={"action": "accept"})
        assert r.status_code == 422, r.get_json()
        problem = r.get_json()
        assert problem["field"] == "agent.name" and "经办人姓名" in problem["detail"], problem
    assert county.case(case_no, WINDOW)["state"] == "submitted"
    assert _forward_row(county, case_no) is None
