"""转办 and 催办 across two nodes (issue 15): the county node 宁都县 (360730) and the city node (360700) over a real
OpenSSH SFTP server. The city passes a forwarded case to another section: `case.transfer` tells the county's node,
which records the new holder (its later reminder and the new section's decision reach and are accepted); the
county window's reminder travels as `case.reminder` and is recorded where the holder is, who is told at once. Each
is applied exactly once: the same envelope delivered again changes nothing. xmlsec1 verifies both messages' XML."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.integration.support import Node
from tests.integration.test_two_nodes import CITY, COUNTY, nodes, pump, sftp  # noqa: F401  (fixtures)

WINDOW, APPROVER = f"window-{COUNTY}", "city-approver"
REASON = "本事项涉及食品经营，应由商贸流通审批科办理"


def _speak(city: Node, fmt: str, server) -> None:
    """The city's format towards the county (the fixture agrees JSON; XML here for xmlsec1)."""
    result = city.app.test_cli_runner().invoke(args=[
        "exchange", "peer-set", COUNTY, "--transport", "sftp", "--format", fmt, "--host", "127.0.0.1",
        "--port", str(server.port), "--user", server.user, "--key", str(server.client_key),
        "--known-hosts", str(server.known_hosts), "--root", str(server.root)])
    assert result.exit_code == 0, result.output


def _sent(node: Node, type_: str):
    from exchange.models import OutboxMessage

    with node.ctx():
        rows = db.session.execute(sa.select(OutboxMessage).filter_by(type=type_)).scalars().all()
        return [(r.message_id, r.to_node, r.fmt, bytes(r.raw), r.state, r.receipt_status) for r in rows]


def _deliver_again(node: Node, message) -> None:
    """The sender publishes the very envelope again (it missed the receipt)."""
    message_id, to_node, fmt, raw, _state, _status = message
    with node.ctx():
        from exchange.bus import get_bus

        get_bus().transport_for(to_node).publish(to_node, message_id, fmt, raw, [])


def _record(node: Node, case_no: str) -> dict:
    """What the node holds about the case: its holder, timeline, reminders and inbox lines."""
    from delegation.models import Case, CaseEvent
    from delegation.notification_models import CaseReminder, Notification
    from delegation.worklist import holder_code

    with node.ctx():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        events = db.session.execute(sa.select(CaseEvent.action, CaseEvent.comment).filter_by(case_id=case.id)
                                    .order_by(CaseEvent.id)).all()
        reminders = db.session.execute(sa.select(CaseReminder.by_org, CaseReminder.to_org, CaseReminder.comment)
                                       .filter_by(case_id=case.id).order_by(CaseReminder.id)).all()
        notes = db.session.execute(sa.select(Notification.kind).filter_by(case_no=case_no)
                                   .order_by(Notification.id)).scalars().all()
        return {"state": case.state.value, "department": case.department_code, "holder": holder_code(case),
                "due_at": case.due_at, "events": [tuple(e) for e in events],
                "reminders": [tuple(r) for r in reminders], "notes": list(notes)}


def _xmlsec1_verifies(raw: bytes, cert, element: bytes, tmp_path) -> None:
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1, "xmlsec1 is required (apt-get install xmlsec1)"
    message = tmp_path / "message.xml"
    message.write_bytes(raw)
    result = subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(message)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    message.write_bytes(raw.replace(REASON.encode(), "理由被改".encode()).replace("来电".encode(), "来信".encode()))
    assert subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(message)],
                          capture_output=True, timeout=60).returncode != 0
    assert element in raw


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_transfer_and_a_reminder_cross_nodes_exactly_once(nodes, sftp, tmp_path, fmt):  # noqa: F811
    county, city = Node(nodes[0]), Node(nodes[1])
    _speak(city, fmt, sftp)
    with county.ctx():
        case_no = county.api.create(county.api.item("forward_only"))["case_no"]
    county.act(case_no, WINDOW, "accept")
    pump(county, city)
    at_city = _record(city, case_no)
    holder = at_city["department"]
    target = next(code for code in ("360700-sec-trade", "360700-sec-market") if code != holder)
    due_at = _record(county, case_no)["due_at"]
    assert at_city["state"] == "city_review" and _record(county, case_no)["holder"] == holder and due_at

    # the city section passes it on: the county's copy learns of it
    city.post(f"/api/v1/cases/{case_no}/transfer", APPROVER, to_org=target, reason=REASON)
    pump(county, city)
    [transfer] = _sent(city, "case.transfer")
    assert transfer[1:3] == (COUNTY, fmt) and transfer[4:] == ("acknowledged", "accepted")
    at_county = _record(county, case_no)
    assert at_county["department"] == at_county["holder"] == target
    assert at_county["due_at"] == due_at  # the time limit does not restart
    assert at_county["events"][-1][0] == "receive_transfer" and at_county["events"][-1][1].endswith(f"：{REASON}")
    shown = county.case(case_no, WINDOW)
    assert shown["responsible"]["deciding"] == target
    assert shown["timeline"][-1]["action"] == "receive_transfer"
    _deliver_again(city, transfer)
    pump(county, city)
    assert _record(county, case_no) == at_county  # the same envelope again: nothing changes

    # the county window presses the holder: recorded at the city, where the holder is told at once
    before = _record(city, case_no)
    county.post(f"/api/v1/cases/{case_no}/reminders", WINDOW, expect=201, comment="申请人来电催问进度")
    pump(county, city)
    [reminder] = _sent(county, "case.reminder")
    assert reminder[1:3] == (CITY, "xml") and reminder[4:] == ("acknowledged", "accepted")
    at_city = _record(city, case_no)
    assert at_city["reminders"] == [(f"{COUNTY}-window", target, "申请人来电催问进度")]
    assert at_city["events"][-1] == ("remind", "申请人来电催问进度")
    assert at_city["notes"] == before["notes"] + ["reminder"]  # city-approver serves every section
    assert _record(county, case_no)["reminders"] == [(f"{COUNTY}-window", target, "申请人来电催问进度")]
    _deliver_again(county, reminder)
    pump(county, city)
    assert _record(city, case_no) == at_city
    assert not [p for p in sftp.root.rglob("*") if p.is_file()]  # both copies were read and answered
    with city.ctx():
        from exchange.models import InboundMessage

        assert db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                                  .filter_by(type="case.reminder")).scalar_one() == 1

    # the new section decides: the county accepts the decision of the holder it learned of
    city.act(case_no, APPROVER, "approve")
    pump(county, city)
    assert county.case(case_no, WINDOW)["state"] == "decided"

    keys = tmp_path / "instance-{}" / "keys" / "node.crt"
    _xmlsec1_verifies(reminder[3], str(keys).format(COUNTY), b"<CaseReminder>", tmp_path)
    if fmt == "xml":
        _xmlsec1_verifies(transfer[3], str(keys).format(CITY), b"<CaseTransfer>", tmp_path)
