"""差评整改 pages (issue 15): the unit's list of rectification tasks (due, overdue, replied), one task with the
rating, the applicant's reason and the reply form, and the reply's POST. The desks show the open count through the
template global `follow_up_desk()`. The service (delegation.follow_up) scopes every task to the actor's unit."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from app.web import register_page_errors, requires
from app.web.common import _l
from app.web.unit_of_work import page_unit
from delegation import follow_up
from delegation.errors import NotFound
from delegation.models import RATING_LABELS
from delegation.workflow import Role

bp = Blueprint("web_follow_up", __name__)
register_page_errors(bp)
_STAFF = (Role.WINDOW, Role.REVIEWER, Role.CITY_APPROVER)


def _staff(user) -> bool:
    return user.actor.role in _STAFF


class ReplyForm(FlaskForm):
    finding = TextAreaField(_l("核实情况"), render_kw={"maxlength": follow_up.TEXT_MAX})
    rectification = TextAreaField(_l("整改措施"), render_kw={"maxlength": follow_up.TEXT_MAX})
    reply = TextAreaField(_l("答复申请人"), render_kw={"maxlength": follow_up.TEXT_MAX})


@bp.app_template_global()
def follow_up_desk() -> dict:
    if current_user.actor.role not in _STAFF:
        return {"open": [], "overdue": 0}
    tasks = follow_up.tasks_for(current_user.actor, open_only=True)
    return {"open": tasks, "overdue": sum(1 for t in tasks if follow_up.overdue(t))}


@bp.get("/follow-ups")
@requires(_staff)
def index():
    return render_template("follow_up/index.html", tasks=follow_up.tasks_for(current_user.actor),
                           overdue=follow_up.overdue, labels=RATING_LABELS)


@bp.get("/follow-ups/<int:task_id>")
@requires(_staff)
def show(task_id: int):
    try:
        task = follow_up.task_for(current_user.actor, task_id)
    except NotFound:
        abort(404)
    return render_template("follow_up/show.html", task=task, form=g.get("reply_form") or ReplyForm(formdata=None),
                           overdue=follow_up.overdue(task), labels=RATING_LABELS, replied_by=_name(task.replied_by))


def _name(username: str | None) -> str:
    """Who replied, by name (the task keeps the account)."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import User

    if not username:
        return ""
    return db.session.execute(sa.select(User.display_name).filter_by(username=username)).scalar() or ""


@bp.post("/follow-ups/<int:task_id>/reply")
@requires(_staff)
def reply(task_id: int):
    form = g.reply_form = ReplyForm()
    with page_unit(form) as unit:
        follow_up.reply(current_user.actor, task_id, form.finding.data, form.rectification.data, form.reply.data)
    if isinstance(unit.error, NotFound):
        abort(404)
    return (show(task_id), unit.status) if unit.failed else _done(task_id)


def _done(task_id: int):
    flash(str(_l("已答复申请人，答复将显示在办件查询页面")), "success")
    return redirect(url_for("web_follow_up.show", task_id=task_id), 303)
