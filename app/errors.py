"""Every error leaves as application/problem+json (RFC 9457) with a stable code, in the user's language."""
from __future__ import annotations

import logging
import re

from flask import jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from delegation.errors import DomainError

log = logging.getLogger(__name__)

HTTP_ZH = {
    400: "请求格式错误", 401: "请先登录", 403: "无权执行此操作", 404: "未找到", 405: "不支持该请求方法",
    409: "当前状态不允许此操作", 413: "上传文件过大", 415: "不支持的内容类型", 422: "输入有误",
    429: "请求过于频繁", 500: "服务器内部错误",
}
# marshmallow's default messages, as Chinese users should read them
MARSHMALLOW_ZH = {
    "Missing data for required field.": "必填项",
    "Not a valid string.": "应为文本",
    "Not a valid integer.": "应为整数",
    "Not a valid boolean.": "应为是/否",
    "Not a valid date.": "日期格式应为 YYYY-MM-DD",
    "Not a valid datetime.": "时间格式无效",
    "Not a valid list.": "应为列表",
    "Unknown field.": "未知字段",
    "Field may not be null.": "不能为空",
    "Invalid input type.": "输入类型无效",
    "Invalid value.": "取值无效",
    "Invalid JSON body.": "请求体不是有效的 JSON",
    "contains control characters": "含有不可见的控制字符",
    "Not a valid number.": "应为数字",
    "Number too large.": "数值过大",
    "Special numeric values (nan or infinity) are not permitted.": "不能为 NaN 或无穷大",
    "Not a valid utf-8 string.": "不是有效的 UTF-8 文本",
    "Not a valid mapping type.": "应为对象",
    "Invalid type.": "类型无效",
    "Not a valid email address.": "电子邮箱地址格式无效",
    "Not a valid URL.": "网址格式无效",
    "Not a valid UUID.": "UUID 格式无效",
    "Not a valid time.": "时间格式应为 HH:MM[:SS]",
    "Not a valid tuple.": "应为元组",
    "Not a valid period of time.": "时长无效",
    "Not a valid IP address.": "IP 地址格式无效",
    "String does not match expected pattern.": "格式不符合要求",
    "Invalid input.": "取值无效",
}
# marshmallow's bound messages carry their numbers: translated by pattern
MARSHMALLOW_ZH_PATTERNS = [
    (re.compile(r"Longer than maximum length (\d+)\."), "长度不能超过 {0}"),
    (re.compile(r"Shorter than minimum length (\d+)\."), "长度不能少于 {0}"),
    (re.compile(r"Length must be between (\d+) and (\d+)\."), "长度应在 {0} 至 {1} 之间"),
    (re.compile(r"Must be greater than or equal to (-?\d+) and less than or equal to (-?\d+)\."), "应在 {0} 至 {1} 之间"),
    (re.compile(r"Must be greater than or equal to (-?\d+)\."), "不能小于 {0}"),
    (re.compile(r"Must be less than or equal to (-?\d+)\."), "不能大于 {0}"),
    (re.compile(r"Length must be (\d+)\."), "长度应为 {0}"),
    # Range's other bounds (exclusive, or not whole numbers): each side said on its own
    (re.compile(r"Must be (greater than(?: or equal to)?) (\S+) and (less than(?: or equal to)?) (\S+)\."),
     lambda lo_op, lo, hi_op, hi: f"应{_OP_ZH[lo_op]} {lo} 且{_OP_ZH[hi_op]} {hi}"),
    (re.compile(r"Must be (greater than(?: or equal to)?|less than(?: or equal to)?) (\S+)\."),
     lambda op, bound: f"应{_OP_ZH[op]} {bound}"),
    # OneOf, Equal, ContainsOnly, ContainsNoneOf name the values themselves (codes a client sends): kept as they are
    (re.compile(r"Must be one of: (.*)\.", re.S), lambda choices: f"应为以下之一：{_listed(choices)}"),
    (re.compile(r"Must be equal to (.*)\.", re.S), "应等于 {0}"),
    (re.compile(r"One or more of the choices you made was not in: (.*)\.", re.S),
     lambda choices: f"所选的值应在以下范围内：{_listed(choices)}"),
    (re.compile(r"One or more of the choices you made was in: (.*)\.", re.S),
     lambda values: f"所选的值不能包括：{_listed(values)}"),
    (re.compile(r"Not a valid (date|datetime|time|aware datetime|naive datetime|aware time|naive time)\."),
     lambda kind: "日期格式应为 YYYY-MM-DD" if kind == "date" else "时间格式无效"),
    (re.compile(r'"(.*)" cannot be formatted as an? (.*)\.', re.S),
     lambda value, _kind: f"“{value}”的格式无效"),
]
_OP_ZH = {"greater than": "大于", "greater than or equal to": "不小于", "less than": "小于",
          "less than or equal to": "不大于"}


def _listed(choices: str) -> str:
    return "、".join(c.strip() for c in choices.split(", "))


def _zh(message: str) -> str:
    if message in MARSHMALLOW_ZH:
        return MARSHMALLOW_ZH[message]
    for pattern, zh in MARSHMALLOW_ZH_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return zh(*match.groups()) if callable(zh) else zh.format(*match.groups())
    return message


def lang() -> str:
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"]) if request else None
    return "en" if best == "en" else "zh"


def problem(status: int, code: str, detail: str, field: str | None = None, **extra):
    title = HTTP_ZH.get(status, "错误") if lang() == "zh" else _english_title(status)
    body = {"type": "about:blank", "title": title, "status": status, "code": code, "detail": detail}
    if field:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _english_title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _flatten(messages, prefix="") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict, list)) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                out.update(_flatten(value, name))
            else:
                out[name] = value if isinstance(value, list) else [value]
    elif isinstance(messages, list):
        out[prefix or "_schema"] = [str(m) for m in messages]
    return out


def _by_field(messages):
    """webargs nests by location ("json", "query", "form", "files"): the user knows fields, not locations. What
    concerns a whole location (a body that is no JSON, or no object) is named by the location: webargs gives a
    list there (`{"json": ["Invalid JSON body."]}`), marshmallow a `_schema` key."""
    if not (isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "files", "headers", "path"}):
        return messages
    merged = {}
    for location, part in messages.items():
        if not isinstance(part, dict):
            part = {location: part}
        merged.update({location if key == "_schema" else key: value for key, value in part.items()})
    return merged


def validation_problem(messages):
    fields = _flatten(_by_field(messages))
    zh = lang() == "zh"
    if zh:
        fields = {k: [_zh(str(m)) for m in v] for k, v in fields.items()}
    first = next(iter(fields), None)
    summary = "；".join(f"{k}：{'，'.join(v)}" for k, v in fields.items()) if zh else \
        "; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items())
    return problem(422, "validation_failed", summary, field=first, errors=fields)


def register_error_handlers(app):
    from app.extensions import db

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        db.session.rollback()  # a refused action leaves nothing half-done behind, whatever it had touched
        if _is_page():  # a page's own forms show their errors; what reaches here is a bad address or parameter
            from flask_babel import gettext

            from app.i18n import current_language
            from app.web import error_page

            return error_page(exc.status, gettext("请求无效"), exc.message(current_language()))
        return problem(exc.status, exc.code, exc.message(lang()), exc.field, **exc.extra)

    from exchange.errors import InvalidEnvelope

    @app.errorhandler(InvalidEnvelope)
    def _not_transmittable(exc):
        log.warning("a message could not be built: %s", exc)
        return problem(422, "not_transmittable", "填写的内容无法按交换格式传输，请检查特殊字符和长度" if lang() == "zh"
                       else "the data cannot be carried by the exchange format; check special characters and lengths")

    def _is_page() -> bool:
        """A request of the browser pages (not the API, not a file download the API serves)."""
        return not request.path.startswith("/api/") and request.accept_mimetypes.accept_html

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        limit = app.config["TONGQUAN"].max_upload_bytes // (1024 * 1024)
        if _is_page():  # a page's form: an HTML page, in the page's language
            from flask_babel import gettext

            from app.web import error_page

            return error_page(413, gettext("上传文件过大"), gettext("上传文件不能超过 %(limit)s MB，请压缩或拆分后重新上传。",
                                                            limit=limit))
        return problem(413, "upload_too_large", f"上传文件不能超过 {limit} MB" if lang() == "zh"
                       else f"uploads are limited to {limit} MB", field="file")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        if exc.code == 422 and "messages" in data:
            return validation_problem(data["messages"])
        if exc.code == 400 and "messages" in data:
            return validation_problem(data["messages"])
        if _is_page() and exc.code in (404, 405, 500):
            from flask_babel import gettext

            from app.web import error_page

            return error_page(exc.code, gettext("页面不存在") if exc.code == 404 else gettext("请求无效"),
                              gettext("您访问的页面不存在。") if exc.code == 404 else gettext("该页面不接受这种请求。"))
        detail = HTTP_ZH.get(exc.code, exc.name) if lang() == "zh" else (exc.description or exc.name)
        return problem(exc.code or 500, exc.name.lower().replace(" ", "_"), detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_page():
            from flask_babel import gettext

            from app.web import error_page

            return error_page(500, gettext("系统出错"), gettext("处理您的请求时出错，错误已记录。请稍后再试；如持续出现，请联系管理员。"))
        return problem(500, "internal_error", "服务器内部错误，已记录，请稍后再试" if lang() == "zh"
                       else "internal error; it has been logged")


# -- the request guard ---------------------------------------------------------------------------------------

def _refuse(name: str, zh: str, en: str):
    from delegation.errors import Invalid

    return Invalid("invalid_input", f"{name}：{zh}", f"{name}: {en}", field=name)


def check_request_input() -> None:
    """One rule for every query parameter, path parameter and form field of every request, page or API, before any
    view reads it: no control character (PostgreSQL refuses NUL; it answered 500), no value beyond
    limits.TEXT_MAX, no name repeated beyond limits.LIST_MAX. JSON bodies have the same rule in StrictSchema."""
    from delegation import limits

    sources = [request.args, request.form] if request.mimetype in ("application/x-www-form-urlencoded",
                                                                  "multipart/form-data") else [request.args]
    for values in sources:
        for name in values:
            given = values.getlist(name)
            if limits.has_control_chars(name):
                raise _refuse(repr(name)[1:-1], "参数名含有不可见的控制字符", "the name contains control characters")
            if len(given) > limits.LIST_MAX:
                raise _refuse(name, f"最多 {limits.LIST_MAX} 项", f"at most {limits.LIST_MAX} values")
            for value in given:
                _check_value(name, value)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            _check_value(name, value)


def _check_value(name: str, value: str) -> None:
    from delegation import limits

    if limits.has_control_chars(value):
        raise _refuse(name, "含有不可见的控制字符", "contains control characters")
    if len(value) > limits.TEXT_MAX:
        raise _refuse(name, f"不能超过 {limits.TEXT_MAX} 个字符", f"longer than {limits.TEXT_MAX} characters")


def register_input_guard(app) -> None:
    app.before_request(check_request_input)
