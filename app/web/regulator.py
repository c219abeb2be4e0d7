"""The regulator desk (监管): pushes to claim, claimed pushes awaiting feedback, closed ones, or all of them, narrowed
to those past their claim deadline and searched by case number, credit code or part of the applicant's name, under
the count of pushes whose claim deadline is near or past; claim, feedback, close (confirmed first: closing is final,
and refused while an order to rectify waits for its result — push_states' `closable`).

Every read and change goes through supervision.push_queries (list_pushes / get_push / list_alerts) and
supervision.push_actions (claim / add_feedback / close) — the same functions the /api/v1/supervision API calls, so a
regulator sees only the pushes that have arrived for their own organisation (push_queries.visible_filter). A push
and its alerts are shown through the API's views (app.api.supervision_api)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from app.extensions import db, utcnow
from app.web import error_page, register_page_errors, requires
from app.web.common import _, _l, domain_message, keyset_after, peer_org, staff_name
from app.web.kept_forms import back_to, kept_form
from app.web.unit_of_work import page_unit
from delegation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from exchange import field_rules
from supervision import push_actions, push_queries, push_states
from supervision.models import FeedbackKind
from supervision.push_states import PushState

bp = Blueprint("web_regulator", __name__)
register_page_errors(bp)

PAGE_SIZE = 30
# tab → the push state it lists, and its title (the state's own, but for the claimed pushes: what they wait for)
TABS = (("claim", PushState.PUSHED, PushState.PUSHED.label), ("claimed", PushState.CLAIMED, _l("待反馈")),
        ("done", PushState.CLOSED, PushState.CLOSED.label), ("all", None, _l("全部")))
SEARCH_MAX = 60
RESPONSIBLE_LABEL = {"accept": _l("受理"), "review": _l("审核"), "decide": _l("决定"), "supervise": _l("监管")}
FEEDBACK_KIND_LABEL = {kind.value: kind.label for kind in FeedbackKind}


def _regulator(user) -> bool:
    return user.user.role == "regulator"


class FeedbackForm(FlaskForm):
    """The fields of push_actions.add_feedback; the service checks them (kind, date, result, penalty number, amount)
    and its message names the field."""

    kind = SelectField(_l("反馈类型"), choices=[SelectChoice("", _l("请选择"))] + [SelectChoice(k, v) for k, v in FEEDBACK_KIND_LABEL.items()],
                       validate_choice=False)
    date = StringField(_l("监管日期"), render_kw={"type": "date"})
    result = TextAreaField(_l("监管结果"), render_kw={"rows": 3, "maxlength": field_rules.WIRE_TEXT_MAX})
    rectification_ordered = BooleanField(_l("已责令整改"))
    decision_no = StringField(_l("决定书文号"), render_kw={"maxlength": field_rules.NAME_MAX})
    amount = StringField(_l("罚款金额（元）"), render_kw={"inputmode": "decimal"})
    comment = TextAreaField(_l("备注"), render_kw={"rows": 2, "maxlength": field_rules.WIRE_TEXT_MAX})
    close = BooleanField(_l("本次反馈后办结监管"))


class ActionForm(FlaskForm):
    """Claim and close carry nothing but the CSRF token."""


def _actor():
    return current_user.actor


def _domain_page(exc: DomainError):
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404)
    title = _("无权访问") if isinstance(exc, Forbidden) else _("操作未完成")
    return error_page(exc.status, title, domain_message(exc))


def _org_names(codes) -> dict[str, str]:
    """The names of the organisations a page mentions by code (one query)."""
    from delegation.models import Org

    if not codes:
        return {}
    return dict(db.session.execute(sa.select(Org.code, Org.name).where(Org.code.in_(codes))).all())


@bp.get("/regulator")
@requires(_regulator)
def desk():
    return render_template("regulator/desk.html", **_desk_context())


def _desk_context() -> dict:
    from app.api.supervision_api import alert_view

    tab, state = _tab()
    q, overdue = _search_args()
    rows, next_after = push_queries.list_pushes(_actor(), state=state, search=q, overdue=overdue or None,
                                                after_id=keyset_after(request.args), limit=PAGE_SIZE)
    alerts, _next = push_queries.list_alerts(_actor(), limit=5)
    return dict(tabs=TABS, tab=tab, rows=rows, next_after=next_after, q=q,
                overdue=overdue, counts=push_queries.claim_deadlines(_actor()),
                alerts=_alert_lines([alert_view(a, case_no) for a, case_no in alerts]), now=utcnow(),
                form=ActionForm(), org_names=_org_names({p.deciding_org for p in rows}))


def _alert_lines(alerts: list[dict]) -> list[dict]:
    """Each alert said in the page language from its push (the sweep stores its Chinese sentence for the record):
    one query for the pushes, one for the names of their regulators."""
    from app.web.common import local_time
    from supervision.models import SupervisionPush

    if not alerts:
        return []
    pushes = {p.id: p for p in db.session.execute(sa.select(SupervisionPush).where(
        SupervisionPush.id.in_({a["push_id"] for a in alerts}))).scalars()}
    names = _org_names({p.supervising_org for p in pushes.values()})
    lines = []
    for a in alerts:
        push = pushes[a["push_id"]]
        words = {"case_no": push.case_no, "item": push.item_name, "due": local_time(push.claim_due_at),
                 "org": names.get(push.supervising_org) or _("对方单位")}
        text = (_("%(org)s未在期限（%(due)s）内认领办件 %(case_no)s（%(item)s）的监管推送，已逾期，请督促其认领", **words)
                if a["kind"] == "escalation" else
                _("%(org)s于 %(claimed)s 认领办件 %(case_no)s（%(item)s）的监管推送后，逾期未反馈监管结果，请督促其反馈",
                  claimed=local_time(push.claimed_at), **words)
                if a["kind"] == "no_feedback" else
                _("办件 %(case_no)s（%(item)s）的监管推送尚未认领，认领期限为 %(due)s，请及时认领", **words))
        lines.append({**a, "message": text})
    return lines


def _tab() -> tuple[str, object]:
    """The desk's tab of the query string (unknown: the claim tab) and the push state it lists."""
    states = {t: s for t, s, _label in TABS}
    tab = request.args.get("tab", "claim")
    return (tab, states[tab]) if tab in states else ("claim", states["claim"])


def _search_args() -> tuple[str | None, bool]:
    """The search box (bounded, spaces folded) and the overdue filter (unclaimed past the claim deadline)."""
    q = " ".join((request.args.get("q") or "").split())[:SEARCH_MAX] or None
    return q, request.args.get("overdue") == "1"


def _show(push_id: int):
    from app.api.supervision_api import push_view

    push = _visible(push_id)
    view = _named(push_view(push))
    form = kept_form("web_regulator.push", {"feedback": FeedbackForm}, prefixed=False, push_id=push_id).get("feedback")
    if form is None:
        form = FeedbackForm(formdata=None)
        form.date.data = utcnow().astimezone(_shanghai()).date().isoformat()
    confirm_close = request.args.get("confirm") == "close"
    return render_template("regulator/push.html", push=view, form=form, action_form=ActionForm(),
                           kind_label=FEEDBACK_KIND_LABEL, responsible_label=RESPONSIBLE_LABEL,
                           closable=push_states.GUARDS["closable"](push, {}),
                           open_order=push_states.open_rectification(push),
                           confirm_close=confirm_close and push.state == PushState.CLAIMED)


def _visible(push_id: int):
    """The push, if it is this regulator's to see; else a 404."""
    try:
        return push_queries.get_push(_actor(), push_id)
    except NotFound:
        abort(404)


def _named(view: dict) -> dict:
    """The push as the regulator reads it: organisations and staff by name, never by code or account."""
    people = [view["claimed_by"], view["closed_by"], *(f["by"] for f in view["feedback"])]
    codes = {view["accepting_org"], view["deciding_org"], *(r.get("org") for r in view["responsible"]),
             *(peer_org(p) for p in people)}
    names = _org_names({c for c in codes if c})
    return {**view, "accepting_org_name": names.get(view["accepting_org"]) or _("对方单位"),
            "deciding_org_name": names.get(view["deciding_org"]) or _("对方单位"),
            "claimed_by": staff_name(view["claimed_by"], names), "closed_by": staff_name(view["closed_by"], names),
            "responsible": [{**r, "org_name": names.get(r.get("org")) or "", "person": staff_name(r.get("person"))}
                            for r in view["responsible"]],
            "feedback": [{**f, "by": staff_name(f["by"], names)} for f in view["feedback"]]}


def _shanghai():
    from app.web.common import SHANGHAI

    return SHANGHAI


@bp.get("/regulator/pushes/<int:push_id>")
@requires(_regulator)
def push(push_id: int):
    return _show(push_id)


@bp.post("/regulator/pushes/<int:push_id>/claim")
@requires(_regulator)
def claim(push_id: int):
    with page_unit(page_level=None) as unit:
        case_no = push_actions.claim(_actor(), push_id).case_no
    if unit.failed:
        return _refused(push_id, unit)
    flash(_("已认领办件 %(case_no)s 的监管推送，请及时反馈监管结果", case_no=case_no), "info")
    return redirect(url_for("web_regulator.push", push_id=push_id))


@bp.post("/regulator/pushes/<int:push_id>/feedback")
@requires(_regulator)
def feedback(push_id: int):
    form = FeedbackForm()
    if not form.validate_on_submit():
        return _back(push_id, form)
    with page_unit(form, page_level=None) as unit:
        push_actions.add_feedback(_actor(), push_id, _feedback_data(form))
    if unit.failed:
        return _refused(push_id, unit, form)
    flash(_("监管结果已反馈") if not form.close.data else _("监管结果已反馈，监管已办结"), "info")
    return redirect(url_for("web_regulator.push", push_id=push_id))


def _feedback_data(form) -> dict:
    return {"kind": form.kind.data or None, "date": (form.date.data or "").strip() or None,
            "result": form.result.data, "comment": form.comment.data or "",
            "rectification_ordered": bool(form.rectification_ordered.data),
            "decision_no": (form.decision_no.data or "").strip() or None,
            "amount": (form.amount.data or "").strip() or None, "close": bool(form.close.data)}


@bp.post("/regulator/pushes/<int:push_id>/close")
@requires(_regulator)
def close(push_id: int):
    """Closing is final: without the confirmation the page asks for it, and nothing changes."""
    ActionForm()  # the CSRF token is checked for every form post before the view
    if request.form.get("confirm") != "1":
        _visible(push_id)
        return redirect(url_for("web_regulator.push", push_id=push_id, confirm="close"), 303)
    with page_unit(page_level=None) as unit:
        push_actions.close(_actor(), push_id)
    return _refused(push_id, unit) if unit.failed else _closed(push_id)


def _closed(push_id: int):
    flash(_("监管已办结"), "info")
    return redirect(url_for("web_regulator.push", push_id=push_id))


def _back(push_id: int, form: FeedbackForm):
    return back_to("web_regulator.push", "feedback", form, push_id=push_id)


def _refused(push_id: int, unit, form: FeedbackForm | None = None):
    """Where this desk says a refusal (the unit rolled back), back on the push's page with what was typed: an Invalid
    of the feedback on its field or atop the form, a Conflict in the message bar, anything else on an error page."""
    exc = unit.error
    if isinstance(exc, Invalid) and form is not None:
        if unit.field_for(exc.field) is None:
            form.form_errors.append(domain_message(exc))
        return _back(push_id, form)
    if isinstance(exc, Conflict):
        flash(domain_message(exc), "error")
        return _back(push_id, form) if form is not None else redirect(url_for("web_regulator.push", push_id=push_id),
                                                                      303)
    return _domain_page(exc)
