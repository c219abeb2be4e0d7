"""The browser side: staff sessions (Flask-Login), CSRF on every HTML form (Flask-WTF), the 30-minute inactivity
timeout, and the Chinese error pages. The JSON API under /api/ keeps its bearer tokens and is exempt from CSRF.

Page strings are Chinese source strings marked for Flask-Babel (app/i18n.py); their English is in app/translations."""
from __future__ import annotations

import time
from datetime import timedelta
from functools import wraps

from flask import Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, logout_user
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, CSRFProtect

SESSION_IDLE_MINUTES = 30
LAST_SEEN = "last_seen"  # session key: epoch seconds of the last page request

TEXT = {
    "app_name": _l("同权 · 市县同权审批平台"),
    "login_required": _l("请先登录后再访问该页面"),
    "session_expired": _l("超过30分钟未操作，会话已超时，请重新登录"),
    "logged_out": _l("您已安全退出"),
    "forbidden_title": _l("无权访问"),
    "forbidden": _l("您的账号没有访问该页面的权限。如需开通，请联系市行政审批局管理员。"),
    "csrf_title": _l("请求无效"),
    "csrf": _l("表单已过期或来源无效（CSRF 校验失败），请返回后刷新页面重新提交。"),
    "not_found_title": _l("页面不存在"),
    "not_found": _l("您访问的页面不存在。"),
    "username_required": _l("请输入用户名"),
    "password_required": _l("请输入密码"),
}

csrf = CSRFProtect()
login_manager = LoginManager()


class StaffUser(UserMixin):
    """The logged-in member of staff, as Flask-Login sees them. The session id carries a digest of the password
    hash and the account's session generation: a password change, a logout, a reset or a deactivation (each bumps
    the generation) ends every open session, including a copy of the cookie kept elsewhere."""

    def __init__(self, user):
        self.user = user

    def get_id(self) -> str:
        from app.auth import _password_stamp

        return f"{self.user.id}.{_password_stamp(self.user)}.{self.user.session_generation}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.is_active)

    @property
    def actor(self):
        from delegation.actors import Actor

        return Actor.for_user(self.user)

    @property
    def role_label(self) -> str:
        from app.web.common import role_label

        return role_label(self.user.role)

    @property
    def is_city_level(self) -> bool:
        return self.user.role == "admin" or self.user.org.level == "city"


@login_manager.user_loader
def _load_user(session_id: str):
    from app.auth import _password_stamp
    from app.extensions import db
    from delegation.models import User

    uid, _, rest = session_id.partition(".")
    stamp, _, generation = rest.partition(".")
    if not uid.isdigit() or not generation.isdigit():
        return None
    user = db.session.get(User, int(uid))
    if user is None or not user.is_active or _password_stamp(user) != stamp \
            or user.session_generation != int(generation):
        return None
    return StaffUser(user)


# What a user who must replace an initial password may still open: the change itself, logging out, the language.
PASSWORD_CHANGE_OPEN = frozenset({"web_account.password", "web_login.logout", "web_login.login", "set_language"})


def _password_change_first():
    """Until an initial password is replaced, every page leads to the change-password page (keeping where the
    user was going)."""
    if request.endpoint in PASSWORD_CHANGE_OPEN or not current_user.is_authenticated:
        return None
    if not current_user.user.must_change_password:
        return None
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("web_account.password", next=target))


def requires(predicate):
    """A page for logged-in staff that `predicate(current_user)` admits; anyone else gets the 403 page."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not predicate(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def error_page(status: int, title: str, message: str):
    return render_template("forbidden.html", status=status, title=title, message=message), status


def register_page_errors(bp) -> None:
    """HTML error pages (in Chinese) for the requests a blueprint serves; the API keeps its problem+json."""

    @bp.errorhandler(403)
    def _forbidden(_exc):
        return error_page(403, TEXT["forbidden_title"], TEXT["forbidden"])

    @bp.errorhandler(CSRFError)
    def _csrf(_exc):
        return error_page(400, TEXT["csrf_title"], TEXT["csrf"])

    @bp.errorhandler(404)
    def _not_found(_exc):
        return error_page(404, TEXT["not_found_title"], TEXT["not_found"])


def init_web(app: Flask) -> None:
    # Read per request, so that a test can shorten it on a built app; the staff pages warn before it runs out
    # (app/web/account.py keep_alive, static/js/idle.js).
    app.config.setdefault("SESSION_IDLE_SECONDS", SESSION_IDLE_MINUTES * 60)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=SESSION_IDLE_MINUTES)
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    # CSRF is checked below for every non-API request, rather than by default everywhere: the API is bearer-only.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", SESSION_IDLE_MINUTES * 60 * 16)  # a form left open for a shift
    csrf.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "web_login.login"
    login_manager.login_message = TEXT["login_required"]
    login_manager.login_message_category = "info"
    login_manager.localize_callback = str  # the lazy (per-language) string becomes text before it enters the session
    login_manager.session_protection = "basic"

    @app.before_request
    def _session_and_csrf():
        if request.path.startswith("/api/") or request.endpoint == "static":
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            csrf.protect()
        if "_user_id" in session:
            now = int(time.time())
            last = session.get(LAST_SEEN)
            if last is not None and now - int(last) > app.config["SESSION_IDLE_SECONDS"]:
                logout_user()
                session.clear()
                flash(str(TEXT["session_expired"]), "warning")
                if request.endpoint != "web_login.login":
                    return redirect(url_for("web_login.login", next=request.full_path.rstrip("?")))
                return None
            session.permanent = True
            session[LAST_SEEN] = now
            return _password_change_first()
        return None

    @app.context_processor
    def _web_globals():
        return {"app_name": TEXT["app_name"]}

    from app.i18n import init_i18n
    from app.web.common import register_filters

    init_i18n(app)
    register_filters(app)

    from app.web import account, admin, case_page, city, dashboard, login, public_pages, regulator, review, window

    for module in (login, account, dashboard, window, review, city, regulator, admin, case_page, public_pages):
        app.register_blueprint(module.bp)
    from app.web import licence_pdf, verify  # electronic licences: the staff's download, the public check

    for module in (licence_pdf, verify):
        app.register_blueprint(module.bp)
    from app.web import mailing  # 材料邮寄: the case page's originals panel and its two forms (issue 19)

    app.register_blueprint(mailing.bp)
