"""Assignment from the pages (issue 15): 领取 / 分派 / 退回本单位 on the case page (templates/assignment/_panel.html),
the counts of 我的待办 and 本单位未分配 on the window, review and city desks (templates/desk/_needs_me.html) and
their lists (/work), and the user's stand-ins (委托代办, /stand-ins). The rules are delegation.assignment's."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length

from app.web import register_page_errors, requires
from app.web.unit_of_work import page_unit
from delegation import assignment
from delegation.errors import Forbidden, NotFound

bp = Blueprint("web_assignment", __name__)
register_page_errors(bp)


class AssignForm(FlaskForm):
    assignee = StringField(_l("分派给"), validators=[Length(max=60)])


class StandInForm(FlaskForm):
    stand_in = StringField(_l("代办人"), validators=[InputRequired(_l("请选择代办人")), Length(max=60)])
    starts_on = DateField(_l("开始日期"), validators=[InputRequired(_l("请填写开始日期"))])
    ends_on = DateField(_l("结束日期"), validators=[InputRequired(_l("请填写结束日期"))])


@bp.app_context_processor
def _helpers():
    def assignment_panel(case):
        return {"panel": assignment.panel(current_user.actor, case), "form": AssignForm()}

    def assignment_counts():
        return assignment.counts(current_user.actor)
    return {"assignment_panel": assignment_panel, "assignment_counts": assignment_counts}


@bp.route("/cases/<case_no>/claim", methods=["POST"])
@login_required
def claim(case_no):
    return _act(case_no, FlaskForm(), lambda: assignment.claim(current_user.actor, case_no), _l("已领取"))


@bp.route("/cases/<case_no>/assign", methods=["POST"])
@login_required
def assign(case_no):
    form = AssignForm()
    return _act(case_no, form, lambda: assignment.assign(current_user.actor, case_no, form.assignee.data),
                _l("已分派"))


@bp.route("/cases/<case_no>/release", methods=["POST"])
@login_required
def release(case_no):
    return _act(case_no, FlaskForm(), lambda: assignment.release(current_user.actor, case_no), _l("已退回本单位待分配"))


def _act(case_no, form, service, done):
    """One unit of work, then back to the case page (post/redirect/get) with what to say there: an error, the
    field's included, is said above the case (the form is not shown again)."""
    if not form.validate():
        return _back(case_no, *(("error", str(errors[0])) for errors in form.errors.values()))
    with page_unit(None, page_level="flash") as unit:
        service()
    if isinstance(unit.error, (Forbidden, NotFound)):  # not theirs to touch: as any page answers it
        abort(unit.status)
    return _back(case_no, *(() if unit.failed else [("success", str(done))]))


def _back(case_no, *messages):
    for category, text in messages:
        flash(text, category)
    return redirect(url_for("web_case.show", case_no=case_no), 303)


def _handles_cases(user) -> bool:
    return user.actor.role in assignment.WORK_ROLES


@bp.route("/work")
@requires(_handles_cases)
def work():
    actor = current_user.actor
    queues = {"mine": assignment.my_work(actor), "unassigned": assignment.unassigned(actor)}
    return render_template("assignment/work.html", queues=queues)


@bp.route("/stand-ins", methods=["GET", "POST"])
@requires(_handles_cases)
def stand_ins():
    form = StandInForm()
    if form.validate_on_submit():
        with page_unit(form) as unit:
            assignment.name_stand_in(current_user.actor, form.stand_in.data, form.starts_on.data, form.ends_on.data)
        if not unit.failed:
            flash(str(_l("已设置委托代办")), "success")
            return redirect(url_for("web_assignment.stand_ins"), 303)
    return _stand_in_page(form), (422 if form.errors else 200)


@bp.route("/stand-ins/<int:period_id>/cancel", methods=["POST"])
@requires(_handles_cases)
def cancel_stand_in(period_id):
    form = FlaskForm()
    if form.validate():
        with page_unit(form):
            assignment.cancel_stand_in(current_user.actor, period_id)
    return redirect(url_for("web_assignment.stand_ins"), 303)


def _stand_in_page(form):
    user = current_user.user
    periods = assignment.stand_ins_of(user.id)
    names = assignment.display_names([p.user_id for p in periods] + [p.stand_in_id for p in periods])
    return render_template("assignment/stand_ins.html", form=form, periods=periods, names=names,
                           colleagues=assignment.colleagues_of(user), me=user)
