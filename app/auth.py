"""Passwords (argon2), API tokens, lock-out after repeated failures, and the acting user of a request."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.extensions import db, utcnow
from delegation.actors import Actor
from delegation.errors import DomainError
from delegation.models import Org, User
from delegation.workflow import Role

_hasher = PasswordHasher()
TOKEN_MAX_AGE = 12 * 3600
MAX_FAILURES = 5
LOCK_MINUTES = 15


class Unauthorized(DomainError):
    status = 401


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_serializers: dict[str, URLSafeTimedSerializer] = {}


def _serializer() -> URLSafeTimedSerializer:
    key = current_app.config["SECRET_KEY"]
    serializer = _serializers.get(key)
    if serializer is None:
        if len(_serializers) > 8:
            _serializers.clear()
        serializer = _serializers[key] = URLSafeTimedSerializer(key, salt="tongquan-api-token")
    return serializer


def _stamp(password_hash: str) -> str:
    # A digest of the password hash, never the hash itself: a password change revokes every token.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _password_stamp(user: User) -> str:
    return _stamp(user.password_hash)


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


# Built once: the statement and its cache key are not made again at every request.
_TOKEN_USER = (sa.select(User.username, User.display_name, User.role, User.is_active, User.password_hash, Org)
               .join(Org, Org.id == User.org_id).where(User.id == sa.bindparam("uid")))


def actor_from_token(token: str) -> Actor | None:
    """The token's user as an Actor, checked as user_from_token checks it (signature, age, active, password
    unchanged), by one query that reads the few columns needed and the organisation (which stays in the session:
    an intake at its window finds it there) rather than the whole user."""
    try:
        data = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    uid = data.get("uid")
    if not isinstance(uid, int):
        return None
    row = db.session.execute(_TOKEN_USER, {"uid": uid}).one_or_none()
    if row is None or not row.is_active or _stamp(row.password_hash) != data.get("pw"):
        return None
    org = row.Org
    g.actor_org = org  # the session holds its objects weakly: keep the organisation for this request
    return Actor(username=row.username, display_name=row.display_name, role=Role(row.role), org_code=org.code,
                 org_kind=org.kind, org_level=org.level, division_code=org.division_code, user_id=uid)


def current_actor() -> Actor:
    """The authenticated staff member of this API request, or a 401 problem."""
    actor = request.environ.get("tongquan.actor")
    if actor is None:
        header = request.headers.get("Authorization", "")
        actor = actor_from_token(header[7:].strip()) if header.startswith("Bearer ") else None
        if actor is None:
            raise Unauthorized("unauthenticated", "请先登录（缺少或无效的令牌）", "a valid bearer token is required")
        request.environ["tongquan.actor"] = actor
    return actor
