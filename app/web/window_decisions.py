"""The desks of the approval kinds decided at the window (issue 17, part A): the window case page's panel
(告知承诺 shown and signed, 即办件 decided, 备案 recorded: templates/window_decisions/_panel.html), the regulator's
告知承诺 verification page, the administrator's page of on-the-spot authorities. Each POST runs one service in one
unit of work (app.web.unit_of_work); a refusal is said on the page it comes back to, naming what was wrong."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import Length

from app.web import register_page_errors, requires
from app.web.unit_of_work import page_unit
from delegation import cases, window_decisions
from delegation.errors import NotFound
from delegation.window_decision_models import Authority
from delegation.workflow import Action, Role
from persistence import utcnow
from supervision import commitment_checks

bp = Blueprint("web_window_decisions", __name__)
register_page_errors(bp)

ON_THE_SPOT = {Action.APPROVE_ON_COMMITMENT.value: _l("已签署告知承诺并当场审批，请打印决定书和证照交申请人"),
               Action.DECIDE_INSTANT.value: _l("即办件已当场办结，请打印决定书和证照交申请人"),
               Action.FILE.value: _l("已备案，并已推送监管部门")}
RESULT_LABEL = {"verified": _l("承诺属实"), "false": _l("承诺不实")}
AUTHORITY_LABEL = {Authority.COMMITMENT_DECISION.value: _l("告知承诺当场审批"),
                   Authority.INSTANT_DECISION.value: _l("即办件当场办结")}


class OnTheSpotForm(FlaskForm):
    commitment_signed = BooleanField(_l("申请人已当场签署上述告知承诺书"))
    signer_name = StringField(_l("签署人"), validators=[Length(max=window_decisions.SIGNER_MAX)])


class CheckForm(FlaskForm):
    note = TextAreaField(_l("核查情况"), validators=[Length(max=commitment_checks.NOTE_MAX)])


@bp.app_context_processor
def _helpers():
    def window_decision_offer(case):
        offer = window_decisions.window_offer(case, current_user.actor)
        return offer and {**offer, "form": OnTheSpotForm()}

    def window_commitment_figures(filters=None):
        from supervision import statistics

        return statistics.window_commitments(filters)
    def commitment_checks_open():
        return commitment_checks.open_counts(current_user.actor)
    return {"window_decision_offer": window_decision_offer, "window_commitment_figures": window_commitment_figures,
            "commitment_checks_open": commitment_checks_open}


def _role(role: Role):
    return lambda user: user.user.role == role.value


@bp.post("/window/cases/<case_no>/on-the-spot")
@requires(_role(Role.WINDOW))
def decide(case_no: str):
    """告知承诺 signed and approved, an instant item decided, an exempt item filed: concluded on the spot."""
    action, form = request.form.get("action", ""), OnTheSpotForm()
    if action not in ON_THE_SPOT:
        abort(404)
    said = _conclude(case_no, action, form) if _valid(form) else None
    return _done(url_for("web_window.case", case_no=case_no), said)


def _conclude(case_no: str, action: str, form):
    """What to say once the case is concluded (None when refused: the refusal is flashed)."""
    with page_unit(None, page_level="flash") as unit:
        cases.perform(current_user.actor, case_no, action, _on_the_spot_payload(action, form))
    if isinstance(unit.error, NotFound):
        abort(404)
    return None if unit.failed else ON_THE_SPOT[action]


def _valid(form) -> bool:
    """The form's own checks; each refusal flashed once for the page the clerk goes back to."""
    if form.validate():
        return True
    for errors in form.errors.values():
        flash(str(errors[0]), "error")
    return False


def _on_the_spot_payload(action: str, form) -> dict:
    if action == Action.APPROVE_ON_COMMITMENT.value:
        return {"commitment_signed": bool(form.commitment_signed.data), "signer_name": form.signer_name.data}
    return {}


def _done(url: str, said=None):
    """Back to the page (post/redirect/get), saying what was done when it was."""
    if said is not None:
        flash(str(said), "success")
    return redirect(url, 303)


@bp.get("/regulator/commitment-checks")
@requires(_role(Role.REGULATOR))
def checks():
    now = utcnow()
    tasks = commitment_checks.open_tasks(current_user.actor)
    return render_template("window_decisions/checks.html", tasks=tasks, form=CheckForm(), now=now,
                           overdue=lambda t: commitment_checks.is_overdue(t, now), result_label=RESULT_LABEL)


@bp.post("/regulator/commitment-checks/<case_no>")
@requires(_role(Role.REGULATOR))
def record(case_no: str):
    form, result = CheckForm(), request.form.get("result", "")
    if not _valid(form):
        return _done(url_for("web_window_decisions.checks"))
    with page_unit(None, page_level="flash") as unit:  # an unknown result is refused by the service, named
        commitment_checks.record_result(current_user.actor, case_no, result, form.note.data)
    said = None if unit.failed else _l("已记录核查结果：%(result)s", result=RESULT_LABEL[result])
    return _done(url_for("web_window_decisions.checks"), said)


@bp.route("/admin/window-authorities", methods=["GET", "POST"])
@requires(_role(Role.ADMIN))
def authorities():
    """The window clerks and the on-the-spot authorities each holds; the administrator ticks and saves one row."""
    if request.method == "POST":
        return _save_authorities()
    q = (request.args.get("q") or "").strip()[:60]
    staff = window_decisions.window_staff(q)
    return render_template("window_decisions/authorities.html", staff=staff, q=q, labels=AUTHORITY_LABEL,
                           held=window_decisions.authorities_of(u.id for u in staff), **_admin_tabs())


def _admin_tabs() -> dict:
    from app.web.admin import TABS

    return {"tabs": TABS, "active_tab": "web_window_decisions.authorities"}


def _save_authorities():
    """One clerk's row saved; said by the clerk's name (the service refuses an unknown or non-window account)."""
    username = request.form.get("username", "")
    with page_unit(None, page_level="flash") as unit:
        window_decisions.set_authorities(current_user.actor, username,
                                         [a for a in AUTHORITY_LABEL if request.form.get(a)])
    said = None if unit.failed else _l("已保存 %(name)s 的当场审批权限", name=_person(username))
    return _done(url_for("web_window_decisions.authorities", q=request.form.get("q") or None), said)


def _person(username: str) -> str:
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import User

    return db.session.execute(sa.select(User.display_name).filter_by(username=username.strip())).scalar() or ""
