"""Staff accounts: the city administrator creates, deactivates / reactivates and resets; the operator creates the
first accounts from the command line (no administrator exists yet); every member of staff changes their own password.

Plain service functions: they check, change and flush; the caller commits. Bad input raises Invalid naming the
field (Chinese and English); the administrator's functions refuse anyone else (Forbidden).

A password someone else chose (operator, administrator) is an initial password: the account must replace it at
its next login (must_change_password). Ending sessions bumps the account's session generation, which every
browser session carries and every request checks."""
from __future__ import annotations

import re

import sqlalchemy as sa

from delegation.actors import Actor
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import User
from delegation.orgs import find_org
from delegation.passwords import hash_password
from delegation.workflow import Role
from persistence import db

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,59}")
PASSWORD_MIN = 8
PASSWORD_MAX = 200
DISPLAY_NAME_MAX = 100
# Which roles an organisation of each level may hold: county staff only in county organisations, city staff only
# in city organisations; regulators exist at both levels (county and city industry authorities).
ROLES_BY_LEVEL = {
    "county": (Role.WINDOW.value, Role.REVIEWER.value, Role.REGULATOR.value, Role.COUNTY_ADMIN.value),
    "city": (Role.CITY_APPROVER.value, Role.REGULATOR.value, Role.ADMIN.value),
}
# the roles an account can hold (the system is none), with their titles on Role
ROLE_ZH = {role.value: role.title_zh for role in Role if role is not Role.SYSTEM}


def _admin_only(actor: Actor) -> None:
    if actor.role is not Role.ADMIN or actor.org_level != "city":
        raise Forbidden("role_forbidden", "只有市行政审批局管理员可以管理用户账号",
                        "only the city administrator manages staff accounts")


def _password(password: str | None, field: str = "password") -> str:
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise Invalid("password_too_short", f"密码至少需要{PASSWORD_MIN}个字符",
                      f"the password needs at least {PASSWORD_MIN} characters", field=field)
    if len(password) > PASSWORD_MAX:
        raise Invalid("too_long", f"密码不能超过{PASSWORD_MAX}个字符",
                      f"the password is longer than {PASSWORD_MAX} characters", field=field)
    return hash_password(password)


def find_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"用户 {user_id} 不存在", f"user {user_id} not found", field="user_id")
    return user


def create_user(actor: Actor, username: str, display_name: str, org_code: str, role: str,
                password: str) -> User:
    """A new member of staff, created by the administrator with an initial password."""
    _admin_only(actor)
    return create_account(username, display_name, org_code, role, password)


def create_account(username: str, display_name: str, org_code: str, role: str, password: str,
                   must_change_password: bool = True) -> User:
    """A new member of staff with no administrator behind it (the operator's `users create`, the first
    administrator of a node). The username is unique; the role must suit the organisation's level."""
    username = (username or "").strip()
    if not username:
        raise Invalid("required", "请填写用户名", "username is required", field="username")
    if not USERNAME_RE.fullmatch(username):
        raise Invalid("invalid_username", "用户名应为3至60位英文字母、数字、点、下划线或连字符，并以字母或数字开头",
                      "username: 3–60 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
                      field="username")
    taken = db.session.execute(
        sa.select(User.id).where(sa.func.lower(User.username) == username.lower())).first()
    if taken:
        raise Invalid("username_taken", f"用户名“{username}”已被使用", f"username '{username}' is taken",
                      field="username")
    display_name = (display_name or "").strip()
    if not display_name:
        raise Invalid("required", "请填写姓名", "display_name is required", field="display_name")
    if len(display_name) > DISPLAY_NAME_MAX:
        raise Invalid("too_long", f"姓名不能超过{DISPLAY_NAME_MAX}字", f"display_name is longer than {DISPLAY_NAME_MAX}",
                      field="display_name")
    org = find_org((org_code or "").strip())
    if org is None:
        raise Invalid("org_unknown", "请选择所属机构", f"organisation {org_code!r} does not exist", field="org")
    if role not in ROLE_ZH:
        raise Invalid("invalid_choice", "请选择角色", f"role {role!r} is not a staff role", field="role")
    if role not in ROLES_BY_LEVEL.get(org.level, ()):
        level_zh = "县级" if org.level == "county" else "市级"
        raise Invalid("role_not_allowed_for_org",
                      f"{level_zh}机构“{org.name}”不能设置角色“{ROLE_ZH[role]}”"
                      f"（县级角色只能设在县级机构，市级角色只能设在市级机构）",
                      f"role {role} is not allowed in a {org.level}-level organisation", field="role")
    user = User(username=username, display_name=display_name, org_id=org.id, role=role,
                password_hash=_password(password), is_active=True, failed_logins=0,
                must_change_password=must_change_password)
    db.session.add(user)
    db.session.flush()
    return user


def set_active(actor: Actor, user_id: int, active: bool) -> User:
    """Deactivate (the account can no longer log in; its tokens stop working) or reactivate."""
    _admin_only(actor)
    user = find_user(user_id)
    if not active and user.id == actor.user_id:
        raise Conflict("cannot_deactivate_self", "不能停用自己的账号", "you cannot deactivate your own account",
                       field="user_id")
    if bool(user.is_active) == bool(active):
        state_zh = "已启用" if active else "已停用"
        raise Conflict("unchanged", f"账号 {user.username} {state_zh}", f"account {user.username} is already "
                       f"{'active' if active else 'inactive'}", field="user_id")
    user.is_active = bool(active)
    if active:
        user.failed_logins, user.locked_until = 0, None
    else:
        end_sessions(user)
    db.session.flush()
    return user


def reset_password(actor: Actor, user_id: int, password: str) -> User:
    """A new initial password (the administrator knows it: the user must replace it at the next login); every
    open session and token of the account ends, and a lock-out is lifted."""
    _admin_only(actor)
    user = find_user(user_id)
    user.password_hash = _password(password)
    user.failed_logins, user.locked_until = 0, None
    user.must_change_password = True
    end_sessions(user)
    db.session.flush()
    return user


def change_own_password(user: User, current_password: str, new_password: str, confirm_password: str) -> User:
    """The user's own new password, replacing one they have just proved they know (the caller checks
    `current_password` against the stored hash first). Other sessions of the account end."""
    if new_password != confirm_password:
        raise Invalid("password_mismatch", "两次输入的新密码不一致", "the two new passwords differ",
                      field="confirm_password")
    if new_password == current_password:
        raise Invalid("password_unchanged", "新密码不能与当前密码相同", "the new password is the current one",
                      field="new_password")
    user.password_hash = _password(new_password, field="new_password")
    user.must_change_password = False
    user.failed_logins, user.locked_until = 0, None
    end_sessions(user)
    db.session.flush()
    return user


def end_sessions(user: User) -> None:
    """Every browser session of the account ends: they carry the generation they began in. An increment in SQL,
    so that two bumps at once both count."""
    user.session_generation = User.session_generation + 1
