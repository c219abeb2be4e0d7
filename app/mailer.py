"""Delivery of notifications by e-mail (SMTP) and SMS, from the outbox `notification_delivery` (issue 15).

A delivery is claimed (state "sending" with a lease, committed), sent, then marked "sent" (committed): a second
worker skips a claimed row, and a mail server that is down leaves the row pending with its next attempt pushed
back (30 s, 1, 2, 4 … minutes, at most an hour; "dead" after MAX_ATTEMPTS). A worker killed between the sending
and the marking re-sends once the lease ends (at least once); the Message-ID is the delivery's, so a receiving
server or client can tell the copy.

The job `run_notification_jobs` (worker and `make run` scheduler) also writes the notifications of the day:
warning/overdue alerts, pushes to claim and the automatic reminders.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from flask import current_app

from app.extensions import db, utcnow
from delegation.models import User
from delegation.notification_models import Notification, NotificationDelivery

log = logging.getLogger("tongquan.mailer")

MAX_ATTEMPTS = 12
LEASE = timedelta(minutes=5)
BATCH = 50


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


class SmtpSender:
    """Sends through the SMTP server of the settings (SMTP_HOST …); one connection per batch."""

    def __init__(self, smtp: dict):
        self.smtp = smtp

    def send(self, messages: list[EmailMessage]) -> None:
        cfg = self.smtp
        if cfg["tls"] == "ssl":
            conn = smtplib.SMTP_SSL(cfg["host"], cfg["port"], timeout=cfg["timeout"],
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(cfg["host"], cfg["port"], timeout=cfg["timeout"])
        with conn:
            if cfg["tls"] == "starttls":
                conn.starttls(context=ssl.create_default_context())
            if cfg["user"]:
                conn.login(cfg["user"], cfg["password"])
            for message in messages:
                conn.send_message(message)


class LoggingSmsSender:
    """The default SMS sender: writes the text to the log. A gateway is another class with `send(number, text)`."""

    def send(self, number: str, text: str) -> None:
        log.info("SMS to %s: %s", number[:3] + "****" + number[-4:], text)


SMS_SENDERS = {"log": LoggingSmsSender}


def _claim(now: datetime) -> list[int]:
    """Claim the due rows: one conditional UPDATE per row, so that of two workers only one wins each."""
    due = sa.or_(sa.and_(NotificationDelivery.state == "pending", NotificationDelivery.next_attempt_at <= now),
                 sa.and_(NotificationDelivery.state == "sending", NotificationDelivery.claimed_until < now))
    ids = list(db.session.execute(sa.select(NotificationDelivery.id).where(due)
                                  .order_by(NotificationDelivery.id).limit(BATCH)).scalars())
    won = []
    for row_id in ids:
        result = db.session.execute(
            sa.update(NotificationDelivery).where(NotificationDelivery.id == row_id, due)
            .values(state="sending", claimed_until=now + LEASE).execution_options(synchronize_session=False))
        if result.rowcount:
            won.append(row_id)
    db.session.commit()
    return won


def _email(delivery: NotificationDelivery, note: Notification, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"【同权】{note.title}"
    message["From"] = sender
    message["To"] = delivery.address
    message["Message-ID"] = make_msgid(f"tongquan-notification-{delivery.id}")
    message.set_content(f"{note.title}\n\n{note.body}\n\n（本邮件由系统自动发送，请登录平台查看。）")
    return message


def deliver(now: datetime | None = None) -> dict:
    """Send what is due; each row ends sent, pending for a later attempt, or dead."""
    now = now or utcnow()
    settings = current_app.config["TONGQUAN"]
    ids = _claim(now)
    if not ids:
        return {"sent": 0, "failed": 0}
    rows = db.session.execute(sa.select(NotificationDelivery, Notification)
                              .join(Notification, Notification.id == NotificationDelivery.notification_id)
                              .where(NotificationDelivery.id.in_(ids))).all()
    sent, failed = [], []
    emails = [(d, n) for d, n in rows if d.channel == "email"]
    if emails:
        if not settings.smtp:
            failed += [(d, "SMTP_HOST is not set") for d, _ in emails]
        else:
            try:
                SmtpSender(settings.smtp).send([_email(d, n, settings.smtp["from"]) for d, n in emails])
                sent += [d for d, _ in emails]
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("notification mail not sent: %s", exc)
                failed += [(d, f"{type(exc).__name__}: {exc}"[:500]) for d, _ in emails]
    sms = SMS_SENDERS[settings.sms_sender]()
    for d, n in rows:
        if d.channel == "sms":
            try:
                sms.send(d.address, f"【同权】{n.title}")
                sent.append(d)
            except Exception as exc:  # a gateway's failure of any kind: retried like the mail
                failed.append((d, f"{type(exc).__name__}: {exc}"[:500]))
    for d in sent:
        d.state, d.sent_at, d.claimed_until, d.attempts = "sent", now, None, d.attempts + 1
    for d, error in failed:
        d.attempts += 1
        d.last_error, d.claimed_until = error, None
        d.state = "dead" if d.attempts >= MAX_ATTEMPTS else "pending"
        d.next_attempt_at = now + backoff(d.attempts)
    db.session.commit()
    return {"sent": len(sent), "failed": len(failed)}


def run_notification_jobs(now: datetime | None = None) -> dict:
    """The notification job: alerts, pushes to claim, automatic reminders (each committed), then the deliveries."""
    from delegation import consultation, follow_up, notifications, reminders
    from supervision import push_notify

    now = now or utcnow()
    settings = current_app.config["TONGQUAN"]
    result = {"alerts": notifications.due_alerts(now), "pushes": push_notify.push_alerts(now)}
    db.session.commit()
    result.update(reminders.remind_overdue(settings.reminder_escalate_after, now))
    db.session.commit()
    result.update(consultation.remind_unanswered(now))  # 会商 past the city's reply limit
    db.session.commit()
    result["follow_ups"] = follow_up.remind_overdue(now)  # 差评整改 past due, once a working day
    db.session.commit()
    result.update(deliver(now))
    return result


def pending_for(user: User) -> int:
    """Deliveries not yet sent to this user (for the account page)."""
    return db.session.execute(
        sa.select(sa.func.count()).select_from(NotificationDelivery)
        .join(Notification, Notification.id == NotificationDelivery.notification_id)
        .where(Notification.user_id == user.id, NotificationDelivery.state.in_(("pending", "sending")))).scalar_one()
