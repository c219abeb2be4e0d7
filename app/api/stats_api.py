"""统计报表 / statistics: the figures the city reports, as JSON and as XLSX / CSV files with the same numbers.

For the city administration and city-level staff, and a county administrator for its own county (another county's
figures: 403); other county staff get 403. The definitions of the figures are in
`supervision.statistics`."""
from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from app.api.schemas import Instant, StrictSchema
from app.auth import current_actor
from app.extensions import utcnow
from supervision import county_scope, exports, statistics
from supervision.statistics import DIMENSIONS, FIGURES

blp = Blueprint("stats", __name__, description="统计报表 / statistics (市级管理员和市级人员；县级管理员仅本县)")



def _allowed():
    actor = current_actor()
    county_scope.check(actor)  # the city administration and city-level staff; a county administrator: below
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
    """The query's filters; a county administrator's narrowed to its own county (another county: 403)."""
    return county_scope.scope(_parsed(query), current_actor())


def _parsed(query: dict) -> statistics.Filters:
    return statistics.parse_filters({"from": query.get("date_from"), "to": query.get("date_to"),
                                     "county": query.get("county"), "item": query.get("item"),
                                     "mode": query.get("mode")})


_KIND_FIELD = {"count": lambda **kw: fields.Integer(**kw), "rate": lambda **kw: fields.Float(allow_none=True, **kw),
               "days": lambda **kw: fields.Float(allow_none=True, **kw),
               "hours": lambda **kw: fields.Float(allow_none=True, **kw),
               "mean": lambda **kw: fields.Float(allow_none=True, **kw)}


def _figure_fields() -> dict:
    return {k: _KIND_FIELD[kind](metadata={"description": zh}) for k, zh, kind in FIGURES}


FiltersOut = Schema.from_dict({"date_from": fields.String(allow_none=True), "date_to": fields.String(allow_none=True),
                               "county": fields.String(allow_none=True), "item": fields.String(allow_none=True),
                               "mode": fields.String(allow_none=True)}, name="StatsFilters")
SummaryOut = Schema.from_dict({**_figure_fields(), "filters": fields.Nested(FiltersOut), "as_of": Instant()},
                              name="StatsSummary")
RowOut = Schema.from_dict({"key": fields.String(), "label": fields.String(), **_figure_fields(),
                           "satisfaction_flag": fields.Boolean(metadata={"description": "县区满意率低于95%，需整改"})},
                          name="StatsRow")
BreakdownOut = Schema.from_dict({"by": fields.String(), "filters": fields.Nested(FiltersOut),
                                 "as_of": Instant(), "rows": fields.List(fields.Nested(RowOut))},
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
            "rows": exports.breakdown(dimension, filters, now)}  # every county, as the dashboard's ranking


# -- files ----------------------------------------------------------------------------------------------------

def _attachment(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.get("/export.xlsx")
@blp.arguments(StatsQuery, location="query", unknown=RAISE)
@blp.doc(responses={"200": {"description": "XLSX: 概览 (filter and summary), then one sheet per breakdown",
                            "content": {exports.XLSX_TYPE: {}}}})
def export_xlsx(query):
    """The summary and every breakdown as an Excel workbook: the first sheet (概览) states the filter."""
    _allowed()
    filters, now = _filters(query), utcnow()
    return _attachment(exports.workbook(filters, now), exports.XLSX_TYPE, f"tongquan-stats-{exports.stamp(now)}.xlsx")


@blp.get("/export.csv")
@blp.arguments(CsvQuery, location="query", unknown=RAISE)
@blp.doc(responses={"200": {"description": "CSV, UTF-8 with BOM", "content": {"text/csv": {}}}})
def export_csv(query):
    """The summary (without `by`: one row) or a breakdown as CSV, UTF-8 with a BOM so that Excel reads it. Rates
    are fractions (0.9523), as in the API."""
    _allowed()
    filters, now = _filters(query), utcnow()
    by = query.get("by")
    return _attachment(exports.csv_bytes(filters, by, now), exports.CSV_TYPE,
                       f"tongquan-stats-{by or 'summary'}-{exports.stamp(now)}.csv")
