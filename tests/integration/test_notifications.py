"""Notifications (issue 15): who hears of a returned case, the inbox and its unread count in the header, marking
read, and the e-mail that reaches a REAL SMTP server (aiosmtpd on 127.0.0.1) once — also when the server was down
at the first attempt."""
from __future__ import annotations

import email
import email.policy
import re
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from app.extensions import db, utcnow
from delegation.models import User
from delegation.notification_models import Notification, NotificationDelivery
from delegation.workflow import Mode, State
from tests.conftest import make_app
from tests.integration.factories import make_case
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY

ADDRESS = "clerk@ningdu.example.cn"


def _returned_case(app) -> str:
    with app.app_context():
        case = make_case(State.RETURNED, Mode.FORWARD_ONLY)
        db.session.commit()
        return case.case_no


def _recipients(app, case_no: str, kind: str = "returned") -> set[str]:
    with app.app_context():
        return set(db.session.execute(
            sa.select(User.username).join(Notification, Notification.user_id == User.id)
            .where(Notification.case_no == case_no, Notification.kind == kind)).scalars())


def _unread_badge(page: str) -> str | None:
    match = re.search(r'data-testid="unread-count">(\d+)<', page)
    return match.group(1) if match else None


def test_a_returned_case_notifies_the_window_of_its_county_and_nobody_else(client):  # noqa: F811
    case_no = _returned_case(client.application)

    assert _recipients(client.application, case_no) == {f"window-{COUNTY}"}
    log_in(client, f"window-{COUNTY}")
    page = client.get("/notifications").get_data(as_text=True)
    assert case_no in page and "办件被退回" in page
    assert _unread_badge(page) == "1"

    client.post("/logout", data={"csrf_token": csrf_token(client, "/notifications")})
    log_in(client, "window-360702")  # another county's window
    page = client.get("/notifications").get_data(as_text=True)
    assert case_no not in page and _unread_badge(page) is None


def test_marking_read_clears_the_count_and_touches_only_ones_own(client):  # noqa: F811
    app = client.application
    case_no = _returned_case(app)
    with app.app_context():
        (note_id,) = db.session.execute(sa.select(Notification.id).where(Notification.case_no == case_no)).scalars()

    log_in(client, "window-360702")  # not theirs: nothing changes
    r = client.post("/notifications/read", data={"id": str(note_id), "csrf_token": csrf_token(client, "/notifications")})
    assert r.status_code == 303
    with app.app_context():
        assert db.session.get(Notification, note_id).read_at is None

    client.post("/logout", data={"csrf_token": csrf_token(client, "/notifications")})
    log_in(client, f"window-{COUNTY}")
    r = client.post("/notifications/read", data={"id": str(note_id), "csrf_token": csrf_token(client, "/notifications")})
    assert r.status_code == 303
    page = client.get("/notifications").get_data(as_text=True)
    assert _unread_badge(page) is None and "已读" in page
    assert client.get("/notifications?show=unread").get_data(as_text=True).count(case_no) == 0


def test_a_bad_email_address_is_refused_naming_the_field_and_nothing_changes(client):  # noqa: F811
    log_in(client, f"window-{COUNTY}")
    r = client.post("/account/contact", data={"email": "not-an-address", "mobile": "",
                                               "csrf_token": csrf_token(client, "/account/contact")})
    assert r.status_code == 422
    assert "电子邮箱格式不正确" in r.get_data(as_text=True)
    with client.application.app_context():
        user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
        assert user.email is None


# -- e-mail through a real SMTP server --------------------------------------------------------------------------

class _Inbox:
    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    port, inbox = _free_port(), _Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    yield server, inbox, port
    try:
        server.stop()
    except AssertionError:  # stopped by the test already
        pass


@pytest.fixture
def mail_app(database_url, tmp_path, smtp):
    _, _, port = smtp
    app = make_app(database_url, tmp_path / "instance", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                   SMTP_FROM="tongquan@ganzhou.example.cn")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _give_address(app) -> None:
    client = app.test_client()
    log_in(client, f"window-{COUNTY}")
    r = client.post("/account/contact", data={"email": ADDRESS, "mobile": "",
                                               "csrf_token": csrf_token(client, "/account/contact")})
    assert r.status_code == 303


def _deliver(app, now):
    from app import mailer

    with app.app_context():
        return mailer.deliver(now)


def test_an_email_reaches_the_real_smtp_server_with_recipient_and_chinese_subject(mail_app, smtp):
    _, inbox, _ = smtp
    _give_address(mail_app)
    case_no = _returned_case(mail_app)

    assert _deliver(mail_app, utcnow())["sent"] == 1
    ((rcpt, message),) = inbox.messages
    assert rcpt == [ADDRESS] and message["To"] == ADDRESS
    assert message["Subject"] == f"【同权】办件被退回：{case_no}"
    assert "退回理由" in message.get_content()
    assert _deliver(mail_app, utcnow() + timedelta(hours=2))["sent"] == 0  # sent is sent: never again
    assert len(inbox.messages) == 1


def test_an_email_is_held_while_the_server_is_down_and_delivered_once_when_it_returns(mail_app, smtp):
    server, inbox, port = smtp
    _give_address(mail_app)
    server.stop()
    case_no = _returned_case(mail_app)
    now = utcnow()

    assert _deliver(mail_app, now) == {"sent": 0, "failed": 1}
    with mail_app.app_context():
        row = db.session.execute(sa.select(NotificationDelivery)).scalar_one()
        assert row.state == "pending" and row.attempts == 1 and row.last_error

    restarted = Controller(inbox, hostname="127.0.0.1", port=port)
    restarted.start()
    try:
        assert _deliver(mail_app, now + timedelta(seconds=5))["sent"] == 0  # its next attempt is not due yet
        assert _deliver(mail_app, now + timedelta(minutes=1))["sent"] == 1
        assert _deliver(mail_app, now + timedelta(hours=3))["sent"] == 0
    finally:
        restarted.stop()
    assert [m["Subject"] for _, m in inbox.messages] == [f"【同权】办件被退回：{case_no}"]


def test_a_decision_tells_the_window_to_hand_out_and_a_push_tells_the_regulators(app):
    from tests.integration.support import run_bus

    county = make_case(State.DECIDED, Mode.DIRECT)  # the county bureau decides: the push goes to reg-<county>
    db.session.commit()
    assert _recipients(app, county.case_no, "decision") == {f"window-{COUNTY}"}
    assert _recipients(app, county.case_no, "push") == {f"reg-{COUNTY}"}

    city = make_case(State.DECIDED, Mode.FORWARD_ONLY)  # the city decides; the window hears when it arrives
    db.session.commit()
    assert _recipients(app, city.case_no, "decision") == set()
    run_bus()
    run_bus()
    assert _recipients(app, city.case_no, "decision") == {f"window-{COUNTY}"}
    assert _recipients(app, city.case_no, "push") == {"reg-city"}
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.case_no == city.case_no, Notification.kind == "decision")).scalar_one() == 1


def test_a_claimed_delivery_is_not_sent_by_a_second_worker_until_its_lease_ends(mail_app, smtp):
    """Worker A claimed the row and died before marking it: worker B leaves it alone during the lease, then sends
    it — once."""
    from app import mailer

    _, inbox, _ = smtp
    _give_address(mail_app)
    _returned_case(mail_app)
    now = utcnow()
    with mail_app.app_context():
        assert len(mailer._claim(now)) == 1  # worker A
    assert _deliver(mail_app, now + timedelta(minutes=1)) == {"sent": 0, "failed": 0}  # worker B: claimed
    assert inbox.messages == []
    assert _deliver(mail_app, now + mailer.LEASE + timedelta(seconds=1))["sent"] == 1
    assert _deliver(mail_app, now + timedelta(hours=1))["sent"] == 0
    assert len(inbox.messages) == 1


def test_without_a_mail_server_no_email_is_queued(client):  # noqa: F811
    _give_address(client.application)  # SMTP_HOST unset: e-mail is off
    _returned_case(client.application)
    with client.application.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(NotificationDelivery)).scalar_one() == 0
        assert db.session.execute(sa.select(User.email).filter_by(username=f"window-{COUNTY}")).scalar_one() == ADDRESS


def test_an_sms_goes_through_the_logging_sender_by_default_masked(client, caplog):  # noqa: F811
    import logging

    from app import mailer

    log_in(client, f"window-{COUNTY}")
    r = client.post("/account/contact", data={"email": "", "mobile": "13912345678",
                                               "csrf_token": csrf_token(client, "/account/contact")})
    assert r.status_code == 303
    r = client.post("/account/contact", data={"email": "", "mobile": "12345",
                                               "csrf_token": csrf_token(client, "/account/contact")})
    assert r.status_code == 422 and "手机号码应为 11 位数字" in r.get_data(as_text=True)
    case_no = _returned_case(client.application)
    with client.application.app_context(), caplog.at_level(logging.INFO, logger="tongquan.mailer"):
        assert mailer.deliver(utcnow()) == {"sent": 1, "failed": 0}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "tongquan.mailer"]
    assert "139****5678" in line and "13912345678" not in line and case_no in line


def test_the_inbox_names_every_kind_of_notification_in_the_users_language(client):  # noqa: F811
    """Found trying the demo (issue 15): a transfer, a consultation and a 差评整改 showed as `transfer`,
    `consultation` and `follow_up` in the inbox's 类型 column."""
    from delegation.notification_models import KINDS
    from delegation.notifications import notify_users

    app = client.application
    with app.app_context():
        user = db.session.execute(sa.select(User).filter_by(username=f"window-{COUNTY}")).unique().scalar_one()
        for kind in KINDS:
            notify_users([user], kind, f"标题-{kind}")
        db.session.commit()
    log_in(client, f"window-{COUNTY}")
    page = client.get("/notifications").get_data(as_text=True)
    cells = re.findall(r'<tr data-testid="notification-\d+"[^>]*>\s*<td>.*?</td>\s*<td>([^<]*)</td>', page, re.S)
    assert len(cells) == len(KINDS)
    assert not set(cells) & set(KINDS)  # no identifier shown for a label
    assert {"转办", "会商", "差评整改"} <= set(cells)
