"""Administration (系统管理, city administrators): the catalogue (list, item page, CSV/XLSX import and CSV export),
delegations (收回 / 恢复 with history), the holiday table, staff accounts and the exchange operations view.

Every change is a service call — delegation.catalog_io (as `flask catalog import` does), delegation.grants (as
/api/v1/delegations does), delegation.calendar's holiday-table functions, delegation.staff, exchange.operations
(as /api/v1/exchange does) — committed here once, or rolled back with the domain's message."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.extensions import db
from app.web import error_page, register_page_errors, requires
from app.web import catalog_files
from app.web.common import _, _l, domain_message, int_arg, keyset_after
from app.web.dashboard import download
from app.web.unit_of_work import page_unit
from delegation import staff
from delegation.calendar import remove_holiday_day, set_holiday_day, set_year_complete
from delegation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

bp = Blueprint("web_admin", __name__)
register_page_errors(bp)

PAGE_SIZE = 50
TABS = (("web_admin.catalog", _l("事项目录")), ("web_admin.delegations", _l("下放管理")),
        ("web_admin.holidays", _l("节假日表")), ("web_admin.users", _l("用户管理")),
        ("web_admin.exchange", _l("交换运维")), ("web_credit_admin.records", _l("信用记录")),
        ("web_representation.assistants", _l("帮办人员")), ("web_accountability.index", _l("问责记录")),
        ("web_window_decisions.authorities", _l("当场审批权限")), ("web_citywide.items", _l("全市通办")),
        ("web_reference_data.versions", _l("参考数据")))
DELEGATION_ACTION_LABEL = {"revoke": _l("收回"), "grant": _l("恢复")}
OUT_STATES = ("queued", "sending", "awaiting_receipt", "retry", "acknowledged", "rejected", "dead", "sent")
IN_STATES = ("received", "applied", "held", "quarantined")
MESSAGE_STATE_LABEL = {
    "queued": _l("待发送"), "sending": _l("发送中"), "awaiting_receipt": _l("待回执"), "retry": _l("等待重试"),
    "acknowledged": _l("已确认"), "rejected": _l("被拒收"), "dead": _l("发送失败"), "sent": _l("已发送（回执）"),
    "received": _l("已接收"), "applied": _l("已应用"), "held": _l("暂存（等待前序报文）"), "quarantined": _l("已隔离"),
}
KIND_LABEL = {"instant": _l("即办件"), "promised": _l("承诺件")}
UNIT_LABEL = {"working_days": _l("工作日"), "hours": _l("小时")}


def _admin(user) -> bool:
    return user.user.role == "admin"


def _actor():
    return current_user.actor


def _active_tab() -> str | None:
    blueprint, _dot, name = (request.endpoint or "").partition(".")
    if blueprint != "web_admin":  # a tab of its own module (问责记录, 信用记录 …): each of its admin pages
        return next((tab for tab, _label in TABS if tab.partition(".")[0] == blueprint), None)
    for prefix, tab in (("catalog", "web_admin.catalog"), ("item", "web_admin.catalog"),
                        ("delegation", "web_admin.delegations"), ("holiday", "web_admin.holidays"),
                        ("user", "web_admin.users"), ("exchange", "web_admin.exchange")):
        if name.startswith(prefix):
            return tab
    return None


def _render(template: str, status: int = 200, **context):
    return render_template(template, tabs=TABS, active_tab=_active_tab(), **context), status


def _domain_page(exc: DomainError):
    db.session.rollback()
    if isinstance(exc, NotFound):
        abort(404)
    title = _("无权访问") if isinstance(exc, Forbidden) else _("操作未完成")
    return error_page(exc.status, title, domain_message(exc))


def _refused(unit, again, shown=(Invalid,)):
    """A refusal this page says itself (`shown`: the unit of work has put an Invalid on the form) shows the page
    again; any other the error page."""
    return again(unit.error) if isinstance(unit.error, shown) else _domain_page(unit.error)


@bp.get("/admin")
@requires(_admin)
def index():
    return _render("admin/index.html")


# -- catalogue -------------------------------------------------------------------------------------------------

class ImportForm(FlaskForm):
    file = FileField(_l("导入文件"))
    # 只减不增 (issue 18): items over their pre-reform baseline come in only with a reason, which is recorded
    override = BooleanField(_l("突破“只减不增”：导入必交材料或承诺时限超过改革前基准的事项"))
    override_reason = TextAreaField(_l("突破理由（将被记录）"), validators=[Length(max=500)])


@bp.get("/admin/catalog")
@requires(_admin)
def catalog():
    return _catalog_page(ImportForm(formdata=None))


def _catalog_page(form, status: int = 200, errors=None, result=None, failed_name: str | None = None):
    from delegation.catalog_io import LABELS_ZH
    from delegation.models import Item

    after = keyset_after(request.args) if request.method == "GET" else None
    mode = request.args.get("mode") or None
    query = sa.select(Item).options(selectinload(Item.department)).order_by(Item.id).limit(PAGE_SIZE + 1)
    if after:
        query = query.where(Item.id > after)
    if mode:
        query = query.where(Item.mode == mode)
    items = db.session.execute(query).unique().scalars().all()
    next_after = items[PAGE_SIZE - 1].id if len(items) > PAGE_SIZE else None
    return _render("admin/catalog.html", status, items=items[:PAGE_SIZE], next_after=next_after, form=form,
                   errors=errors, result=result, labels=LABELS_ZH, failed_name=failed_name, mode=mode, max_bytes=catalog_files.MAX_BYTES,
                   kind_label=KIND_LABEL, unit_label=UNIT_LABEL)


@bp.get("/admin/catalog/items/<code>")
@requires(_admin)
def item(code: str):
    from delegation.models import Item

    row = db.session.execute(sa.select(Item).options(selectinload(Item.materials), selectinload(Item.department))
                             .filter_by(code=code)).unique().scalar_one_or_none()
    if row is None:
        abort(404)
    return _render("admin/item.html", item=row, kind_label=KIND_LABEL, unit_label=UNIT_LABEL)


@bp.post("/admin/catalog/import")
@requires(_admin)
def catalog_import():
    form = ImportForm()
    if not form.validate_on_submit():
        return _catalog_page(form, 422)
    with page_unit(form, page_level=None) as unit:  # a refused file: on its field, or its rows in the list
        result = catalog_files.import_upload(form.file.data, form.override_reason.data if form.override.data else None)
    if unit.failed:
        return _catalog_page(form, unit.status, errors=getattr(unit.error, "errors", None),
                             failed_name=getattr(unit.error, "filename", None))
    return _catalog_page(ImportForm(formdata=None), 200, result=result)


@bp.get("/admin/catalog/export.csv")
@requires(_admin)
def catalog_export():
    return download(catalog_files.export_csv(), "text/csv; charset=utf-8",
                    f"catalog-{date.today().isoformat()}.csv")


# -- delegations -----------------------------------------------------------------------------------------------

class DelegationChangeForm(FlaskForm):
    field_map = {"item": "item_code"}
    item_code = StringField(_l("事项编码"), validators=[DataRequired(_l("请选择事项")), Length(max=40)])
    county = StringField(_l("县（市、区）"), validators=[DataRequired(_l("请选择县（市、区）")), Length(max=20)])
    reason = TextAreaField(_l("理由"), validators=[DataRequired(_l("请填写理由")), Length(max=4000)],
                           render_kw={"rows": 2})
    effective_at = StringField(_l("生效时间"), render_kw={"type": "datetime-local"})
    finding_ref = StringField(_l("查处依据编号"), validators=[Length(max=100)])


def _delegation_choices():
    from delegation.models import Division, Item

    items = db.session.execute(sa.select(Item.code, Item.name).order_by(Item.code)).all()
    counties = db.session.execute(sa.select(Division.code, Division.name).where(Division.parent_code.is_not(None))
                                  .order_by(Division.code)).all()
    return items, counties


def _delegations_page(form=None, status: int = 200, error: str | None = None, args=None):
    from delegation import grants

    args = args if args is not None else request.args
    item_code, county = args.get("item") or None, args.get("county") or None
    only = args.get("state") or None
    if only not in (None, "granted", "revoked", "pending"):
        only = None
    if not item_code and not county and only not in ("revoked", "pending"):
        only = "revoked"  # without a filter: the revocations in force (the full matrix is not a page)
    rows, history, filter_error = [], [], None
    try:
        rows = grants.states(item_code, county, only)
        if item_code or county:
            history = grants.history(item_code, county)
    except Invalid as exc:
        db.session.rollback()
        filter_error = domain_message(exc)
        status = 422 if status == 200 else status
    items, counties = _delegation_choices()
    return _render("admin/delegations.html", status, rows=rows, history=history, items=items, counties=counties,
                   item_code=item_code, county=county, only=only, form=form or DelegationChangeForm(formdata=None),
                   error=error, filter_error=filter_error, action_label=DELEGATION_ACTION_LABEL,
                   county_names=dict(counties))


@bp.get("/admin/delegations")
@requires(_admin)
def delegations():
    return _delegations_page()


def _parse_local(text: str | None):
    text = (text or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)  # no offset: Beijing time, as grants reads it
    except ValueError:
        raise Invalid("invalid_datetime", "生效时间格式无效，应为 YYYY-MM-DD HH:MM",
                      "effective_at is not a date and time", field="effective_at") from None


def _delegation_change(action: str):
    from delegation import grants

    form = DelegationChangeForm()
    back = {"item": request.form.get("back_item") or None, "county": request.form.get("back_county") or None,
            "state": request.form.get("back_state") or None}
    back = {k: v for k, v in back.items() if v}
    if not form.validate_on_submit():
        return _delegations_page(form, 422, args=back)
    fn = grants.revoke if action == "revoke" else grants.restore
    with page_unit(form, page_level=None) as unit:
        fn(_actor(), form.item_code.data, form.county.data, form.reason.data, _parse_local(form.effective_at.data),
           form.finding_ref.data or None)
    if unit.failed:
        return _delegation_refused(unit, form, back)
    flash(_("已%(action)s %(county)s 的事项 %(item)s 的审批权限", action=DELEGATION_ACTION_LABEL[
        "revoke" if action == "revoke" else "grant"], county=form.county.data, item=form.item_code.data), "info")
    return redirect(url_for("web_admin.delegations", **back))


def _delegation_refused(unit, form, back: dict):
    """Bad input on its field (else atop the form), a refusal of the change above the page, anything else the
    error page."""
    exc = unit.error
    if isinstance(exc, Invalid):
        if unit.field_for(exc.field) is None:
            form.form_errors.append(domain_message(exc))
        return _delegations_page(form, 422, args=back)
    if isinstance(exc, (Conflict, Forbidden)):
        return _delegations_page(form, exc.status, error=domain_message(exc), args=back)
    return _domain_page(exc)


@bp.post("/admin/delegations/revoke")
@requires(_admin)
def delegation_revoke():
    return _delegation_change("revoke")


@bp.post("/admin/delegations/restore")
@requires(_admin)
def delegation_restore():
    return _delegation_change("grant")


# -- holidays --------------------------------------------------------------------------------------------------

class HolidayForm(FlaskForm):
    day = StringField(_l("日期"), render_kw={"type": "date"})
    kind = SelectField(_l("类型"), choices=[SelectChoice("holiday", _l("放假")), SelectChoice("workday", _l("调休上班"))],
                       validate_choice=False)
    name = StringField(_l("名称"), validators=[Length(max=60)], render_kw={"maxlength": 60})


class YearForm(FlaskForm):
    year = StringField(_l("年份"))


def _parse_day(text: str | None):
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _holiday_years() -> list[int]:
    from delegation.calendar import official_year

    this = date.today().year
    return [y for y in range(this - 1, this + 6) if not official_year(y)]


def _holidays_page(year: int | None = None, form=None, status: int = 200, error: str | None = None):
    from delegation.calendar import holiday_table, official_year

    years = _holiday_years()
    if year is None:
        year = int_arg(request.args, "year", 1900, 2200) or (years[0] if years else date.today().year + 1)
    table = holiday_table(year)
    if form is None:
        form = HolidayForm(formdata=None)
        if not form.day.data:
            form.day.data = f"{year}-01-01"
    return _render("admin/holidays.html", status, year=year, years=years, table=table, form=form, error=error,
                   official=official_year(year), year_form=YearForm(formdata=None))


@bp.get("/admin/holidays")
@requires(_admin)
def holidays():
    return _holidays_page()


def _refresh_statistics_calendar(year: int) -> None:
    """The statistics count working days through calendar_day: rewrite it for the year when it is there."""
    try:
        from delegation.models import CalendarDay
        from supervision import statistics

        model = CalendarDay
        span = db.session.execute(sa.select(sa.func.min(model.day), sa.func.max(model.day))).one()
        db.session.rollback()
        if span[0] is not None and span[0].year <= year <= span[1].year:
            statistics.refresh_calendar(year, year)
    except Exception:  # the table is refreshed again by `flask stats refresh-calendar`; never fail the page
        db.session.rollback()
        current_app.logger.exception("calendar_day not refreshed for %s", year)


@bp.post("/admin/holidays/days")
@requires(_admin)
def holiday_add():
    form = HolidayForm()
    day, year = _posted_day(form)
    if not form.validate_on_submit():
        return _holidays_page(year, form, 422)
    with page_unit(form, page_level="form") as unit:
        set_holiday_day(_actor(), day, form.kind.data == "workday", form.name.data)
    if unit.failed:
        return _refused(unit, lambda exc: _holidays_page(year, form, 422))
    return _calendar_changed(day.year, _("已保存 %(day)s（%(name)s）", day=day.isoformat(), name=form.name.data.strip()))


def _posted_day(form) -> tuple[date | None, int | None]:
    """The day posted, and the year whose table the page shows again (the day's, else the `year` field)."""
    day = _parse_day(form.day.data)
    return day, (day.year if day else int_arg(request.form, "year", 1900, 2200))


def _calendar_changed(year: int, message: str):
    """After a committed change of the holiday table: the statistics' calendar follows, and the year's page."""
    _refresh_statistics_calendar(year)
    flash(message, "info")
    return redirect(url_for("web_admin.holidays", year=year))


@bp.post("/admin/holidays/days/<day>/delete")
@requires(_admin)
def holiday_remove(day: str):
    FlaskForm()
    parsed = _parse_day(day)
    if parsed is None:
        abort(404)
    with page_unit(page_level=None) as unit:
        remove_holiday_day(_actor(), parsed)
    if unit.failed:
        return _domain_page(unit.error)
    return _calendar_changed(parsed.year, _("已从节假日表删除 %(day)s", day=parsed.isoformat()))


@bp.post("/admin/holidays/years/<int:year>/<any(complete,reopen):what>")
@requires(_admin)
def holiday_year(year: int, what: str):
    FlaskForm()
    with page_unit(page_level=None) as unit:
        set_year_complete(_actor(), year, what == "complete")
    if unit.failed:
        return _refused(unit, lambda exc: _holidays_page(year, None, 422, error=domain_message(exc)))
    return _calendar_changed(year, _("%(year)s 年节假日表已标记为完整，计算期限时将使用该表", year=year) if what == "complete"
                             else _("%(year)s 年节假日表已改为未完成，计算期限时仅按周末计算并标记为暂定", year=year))


# -- users -----------------------------------------------------------------------------------------------------

class UserForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请填写用户名")), Length(max=60)])
    display_name = StringField(_l("姓名"), validators=[DataRequired(_l("请填写姓名")), Length(max=100)])
    org = SelectField(_l("所属机构"), validate_choice=False)
    role = SelectField(_l("角色"), validate_choice=False)
    password = PasswordField(_l("初始密码"), validators=[DataRequired(_l("请填写初始密码")), Length(max=200)])


class PasswordForm(FlaskForm):
    password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请填写新密码")), Length(max=200)])


def _user_form(form: UserForm | None = None) -> UserForm:
    from app.web.common import role_label
    from delegation.models import Org
    from delegation.staff import ROLE_ZH

    form = form or UserForm(formdata=None)
    orgs = db.session.execute(sa.select(Org.code, Org.name, Org.level).order_by(Org.level.desc(), Org.code)).all()
    form.org.choices = [SelectChoice("", _("请选择"))] + [SelectChoice(c, f"{n}（{c}）") for c, n, _lvl in orgs]
    form.role.choices = [SelectChoice("", _("请选择"))] + [SelectChoice(r, role_label(r)) for r in ROLE_ZH]
    return form


def _users_page(form=None, status: int = 200, error: str | None = None, password_form=None, target=None):
    from delegation.models import User

    after = keyset_after(request.args) if request.method == "GET" else None
    query = sa.select(User).options(selectinload(User.org)).order_by(User.id).limit(PAGE_SIZE + 1)
    q = (request.args.get("q") or "").strip() if request.method == "GET" else ""
    if q:
        query = query.where(User.username.contains(q, autoescape=True) | User.display_name.contains(q, autoescape=True))
    if after:
        query = query.where(User.id > after)
    users = db.session.execute(query).unique().scalars().all()
    next_after = users[PAGE_SIZE - 1].id if len(users) > PAGE_SIZE else None
    return _render("admin/users.html", status, users=users[:PAGE_SIZE], next_after=next_after, q=q,
                   form=_user_form(form), error=error, password_form=password_form or PasswordForm(formdata=None),
                   target=target)


@bp.get("/admin/users")
@requires(_admin)
def users():
    return _users_page()


@bp.post("/admin/users")
@requires(_admin)
def user_create():
    form = _user_form(UserForm())
    if not form.validate_on_submit():
        return _users_page(form, 422)
    with page_unit(form, page_level="form") as unit:
        username = staff.create_user(_actor(), form.username.data, form.display_name.data, form.org.data,
                                     form.role.data, form.password.data).username
    if unit.failed:
        return _refused(unit, lambda exc: _users_page(form, 422))
    return _users_changed(_("已创建用户 %(username)s", username=username))


@bp.post("/admin/users/<int:user_id>/<any(deactivate,reactivate):what>")
@requires(_admin)
def user_active(user_id: int, what: str):
    FlaskForm()
    with page_unit(page_level=None) as unit:
        username = staff.set_active(_actor(), user_id, what == "reactivate").username
    if unit.failed:
        return _refused(unit, lambda exc: _users_page(None, exc.status, error=domain_message(exc)), Conflict)
    return _users_changed(_("已启用账号 %(username)s", username=username) if what == "reactivate"
                          else _("已停用账号 %(username)s", username=username))


@bp.post("/admin/users/<int:user_id>/password")
@requires(_admin)
def user_password(user_id: int):
    form = PasswordForm()
    if not form.validate_on_submit():
        return _users_page(None, 422, password_form=form, target=user_id)
    with page_unit(form, page_level="form") as unit:
        username = staff.reset_password(_actor(), user_id, form.password.data).username
    if unit.failed:
        return _refused(unit, lambda exc: _users_page(None, 422, password_form=form, target=user_id))
    return _users_changed(_("已重置 %(username)s 的密码，该账号已登录的会话全部失效", username=username))


def _users_changed(message: str):
    flash(message, "info")
    return redirect(url_for("web_admin.users"))


# -- exchange operations ---------------------------------------------------------------------------------------

@bp.get("/admin/exchange")
@requires(_admin)
def exchange():
    return _exchange_page()


def _exchange_page(status: int = 200, error: str | None = None):
    from exchange import operations

    args = request.args
    direction = args.get("direction") if args.get("direction") in ("in", "out") else None
    filters = {"case_no": (args.get("case_no") or "").strip() or None, "type_": (args.get("type") or "").strip() or None,
               "peer": (args.get("peer") or "").strip() or None, "state": (args.get("state") or "").strip() or None}
    after = keyset_after(args) if direction else None
    rows, next_after = operations.message_log(direction=direction, after_id=after, limit=PAGE_SIZE, **filters)
    dead, _next = operations.message_log(direction="out", state="dead", limit=PAGE_SIZE)
    return _render("admin/exchange.html", status, rows=rows, next_after=next_after, dead=dead, direction=direction,
                   filters=filters, error=error, states=OUT_STATES + IN_STATES, state_label=MESSAGE_STATE_LABEL,
                   form=FlaskForm(formdata=None))


@bp.post("/admin/exchange/outbox/<message_id>/resend")
@requires(_admin)
def exchange_resend(message_id: str):
    FlaskForm()
    refused = _resend(message_id)
    if refused is not None:
        return refused
    flash(_("报文 %(id)s 已重新排队发送", id=message_id), "info")
    return redirect(url_for("web_admin.exchange", **{k: v for k, v in request.args.items() if k != "after"}))


def _resend(message_id: str):
    """Queue the message again and commit; None, or the answer that says why not (an unknown message: 404)."""
    from exchange import operations

    try:
        operations.resend(message_id)
    except LookupError:
        db.session.rollback()
        abort(404)
    except operations.NotResendable as exc:
        db.session.rollback()
        return _exchange_page(409, error=_("只有发送失败或被拒收的报文可以重发（当前状态：%(state)s）",
                                           state=MESSAGE_STATE_LABEL.get(str(exc), str(exc))))
    db.session.commit()
    return None
