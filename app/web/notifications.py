"""The inbox of every member of staff (/notifications) and the unread count in the page header (issue 15).

Each query is the signed-in user's own (user_id = me): nobody reads or marks another user's notifications."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from app.web import register_page_errors
from app.web.unit_of_work import page_unit
from delegation import notifications, reminders  # noqa: F401  (their workflow listeners register at import)
from supervision import push_notify  # noqa: F401  (the push-to-claim listener)

bp = Blueprint("web_notifications", __name__)
register_page_errors(bp)
MAX_IDS = 200
KIND_LABEL = {"returned": _l("退回"), "decision": _l("待出件"), "warning": _l("即将超期"), "overdue": _l("已超期"),
              "reminder": _l("催办"), "escalation": _l("超期督办"), "push": _l("监管推送"),
              "assigned": _l("分派"), "transfer": _l("转办"), "consultation": _l("会商"), "follow_up": _l("差评整改")}


@bp.app_context_processor
def _unread_count():
    def unread():
        if not current_user.is_authenticated:
            return 0
        try:
            return notifications.unread_count(current_user.user.id)
        except SQLAlchemyError:  # an error page after a database failure still renders its header
            return 0
    return {"notifications_unread": unread}


@bp.route("/notifications")
@login_required
def inbox():
    unread_only = request.args.get("show") == "unread"
    rows = notifications.inbox(current_user.user.id, unread_only=unread_only)
    return render_template("notifications/inbox.html", rows=rows, unread_only=unread_only,
                           notification_kinds={k: str(v) for k, v in KIND_LABEL.items()})


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read():
    ids = [int(v) for v in request.form.getlist("id")[:MAX_IDS] if v.isdigit() and len(v) < 12]
    with page_unit():
        notifications.mark_read(current_user.user.id, None if request.form.get("all") else ids)
    return redirect(url_for("web_notifications.inbox", show=request.args.get("show") or None), 303)
