"""Staff login and logout. The checks (argon2, lock-out after 5 failures for 15 minutes, the per-address budget
of failures) are app.auth.authenticate's. Logging out ends every session of the account, copies included."""
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
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")) or landing_page(current_user))
    if form.validate_on_submit():
        return _sign_in(form)
    return render_template("login.html", form=form, error=None), 422 if request.method == "POST" else 200


def _sign_in(form):
    """The credentials checked (a failed attempt is counted by authenticate itself, so no unit of work here that
    would roll the count back); refused, the form again with the reason."""
    from app.auth import TooManyAttempts, Unauthorized, authenticate

    try:
        user = authenticate(form.username.data.strip(), form.password.data, request.remote_addr)
    except (Unauthorized, TooManyAttempts) as exc:
        return render_template("login.html", form=form, error=domain_message(exc)), exc.status
    return _logged_in(user, _safe_next(request.args.get("next")))


def start_session(user) -> StaffUser:
    """A fresh session for `user`: nothing carried over from before (session fixation), the current generation."""
    session.clear()
    staff = StaffUser(user)
    login_user(staff)
    session.permanent = True
    session[LAST_SEEN] = int(time.time())
    return staff


def _logged_in(user, target: str | None):
    staff = start_session(user)
    if user.must_change_password:  # an initial password: replaced first, then on to where the user was going
        return redirect(url_for("web_account.password", next=target))
    return redirect(target or landing_page(staff))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        _end_every_session(current_user.user)
    logout_user()
    session.clear()
    flash(str(TEXT["logged_out"]), "info")
    return redirect(url_for("web_login.login"))


def _end_every_session(user) -> None:
    """A copy of this session's cookie (or any other browser of the account) stops working with the logout."""
    from app.extensions import db
    from delegation.staff import end_sessions

    end_sessions(user)
    db.session.commit()
