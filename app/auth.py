"""Passwords (argon2), API tokens, lock-out after repeated failures, and the acting user of a request."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.extensions import db, utcnow
from delegation.actors import Actor
from delegation.errors import DomainError
from delegation.models import User

_hasher = PasswordHasher()
TOKEN_MAX_AGE = 12 * 3600
MAX_FAILURES = 5
LOCK_MINUTES = 15


class Unauthorized(DomainError):
    status = 401


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="tongquan-api-token")


def _password_stamp(user: User) -> str:
    # A digest of the password hash, never the hash itself: a password change revokes every token.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def issue_token(user: User) -> str:
    return _serializer().dumps({"uid": user.id, "pw": _password_stamp(user)})


def authenticate(username: str, password: str) -> User:
    user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one_or_none()
    now = utcnow()
    bad = Unauthorized("bad_credentials", "用户名或密码错误", "wrong username or password", field="password")
    if user is None or not user.is_active:
        _hasher.hash(password)  # same cost as a real check: no user enumeration by timing
        raise bad
    if user.locked_until and user.locked_until > now:
        raise Unauthorized("account_locked", "连续登录失败次数过多，账号已临时锁定，请15分钟后再试",
                           "too many failed logins: the account is locked for 15 minutes", field="username")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        db.session.commit()
        raise bad from None
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    db.session.commit()
    return user


def user_from_token(token: str) -> User | None:
    try:
        data = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.is_active or _password_stamp(user) != data.get("pw"):
        return None
    return user


def current_actor() -> Actor:
    """The authenticated staff member of this API request, or a 401 problem."""
    actor = request.environ.get("tongquan.actor")
    if actor is None:
        header = request.headers.get("Authorization", "")
        user = user_from_token(header[7:].strip()) if header.startswith("Bearer ") else None
        if user is None:
            raise Unauthorized("unauthenticated", "请先登录（缺少或无效的令牌）", "a valid bearer token is required")
        actor = request.environ["tongquan.actor"] = Actor.for_user(user)
    return actor
