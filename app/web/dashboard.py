"""The statistics dashboard (admins and city-level staff): figures, ECharts charts drawn from JSON embedded in the
page, a county ranking, and XLSX/CSV downloads for the browser session. Every number comes from
supervision.statistics, the same module the /api/v1/stats API and its exports use."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.common import _, _l, domain_message, mode_label
from supervision.county_scope import follow_up_counts as county_follow_ups
from delegation.workflow import State

bp = Blueprint("web_dashboard", __name__)
register_page_errors(bp)

BREAKDOWNS = ("county", "item", "mode", "month", "state")

# What the page calls things beyond the figures' own names: Chinese source strings marked for Babel (their English is
# in app/translations); the page and the downloads turn them into text in the language of the request.
LABELS = {
    "title": _l("统计分析"),
    "satisfaction_flag": _l("满意率低于95%"),
    "flag_badge": _l("低于95%"),
    "ranking": _l("县（市、区）排名"),
    "by_county": _l("按县（市、区）"),
    "by_mode": _l("按下放方式"),
    "by_month": _l("按月份"),
    "date_from": _l("开始日期"),
    "date_to": _l("结束日期"),
    "county": _l("县（市、区）"),
    "item": _l("事项"),
    "mode": _l("下放方式"),
    "all": _l("全部"),
    "summary": _l("总体指标"),
    "filters": _l("筛选条件"),
    "generated": _l("生成时间"),
    "key": _l("代码"),
    "label": _l("名称"),
}
# The figures' names for the pages, keyed by figure key. The Chinese is supervision.statistics.FIGURE_ZH's, word for
# word (a unit test holds the two together); marked here so that the English dashboard shows English names.
FIGURE_NAMES = {
    "total_cases": _l("办件总数"),
    "accepted": State.ACCEPTED.label,
    "decided": _l("已作出决定"),
    "approved": _l("准予许可"),
    "concluded": State.CONCLUDED.label,
    "on_time_base": _l("有时限的已决定办件"),
    "on_time": _l("按时决定"),
    "on_time_rate": _l("按时办结率"),
    "processing_cases": _l("计算办理时长的办件"),
    "processing_days_mean": _l("平均办理时长（工作日）"),
    "processing_days_median": _l("办理时长中位数（工作日）"),
    "processing_days_p90": _l("办理时长90分位（工作日）"),
    "materials_reduction": _l("材料压减率"),
    "steps_reduction": _l("环节压减率"),
    "time_reduction": _l("时间压减率"),
    "materials_cases": _l("计入材料压减的办件"),
    "steps_cases": _l("计入环节压减的办件"),
    "time_cases": _l("计入时间压减的办件"),
    "excluded_no_baseline": _l("无改革前基准而未计入压减的办件"),
    "materials_baseline_mean": _l("改革前平均材料数"),
    "materials_required_mean": _l("平均应交材料数"),
    "materials_received_mean": _l("平均实收材料数"),
    "steps_baseline_mean": _l("改革前平均环节数"),
    "steps_taken_mean": _l("平均实际环节数"),
    "time_baseline_mean": _l("改革前平均办理时间（工作日）"),
    "time_used_mean": _l("平均实际办理时间（工作日）"),
    "pushes": _l("监管推送数"),
    "claimed": _l("已认领推送"),
    "claim_rate": _l("认领率"),
    "feedback_rate": _l("反馈率"),
    "mean_hours_to_claim": _l("平均认领用时（小时）"),
    "ratings": _l("评价数"),
    "satisfied": _l("满意评价数"),
    "satisfaction": _l("满意率"),
    "overdue_now": _l("当前超期"),
    "warning_now": _l("当前预警"),
    "commitment_cases": _l("容缺受理办件"),
    "commitment_due": _l("容缺承诺已到期或已履行"),
    "commitment_met": _l("容缺材料已补齐"),
    "commitment_completion_rate": _l("容缺补齐率"),
}
CARDS = ("total_cases", "concluded", "on_time_rate", "processing_days_mean", "processing_days_median",
         "processing_days_p90", "materials_reduction", "steps_reduction", "time_reduction", "claim_rate",
         "feedback_rate", "mean_hours_to_claim", "satisfaction", "overdue_now", "warning_now", "commitment_cases",
         "commitment_completion_rate")


def _city_level(user) -> bool:
    """City-level staff and administrators, and a county administrator (its own county only: _filters)."""
    from supervision.county_scope import sees_statistics

    return sees_statistics(user.actor)


def _choices() -> dict:
    from delegation.models import Division, Item
    from supervision.statistics import MODE_ZH

    counties = db.session.execute(sa.select(Division.code, Division.name).where(Division.parent_code.is_not(None))
                                  .order_by(Division.code)).all()
    items = db.session.execute(sa.select(Item.code, Item.name).order_by(Item.code)).all()
    from supervision.county_scope import admits_county

    return {"counties": [(c, n) for c, n in counties if admits_county(current_user.actor, c)],
            "items": [(c, n) for c, n in items],
            "modes": [(code, mode_label(code)) for code in MODE_ZH]}


def _filters(args, warn: bool = True):
    """The filters of the query string, checked by the statistics module; on a bad value its message (naming the
    field) is shown and the page falls back to no filter rather than failing."""
    from delegation.errors import Invalid
    from supervision.statistics import Filters, parse_filters

    try:
        filters = parse_filters(args)
    except Invalid as exc:
        if warn:
            flash(domain_message(exc), "warning")
        filters = Filters()
    return _scoped(filters)


def _scoped(filters):
    """A county administrator's filters narrowed to its county; another county's figures are refused (403)."""
    from delegation.errors import Forbidden
    from supervision.county_scope import scope

    try:
        return scope(filters, current_user.actor)
    except Forbidden:
        abort(403)


def _query_args(filters) -> dict:
    names = {"date_from": "from", "date_to": "to"}
    return {names.get(k, k): v for k, v in filters.as_dict().items() if v}


@bp.get("/dashboard")
@requires(_city_level)
def dashboard():
    from supervision import statistics

    filters = _filters(request.args)
    query = _query_args(filters)
    return render_template(
        "dashboard.html", **_figures(statistics, filters), filters=filters, choices=_choices(), query=query,
        follow_ups=county_follow_ups(current_user.actor),
        export_xlsx=url_for("web_dashboard.export_xlsx", **query),
        export_csv=url_for("web_dashboard.export_csv", by="county", **query))


PER_PAGE = 50


@bp.get("/dashboard/cases")
@requires(_city_level)
def cases():
    """The cases behind one card of the dashboard, under the same filters, as far as the viewer may see them."""
    from supervision import statistics

    figure, filters = request.args.get("figure") or "total_cases", _filters(request.args)
    if figure not in statistics.FIGURE_KIND:
        abort(404)
    return render_template("dashboard_cases.html", **_case_list(statistics, figure, filters))


def _case_list(statistics, figure: str, filters) -> dict:
    from app.web.common import int_arg
    from delegation.cases import visible_filter
    from delegation.errors import Invalid
    from supervision.reported_counties import reported_counties

    try:
        page = int_arg(request.args, "page", 1, 100_000) or 1
    except Invalid as exc:
        flash(domain_message(exc), "warning")
        page = 1
    found = statistics.cases_behind(figure, filters, visible_filter(current_user.actor), page=page,
                                    per_page=PER_PAGE)
    query = _query_args(filters)
    pages = max(1, -(-found["total"] // PER_PAGE))
    return {"figure": figure, "name": figure_names(statistics)[figure], "total": found["total"],
            "rows": found["rows"], "page": page, "pages": pages, "query": query,
            "is_count": statistics.FIGURE_KIND[figure] == "count", "filters_text": _filters_text(filters),
            "back": url_for("web_dashboard.dashboard", **query),
            "kept_on_county_nodes": "、".join(reported_counties(filters))}


def _filters_text(filters) -> list[tuple[str, str]]:
    """The filters in the page language, for the list's heading (codes turned into names)."""
    choices = _choices()
    names = {"county": dict(choices["counties"]), "item": dict(choices["items"]), "mode": dict(choices["modes"])}
    out = []
    if filters.date_from or filters.date_to:
        out.append((str(_l("申请日期")), f"{filters.date_from or '…'} — {filters.date_to or '…'}"))
    for key in ("county", "item", "mode"):
        value = getattr(filters, key)
        if value:
            out.append((str(LABELS[key]), names[key].get(value, value)))
    return out


def _figures(statistics, filters) -> dict:
    """The page's figures, ranking and chart data for these filters: one scan of the statistics for them all."""
    from supervision import exports

    figures = statistics.report(filters, ("county", "mode", "month"))
    rows = figures["by"]
    ranking = sorted(exports.every_county(rows["county"], filters),
                     key=lambda r: (-(r["total_cases"] or 0), r["key"]))
    names = figure_names(statistics)
    charts = {
        "month": {"labels": [r["label"] for r in rows["month"]], "total": [r["total_cases"] for r in rows["month"]],
                  "concluded": [r["concluded"] for r in rows["month"]]},
        "mode": [{"name": mode_label(r["key"]), "value": r["total_cases"]} for r in rows["mode"]],
        "county": {"labels": [r["label"] for r in ranking], "total": [r["total_cases"] for r in ranking],
                   "on_time": [_percent_number(r["on_time_rate"]) for r in ranking]},
        "labels": {k: names[k] for k in ("total_cases", "concluded", "on_time_rate")},
        "count_unit": _("件"),
    }
    return {"labels": {k: str(v) for k, v in LABELS.items()}, "names": names, "cards": CARDS,
            "summary": figures["summary"], "ranking": ranking, "charts": charts,
            "threshold": statistics.SATISFACTION_THRESHOLD}


def figure_names(statistics) -> dict[str, str]:
    """Every figure's name in the page language (statistics.FIGURE_ZH's Chinese for a figure not marked here)."""
    return {k: str(FIGURE_NAMES[k]) if k in FIGURE_NAMES else zh for k, zh in statistics.FIGURE_ZH.items()}


def _percent_number(value):
    return None if value is None else round(float(value) * 100, 1)


@bp.app_template_filter("figure")
def figure(value, field: str = ""):
    """A figure as the pages show it: rates as percentages, days and hours with one decimal, '—' when none."""
    from supervision.statistics import FIGURE_KIND

    if value is None:
        return "—"
    kind = FIGURE_KIND.get(field)
    if kind == "rate":
        return f"{float(value) * 100:.1f}%"
    if kind in ("days", "hours") or isinstance(value, float):
        return f"{float(value):.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# -- downloads for the browser session (the /api/v1/stats exports need a bearer token) ------------------------
# The files are records in Chinese, whatever the page language: the same headers as the /api/v1/stats exports, and
# the filter described by supervision.statistics in Chinese.

def download(body: bytes, mimetype: str, name: str) -> Response:
    """A file for the browser to save, never cached (the administrator's catalogue export too)."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/dashboard/export.xlsx")
@requires(_city_level)
def export_xlsx():
    from app.extensions import utcnow
    from supervision import exports

    filters, now = _filters(request.args, warn=False), utcnow()
    return download(exports.workbook(filters, now), exports.XLSX_TYPE, f"tongquan-stats-{exports.stamp(now)}.xlsx")


@bp.get("/dashboard/export.csv")
@requires(_city_level)
def export_csv():
    from app.extensions import utcnow
    from supervision import exports, statistics

    filters, now = _filters(request.args, warn=False), utcnow()
    by = request.args.get("by", "county")
    if by not in statistics.DIMENSIONS:
        by = "county"
    return download(exports.csv_bytes(filters, by, now), exports.CSV_TYPE,
                     f"tongquan-stats-{by}-{exports.stamp(now)}.csv")


