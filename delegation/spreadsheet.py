"""Cells of the files the platform writes for spreadsheets (statistics and catalogue exports): text stays text.

A catalogue item named `=HYPERLINK(…)` reached the statistics XLSX as a formula and the CSVs raw, where Excel or
WPS evaluates it when the file is opened (formula injection). Text beginning with one of FORMULA_START is written
as a string cell with Excel's quote prefix in XLSX and behind an apostrophe in CSV; numbers stay numbers."""
from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_PREFIX = "'"


def csv_cell(value):
    """A value for a CSV cell: text a spreadsheet would evaluate gets CSV_PREFIX; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return CSV_PREFIX + value
    return value


def from_csv_cell(text: str) -> str:
    """What csv_cell wrote, read back: the platform's own export imports as it was exported."""
    if text.startswith(CSV_PREFIX) and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def as_text_cells(cells) -> None:
    """Make the string cells of an openpyxl row (or any cells) text: openpyxl turns a str starting with '=' into
    a formula; data type 's' stores it as a string and the quote prefix keeps Excel from re-reading it."""
    for cell in cells:
        if isinstance(cell.value, str):
            cell.data_type = "s"
            if cell.value.startswith(FORMULA_START):
                cell.quotePrefix = True


def append_row(ws, values) -> None:
    """ws.append(values) with every text cell kept as text."""
    ws.append(values)
    as_text_cells(ws[ws.max_row])
