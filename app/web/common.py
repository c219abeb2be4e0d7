"""What every desk shares: the labels of states, actions, modes and roles in the page language, the desk each role
lands on, domain errors turned into a message for the page, and the Jinja filters the templates use."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, flash, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from delegation.workflow import Action, Mode, Role, State

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The titles are written once, on the enums (delegation/workflow.py); these are their labels in the page language.
STATE_LABEL = {state: state.label for state in State}
ACTION_LABEL = {action: action.label for action in Action}
MODE_LABEL = {mode: mode.label for mode in Mode}
ROLE_LABEL = {role: role.label for role in Role}
DUE_FLAG_LABEL = {"ok": _l("正常"), "warning": _l("临近期限"), "overdue": _l("已超期")}

# The desk each role opens after login, and the links of the top bar (endpoint, label, roles that see it).
DESKS = (
    ("web_window.desk", _l("窗口受理"), {Role.WINDOW}),
    ("web_review.desk", _l("县级审批"), {Role.REVIEWER}),
    ("web_city.desk", _l("市级审批"), {Role.CITY_APPROVER}),
    ("web_regulator.desk", _l("监管"), {Role.REGULATOR}),
    ("web_admin.index", _l("系统管理"), {Role.ADMIN}),
    ("web_dashboard.dashboard", _l("统计分析"), None),  # None: every city-level member of staff, a county admin
    ("web_reference_data.versions", _l("参考数据"), {Role.COUNTY_ADMIN}),  # read-only; the city admin has its tab
)


# (language, table, value) -> label text. The catalogues are compiled once at start and never change while the
# process runs, so a label is translated once per language, not for every row of every list page (a lazy string
# asks gettext again at each use: a fifth of a 30-row desk page's rendering).
_LABELS: dict[tuple[str, int, object], str] = {}


def _label(table: dict, key) -> str:
    from app.i18n import current_language

    cache_key = (current_language(), id(table), key)
    text = _LABELS.get(cache_key)
    if text is None:
        text = _LABELS[cache_key] = str(table[key])
    return text


def _enum_label(table: dict, enum_type, value) -> str:
    try:
        return _label(table, enum_type(value))
    except (ValueError, KeyError):
        return str(value or "")


def state_label(value) -> str:
    return _enum_label(STATE_LABEL, State, value)


def action_label(value) -> str:
    return _enum_label(ACTION_LABEL, Action, value)


def mode_label(value) -> str:
    return _enum_label(MODE_LABEL, Mode, value)


def role_label(value) -> str:
    return _enum_label(ROLE_LABEL, Role, value)


def due_flag_label(value) -> str:
    return _label(DUE_FLAG_LABEL, value) if value in DUE_FLAG_LABEL else str(value or "")


# How the domain writes who did something: a member of staff as "name (username)" (Actor.label), the system as
# "系统 (system)", another node's organisation as "code@node" (engine.Peer). Staff read names, never accounts or codes.
_STAFF_LABEL = re.compile(r"^(?P<name>.*?\S)\s*[(（](?P<account>[^()（）\s]+)[)）]$")
_PEER_LABEL = re.compile(r"^(?P<org>[^@\s]+)@[^@\s]+$")


def peer_org(label: str | None) -> str | None:
    """The organisation code of a `code@node` label, or None for a person or the system."""
    match = _PEER_LABEL.match(label or "")
    return match.group("org") if match else None


def staff_name(label: str | None, org_names: dict | None = None) -> str:
    """Who did something, as staff read it: a person's name without the account, the system as 系统 (in the page
    language), another node's organisation by its name (its code never; an unknown one as 对方单位)."""
    if not label:
        return ""
    org = peer_org(label)
    if org is not None:
        return (org_names or {}).get(org) or _("对方单位")
    match = _STAFF_LABEL.match(label)
    if match is None:
        return label
    if match.group("account") == Role.SYSTEM.value:
        return role_label(Role.SYSTEM)
    return match.group("name")


def desk_links(user) -> list[tuple[str, str]]:
    """(url, label) of the desks this member of staff may open, in top-bar order."""
    role = Role(user.user.role)
    return [(url_for(endpoint), str(label)) for endpoint, label, roles in DESKS
            if (role in roles if roles is not None else user.is_city_level or role is Role.COUNTY_ADMIN)]


def landing_page(user) -> str:
    links = desk_links(user)
    return links[0][0] if links else url_for("home.index")


def domain_message(exc) -> str:
    """A DomainError's message in the page language (the domain carries Chinese and English)."""
    from app.i18n import current_language

    return exc.message(current_language())


def flash_domain_error(exc) -> None:
    flash(domain_message(exc), "error")


def bounded_lines(max_lines: int, max_chars: int):
    """A WTForms validator of a one-per-line field (reasons, problems): so many lines, each so long — what the API
    accepts as a list, so that a page cannot store what the API would refuse."""
    from wtforms.validators import ValidationError

    def check(form, field):
        given = [ln.strip() for ln in (field.data or "").splitlines() if ln.strip()]
        if len(given) > max_lines:
            raise ValidationError(_("最多 %(n)s 条（每行一条）", n=max_lines))
        if any(len(ln) > max_chars for ln in given):
            raise ValidationError(_("每条不能超过 %(n)s 个字", n=max_chars))

    return check


def int_arg(args, name: str, low: int, high: int) -> int | None:
    """An integer of the query string: absent or empty is None; anything else outside low..high is refused with
    the parameter's name (`request.args.get(name, type=int)` let a 20-digit number through to the query)."""
    from delegation.errors import Invalid

    text = (args.get(name) or "").strip()
    if not text:
        return None
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 10 and low <= int(text) <= high):
        raise Invalid("invalid_parameter", f"{name}：应为 {low} 至 {high} 的整数",
                      f"{name}: must be an integer from {low} to {high}", field=name)
    return int(text)


def keyset_after(args) -> int | None:
    """The `after` cursor of a list page: an id, or None for the first page (a negative or a word was silently
    the first page, a 20-digit number a 500)."""
    from delegation import limits

    return int_arg(args, "after", 1, limits.INT_MAX)


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as Beijing time, which is what every user reads."""
    if value is None:
        return ""
    if value.tzinfo is None:
        from datetime import timezone

        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(SHANGHAI).strftime(fmt)


def local_date(value: datetime | None) -> str:
    return local_time(value, "%Y-%m-%d")


def register_filters(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(state_label, "state_label")
    app.add_template_filter(action_label, "action_label")
    app.add_template_filter(mode_label, "mode_label")
    app.add_template_filter(role_label, "role_label")
    app.add_template_filter(due_flag_label, "due_flag_label")
    app.add_template_filter(staff_name, "staff_name")

    @app.context_processor
    def _desks():
        from flask_login import current_user

        # current_user is None outside a request (a document drawn by a job or the command line)
        links = desk_links(current_user) if current_user and current_user.is_authenticated else []
        return {"desk_links": links}


__all__ = ["_", "_l", "STATE_LABEL", "ACTION_LABEL", "MODE_LABEL", "ROLE_LABEL", "state_label", "action_label",
           "mode_label", "role_label", "staff_name", "peer_org", "landing_page", "domain_message", "flash_domain_error", "local_time"]
