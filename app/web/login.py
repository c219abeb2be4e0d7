"""Staff login and logout. The checks (argon2, lock-out after 5 failures for 15 minutes) are app.auth.authenticate's."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app.web import LAST_SEEN, TEXT, StaffUser, register_page_errors
from app.web.common import _l, domain_message, landing_page

bp = Blueprint("web_login", __name__)
register_page_errors(bp)


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(TEXT["username_required"]), Length(max=60)])
    password = PasswordField(_l("密码"), validators=[DataRequired(TEXT["password_required"]), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host (open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None  # browsers read a backslash as a slash (/\host is //host) and drop tabs and newlines
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    status = 200
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")) or landing_page(current_user))
    if form.validate_on_submit():
        from app.auth import Unauthorized, authenticate

        try:
            user = authenticate(form.username.data.strip(), form.password.data)
        except Unauthorized as exc:
            error, status = domain_message(exc), 401
        else:
            target = _safe_next(request.args.get("next"))
            session.clear()  # no state carried over from before the login (session fixation)
            staff = StaffUser(user)
            login_user(staff)
            session.permanent = True
            session[LAST_SEEN] = int(time.time())
            return redirect(target or landing_page(staff))
    elif request.method == "POST":
        status = 422
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash(str(TEXT["logged_out"]), "info")
    return redirect(url_for("web_login.login"))
