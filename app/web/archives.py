"""档案管理 (issue 19), city administrators only: the archive catalogue (search by case number, year, item,
county; paginated), a package's download, and its disposal after retention, confirmed and recorded.

The packages are built by the worker (supervision.archive.build_due); here they are only found, fetched and, once
their retention is over, disposed of through supervision.archive.dispose."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField

from app.web import register_page_errors, requires
from app.web.common import _, _l, domain_message, int_arg
from app.web.unit_of_work import page_unit
from delegation.errors import DomainError, NotFound
from supervision import archive

bp = Blueprint("web_archives", __name__)
register_page_errors(bp)
TEXT_MAX = 40  # case numbers, item and county codes


class DisposeForm(FlaskForm):
    reason = TextAreaField(_l("销毁理由"), render_kw={"maxlength": archive.REASON_MAX, "required": True})
    confirm = BooleanField(_l("我已确认：销毁后档案不可恢复"))


def _admin(user) -> bool:
    return user.user.role == "admin"


def _archive_dir() -> Path:
    return current_app.config["TONGQUAN"].instance_path / "archives"


def _filters() -> dict:
    """The search as given; a bad year is refused naming it (the page shows it and lists nothing)."""
    text = {k: (request.args.get(k) or "").strip()[:TEXT_MAX] for k in ("case_no", "item", "county")}
    return {**text, "year": int_arg(request.args, "year", 1990, 2200), "page": int_arg(request.args, "page", 1, 10**6) or 1}


@bp.get("/admin/archives")
@requires(_admin)
def catalogue():
    try:
        filters = _filters()
    except DomainError as exc:
        return render_template("archives/catalogue.html", rows=[], total=0, filters={}, error=domain_message(exc),
                               pages=0, page_size=archive.PAGE_SIZE), 422
    rows, total = archive.catalogue(**filters)
    return render_template("archives/catalogue.html", rows=rows, total=total, filters=filters, error=None,
                           pages=-(-total // archive.PAGE_SIZE), page_size=archive.PAGE_SIZE)


@bp.get("/admin/archives/<int:package_id>/package")
@requires(_admin)
def download(package_id: int):
    package = _package_or_404(package_id)
    path = _path_or_none(package)
    if path is None or not path.exists():
        abort(404)
    return send_file(path, mimetype="application/vnd.etsi.asic-e+zip", as_attachment=True,
                     download_name=f"{package.case_no}.asice.zip")


@bp.get("/admin/archives/<int:package_id>/dispose")
@requires(_admin)
def dispose_form(package_id: int):
    return _dispose_page(_package_or_404(package_id), DisposeForm())


@bp.post("/admin/archives/<int:package_id>/dispose")
@requires(_admin)
def dispose(package_id: int):
    form = DisposeForm()
    with page_unit(form, page_level="form") as unit:
        archive.dispose(package_id, current_user.actor.label, form.reason.data or "", bool(form.confirm.data))
    if unit.failed:
        return _dispose_page(_package_or_404(package_id), form, unit.status)
    archive.remove_disposed(package_id, _archive_dir())  # after the commit: a failed one keeps the package
    flash(_("档案已销毁，销毁记录已保存"), "info")
    return redirect(url_for("web_archives.catalogue", case_no=archive.get_package(package_id).case_no))


def _package_or_404(package_id: int):
    try:
        return archive.get_package(package_id)
    except NotFound:
        abort(404)


def _path_or_none(package):
    try:
        return archive.package_path(package, _archive_dir())
    except DomainError:
        return None


def _dispose_page(package, form, status: int = 200):
    return render_template("archives/dispose.html", package=package, form=form,
                           disposal=archive.disposals(package.id)), status
