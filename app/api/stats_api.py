"""统计报表 / statistics: the figures the city reports, as JSON and as XLSX / CSV files with the same numbers.

For the city administration and city-level staff; county staff get 403. The definitions of the figures are in
`supervision.statistics`."""
from __future__ import annotations

import csv
import io
from datetime import datetime

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from app.api.schemas import StrictSchema
from app.auth import current_actor
from app.extensions import utcnow
from delegation.deadlines import SHANGHAI
from delegation.errors import Forbidden
from delegation.workflow import Role
from supervision import statistics
from supervision.statistics import DIMENSION_ZH, DIMENSIONS, FIGURE_KIND, FIGURES

blp = Blueprint("stats", __name__, description="统计报表 / statistics (市级管理员和市级人员)")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAMES = {"county": "按县区", "item": "按事项", "mode": "按下放方式", "month": "按月份", "state": "按办件状态"}


def _allowed():
    actor = current_actor()
    if actor.role is not Role.ADMIN and actor.org_level != "city":
        raise Forbidden("role_forbidden", "统计报表仅供市级管理员和市级人员查看",
                        "statistics are for the city administration and city-level staff")
    return actor


class StatsQuery(StrictSchema):
    date_from = fields.String(data_key="from", metadata={"description": "申请日期起（含），YYYY-MM-DD，北京时间"})
    date_to = fields.String(data_key="to", metadata={"description": "申请日期止（含），YYYY-MM-DD，北京时间"})
    county = fields.String(metadata={"description": "县（市、区）代码；不填为全部"})
    item = fields.String(metadata={"description": "事项编码；不填为全部"})
    mode = fields.String(metadata={"description": "direct | delegated_review | forward_only；不填为全部"})


class CsvQuery(StatsQuery):
    by = fields.String(validate=validate.OneOf(DIMENSIONS, error=f"统计维度应为 {'、'.join(DIMENSIONS)} 之一"),
                       metadata={"description": "分组维度；不填则导出总体数据"})


def _filters(query: dict) -> statistics.Filters:
    return statistics.parse_filters({"from": query.get("date_from"), "to": query.get("date_to"),
                                     "county": query.get("county"), "item": query.get("item"),
                                     "mode": query.get("mode")})


_KIND_FIELD = {"count": lambda **kw: fields.Integer(**kw), "rate": lambda **kw: fields.Float(allow_none=True, **kw),
               "days": lambda **kw: fields.Float(allow_none=True, **kw),
               "hours": lambda **kw: fields.Float(allow_none=True, **kw)}


def _figure_fields() -> dict:
    return {k: _KIND_FIELD[kind](metadata={"description": zh}) for k, zh, kind in FIGURES}


FiltersOut = Schema.from_dict({"date_from": fields.String(allow_none=True), "date_to": fields.String(allow_none=True),
                               "county": fields.String(allow_none=True), "item": fields.String(allow_none=True),
                               "mode": fields.String(allow_none=True)}, name="StatsFilters")
SummaryOut = Schema.from_dict({**_figure_fields(), "filters": fields.Nested(FiltersOut), "as_of": fields.DateTime()},
                              name="StatsSummary")
RowOut = Schema.from_dict({"key": fields.String(), "label": fields.String(), **_figure_fields(),
                           "satisfaction_flag": fields.Boolean(metadata={"description": "县区满意率低于95%，需整改"})},
                          name="StatsRow")
BreakdownOut = Schema.from_dict({"by": fields.String(), "filters": fields.Nested(FiltersOut),
                                 "as_of": fields.DateTime(), "rows": fields.List(fields.Nested(RowOut))},
                                name="StatsBreakdown")


@blp.get("/summary")
@blp.arguments(StatsQuery, location="query", unknown=RAISE)
@blp.response(200, SummaryOut)
def summary(query):
    """Every figure over the filtered cases (period = application date)."""
    _allowed()
    filters, now = _filters(query), utcnow()
    return {**statistics.summary(filters, now), "filters": filters.as_dict(), "as_of": now}


@blp.get("/by/<dimension>")
@blp.arguments(StatsQuery, location="query", unknown=RAISE)
@blp.response(200, BreakdownOut)
def by_dimension(query, dimension):
    """The figures per county, item, mode, month (of the application date) or state."""
    _allowed()
    statistics.check_dimension(dimension)
    filters, now = _filters(query), utcnow()
    return {"by": dimension, "filters": filters.as_dict(), "as_of": now,
            "rows": statistics.breakdown(dimension, filters, now)}


# -- files ----------------------------------------------------------------------------------------------------

def _stamp(now: datetime) -> str:
    return now.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")


def _columns(by: str | None) -> list[tuple[str, str]]:
    cols = [("key", f"{DIMENSION_ZH[by]}代码" if by in ("county", "item") else DIMENSION_ZH[by]),
            ("label", DIMENSION_ZH[by] if by in ("county", "item") else "名称")] if by else []
    cols += [(k, zh) for k, zh, _ in FIGURES]
    if by == "county":
        cols.append(("satisfaction_flag", "满意率低于95%需整改"))
    return cols


def _attachment(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.get("/export.xlsx")
@blp.arguments(StatsQuery, location="query", unknown=RAISE)
@blp.doc(responses={"200": {"description": "XLSX: 概览 (filter and summary), then one sheet per breakdown",
                            "content": {XLSX_TYPE: {}}}})
def export_xlsx(query):
    """The summary and every breakdown as an Excel workbook: the first sheet (概览) states the filter."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    _allowed()
    filters, now = _filters(query), utcnow()
    everything = statistics.report(filters, DIMENSIONS, now)  # one pass for the summary and every breakdown
    figures = everything["summary"]
    wb = Workbook()
    ws = wb.active
    ws.title = "概览"
    ws.append(["市县同权改革统计报表"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["生成时间（北京时间）", now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")])
    ws.append([])
    ws.append(["筛选条件"])
    ws.cell(ws.max_row, 1).font = Font(bold=True)
    for name, value in statistics.describe_filters(filters):
        ws.append([name, value])
    ws.append([])
    ws.append(["指标", "数值", "代码"])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for key, zh, kind in FIGURES:
        ws.append([zh, figures[key], key])
        if kind == "rate":
            ws.cell(ws.max_row, 2).number_format = "0.00%"
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 40
    for by in DIMENSIONS:
        sheet = wb.create_sheet(SHEET_NAMES[by])
        cols = _columns(by)
        sheet.append([zh for _, zh in cols])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in everything["by"][by]:
            sheet.append([("是" if row[k] else "否") if k == "satisfaction_flag" else row[k] for k, _ in cols])
            for i, (k, _) in enumerate(cols, start=1):
                if FIGURE_KIND.get(k) == "rate":
                    sheet.cell(sheet.max_row, i).number_format = "0.00%"
        sheet.freeze_panes = "C2"
    out = io.BytesIO()
    wb.save(out)
    return _attachment(out.getvalue(), XLSX_TYPE, f"tongquan-stats-{_stamp(now)}.xlsx")


@blp.get("/export.csv")
@blp.arguments(CsvQuery, location="query", unknown=RAISE)
@blp.doc(responses={"200": {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {}}}})
def export_csv(query):
    """The summary (without `by`: one row) or a breakdown as CSV, UTF-8 with a BOM so that Excel reads it. Rates
    are fractions (0.9523), as in the API."""
    _allowed()
    filters, now = _filters(query), utcnow()
    by = query.get("by")
    rows = statistics.breakdown(by, filters, now) if by else [statistics.summary(filters, now)]
    cols = _columns(by)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([zh for _, zh in cols])
    for row in rows:
        writer.writerow([("是" if row[k] else "否") if k == "satisfaction_flag" else ("" if row[k] is None else row[k])
                         for k, _ in cols])
    name = f"tongquan-stats-{by or 'summary'}-{_stamp(now)}.csv"
    return _attachment(("\ufeff" + buf.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", name)
