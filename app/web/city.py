"""The city desk (市级审批): forwarded cases of `delegated_review` and `forward_only` items, filterable by
department (case.department_code, the 审批科 of the item), county, item and due flag, and searchable by case number,
credit code or part of the applicant's name, with the department shown on every row and the county's review opinion
beside each case; the work page of one case (approve / deny / return, 特别程序); and batch approval.

Batch approval is two steps: the selected cases are previewed (what each is, which the batch rule admits) and the
approver writes the opinion the approvals carry; only the confirmed preview approves. The batch approval rule and its
service are the domain's (delegation/decisions.py); this page names why a case needs individual review and reports
each case's outcome."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.case_page import RECOMMENDATION_LABEL, actor, flash_done, lines, load_case, my_actions, page_context
from app.web.common import _, _l, bounded_lines, domain_message
from app.web.kept_forms import back_to, kept_form
from app.web.unit_of_work import page_unit
from app.web.review import (ResumeForm, SuspendForm, deadline_page, filter_args, item_choices, search_arg,
                            search_filter)
from delegation import decisions, limits
from delegation.models import Item
from delegation.workflow import Mode, State

bp = Blueprint("web_city", __name__)
register_page_errors(bp)

PAGE_SIZE = 30
BATCH_MAX = 100
FILTERS = ("item", "due", "department", "county", "q")  # what the desk's links and the batch pages carry back


def _is_city_approver(user) -> bool:
    return user.user.role == "city_approver"


# -- forms ----------------------------------------------------------------------------------------------------

def _reasons_required(message):
    def check(form, field):
        if not lines(field.data):
            raise ValidationError(message)
    return check


class ApproveForm(FlaskForm):
    comment = TextAreaField(_l("审批意见"), validators=[Optional(), Length(max=limits.COMMENT_MAX)])
    certificate_no = StringField(_l("证书编号"), validators=[Optional(), Length(max=limits.CERTIFICATE_NO_MAX)])


class DenyForm(FlaskForm):
    reasons = TextAreaField(_l("不予许可的理由（每行一条）"),
                            validators=[_reasons_required(_l("请一次写明不予许可的全部理由，每行一条")), Length(max=8000),
                                        bounded_lines(limits.REASONS_MAX, limits.REASON_MAX)])
    comment = TextAreaField(_l("审批意见"), validators=[Optional(), Length(max=limits.COMMENT_MAX)])


class ReturnForm(FlaskForm):
    reasons = TextAreaField(_l("退回的全部理由（每行一条）"),
                            validators=[_reasons_required(_l("请一次写明退回的全部理由，每行一条")), Length(max=8000),
                                        bounded_lines(limits.REASONS_MAX, limits.REASON_MAX)])
    comment = TextAreaField(_l("说明"), validators=[Optional(), Length(max=limits.COMMENT_MAX)])


class BatchForm(FlaskForm):
    """The confirmation of a batch: the opinion every approval of it carries."""
    opinion = TextAreaField(_l("批量审批意见"), validators=[DataRequired(_l("请填写批量准予许可的审批意见")),
                                                     Length(max=limits.COMMENT_MAX)])


def _forms(**given):
    forms = {"approve": ApproveForm(prefix="approve"), "deny": DenyForm(prefix="deny"),
             "return": ReturnForm(prefix="return"), "suspend": SuspendForm(prefix="suspend"),
             "resume": ResumeForm(prefix="resume")}
    forms.update(given)
    return forms


# -- batch rule -----------------------------------------------------------------------------------------------

# Why a case needs individual review (delegation.decisions' codes), in the page language.
BLOCKER_LABEL = {
    decisions.STATE: _l("当前状态不能准予许可"),
    decisions.FORWARD_ONLY: _l("服务窗口前移事项由市级实质审查，须逐件审批"),
    decisions.NOT_RECOMMENDED: _l("县级审核结论不是同意，须逐件审批"),
    decisions.MATERIALS_MISSING: _l("必需材料不齐，须逐件审批"),
    decisions.CREDIT_MARKED: _l("申请人有信用记录，须逐件审批"),
}


def batch_blockers(case, has_credit_marks: bool, materials_missing: bool | None = None) -> list[str]:
    """Why this case needs individual review, in the page language (empty: it may be approved in a batch)."""
    return [str(BLOCKER_LABEL[code]) for code in decisions.batch_blockers(case, has_credit_marks, materials_missing)]


def _credit_marked(id_codes) -> set[str]:
    """Which of these applicants have a credit record in force (not expired, not lifted): one query for a whole
    page."""
    from supervision.credit import in_force, normalise
    from supervision.models import CreditRecord

    wanted = {normalise(c): c for c in id_codes if c}
    if not wanted:
        return set()
    found = db.session.execute(sa.select(CreditRecord.id_code).where(CreditRecord.id_code.in_(wanted), in_force())
                               .distinct()).scalars().all()
    return {wanted[c] for c in found if c in wanted}


# -- the queue ------------------------------------------------------------------------------------------------

def departments() -> list[tuple[str, str]]:
    """(code, name) of the city's approval sections, named without the bureau's name they all begin with
    (赣州市行政审批局农业水利审批科 → 农业水利审批科): the city approver knows whose sections they are."""
    import os.path

    from delegation.models import Org

    rows = db.session.execute(sa.select(Org.code, Org.name).where(Org.kind == "city_section")
                              .order_by(Org.code)).all()
    prefix = os.path.commonprefix([name for _, name in rows]) if len(rows) > 1 else ""
    if "局" in prefix:
        prefix = prefix[:prefix.rindex("局") + 1]  # cut after the bureau's name, never inside a section's
    return [(code, name[len(prefix):] or name) for code, name in rows]


def _queue_filter():
    from delegation.models import Case

    return sa.or_(Case.state.in_([State.FORWARDED.value, State.CITY_REVIEW.value]),
                  sa.and_(Case.state == State.SUSPENDED.value, Case.resume_state == State.CITY_REVIEW.value))


def _county_names() -> dict[str, str]:
    from delegation.models import Division

    return dict(db.session.execute(sa.select(Division.code, Division.name)).all())  # ~20 rows, one query


@bp.get("/city")
@requires(_is_city_approver)
def desk():
    return render_template("city/desk.html", **_desk_context())


def _desk_context() -> dict:
    item, due, after = filter_args()
    dept_choices, counties = departments(), _county_names()
    dept = request.args.get("department") if request.args.get("department") in dict(dept_choices) else None
    county = request.args.get("county") if request.args.get("county") in counties else None
    q = search_arg()
    rows, next_after = deadline_page(_desk_query(item, due, dept, county, q), after, PAGE_SIZE)
    return dict(rows=rows, next_after=next_after, item=item, due=due, dept=dept,
                county=county, q=q, departments=dept_choices, dept_names=dict(dept_choices),
                blockers=_blockers(rows), items=item_choices(Item.mode != Mode.DIRECT.value),
                county_names=counties, recommendation_label=RECOMMENDATION_LABEL)


def _desk_query(item: str | None, due: str | None, dept: str | None, county: str | None = None,
                q: str | None = None):
    """This approver's queue, narrowed by item, due flag, department, county and the search box."""
    from delegation import cases
    from delegation.models import Case

    base = sa.select(Case).where(cases.visible_filter(actor()), _queue_filter())
    if item:
        base = base.where(Case.item_id.in_(sa.select(Item.id).where(Item.code == item)))
    if due:
        base = base.where(Case.due_flag == due)
    if dept:
        base = base.where(Case.department_code == dept)
    if county:
        base = base.where(Case.county_code == county)
    if q:
        base = base.where(search_filter(q))
    return base


def _blockers(rows) -> dict[str, list[str]]:
    marked = _credit_marked(c.applicant_id_code for c in rows)
    missing = decisions.cases_missing_materials(c.id for c in rows)
    return {c.case_no: batch_blockers(c, c.applicant_id_code in marked, c.id in missing) for c in rows}


def _selected() -> list[str]:
    return list(dict.fromkeys(n.strip() for n in request.form.getlist("case_no") if n.strip()))


def _batch_refused(refusal: str):
    flash(refusal, "error")
    return render_template("city/batch.html", results=[], back=_back()), 422


@bp.post("/city/batch-approve")
@requires(_is_city_approver)
def batch_approve():
    """Step one: the selected cases previewed, the opinion asked for; step two (`confirm`): the approvals."""
    refusal = _batch_refusal(selected := _selected())
    if refusal:
        return _batch_refused(refusal)
    form = BatchForm(prefix="batch")
    if not request.form.get("confirm") or not form.validate():
        return _preview(selected, form, 422 if request.form.get("confirm") else 200)
    outcome = decisions.approve_batch(actor(), selected, form.opinion.data.strip(), _has_credit_marks)
    return render_template("city/batch.html", results=_batch_rows(outcome), back=_back())


def _preview(selected: list[str], form, status: int):
    """What the approver is about to approve: each selected case this user sees, and why any will not be."""
    from sqlalchemy.orm import selectinload

    from delegation import cases
    from delegation.models import Case

    rows = db.session.execute(sa.select(Case).where(cases.visible_filter(actor()), Case.case_no.in_(selected))
                              .options(selectinload(Case.materials))).unique().scalars().all()
    rows.sort(key=lambda c: selected.index(c.case_no))
    blockers = _blockers(rows)
    return render_template("city/batch_preview.html", rows=rows, blockers=blockers, form=form, back=_back(),
                           eligible=[c for c in rows if not blockers[c.case_no]], county_names=_county_names(),
                           recommendation_label=RECOMMENDATION_LABEL), status


def _batch_refusal(selected: list[str]) -> str | None:
    if not selected:
        return _("办件：请至少选择一件可批量准予许可的办件")
    if len(selected) > BATCH_MAX:
        return _("办件：一次最多批量审批 %(n)s 件", n=BATCH_MAX)
    return None


def _has_credit_marks(id_code) -> bool:
    from supervision import credit

    return bool(credit.warnings_for(id_code))


def _batch_rows(outcome) -> list[dict]:
    """Each case's line on the result page, and the count of the batch as the page's message."""
    rows = [{"case_no": r.case_no, "ok": r.ok,
             "message": _("已准予许可") if r.ok else (domain_message(r.error) if r.error is not None else
                                                  "；".join(str(BLOCKER_LABEL[code]) for code in r.blockers))}
            for r in outcome]
    done = sum(1 for r in rows if r["ok"])
    flash(_("批量准予许可：成功 %(ok)s 件，未办理 %(failed)s 件", ok=done, failed=len(rows) - done),
          "info" if done == len(rows) else "warning")
    return rows


def _back() -> str:
    return url_for("web_city.desk", **{k: v for k, v in request.args.items() if k in FILTERS and v})


# -- the work page --------------------------------------------------------------------------------------------

def _render(case_no, **forms):
    case = load_case(case_no)
    from delegation.models import Org

    dept_name = db.session.execute(sa.select(Org.name).filter_by(code=case.department_code)).scalar()
    return render_template("city/case.html", forms=_forms(**forms), dept_name=dept_name or case.department_code,
                           **page_context(case))


FORM_CLASSES = {"approve": ApproveForm, "deny": DenyForm, "return": ReturnForm, "suspend": SuspendForm,
                "resume": ResumeForm}


@bp.get("/city/cases/<case_no>")
@requires(_is_city_approver)
def case(case_no: str):
    return _render(case_no, **kept_form("web_city.case", FORM_CLASSES, case_no=case_no))


def _after(case_no: str, action: str):
    flash_done(action, case_no)
    if my_actions(load_case(case_no)):
        return redirect(url_for("web_city.case", case_no=case_no))
    return redirect(url_for("web_city.desk"))


def _submit(case_no: str, name: str, form_cls, action: str, payload_of):
    """A form whose fields map onto one action's payload: validate, act in one unit of work, show the outcome."""
    from delegation import cases

    load_case(case_no)
    form = form_cls(prefix=name)
    if not form.validate():
        return back_to("web_city.case", name, form, case_no=case_no)
    with page_unit(form) as unit:
        cases.perform(actor(), case_no, action, payload_of(form))
    if unit.failed:
        return back_to("web_city.case", name, form, case_no=case_no)
    return _after(case_no, action)


def _text(field) -> str:
    return (field.data or "").strip()


@bp.post("/city/cases/<case_no>/approve")
@requires(_is_city_approver)
def approve(case_no: str):
    return _submit(case_no, "approve", ApproveForm, "approve",
                   lambda f: {"comment": _text(f.comment), "certificate_no": _text(f.certificate_no) or None})


@bp.post("/city/cases/<case_no>/deny")
@requires(_is_city_approver)
def deny(case_no: str):
    return _submit(case_no, "deny", DenyForm, "deny",
                   lambda f: {"reasons": lines(f.reasons.data), "comment": _text(f.comment)})


@bp.post("/city/cases/<case_no>/return")
@requires(_is_city_approver)
def return_case(case_no: str):
    return _submit(case_no, "return", ReturnForm, "return",
                   lambda f: {"reasons": lines(f.reasons.data), "comment": _text(f.comment)})


@bp.post("/city/cases/<case_no>/suspend")
@requires(_is_city_approver)
def suspend(case_no: str):
    return _submit(case_no, "suspend", SuspendForm, "suspend",
                   lambda f: {"kind": f.kind.data, "expected_end": f.expected_end.parsed,
                              "comment": _text(f.comment)})


@bp.post("/city/cases/<case_no>/resume")
@requires(_is_city_approver)
def resume(case_no: str):
    return _submit(case_no, "resume", ResumeForm, "resume", lambda f: {"comment": _text(f.comment)})
