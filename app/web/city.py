"""The city desk (市级审批): forwarded cases of `delegated_review` and `forward_only` items, filterable by
department (case.department_code, the 审批科 of the item) with the department shown on every row and the county's
review opinion beside each case; the work page of one case (approve / deny / return, 特别程序); and batch approval.

Batch approval rule (批量准予许可): a case may be approved in a batch only when ALL of these hold, otherwise it
needs individual review on its work page:
- the city approver may approve it now (workflow.allowed_actions includes approve, i.e. it is in city_review);
- the item is `delegated_review` (the county did the substantive review and answers for it; a `forward_only`
  case was never reviewed in substance, so the city reviews each one itself);
- the county's recommendation is 同意 (approve);
- every required material is present;
- the applicant has no credit mark (supervision.credit.warnings_for is empty: no blacklist, no broken promise).
Each selected case is approved with the same service call as the work page (cases.perform(..., "approve")) and
committed on its own: a failure on one case is reported and does not undo the others."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.case_page import (RECOMMENDATION_LABEL, actor, domain_error_status, flash_done, lines, load_case, my_actions, page_context,
                               run_action)
from app.web.common import _, _l, bounded_lines, domain_message
from app.web.review import ResumeForm, SuspendForm, deadline_page, filter_args, item_choices
from delegation import limits
from delegation.errors import DomainError
from delegation.workflow import Action, Mode, Role, State, allowed_actions

bp = Blueprint("web_city", __name__)
register_page_errors(bp)

PAGE_SIZE = 30
BATCH_MAX = 100
BATCH_COMMENT = "批量准予许可"


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


def _forms(**given):
    forms = {"approve": ApproveForm(prefix="approve"), "deny": DenyForm(prefix="deny"),
             "return": ReturnForm(prefix="return"), "suspend": SuspendForm(prefix="suspend"),
             "resume": ResumeForm(prefix="resume")}
    forms.update(given)
    return forms


# -- batch rule -----------------------------------------------------------------------------------------------

def batch_blockers(case, has_credit_marks: bool) -> list[str]:
    """Why this case needs individual review (empty: it may be approved in a batch). See the module docstring."""
    reasons = []
    if Action.APPROVE not in allowed_actions(State(case.state), Role.CITY_APPROVER, Mode(case.mode)):
        reasons.append(_("当前状态不能准予许可"))
        return reasons
    if Mode(case.mode) is not Mode.DELEGATED_REVIEW:
        reasons.append(_("服务窗口前移事项由市级实质审查，须逐件审批"))
    if case.review_recommendation != "approve":
        reasons.append(_("县级审核结论不是同意，须逐件审批"))
    if any(m.required and not m.present for m in case.materials):
        reasons.append(_("必需材料不齐，须逐件审批"))
    if has_credit_marks:
        reasons.append(_("申请人有信用记录，须逐件审批"))
    return reasons


def _credit_marked(id_codes) -> set[str]:
    """Which of these applicants have any credit record: one query for a whole page."""
    from supervision.credit import normalise
    from supervision.models import CreditRecord

    wanted = {normalise(c): c for c in id_codes if c}
    if not wanted:
        return set()
    found = db.session.execute(sa.select(CreditRecord.id_code).where(CreditRecord.id_code.in_(wanted))
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
    from sqlalchemy.orm import selectinload

    from delegation import cases
    from delegation.models import Case, Item

    me = actor()
    item, due, after = filter_args()
    dept_choices = departments()
    dept = request.args.get("department") or None
    if dept not in {code for code, _name in dept_choices}:
        dept = None
    base = (sa.select(Case).where(cases.visible_filter(me), _queue_filter())
            .options(selectinload(Case.materials)))
    if item:
        base = base.where(Case.item_id.in_(sa.select(Item.id).where(Item.code == item)))
    if due:
        base = base.where(Case.due_flag == due)
    if dept:
        base = base.where(Case.department_code == dept)
    rows, next_after = deadline_page(base, after, PAGE_SIZE)
    marked = _credit_marked(c.applicant_id_code for c in rows)
    blockers = {c.case_no: batch_blockers(c, c.applicant_id_code in marked) for c in rows}
    return render_template("city/desk.html", rows=rows, next_after=next_after, item=item, due=due, dept=dept,
                           departments=dept_choices, dept_names=dict(dept_choices), blockers=blockers,
                           items=item_choices(Item.mode != Mode.DIRECT.value),
                           recommendation_label=RECOMMENDATION_LABEL, county_names=_county_names())


@bp.post("/city/batch-approve")
@requires(_is_city_approver)
def batch_approve():
    from delegation import cases
    from supervision import credit

    selected = list(dict.fromkeys(n.strip() for n in request.form.getlist("case_no") if n.strip()))
    if not selected:
        flash(_("办件：请至少选择一件可批量准予许可的办件"), "error")
        return render_template("city/batch.html", results=[], back=_back()), 422
    if len(selected) > BATCH_MAX:
        flash(_("办件：一次最多批量审批 %(n)s 件", n=BATCH_MAX), "error")
        return render_template("city/batch.html", results=[], back=_back()), 422
    me = actor()
    results = []
    for case_no in selected:
        try:
            case = cases.get_case(me, case_no)
            blockers = batch_blockers(case, bool(credit.warnings_for(case.applicant_id_code)))
            if blockers:
                db.session.rollback()
                results.append({"case_no": case_no, "ok": False, "message": "；".join(blockers)})
                continue
            cases.perform(me, case_no, Action.APPROVE.value, {"comment": BATCH_COMMENT})
            db.session.commit()  # one commit per case: a later failure cannot undo this approval
            results.append({"case_no": case_no, "ok": True, "message": _("已准予许可")})
        except DomainError as exc:
            db.session.rollback()
            results.append({"case_no": case_no, "ok": False, "message": domain_message(exc)})
    done = sum(1 for r in results if r["ok"])
    flash(_("批量准予许可：成功 %(ok)s 件，未办理 %(failed)s 件", ok=done, failed=len(results) - done),
          "info" if done == len(results) else "warning")
    return render_template("city/batch.html", results=results, back=_back())


def _back() -> str:
    return url_for("web_city.desk", **{k: v for k, v in request.args.items() if k in ("item", "due", "department")})


# -- the work page --------------------------------------------------------------------------------------------

def _render(case_no, status=200, **forms):
    case = load_case(case_no)
    from delegation.models import Org

    dept_name = db.session.execute(sa.select(Org.name).filter_by(code=case.department_code)).scalar()
    return render_template("city/case.html", forms=_forms(**forms), dept_name=dept_name or case.department_code,
                           **page_context(case)), status


@bp.get("/city/cases/<case_no>")
@requires(_is_city_approver)
def case(case_no: str):
    return _render(case_no)


def _after(case_no: str, action: str):
    flash_done(action, case_no)
    if my_actions(load_case(case_no)):
        return redirect(url_for("web_city.case", case_no=case_no))
    return redirect(url_for("web_city.desk"))


def _submit(case_no: str, name: str, form_cls, action: str, payload_of):
    load_case(case_no)
    form = form_cls(prefix=name)
    if not form.validate():
        return _render(case_no, 422, **{name: form})
    exc = run_action(case_no, action, payload_of(form))
    if exc:
        flash(domain_message(exc), "error")
        return _render(case_no, domain_error_status(exc), **{name: form})
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
