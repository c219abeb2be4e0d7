"""The member of staff's own account: changing one's password. An account created or reset with an initial
password (known to the operator or the administrator) is sent here after login and may open nothing else until
the password is replaced (app.web._password_change_first)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.web import register_page_errors
from app.web.common import _l, domain_message, landing_page
from app.web.login import _safe_next, start_session
from app.web.unit_of_work import page_unit
from delegation.notifications import set_contact

bp = Blueprint("web_account", __name__)
register_page_errors(bp)


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请输入当前密码")), Length(max=200)])
    new_password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请输入新密码"))])
    confirm_password = PasswordField(_l("确认新密码"), validators=[DataRequired(_l("请再次输入新密码"))])


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        return _change(form)
    return _page(form, 422 if request.method == "POST" else 200)


def _page(form: PasswordForm, status: int):
    return render_template("account/password.html", form=form,
                           initial=current_user.user.must_change_password), status


def _change(form: PasswordForm):
    from app.auth import check_password
    from app.extensions import db
    from delegation.errors import Invalid
    from delegation.staff import change_own_password

    user = current_user.user
    if not check_password(user, form.current_password.data):
        form.current_password.errors = [_l("当前密码不正确")]
        return _page(form, 422)
    try:
        change_own_password(user, form.current_password.data, form.new_password.data, form.confirm_password.data)
    except Invalid as exc:
        db.session.rollback()
        getattr(form, exc.field).errors = [domain_message(exc)]
        return _page(form, 422)
    db.session.commit()
    staff = start_session(user)  # this browser goes on in the new generation; every other session has ended
    flash(str(_l("密码已修改")), "success")
    return redirect(_safe_next(request.args.get("next")) or landing_page(staff))


class ContactForm(FlaskForm):
    email = StringField(_l("电子邮箱"), validators=[Length(max=254)])
    mobile = StringField(_l("手机号码"), validators=[Length(max=20)])


@bp.route("/account/contact", methods=["GET", "POST"])
@login_required
def contact():
    """Where notifications are also sent (issue 15): optional e-mail and mobile number."""
    user = current_user.user
    form = ContactForm(data={"email": user.email, "mobile": user.mobile} if request.method == "GET" else None)
    if request.method == "POST" and form.validate():
        with page_unit(form, page_level="form") as unit:
            set_contact(user, form.email.data, form.mobile.data)
        if not unit.failed:
            return _contact_saved()
    return render_template("account/contact.html", form=form), 422 if request.method == "POST" else 200


def _contact_saved():
    flash(str(_l("通知接收方式已保存")), "success")
    return redirect(url_for("web_account.contact"), 303)


# Public pages (the guide, the lookup, licence checks, the home page) show no idle warning, even to staff.
PUBLIC_BLUEPRINTS = frozenset({"home", "public", "web_public", "web_verify", "web_login"})
IDLE_WARNING_SECONDS = 120  # how long before the idle timeout a staff page offers to stay signed in


@bp.post("/account/keep-alive")
@login_required
def keep_alive():
    """继续登录: the request itself restarts the idle clock (app.web's before_request, CSRF checked there)."""
    return "", 204


@bp.app_context_processor
def _idle_warning():
    """What static/js/idle.js needs on a staff page: the idle timeout, when to warn, where to keep alive."""
    from flask import current_app, has_request_context

    # documents drawn outside a request (a licence for the worker) have no user and no page to warn on
    if not has_request_context() or not current_user or not current_user.is_authenticated \
            or request.blueprint in PUBLIC_BLUEPRINTS:
        return {"idle_warning": None}
    idle = int(current_app.config["SESSION_IDLE_SECONDS"])
    return {"idle_warning": {"idle": idle, "warn": min(IDLE_WARNING_SECONDS, idle // 2),
                             "url": url_for("web_account.keep_alive")}}
