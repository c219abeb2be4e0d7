"""Passwords (argon2), API tokens, lock-out after repeated failures, the per-address budget of failed logins,
and the acting user of a request."""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta

import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app import throttle
from app.extensions import UTCDateTime, db, utcnow
from delegation.actors import Actor
from delegation.errors import DomainError, Forbidden
from delegation.models import Org, User
from delegation.passwords import HASHER, hash_password  # noqa: F401  hash_password re-exported for app/ code
from delegation.workflow import Role

_hasher = HASHER  # a module attribute: the lock-out tests count the argon2 checks through it
TOKEN_MAX_AGE = 12 * 3600
MAX_FAILURES = 5
LOCK_MINUTES = 15
# Failed logins one address may make per window, over all accounts (the page and the API together). A county hall
# behind one NAT shares an address: 30 typing mistakes in 15 minutes is far above what staff make, and successful
# logins do not count, so a whole hall logging in at opening time passes; a password sprayer gets 2 tries a minute.
ADDRESS_FAILURES = 30
ADDRESS_WINDOW = 15 * 60
ADDRESS_SCOPE = "login-address"


class Unauthorized(DomainError):
    status = 401


class TooManyAttempts(DomainError):
    status = 429


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


def _bad_credentials() -> Unauthorized:
    # One answer for an unknown user, an inactive one, a locked one and a wrong password: nothing tells them apart.
    return Unauthorized("bad_credentials", "用户名或密码错误", "wrong username or password", field="password")


_dummy_hash: str | None = None


def _matches(stored_hash: str | None, password: str) -> bool:
    """One argon2 verification, whether or not there is a hash to check: an attempt that is refused without a
    check (no such user, locked) costs the same time as a wrong password, so timing tells nothing either."""
    global _dummy_hash
    if stored_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_hex(16))
        stored_hash = _dummy_hash
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not _dummy_hash


def _reserve(user_id: int) -> bool:
    """Count this attempt as a failure BEFORE checking it, and lock the account in the same statement when the
    attempt is the last one allowed. A row update is atomic, so parallel attempts each take their own place in the
    count and no more than MAX_FAILURES guesses reach the check, however many arrive at once. False when the
    account is locked (nothing is counted then)."""
    now = utcnow()
    last = User.failed_logins + 1 >= MAX_FAILURES
    lock = sa.literal(now + timedelta(minutes=LOCK_MINUTES), UTCDateTime())
    statement = (sa.update(User)
                 .where(User.id == user_id, sa.or_(User.locked_until.is_(None), User.locked_until <= now))
                 .values(failed_logins=sa.case((last, 0), else_=User.failed_logins + 1),
                         locked_until=sa.case((last, lock), else_=User.locked_until))
                 .returning(User.id)
                 .execution_options(synchronize_session=False))
    return db.session.execute(statement).first() is not None


def _spend_address_budget(address: str | None, now: float) -> str:
    """Reserve one failure of the address's budget (refunded on success); 429 once it is spent."""
    key = throttle.client_key(address)
    if throttle.hit(ADDRESS_SCOPE, key, ADDRESS_WINDOW, now) > ADDRESS_FAILURES:
        db.session.commit()  # the refused attempt counts too
        raise TooManyAttempts("too_many_attempts", "登录尝试过于频繁：该网络地址的登录失败次数过多，请15分钟后再试",
                              "too many failed logins from this network address: try again in 15 minutes",
                              field="username")
    return key


def _succeeded(user: User, password: str, address_key: str, now: float) -> None:
    """The right password: the account's count starts again, and the attempt is given back to the address."""
    values = {"failed_logins": 0, "locked_until": None}
    if _hasher.check_needs_rehash(user.password_hash):
        values["password_hash"] = _hasher.hash(password)
    db.session.execute(sa.update(User).where(User.id == user.id).values(**values)
                       .execution_options(synchronize_session=False))
    throttle.release(ADDRESS_SCOPE, address_key, ADDRESS_WINDOW, now)
    db.session.commit()


def authenticate(username: str, password: str, address: str | None = None) -> User:
    """The user whose password this is, or the one bad-credentials answer (401), or 429 when the address has
    spent its budget of failures. The attempt is counted (for the address and the account) and committed before
    the slow argon2 check, so every worker sees it while the check runs."""
    now = time.time()
    address_key = _spend_address_budget(address, now)
    user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one_or_none()
    checkable = user is not None and user.is_active and _reserve(user.id)
    stored_hash = user.password_hash if checkable else None
    db.session.commit()
    if not _matches(stored_hash, password):
        raise _bad_credentials()
    _succeeded(user, password, address_key, now)
    return user


def check_password(user: User, password: str) -> bool:
    """A logged-in user's password proved again (before changing it), under the same lock-out as a login: a
    borrowed session cannot be used to guess the password."""
    checkable = _reserve(user.id)
    stored_hash = user.password_hash if checkable else None
    db.session.commit()
    if not _matches(stored_hash, password):
        return False
    db.session.execute(sa.update(User).where(User.id == user.id).values(failed_logins=0, locked_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return True


def require_changed_password(user: User) -> None:
    """An initial password (chosen by an operator or an administrator) opens nothing until replaced."""
    if user.must_change_password:
        raise Forbidden("password_change_required",
                        "请先修改初始密码：在网页登录后按提示修改密码，再申请令牌",
                        "the initial password must be changed first: log in on the web pages, change it, then "
                        "ask for a token again", field="password")


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
