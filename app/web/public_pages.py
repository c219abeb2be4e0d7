"""Public pages, no login: the service guides of delegated items, the case lookup, the applicant's rating.

Nothing here names a member of staff (no display name, no username), nor shows an applicant's ID number or phone:
the lookup shows the state, the item, the window, the dates and the timeline's actions and times only. A wrong case
number and a wrong query code get the very same answer, and the guesses are limited per client address and per
case number (app.public: query_code_limits and spend_case_check, shared with the JSON rating API)."""
from __future__ import annotations

import hmac

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Regexp, ValidationError

from app.extensions import db
from app.public import CaseQueryLocked, query_code_limits, spend_case_check
from app.web import register_page_errors
from app.web.common import _, _l, domain_message, mode_label
from app.web.unit_of_work import page_unit
from delegation import guide as guide_service
from delegation import follow_up, ratings
from delegation.errors import NotFound
from delegation.models import Case, CaseEvent, CaseRating, RatingLevel
from delegation.workflow import FINAL_STATES, Action, Mode, State, SystemAction
from exchange import field_rules

bp = Blueprint("web_public", __name__)
register_page_errors(bp)

NOT_FOUND = _l("未找到该办件，请核对办件编号和查询码")  # the same words for a wrong number and a wrong code
QUERY_MAX = 100

# The applicant reads the state in plain words: what it means and what happens next.
STATE_HINT = {
    "submitted": _l("申请已提交，等待窗口受理。"),
    "correction_requested": _l("申请材料需要补正：请按窗口出具的一次性告知书补齐材料后重新提交，补正期间不计入办理时限。"),
    "refused": _l("申请不予受理，理由和可前往办理的地点见不予受理通知书。"),
    "accepted": _l("窗口已受理，正在办理。"),
    "county_review": _l("县级审批部门正在审核。"),
    "forwarded": _l("已转报市级部门，等待市级签收。"),
    "city_review": _l("市级部门正在审批。"),
    "returned": _l("已退回重新审核，正在办理。"),
    "decided": _l("已作出审批决定，等待窗口出件。"),
    "concluded": _l("已办结。"),
    "suspended": _l("正在进行特别程序（现场踏勘、专家评审、听证或中介服务），特别程序时间不计入办理时限。"),
    "withdrawn": _l("申请已撤回。"),
    "terminated": _l("办理已终止。"),
}
# The steps of the timeline the applicant sees; every other line (supervision, internal receipts) stays inside.
_STEP_AS_ACTION = (Action.ACCEPT, Action.ACCEPT_WITH_COMMITMENT, Action.REQUEST_CORRECTION, Action.REFUSE,
                   Action.SUPPLY_MATERIALS, Action.REVIEW, Action.APPROVE, Action.DENY, Action.SUSPEND, Action.RESUME,
                   Action.HAND_OUT, SystemAction.FORWARD)
PUBLIC_STEP = {  # the action's own title, or the applicant's plainer words for it
    **{action.value: action.label for action in _STEP_AS_ACTION},
    "submit": _l("提交申请"), "resubmit": _l("重新提交材料"),
    "receive": _l("市级收到转报件"), "forward_acknowledged": _l("市级签收"), "receive_supplement": _l("市级收到补交材料"),
    "return": _l("退回重新审核"), "receive_return": _l("县级收到退回件"), "receive_decision": _l("窗口收到审批结果"),
    "withdraw": _l("撤回申请"), "terminate": _l("终止办理"),
}
DECISION_LABEL = {action.value: action.label for action in (Action.APPROVE, Action.DENY, Action.FILE)}
HANDOUT_LABEL = {"pickup": _l("窗口自取"), "mail": _l("免费邮寄")}
SCORE_LABEL = {int(level): level.label for level in RatingLevel}  # the levels of the rating service
UNIT_LABEL = {"working_days": _l("个工作日"), "hours": _l("小时（工作时间）")}
# Who does what, in plain words, by delegation mode (the table of the domain; parties are never typed in by hand).
MODE_PLAIN = {
    Mode.DIRECT.value: _l("在县（市、区）窗口申请，由县级行政审批局审核并作出审批决定，对审批结果负责；"
                          "由县级行业主管部门负责事中事后监管。办件全程在县级办结。"),
    Mode.DELEGATED_REVIEW.value: _l("在县（市、区）窗口申请，由县级行政审批局进行实质性审核并对审核结果负责，"
                                    "报市级对口部门批准，由市级部门对审批结果负责；由市级行业主管部门负责监管。"
                                    "审批结果由受理窗口统一发放。"),
    Mode.FORWARD_ONLY.value: _l("在县（市、区）窗口申请，窗口进行形式审查后转报市级，由市级部门审核并作出审批决定，"
                                "对审批结果负责；由市级行业主管部门负责监管。审批结果由受理窗口统一发放。"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _score(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


QUERY_CODE = field_rules.anchored(field_rules.QUERY_CODE)


class LookupForm(FlaskForm):
    case_no = StringField(_l("办件编号"), filters=[_strip],
                          validators=[DataRequired(_l("请输入办件编号")), Length(max=40, message=_l("办件编号过长"))])
    query_code = StringField(_l("查询码"), filters=[_strip],
                             validators=[DataRequired(_l("请输入查询码")),
                                         Regexp(QUERY_CODE, message=_l("查询码为6位数字"))])


class RatingForm(FlaskForm):
    query_code = StringField(_l("查询码"), filters=[_strip],
                             validators=[DataRequired(_l("请输入查询码")),
                                         Regexp(QUERY_CODE, message=_l("查询码为6位数字"))])
    score = RadioField(_l("评价"), coerce=_score, validate_choice=False,
                       choices=[SelectChoice(str(s), SCORE_LABEL[s]) for s in sorted(SCORE_LABEL, reverse=True)],
                       validators=[InputRequired(_l("请选择评价等级")),
                                   AnyOf(sorted(SCORE_LABEL), message=_l("请选择评价等级"))])
    comment = TextAreaField(_l("评价内容"), filters=[_strip], validators=[  # no Optional(): it skips validate_comment
        Length(max=ratings.COMMENT_MAX, message=_l("不能超过%(max)d字", max=ratings.COMMENT_MAX))])
    hide_code = HiddenField()

    def validate_comment(self, field):
        # a bad rating asks for the reason: it is what the unit that handled the case verifies and answers
        if self.score.data in follow_up.BAD_SCORES and not field.data:
            raise ValidationError(_l("选择“不满意”或“非常不满意”时，请填写不满意的原因"))


@bp.errorhandler(429)
def _too_many(_exc):
    return render_template("public/too_many.html"), 429, {"Retry-After": "600"}


@bp.errorhandler(CaseQueryLocked)
def _case_locked(exc: CaseQueryLocked):
    seconds = exc.extra["retry_after"]
    return (render_template("public/case_locked.html", minutes=-(-seconds // 60)), 429,
            {"Retry-After": str(seconds)})


# -- the service guides -----------------------------------------------------------------------------------------

@bp.get("/guide")
def guide():
    q = (request.args.get("q") or "").strip()[:QUERY_MAX]
    by = request.args.get("by") if request.args.get("by") in ("department", "mode") else "department"
    items, counties = guide_service.delegated_items(q)
    return render_template("public/guide_list.html", groups=_groups(items, by), q=q, by=by, total=len(items),
                           county_count={k: len(v) for k, v in counties.items()})


def _groups(items, by: str) -> dict[str, list]:
    """The items under their department's name (by department, then code), or their mode's title (in the modes'
    order)."""
    groups: dict[str, list] = {}
    if by == "mode":
        for mode in Mode:
            members = [i for i in items if i.mode == mode.value]
            if members:
                groups[mode_label(mode.value)] = members
        return groups
    for item in sorted(items, key=lambda i: (i.department.name if i.department else "", i.code)):
        groups.setdefault(item.department.name if item.department else "", []).append(item)
    return groups


@bp.get("/guide/<item_code>")
def guide_item(item_code):
    item = guide_service.active_item(item_code)
    if item is None:
        return render_template("public/not_found.html", title=_("未找到该事项"),
                               message=_("该事项不存在或未下放，请返回办事指南查找。")), 404
    return render_template("public/guide_item.html", item=item, places=guide_service.places(item),
                           unit=UNIT_LABEL.get(item.limit_unit, ""), mode_plain=MODE_PLAIN.get(item.mode, ""))


# -- the case lookup --------------------------------------------------------------------------------------------

def _find_case(case_no: str, query_code: str) -> Case | None:
    """The case with this number and query code, else None. The code is compared in constant time, and compared
    even when the case is absent, so neither the answer nor its timing tells which of the two was wrong."""
    case = db.session.execute(sa.select(Case).where(Case.case_no == case_no)).unique().scalar_one_or_none()
    stored = case.query_code if case is not None else "\0" * 6
    if not hmac.compare_digest(stored.encode(), (query_code or "").encode()) or case is None:
        return None
    return case


def _public_timeline(case: Case) -> list[dict]:
    rows = db.session.execute(sa.select(CaseEvent.action, CaseEvent.at).where(CaseEvent.case_id == case.id)
                              .order_by(CaseEvent.id)).all()
    return [{"step": PUBLIC_STEP[r.action], "at": r.at} for r in rows if r.action in PUBLIC_STEP]


@bp.route("/lookup", methods=["GET", "POST"])
@query_code_limits
def lookup():
    form = LookupForm()
    if request.method == "GET" or not form.validate():
        return render_template("public/lookup.html", form=form), 200 if request.method == "GET" else 422
    spend_case_check(form.case_no.data)
    case = _find_case(form.case_no.data, form.query_code.data)
    if case is None:
        return render_template("public/lookup.html", form=form, not_found=True), 404
    return render_template("public/lookup_result.html", case=_case_view(case), timeline=_public_timeline(case),
                           query_code=form.query_code.data, **_representation_and_credit(case))


def _representation_and_credit(case: Case) -> dict:
    """帮办代办 (names masked) and the credit records of this case's applicant: theirs only (issue 17)."""
    from delegation import representation
    from supervision import credit_admin

    return {"representation": representation.public_view(case), "credit_records": credit_admin.for_applicant_of(case)}


def _case_view(case: Case) -> dict:
    """What the applicant reads about their case: its progress in plain words, no staff detail."""
    rated = db.session.execute(sa.select(CaseRating.score).where(CaseRating.case_id == case.id)).scalar()
    return {
        "case_no": case.case_no, "state": case.state, "hint": STATE_HINT.get(case.state, ""),
        "item_name": case.item.name, "item_code": case.item.code, "mode": case.mode,
        "window": case.window_org.name if case.window_org else "",
        "submitted_at": case.created_at, "accepted_at": case.accepted_at, "due_at": case.due_at,
        # a case that is over keeps the flag its clock last had; the applicant is not told it is late now
        "due_flag": "ok" if State(case.state) in FINAL_STATES else case.due_flag, "concluded_at": case.concluded_at,
        "decision": DECISION_LABEL.get(case.decision) if case.decision else None,
        "handout": HANDOUT_LABEL.get(case.handout_method) if case.handout_method else None,
        "tracking_no": case.tracking_no if case.handout_method == "mail" else None,
        "paused": case.state in ("suspended", "correction_requested"),
        "rated": SCORE_LABEL.get(rated) if rated else None,
        "follow_up": follow_up.public_reply(case.id),  # the handling unit's reply to a bad rating
        "can_rate": case.state == "concluded" and rated is None,
        **_reasons(case),
    }


def _reasons(case: Case) -> dict:
    """What the applicant must know to act: why the window refused the application and where to apply instead,
    what the one-time correction notice asks for (by material name), why the licence was denied. The same words
    as the notices the applicant was given."""
    names = {m.code: m.name for m in case.materials}
    corrections = case.correction_items if case.state == "correction_requested" else None
    return {
        "refusal": ({"reason": case.refusal_reason, "redirect": case.refusal_redirect}
                    if case.state == "refused" and case.refusal_reason else None),
        "corrections": [{"name": names.get(i.get("material_code"), ""), "problem": i.get("problem") or ""}
                        for i in corrections or []],
        "denial": [r for r in case.decision_reasons or [] if r] if case.decision == "deny" else [],
    }


@bp.route("/lookup/<case_no>/rating", methods=["GET", "POST"])
@query_code_limits
def rating(case_no):
    form, case_no = RatingForm(), case_no.strip()
    if request.method == "GET" or (request.form.get("start") and "score" not in request.form):
        return _rating_start(form, case_no)
    hide = form.hide_code.data == "1"
    if not form.validate():
        return _rating_page(form, case_no, 422, hide_code=hide and not form.query_code.errors)
    spend_case_check(case_no)
    return _rate(form, case_no, hide)


def _rating_start(form, case_no: str):
    # Opened from the lookup result, the query code comes along hidden; opened directly, it is typed again.
    hide = request.method == "POST" and bool(form.query_code.data)
    form.hide_code.data = "1" if hide else ""
    return _rating_page(form, case_no, 200, hide_code=hide)


def _rating_page(form, case_no: str, status: int, **shown):
    return render_template("public/rating.html", form=form, case_no=case_no, **shown), status


def _rate(form, case_no: str, hide: bool):
    """The rating in one unit of work; an unknown case or a wrong code reads as not found, any other refusal is
    said on the form."""
    with page_unit(page_level=None) as unit:
        rating_row = ratings.rate(case_no, form.query_code.data, form.score.data, form.comment.data or "")
    if isinstance(unit.error, NotFound):
        return _rating_page(form, case_no, 404, hide_code=False, error=str(NOT_FOUND))
    if unit.failed:
        return _rating_page(form, case_no, unit.status, hide_code=hide, error=domain_message(unit.error),
                            refused=True)
    return render_template("public/rating_done.html", case_no=case_no, score=SCORE_LABEL[rating_row.score],
                           comment=rating_row.comment)
