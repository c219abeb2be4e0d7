"""现场踏勘 from the case page (issue 17): the records of the case's site inspections with their photos, and the form
by which the organisation holding a case suspended for a site inspection records one (templates/inspections/
_panel.html, included by the case pages). The rules are delegation/inspections.py's; a refusal is said on the case
page, naming the field, and nothing is recorded."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, MultipleFileField, StringField, TextAreaField
from wtforms.validators import Length

from app.web import register_page_errors
from app.web.common import domain_message
from app.web.unit_of_work import page_unit
from delegation import inspections
from delegation.errors import DomainError, Forbidden, NotFound
from delegation.inspection_models import Conclusion

bp = Blueprint("web_inspections", __name__)
register_page_errors(bp)


class InspectionForm(FlaskForm):
    inspectors = StringField(_l("踏勘人员"),
                             validators=[Length(max=inspections.INSPECTOR_MAX * inspections.MAX_INSPECTORS)])
    inspected_at = StringField(_l("踏勘时间"), validators=[Length(max=40)])
    place = StringField(_l("踏勘地点"), validators=[Length(max=inspections.PLACE_MAX)])
    findings = TextAreaField(_l("踏勘情况"), validators=[Length(max=inspections.FINDINGS_MAX)])
    conclusion = StringField(_l("踏勘结论"), validators=[Length(max=20)])  # one of Conclusion: the domain's rule
    photos = MultipleFileField(_l("现场照片"))
    resume = BooleanField(_l("登记后结束特别程序"))


@bp.app_context_processor
def _panel():
    def inspection_panel(case):
        records = inspections.of_case(case)
        may = inspections.may_record(current_user.actor, case)
        return {"records": records, "may": may, "form": InspectionForm() if may else None,
                "max_photos": inspections.MAX_PHOTOS, "conclusion": {c.value: c.label for c in Conclusion}}
    return {"inspection_panel": inspection_panel}


@bp.route("/cases/<case_no>/inspections", methods=["POST"])
@login_required
def create(case_no):
    form = InspectionForm()
    if not form.validate():
        return _back(case_no, *(f"{form[name].label.text}：{errors[0]}" for name, errors in form.errors.items()))
    with page_unit(None, page_level=None) as unit:
        inspections.record(current_user.actor, case_no, **_fields(form))
    if isinstance(unit.error, NotFound) or (isinstance(unit.error, Forbidden) and unit.error.code == "role_forbidden"):
        abort(unit.status)  # not theirs: as any page answers it
    return _back(case_no, domain_message(unit.error) if unit.failed else None)  # its words name the field


def _fields(form: InspectionForm) -> dict:
    """The service's arguments from the form: a datetime-local value, the files chosen."""
    return {"inspectors": form.inspectors.data, "inspected_at": form.inspected_at.data.replace(" ", "T", 1),
            "place": form.place.data, "findings": form.findings.data, "conclusion": form.conclusion.data,
            "photos": [inspections.Photo(f.filename or "", f.mimetype, f.stream) for f in form.photos.data or () if f],
            "resume": form.resume.data}


def _back(case_no: str, *errors: str | None):
    for error in errors:
        flash(error or str(_l("现场踏勘记录已登记")), "error" if error else "success")
    return redirect(url_for("web_case.show", case_no=case_no, _anchor="inspections"), 303)


@bp.get("/cases/<case_no>/inspections/photos/<int:photo_id>")
@login_required
def photo(case_no: str, photo_id: int):
    """A photograph, only to users who may see the case."""
    from app.web.case_page import _blob_path, _file_response

    try:
        record = inspections.photo(current_user.actor, case_no, photo_id)
    except DomainError:
        abort(404)
    return _file_response(record, _blob_path(record))
