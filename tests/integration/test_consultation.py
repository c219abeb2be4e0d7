"""会商 (issue 15): a county opens a thread with the city department about an item or a case, with files; the city
answers; the county sees the answer. Over two nodes (county 360730 and city 360700 on a real sshd: county→city XML,
city→county JSON), and on the embedded node for the rules, the reply limit and the pages."""
from __future__ import annotations

import io
import re
import stat
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from app.extensions import db
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (fixture)
from tests.integration.support import COUNTY, Api, Node
from tests.integration.test_two_nodes import CITY, nodes, pump, sftp  # noqa: F401  (fixtures)

WINDOW, REVIEWER, APPROVER = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _item(app) -> dict:
    with app.app_context():
        items = Api(app.test_client()).get("/api/v1/items?mode=delegated_review", user=WINDOW).get_json()
        db.session.remove()
    return items[0]


def _open(web, expect=303, files=(("问题说明.pdf", PDF),), **fields):
    data = {"subject": "二手锅炉是否需要重新检验", "text": "原检验报告仍在有效期内，是否需重新定期检验后再受理？",
            "item_code": "", "case_no": "", "to_org": "", **fields,
            "files": [(io.BytesIO(body), name, "application/pdf") for name, body in files],
            "csrf_token": csrf_token(web, "/consultations")}
    r = web.post("/consultations", data=data, content_type="multipart/form-data")
    assert r.status_code == expect, r.get_data(as_text=True)
    return r


def _thread_no(response) -> str:
    return re.search(r"/consultations/(HS-[0-9a-f]{32})", response.headers["Location"]).group(1)


def _post(web, thread_no, kind, text, expect=303, files=()):
    data = {"kind": kind, "text": text, "csrf_token": csrf_token(web, f"/consultations/{thread_no}"),
            "files": [(io.BytesIO(body), name, "application/pdf") for name, body in files]}
    r = web.post(f"/consultations/{thread_no}/messages", data=data, content_type="multipart/form-data")
    assert r.status_code == expect, r.get_data(as_text=True)
    return r


def _rows(app, model, **where):
    with app.app_context():
        rows = db.session.execute(sa.select(model).filter_by(**where)).scalars().all()
        out = [{c.key: getattr(r, c.key) for c in sa.inspect(model).columns} for r in rows]
        db.session.remove()
    return out


# -- over two nodes ----------------------------------------------------------------------------------------------

def test_county_asks_city_answers_over_two_nodes(nodes, sftp):  # noqa: F811
    from delegation.consultation_models import ConsultationFile, ConsultationMessage, ConsultationThread
    from delegation.notification_models import Notification
    from exchange.models import InboundMessage, OutboxMessage

    county, city = Node(nodes[0]), Node(nodes[1])
    item = _item(county.app)
    window = county.app.test_client()
    log_in(window, WINDOW)
    thread_no = _thread_no(_open(window, item_code=item["code"]))
    pump(county, city)

    # the city department sees the thread on its desk, with the question and the county's file
    approver = city.app.test_client()
    log_in(approver, APPROVER)
    desk = approver.get("/city").get_data(as_text=True)
    assert 'data-testid="consultation-unanswered"' in desk and "待答复 1" in desk
    page = approver.get(f"/consultations/{thread_no}").get_data(as_text=True)
    assert "原检验报告仍在有效期内" in page and "问题说明.pdf" in page
    [at_city] = _rows(city.app, ConsultationThread, thread_no=thread_no)
    assert (at_city["from_org"], at_city["to_org"], at_city["state"]) == (f"{COUNTY}-window", item_department(
        city.app, item["code"]), "waiting")
    [f] = _rows(city.app, ConsultationFile)
    download = approver.get(f"/consultations/{thread_no}/files/{f['id']}")
    assert download.status_code == 200 and download.data == PDF
    with city.ctx():
        from exchange.bus import get_bus

        assert stat.S_IMODE(get_bus().blobs.path(f["sha256"]).stat().st_mode) == 0o600
    # the department's users were told
    assert [n for n in _rows(city.app, Notification, kind="consultation") if "新的会商" in n["title"]]

    _post(approver, thread_no, "reply", "需要，请将定期检验报告作为材料提交。", files=(("答复依据.pdf", PDF + b"%1"),))
    pump(county, city)

    page = window.get(f"/consultations/{thread_no}").get_data(as_text=True)
    assert "需要，请将定期检验报告作为材料提交。" in page and "答复依据.pdf" in page and "已答复" in page
    [at_county] = _rows(county.app, ConsultationThread, thread_no=thread_no)
    assert at_county["state"] == "answered" and at_county["reply_due_at"] is None
    kinds = [m["kind"] for m in _rows(county.app, ConsultationMessage)]
    assert kinds == ["open", "reply"]
    # the opener (and only the opener) is told of the reply
    with county.ctx():
        from delegation.models import User

        told = db.session.execute(sa.select(User.username).join(Notification, Notification.user_id == User.id)
                                  .where(Notification.kind == "consultation")).scalars().all()
    assert told == [WINDOW]
    [reply_note] = [n for n in _rows(county.app, Notification, kind="consultation") if "已答复" in n["title"]]
    assert f"({APPROVER})" not in reply_note["body"] and "答复" in reply_note["body"]  # the person, not the account
    # both directions acknowledged by receipts, each message applied once, in the agreed formats
    assert {(m["type"], m["fmt"], m["state"]) for m in _rows(county.app, OutboxMessage, type="consultation.open")} \
        == {("consultation.open", "xml", "acknowledged")}
    assert {(m["type"], m["fmt"], m["state"]) for m in _rows(city.app, OutboxMessage, type="consultation.message")} \
        == {("consultation.message", "json", "acknowledged")}
    assert len(_rows(county.app, InboundMessage, type="consultation.message", state="applied")) == 1

    # the county bureau's reviewer follows up the window's thread: the department has to answer again
    reviewer = county.app.test_client()
    log_in(reviewer, REVIEWER)
    _post(reviewer, thread_no, "follow_up", "定期检验报告需要原件吗？")
    pump(county, city)
    [at_city] = _rows(city.app, ConsultationThread, thread_no=thread_no)
    assert at_city["state"] == "waiting" and at_city["reply_due_at"] is not None
    assert "定期检验报告需要原件吗？" in approver.get(f"/consultations/{thread_no}").get_data(as_text=True)
    assert "待答复 1" in approver.get("/city").get_data(as_text=True)


def item_department(app, code) -> str:
    from delegation.models import Item

    with app.app_context():
        department = db.session.execute(sa.select(Item.department_code).filter_by(code=code)).scalar_one()
        db.session.remove()
    return department


def test_the_same_envelope_delivered_twice_is_applied_once(nodes, sftp):  # noqa: F811
    from delegation.consultation_models import ConsultationMessage
    from delegation.notification_models import Notification
    from exchange.models import InboundMessage, OutboxMessage

    county, city = Node(nodes[0]), Node(nodes[1])
    window = county.app.test_client()
    log_in(window, WINDOW)
    _open(window, item_code=_item(county.app)["code"])
    pump(county, city)
    before = (len(_rows(city.app, ConsultationMessage)), len(_rows(city.app, Notification)))
    assert before[0] == 1
    with county.ctx():  # the county, having missed the receipt, publishes the very same bytes again
        from exchange.bus import get_bus

        row = db.session.execute(sa.select(OutboxMessage).filter_by(type="consultation.open")).scalar_one()
        bus = get_bus()
        bus.transport.publish(CITY, row.message_id, row.fmt, row.raw,
                              [(a["sha256"], bus.blobs.get(a["sha256"])) for a in row.attachments])
    city.exchange()
    assert (len(_rows(city.app, ConsultationMessage)), len(_rows(city.app, Notification))) == before
    assert len(_rows(city.app, InboundMessage, type="consultation.open")) == 1


# -- on one node: the rules ------------------------------------------------------------------------------------------

def test_refusals_name_the_field_and_change_nothing(client):  # noqa: F811
    from delegation.consultation_models import ConsultationThread
    from exchange.models import OutboxMessage

    log_in(client, WINDOW)
    page = _open(client, expect=422, item_code="NO-SUCH-ITEM").get_data(as_text=True)
    assert "事项：" in page and "不存在" in page
    page = _open(client, expect=422, case_no="360702-2026-000001").get_data(as_text=True)
    assert "办件编号" in page and "本县没有办件" in page
    item = _item(client.application)
    page = _open(client, expect=422, item_code=item["code"], to_org="no-such-org").get_data(as_text=True)
    assert "市级部门" in page and "不存在" in page
    page = _open(client, expect=422, item_code=item["code"], text="长" * 2001).get_data(as_text=True)
    assert "会商内容" in page and "2000" in page
    page = _open(client, expect=422, item_code=item["code"], files=(("x.pdf", b"MZ\x90\x00not a pdf"),)
                 ).get_data(as_text=True)
    assert "附件" in page and "只接受 PDF" in page
    assert _rows(client.application, ConsultationThread) == [] and _rows(client.application, OutboxMessage) == []


def test_a_department_no_node_hosts_is_refused(client):  # noqa: F811
    from delegation.consultation_models import ConsultationThread
    from delegation.models import Org

    item = _item(client.application)
    with client.application.app_context():
        department = db.session.execute(sa.select(Org).filter_by(code=item_department(client.application,
                                                                                       item["code"]))).scalar_one()
        department.node_id = "360799"  # a node this one neither is nor trusts
        db.session.commit()
    log_in(client, WINDOW)
    page = _open(client, expect=422, item_code=item["code"]).get_data(as_text=True)
    assert "市级部门（默认事项主管部门）：" in page and "未接入交换" in page
    assert _rows(client.application, ConsultationThread) == []


def test_only_the_parties_see_and_write(client):  # noqa: F811
    log_in(client, WINDOW)
    thread_no = _thread_no(_open(client, item_code=_item(client.application)["code"]))
    _post(client, thread_no, "reply", "县级不能答复", expect=403)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/consultations")})
    log_in(client, "window-360702")  # another county
    assert client.get(f"/consultations/{thread_no}").status_code == 404
    assert thread_no not in client.get("/consultations").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/consultations")})
    log_in(client, "reg-360730")
    assert client.get("/consultations").status_code == 403


def test_reply_limit_reminds_the_department_once(app):
    """A controlled clock: opened at 10:00 on a Monday with the 8 office hours' limit (09:00-12:00, 13:00-17:00):
    6 hours that day, 2 the next, so due on Tuesday at 11:00."""
    from delegation import consultation
    from delegation.actors import Actor
    from delegation.consultation_models import ConsultationThread
    from delegation.models import User
    from delegation.notification_models import Notification

    window = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=WINDOW)).unique().scalar_one())
    opened = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 in Ganzhou
    thread = consultation.open_thread(window, subject="问", text="能否受理？", item_code=_granted(window), now=opened)
    db.session.commit()
    due = datetime(2026, 3, 3, 3, 0, tzinfo=timezone.utc)
    assert thread.reply_due_at == due

    def reminders():
        return db.session.execute(sa.select(Notification).filter_by(kind="consultation")
                                  .where(Notification.title.like("会商答复已超时%"))).scalars().all()

    assert consultation.remind_unanswered(due - timedelta(minutes=1))["consultations_reminded"] == 0
    assert reminders() == []
    assert consultation.remind_unanswered(due + timedelta(minutes=1))["consultations_reminded"] == 1
    told = len(reminders())
    assert told >= 1  # every user who serves the department
    assert consultation.remind_unanswered(opened + timedelta(days=2))["consultations_reminded"] == 0  # once
    # an answer ends the wait: nothing more to remind
    approver = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=APPROVER)).unique().scalar_one())
    consultation.post(approver, thread.thread_no, "reply", "可以受理。", now=opened + timedelta(days=2))
    db.session.commit()
    assert db.session.get(ConsultationThread, thread.id).state == "answered"
    assert consultation.remind_unanswered(opened + timedelta(days=5))["consultations_reminded"] == 0
    assert len(reminders()) == told


def _granted(actor) -> str:
    from delegation import grants
    from delegation.models import Item

    county = grants.find_county(actor.division_code)
    return next(i.code for i in db.session.execute(sa.select(Item).order_by(Item.code)).unique().scalars()
                if grants.state(i, county)["granted"])


def test_case_thread_shows_on_the_case_page_and_desks(client):  # noqa: F811
    api = Api(client.application.test_client())
    with client.application.app_context():
        case_no = api.create(api.item("forward_only"))["case_no"]
        api.act(case_no, WINDOW, "accept")  # forwarded: the city sees the case once the bus has run
        db.session.remove()
    log_in(client, WINDOW)
    thread_no = _thread_no(_open(client, case_no=case_no))
    case_page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="case-consultations"' in case_page and thread_no in case_page
    window_case = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="case-consultations"' in window_case and thread_no in window_case
    with client.application.app_context():
        from exchange.jobs import run_once

        run_once()
        db.session.remove()
    client.post("/logout", data={"csrf_token": csrf_token(client, "/consultations")})
    log_in(client, APPROVER)
    assert "待答复 1" in client.get("/city").get_data(as_text=True)
    _post(client, thread_no, "reply", "可以。")
    assert "待答复 1" not in client.get("/city").get_data(as_text=True)
    page = client.get(f"/consultations/{thread_no}").get_data(as_text=True)
    assert "可以。" in page and case_no in page
    assert "宁都县" in page and not re.search(r"（3607\d\d", page)  # organisations by name, not by code
    # the city's own case page lists it too, with the reply
    city_case = client.get(f"/city/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="case-consultations"' in city_case and thread_no in city_case and "已答复" in city_case
    _post(client, thread_no, "close", "", expect=403)  # closing is the county's


def test_xmlsec1_verifies_both_consultation_messages_the_platform_sent(client, tmp_path):  # noqa: F811
    """What the node signed for a real thread (the opening with its file, the reply), checked by an independent
    implementation against the node's certificate."""
    import subprocess

    from exchange.models import OutboxMessage
    from tests.unit.test_xml_envelope import require_xmlsec1

    xmlsec1 = require_xmlsec1()
    log_in(client, WINDOW)
    thread_no = _thread_no(_open(client, item_code=_item(client.application)["code"]))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/consultations")})
    log_in(client, APPROVER)
    _post(client, thread_no, "reply", "可以受理。")
    sent = {m["type"]: m for m in _rows(client.application, OutboxMessage) if m["type"].startswith("consultation.")}
    assert set(sent) == {"consultation.open", "consultation.message"}
    cert = tmp_path / "instance" / "keys" / "node.crt"
    for type_, row in sent.items():
        assert row["fmt"] == "xml" and row["case_no"] == thread_no and row["sequence"] is not None
        (tmp_path / "msg.xml").write_bytes(row["raw"])
        done = subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(tmp_path / "msg.xml")],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "OK" in done.stderr, (type_, done.stderr)
        tampered = row["raw"].replace("可以受理".encode(), "不予受理".encode()).replace(
            "原检验报告".encode(), "新检验报告".encode())
        (tmp_path / "bad.xml").write_bytes(tampered)
        assert subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(tmp_path / "bad.xml")],
                              capture_output=True).returncode != 0


def test_the_opening_form_offers_the_countys_items_and_the_departments_by_name(client):  # noqa: F811
    from delegation.models import Org

    item = _item(client.application)
    with client.application.app_context():
        department = db.session.execute(sa.select(Org).filter_by(
            code=item_department(client.application, item["code"]))).scalar_one()
        department_code, department_name = department.code, department.name
    log_in(client, WINDOW)
    page = client.get("/consultations").get_data(as_text=True)
    items = re.search(r'<select[^>]*name="item_code".*?</select>', page, re.S).group(0)
    departments = re.search(r'<select[^>]*name="to_org".*?</select>', page, re.S).group(0)
    assert f'<option value="{item["code"]}">{item["name"]}</option>' in items
    assert f'<option value="{department_code}">{department_name}</option>' in departments
    # the city departments only: no county organisation is offered
    assert "360730-bureau" not in departments


def test_refused_messages_over_two_nodes_reach_the_people_who_sent_them(nodes, sftp):  # noqa: F811
    """A city reply that crosses the county's close is refused there, and the department is told it did not arrive;
    an opening for a department the city's node no longer serves closes the county's thread with a reason in
    Chinese (the peer's technical words stay in the log)."""
    from delegation.consultation_models import ConsultationThread
    from delegation.models import Org
    from delegation.notification_models import Notification

    county, city = Node(nodes[0]), Node(nodes[1])
    item = _item(county.app)
    window = county.app.test_client()
    log_in(window, WINDOW)
    thread_no = _thread_no(_open(window, item_code=item["code"]))
    pump(county, city)
    approver = city.app.test_client()
    log_in(approver, APPROVER)
    _post(approver, thread_no, "reply", "答复在路上时县级已关闭会商。")
    _post(window, thread_no, "close", "问题已解决，关闭会商。")
    pump(county, city)
    assert [n for n in _rows(city.app, Notification, kind="consultation") if "答复未送达" in n["title"]]
    assert [t["state"] for t in _rows(county.app, ConsultationThread, thread_no=thread_no)] == ["closed"]

    with city.ctx():  # the department has moved to another node since the county's directory was made
        db.session.execute(sa.update(Org).where(Org.code == item_department(city.app, item["code"]))
                           .values(node_id="360799"))
        db.session.commit()
    second = _thread_no(_open(window, item_code=item["code"]))
    pump(county, city)
    [thread] = _rows(county.app, ConsultationThread, thread_no=second)
    assert thread["state"] == "closed" and "已不在对方节点办理" in thread["rejected_reason"]
    page = window.get(f"/consultations/{second}").get_data(as_text=True)
    assert 'data-testid="thread-rejected"' in page and "on this node" not in page
    assert _rows(city.app, ConsultationThread, thread_no=second) == []
