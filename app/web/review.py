"""The county review desk (县级审批): the queue of this county's cases a reviewer acts on, oldest deadline first,
and the work page of one case (materials opened inline, applicant and credit warnings, the review opinion, the
decision of `direct` items, 特别程序 suspend/resume).

Which cases are on the queue, from workflow.TRANSITIONS for the reviewer role:
- county_review (any mode): review; for `direct` also approve/deny; suspend; request_correction (一次性告知);
- returned (`delegated_review`): re-review after the city returned it;
- suspended at the county (resume_state county_review): resume.
Every action goes through delegation.cases.perform (review then decide: delegation.decisions.review_and_decide),
in the page's unit of work (app/web/unit_of_work): one commit after it succeeds."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.case_page import SUSPENSION_LABEL, actor, flash_done, lines, load_case, page_context
from app.web.common import _, _l, bounded_lines, keyset_after
from app.web.kept_forms import back_to, kept_form
from app.web.unit_of_work import page_unit
from delegation import case_rules, decisions, limits
from delegation.errors import DomainError
from delegation.workflow import Mode, State
from exchange import field_rules

bp = Blueprint("web_review", __name__)
register_page_errors(bp)

PAGE_SIZE = 30


def _is_reviewer(user) -> bool:
    return user.user.role == "reviewer"


# -- forms ----------------------------------------------------------------------------------------------------

class ReviewForm(FlaskForm):
    opinion = TextAreaField(_l("审核意见"), validators=[DataRequired(_l("请填写审核意见")), Length(max=field_rules.WIRE_TEXT_MAX)])
    recommendation = SelectField(_l("审核结论"), choices=[SelectChoice("", "—"), SelectChoice("approve", _l("同意")),
                                          SelectChoice("deny", _l("不同意"))],
                                 validate_choice=True, default="")


class DecideForm(FlaskForm):
    """The decision of a `direct` item. The opinion is the review opinion the decision rests on: recorded (review
    action) first when it is new, then approve or deny, in one transaction."""
    decision = SelectField(_l("审批决定"), choices=[SelectChoice("approve", _l("准予许可")), SelectChoice("deny", _l("不予许可"))],
                           validators=[InputRequired(_l("请选择审批决定"))])
    opinion = TextAreaField(_l("审批意见"), validators=[DataRequired(_l("请填写审批意见")), Length(max=field_rules.WIRE_TEXT_MAX)])
    certificate_no = StringField(_l("证书编号"), validators=[Optional(), Length(max=limits.CERTIFICATE_NO_MAX)])
    reasons = TextAreaField(_l("不予许可的理由（每行一条）"),
                            validators=[Length(max=8000), bounded_lines(limits.REASONS_MAX, limits.REASON_MAX)])

    def validate_reasons(self, field):
        if self.decision.data == "deny" and not lines(field.data):
            raise ValidationError(_l("不予许可须逐行写明全部理由"))


class SuspendForm(FlaskForm):
    kind = SelectField(_l("特别程序种类"), choices=[SelectChoice("", "—"), *(SelectChoice(k, v) for k, v in SUSPENSION_LABEL.items())],
                       validators=[DataRequired(_l("请选择特别程序种类"))])
    expected_end = StringField(_l("预计结束日期"), validators=[DataRequired(_l("请填写预计结束日期"))],
                               render_kw={"type": "date"})
    comment = TextAreaField(_l("启动原因"), validators=[DataRequired(_l("请填写启动特别程序的原因")), Length(max=limits.COMMENT_MAX)])

    def validate_expected_end(self, field):
        try:
            field.parsed = date.fromisoformat((field.data or "").strip())
        except ValueError:
            raise ValidationError(_l("日期格式应为 YYYY-MM-DD")) from None


class CorrectionForm(FlaskForm):
    """一次性告知 from the bureau: everything to supply or fix at once; the domain adds every missing required
    material to the notice by itself."""
    problems = TextAreaField(_l("需要补正的全部内容（每行一条）"),
                             validators=[DataRequired(_l("请一次列明需要补正的全部内容")), Length(max=8000),
                                         bounded_lines(limits.CORRECTION_OTHER_MAX, limits.PROBLEM_MAX)])


class ResumeForm(FlaskForm):
    comment = TextAreaField(_l("结束原因"), validators=[DataRequired(_l("请填写结束特别程序的原因")), Length(max=limits.COMMENT_MAX)])


def _forms(case, **given):
    forms = {"review": ReviewForm(prefix="review"), "decide": DecideForm(prefix="decide"),
             "suspend": SuspendForm(prefix="suspend"), "resume": ResumeForm(prefix="resume"),
             "correction": CorrectionForm(prefix="correction")}
    if case.review_opinion and "review" not in given:
        forms["review"].opinion.data = forms["review"].opinion.data or case.review_opinion
    if case.review_opinion and "decide" not in given:
        forms["decide"].opinion.data = forms["decide"].opinion.data or case.review_opinion
    forms.update(given)
    return forms


# -- the queue ------------------------------------------------------------------------------------------------

def _queue_parts() -> list:
    from delegation.models import Case

    return [
        Case.state == State.COUNTY_REVIEW.value,
        sa.and_(Case.state == State.RETURNED.value, Case.mode == Mode.DELEGATED_REVIEW.value),
        sa.and_(Case.state == State.SUSPENDED.value, Case.resume_state == State.COUNTY_REVIEW.value),
    ]


def _queue_filter():
    return sa.or_(*_queue_parts())


def deadline_page(base, after_id: int | None, limit: int, parts=None):
    """Keyset paging in deadline order (due_at, then id; cases without a deadline last). The cursor is the last
    case id seen; its due_at is looked up (one small query).

    `parts`: conditions whose union is the list, each one range of an index in deadline order (a state of the
    county, ix_case_file_county_state_due). Each part's first rows are read and merged, instead of walking the
    county's whole deadline order and filtering (an OR of states has no index order: the review desk's first page
    read 148,000 rows of a county of 177,000 cases to find its 30)."""
    from delegation.models import Case

    keyset = None
    if after_id:
        found = db.session.execute(sa.select(Case.due_at).where(Case.id == after_id)).first()
        if found is not None:
            last_due = found[0]
            if last_due is None:
                keyset = sa.and_(Case.due_at.is_(None), Case.id > after_id)
            else:
                # One row-value comparison in the sort's own order: an index range on ((due_at IS NULL), due_at,
                # id) (ix_case_file_city_queue). The same condition spelt with OR was a filter: a page 5,000 rows
                # down read and dropped the 5,000 rows before it.
                keyset = (sa.tuple_(Case.due_at.is_(None), Case.due_at, Case.id)
                          > sa.tuple_(sa.false(), last_due, after_id))
    order = (Case.due_at.is_(None), Case.due_at, Case.id)
    if parts:
        rows = _merged(base, parts, keyset, order, limit + 1)
    else:
        query = base if keyset is None else base.where(keyset)
        rows = db.session.execute(query.order_by(*order).limit(limit + 1)).unique().scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def _merged(base, parts, keyset, order, n: int) -> list:
    from delegation.models import Case

    ranges = []
    for part in parts:
        ids = base.with_only_columns(Case.id, Case.due_at).where(part)
        ranges.append((ids if keyset is None else ids.where(keyset)).order_by(*order).limit(n).subquery())
    merged = sa.union_all(*(sa.select(r.c.id, r.c.due_at) for r in ranges)).subquery()
    ids = db.session.execute(sa.select(merged.c.id).order_by(merged.c.due_at.is_(None), merged.c.due_at, merged.c.id)
                             .limit(n)).scalars().all()
    if not ids:
        return []
    return db.session.execute(sa.select(Case).where(Case.id.in_(ids)).order_by(*order)).unique().scalars().all()


def filter_args():
    """The item and due-flag filters of the query string; unknown values are ignored."""
    item = (request.args.get("item") or "").strip() or None
    due = request.args.get("due") if request.args.get("due") in ("ok", "warning", "overdue") else None
    return item, due, keyset_after(request.args)


SEARCH_MAX = 60  # characters of a search: a case number, a credit code or part of a name


def search_arg() -> str | None:
    """The search box (`q`): trimmed and bounded; empty is no search."""
    text = " ".join((request.args.get("q") or "").split())[:SEARCH_MAX]
    return text or None


def search_filter(text: str):
    """A case number or a credit code/ID number, exactly; or a part of the applicant's name."""
    from delegation.models import Case

    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(Case.case_no == text, Case.applicant_id_code == text.upper(),
                  Case.applicant_name.like(pattern, escape="\\"))


def item_choices(mode_filter=None):
    from delegation.models import Item

    query = sa.select(Item.code, Item.name).where(Item.active.is_(True)).order_by(Item.code)
    if mode_filter is not None:
        query = query.where(mode_filter)
    return db.session.execute(query).all()


@bp.get("/review")
@requires(_is_reviewer)
def desk():
    from delegation.models import Item

    item, due, after = filter_args()
    q = search_arg()
    rows, next_after = deadline_page(_desk_query(item, due, q), after, PAGE_SIZE, _queue_parts())
    return render_template("review/desk.html", rows=rows, next_after=next_after, item=item, due=due, q=q,
                           items=item_choices(Item.mode != Mode.FORWARD_ONLY.value))


def _desk_query(item: str | None, due: str | None, q: str | None = None):
    """The reviewer's cases, narrowed by the filters; the queue's states are _queue_parts (deadline_page)."""
    from delegation import cases
    from delegation.models import Case, Item

    # the queue itself is deadline_page's parts, each one index range: AND-ed with their OR as well, each part said
    # its state twice and the planner, multiplying the two, expected 98 rows where 4,222 were (and sorted them all)
    base = sa.select(Case).where(cases.visible_filter(actor()))
    if q:
        base = base.where(search_filter(q))
    if item:
        base = base.where(Case.item_id.in_(sa.select(Item.id).where(Item.code == item)))
    if due:
        base = base.where(Case.due_flag == due)
    return base


# -- the work page --------------------------------------------------------------------------------------------

def _render(case_no, **forms):
    case = load_case(case_no)
    return render_template("review/case.html", forms=_forms(case, **forms), **page_context(case))


FORM_CLASSES = {"review": ReviewForm, "decide": DecideForm, "suspend": SuspendForm, "resume": ResumeForm,
                "correction": CorrectionForm}


@bp.get("/review/cases/<case_no>")
@requires(_is_reviewer)
def case(case_no: str):
    return _render(case_no, **kept_form("web_review.case", FORM_CLASSES, case_no=case_no))


def _refused(case_no: str, name: str, form):
    return back_to("web_review.case", name, form, case_no=case_no)


def _after(case_no: str, action: str):
    flash_done(action, case_no)
    case = load_case(case_no)
    from app.web.case_page import my_actions

    if my_actions(case):
        return redirect(url_for("web_review.case", case_no=case_no))
    return redirect(url_for("web_review.desk"))


def _run(case_no: str, name: str, form, action: str, work):
    """The posted form's work in one unit of work: on a domain error the page again, with the form as typed."""
    with page_unit(form) as unit:
        work()
    if unit.failed:
        return _refused(case_no, name, form)
    return _after(case_no, action)


def _perform(case_no: str, action: str, payload: dict):
    from delegation import cases

    return lambda: cases.perform(actor(), case_no, action, payload)


def _submit(case_no: str, name: str, form_cls, action: str, payload_of):
    """A form whose fields map straight onto one action's payload: validate, act, show the outcome."""
    load_case(case_no)
    form = form_cls(prefix=name)
    if not form.validate():
        return _refused(case_no, name, form)
    return _run(case_no, name, form, action, _perform(case_no, action, payload_of(form)))


def _review_ok(case, form) -> bool:
    """The form's checks, then the domain's recommendation rule, asked before anything changes so that the page
    keeps the opinion typed."""
    if not form.validate():
        return False
    try:
        case_rules.check_recommendation(Mode(case.mode), form.recommendation.data or None)
    except DomainError as exc:
        form.recommendation.errors = [*form.recommendation.errors, _(exc.zh)]  # the page's language
        return False
    return True


@bp.post("/review/cases/<case_no>/review")
@requires(_is_reviewer)
def review(case_no: str):
    form = ReviewForm(prefix="review")
    if not _review_ok(load_case(case_no), form):
        return _refused(case_no, "review", form)
    payload = {"opinion": form.opinion.data.strip(), "recommendation": form.recommendation.data or None}
    return _run(case_no, "review", form, "review", _perform(case_no, "review", payload))


@bp.post("/review/cases/<case_no>/decide")
@requires(_is_reviewer)
def decide(case_no: str):
    load_case(case_no)
    form = DecideForm(prefix="decide")
    if not form.validate():
        return _refused(case_no, "decide", form)
    return _run(case_no, "decide", form, form.decision.data, lambda: decisions.review_and_decide(
        actor(), case_no, form.decision.data, form.opinion.data.strip(),
        (form.certificate_no.data or "").strip() or None, lines(form.reasons.data)))


@bp.post("/review/cases/<case_no>/suspend")
@requires(_is_reviewer)
def suspend(case_no: str):
    return _submit(case_no, "suspend", SuspendForm, "suspend",
                   lambda f: {"kind": f.kind.data, "expected_end": f.expected_end.parsed,
                              "comment": f.comment.data.strip()})


@bp.post("/review/cases/<case_no>/correction")
@requires(_is_reviewer)
def correction(case_no: str):
    load_case(case_no)
    form = CorrectionForm(prefix="correction")
    if not _correction_ok(form):
        return _refused(case_no, "correction", form)
    items = [{"material_code": None, "problem": problem} for problem in lines(form.problems.data)]
    return _run(case_no, "correction", form, "request_correction",
                _perform(case_no, "request_correction", {"items": items}))


def _correction_ok(form) -> bool:
    if form.validate() and lines(form.problems.data):
        return True
    if not form.problems.errors:
        form.problems.errors = [_("请一次列明需要补正的全部内容")]
    return False


@bp.post("/review/cases/<case_no>/resume")
@requires(_is_reviewer)
def resume(case_no: str):
    return _submit(case_no, "resume", ResumeForm, "resume", lambda f: {"comment": f.comment.data.strip()})
