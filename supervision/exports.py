"""The statistics as files — one XLSX workbook and one CSV layout, served by the API (/api/v1/stats/export.*) and
by the dashboard's download buttons alike, so the two can never disagree. Records in Chinese: the filter stated on
the first sheet, every figure with its code."""
from __future__ import annotations

import csv
import io
from datetime import datetime

from delegation.deadlines import SHANGHAI
from delegation.spreadsheet import append_row, csv_cell
from supervision import statistics
from supervision.statistics import DIMENSION_ZH, DIMENSIONS, FIGURE_KIND, FIGURES

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
SHEET_NAMES = {"county": "按县区", "item": "按事项", "mode": "按下放方式", "month": "按月份", "state": "按办件状态"}


def stamp(now: datetime) -> str:
    return now.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")


def columns(by: str | None) -> list[tuple[str, str]]:
    """(figure key, Chinese header) of a breakdown's rows (the summary's when ``by`` is None)."""
    cols = [("key", f"{DIMENSION_ZH[by]}代码" if by in ("county", "item") else DIMENSION_ZH[by]),
            ("label", DIMENSION_ZH[by] if by in ("county", "item") else "名称")] if by else []
    cols += [(k, zh) for k, zh, _ in FIGURES]
    if by == "county":
        cols.append(("satisfaction_flag", "满意率低于95%需整改"))
    return cols


def every_county(rows: list[dict], filters: statistics.Filters) -> list[dict]:
    """A county breakdown's rows plus a row of zeros for every county (reference data) without a case under the
    filters, by code: the dashboard's ranking, the API and the downloads list them all, none missing."""
    seen = {r["key"] for r in rows}
    empty = {**statistics.no_cases(), "satisfaction_flag": False}
    zeros = [{"key": code, "label": name, **empty} for code, name in statistics.counties()
             if code not in seen and filters.county in (None, code)]
    return [*rows, *zeros]


def breakdown(by: str, filters: statistics.Filters, now: datetime) -> list[dict]:
    """statistics.breakdown, with every county in a county breakdown."""
    rows = statistics.breakdown(by, filters, now)
    return every_county(rows, filters) if by == "county" else rows


def _cell(row: dict, key: str):
    value = row.get(key)
    if key == "satisfaction_flag":
        return "是" if value else "否"
    return value


def workbook(filters: statistics.Filters, now: datetime) -> bytes:
    """概览 (the filter, when it was made, every figure) and one sheet per breakdown; rates formatted as %."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    everything = statistics.report(filters, DIMENSIONS, now)  # one pass for the summary and every breakdown
    figures = everything["summary"]
    wb = Workbook()
    ws = wb.active
    ws.title = "概览"
    append_row(ws, ["市县同权改革统计报表"])
    ws["A1"].font = Font(bold=True, size=14)
    append_row(ws, ["生成时间（北京时间）", now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")])
    ws.append([])
    append_row(ws, ["筛选条件"])
    ws.cell(ws.max_row, 1).font = Font(bold=True)
    for name, value in statistics.describe_filters(filters):
        append_row(ws, [name, value])  # the filter is what the user typed: it may begin with '='
    ws.append([])
    append_row(ws, ["指标", "数值", "代码"])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for key, zh, kind in FIGURES:
        append_row(ws, [zh, figures[key], key])
        if kind == "rate":
            ws.cell(ws.max_row, 2).number_format = "0.00%"
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 40
    for by in DIMENSIONS:
        sheet = wb.create_sheet(SHEET_NAMES[by])
        cols = columns(by)
        append_row(sheet, [zh for _, zh in cols])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        rows = everything["by"][by]
        for row in every_county(rows, filters) if by == "county" else rows:
            append_row(sheet, [_cell(row, k) for k, _ in cols])  # labels are catalogue text
            for i, (k, _) in enumerate(cols, start=1):
                if FIGURE_KIND.get(k) == "rate":
                    sheet.cell(sheet.max_row, i).number_format = "0.00%"
        sheet.freeze_panes = "C2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(filters: statistics.Filters, by: str | None, now: datetime) -> bytes:
    """The summary (``by`` None: one row) or a breakdown, UTF-8 with a BOM so that Excel reads the Chinese. Rates
    are fractions (0.9523), as in the API."""
    rows = breakdown(by, filters, now) if by else [statistics.summary(filters, now)]
    cols = columns(by)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([zh for _, zh in cols])
    for row in rows:  # labels are catalogue text: one beginning with '=' is prefixed, not evaluated
        writer.writerow(["" if _cell(row, k) is None else csv_cell(_cell(row, k)) for k, _ in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
