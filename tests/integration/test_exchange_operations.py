"""The operations view an administrator uses: message log, outbox retries, dead letters with "send again",
quarantine with reasons; nobody else may see it."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from exchange.bus import get_bus
from exchange.models import OutboxMessage
from exchange.outbox import send_due
from tests.integration.support import COUNTY, Api, run_bus

WINDOW = f"window-{COUNTY}"


@pytest.fixture
def api(client):
    return Api(client)


def forwarded(api) -> str:
    case_no = api.create(api.item("forward_only"))["case_no"]
    api.act(case_no, WINDOW, "accept")
    return case_no


def test_message_log_is_searchable_and_keeps_the_raw_bytes(api):
    case_no = forwarded(api)
    run_bus()
    log = api.get(f"/api/v1/exchange/messages?case_no={case_no}", user="admin").get_json()["items"]
    kinds = {(m["direction"], m["type"], m["state"]) for m in log}
    assert ("out", "case.forward", "acknowledged") in kinds and ("in", "case.forward", "applied") in kinds
    assert ("out", "receipt", "sent") in kinds and ("in", "receipt", "applied") in kinds
    out = next(m for m in log if m["direction"] == "out" and m["type"] == "case.forward")
    assert out["state_label"] == "acknowledged" and out["attempts"] == 1
    raw = api.get(f"/api/v1/exchange/messages/out/{out['id']}/raw", user="admin")
    stored = db.session.execute(sa.select(OutboxMessage.raw).filter_by(id=out["id"])).scalar_one()
    assert raw.status_code == 200 and raw.data == stored and raw.mimetype == "application/xml"
    only_in = api.get("/api/v1/exchange/messages?direction=in&type=case.forward", user="admin").get_json()["items"]
    assert [m["case_no"] for m in only_in] == [case_no]


def test_dead_letter_can_be_sent_again(api, monkeypatch):
    from exchange.transport import TransportError

    case_no = forwarded(api)
    bus = get_bus()
    monkeypatch.setattr(bus, "max_attempts", 1)
    monkeypatch.setattr(bus.transport, "publish", lambda *a, **k: (_ for _ in ()).throw(TransportError("down")))
    send_due()
    dead = api.get("/api/v1/exchange/dead-letters", user="admin").get_json()["items"]
    assert [(m["case_no"], m["state_label"], m["last_error"]) for m in dead] == [(case_no, "dead", "down")]
    monkeypatch.undo()
    message_id = dead[0]["message_id"]
    r = api.post(f"/api/v1/exchange/outbox/{message_id}/resend", user="admin")
    assert r.status_code == 200 and r.get_json()["state"] == "queued" and r.get_json()["attempts"] == 0
    run_bus()
    assert api.case(case_no)["state"] == "city_review"
    r = api.post(f"/api/v1/exchange/outbox/{message_id}/resend", user="admin")
    assert r.status_code == 409 and r.get_json()["code"] == "not_resendable"


def test_quarantine_lists_reasons(api):
    case_no = forwarded(api)
    send_due()
    inbox = get_bus().transport.root / get_bus().node_id / "inbox"
    path = next(inbox.glob("*.xml"))
    path.write_bytes(path.read_bytes().replace(b"<tq:Body>", b"<tq:Body><!-- x -->", 1).replace(b"forward_only",
                                                                                                  b"direct", 1))
    run_bus()
    q = api.get("/api/v1/exchange/quarantine", user="admin").get_json()["items"]
    assert len(q) == 1 and q[0]["reason"].startswith("signature_invalid") and q[0]["case_no"] == case_no


@pytest.mark.parametrize("user", [WINDOW, "city-approver", f"reg-{COUNTY}"])
def test_only_administrators_see_the_operations_view(api, user):
    for path in ("/api/v1/exchange/messages", "/api/v1/exchange/dead-letters", "/api/v1/exchange/quarantine"):
        r = api.get(path, user=user)
        assert r.status_code == 403 and r.get_json()["code"] == "role_forbidden"
    assert api.get("/api/v1/exchange/messages").status_code == 401
