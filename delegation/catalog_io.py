"""The catalogue of delegated items as a file: read and validate (CSV or XLSX), import (upsert), export.

One row per material; the item's columns are repeated on every row of the item (see ``COLUMNS``). Reading
checks every row and collects every error before raising :class:`CatalogError`, so a bad file is reported in
one go and nothing of it is imported. Export writes the same format, so export → import round-trips exactly.

Reading needs no database and no Flask app; import and export take an SQLAlchemy session.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from delegation.deadlines import UNITS as LIMIT_UNITS
from delegation.spreadsheet import as_text_cells, csv_cell, from_csv_cell
from delegation.workflow import Mode

DEMO_CATALOG = Path(__file__).parent / "data" / "demo_catalog.csv"

# The city's approval sections (市行政审批局内设科室); department_code of an item is one of these org codes.
SECTIONS: dict[str, str] = {
    "360700-sec-market": "市场准入审批科",
    "360700-sec-trade": "商贸流通审批科",
    "360700-sec-social": "社会事务审批科",
    "360700-sec-construction": "建设工程审批科",
    "360700-sec-transport": "交通运输审批科",
    "360700-sec-agriculture": "农业水利审批科",
    "360700-sec-ecology": "生态环境审批科",
}

MODES = tuple(m.value for m in Mode)
KINDS = ("instant", "promised")

ITEM_COLUMNS = (
    "item_code", "item_name", "mode", "department_code", "kind", "limit_unit", "promised_limit", "statutory_limit",
    "county_step_limit", "city_step_limit", "allows_commitment", "commitment_days", "baseline_materials",
    "baseline_steps", "baseline_days", "fee", "legal_basis", "conditions",
)
MATERIAL_COLUMNS = ("material_code", "material_name", "material_core", "material_required")
COLUMNS = ITEM_COLUMNS + MATERIAL_COLUMNS
# The approval kind decided at the window (issue 17): optional columns, written only by a catalogue that uses them,
# after the others (a file without them reads as every item approved the ordinary way).
APPROVAL_COLUMNS = ("approval_kind", "commitment_text", "verification_days")
APPROVAL_KINDS = ("standard", "commitment", "filing")
# 全市通办 (issue 17, delegation/citywide.py): an optional column too, written only when an item carries the flag; a
# file without it leaves every item's flag as it is
CITYWIDE_COLUMNS = ("citywide",)
ALL_COLUMNS = COLUMNS + APPROVAL_COLUMNS + CITYWIDE_COLUMNS

LABELS_ZH = {
    "item_code": "事项编码", "item_name": "事项名称", "mode": "下放方式", "department_code": "市级审批科室编码",
    "kind": "办件类型", "limit_unit": "时限单位", "promised_limit": "承诺时限", "statutory_limit": "法定时限",
    "county_step_limit": "县级环节时限", "city_step_limit": "市级环节时限", "allows_commitment": "是否容缺受理",
    "commitment_days": "容缺补交期限（工作日）", "baseline_materials": "改革前材料数", "baseline_steps": "改革前环节数",
    "baseline_days": "改革前办理天数", "fee": "收费标准", "legal_basis": "设定依据", "conditions": "受理条件",
    "material_code": "材料编码", "material_name": "材料名称", "material_core": "是否核心材料",
    "material_required": "是否必交材料", "approval_kind": "审批方式", "commitment_text": "告知承诺书内容",
    "verification_days": "告知承诺核查期限（工作日）", "citywide": "是否全市通办",
}

DEFAULT_COMMITMENT_DAYS = 10
MAX_INT = 100_000  # far above any real limit (82 working days = 656 office hours); keeps values in an SQL INTEGER
MAX_LENGTH = {"item_code": 40, "item_name": 200, "department_code": 40, "fee": 200, "material_code": 40,
              "material_name": 200, "commitment_text": 4000}
DEFAULT_VERIFICATION_DAYS = 20
REQUIRED_ITEM = ("item_code", "item_name", "mode", "department_code", "kind", "limit_unit", "promised_limit",
                 "statutory_limit", "fee", "legal_basis")
TRUE_WORDS = {"true", "是"}
FALSE_WORDS = {"false", "否"}
_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_INT_RE = re.compile(r"[0-9]+")
_DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
# Characters XLSX cannot hold (openpyxl refuses them); refused everywhere so every catalogue can be exported.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BAD = object()  # a value that failed to parse (its error is already recorded)


# -- specs and errors ------------------------------------------------------------------------------------------------

@dataclass
class MaterialSpec:
    code: str
    name: str
    core: bool = True
    required: bool = True
    line: int = field(default=0, compare=False, repr=False)


@dataclass
class ItemSpec:
    code: str
    name: str
    mode: str
    department_code: str
    kind: str
    limit_unit: str
    promised_limit: int
    statutory_limit: int
    county_step_limit: int | None = None
    city_step_limit: int | None = None
    allows_commitment: bool = False
    commitment_days: int = DEFAULT_COMMITMENT_DAYS
    baseline_materials: int = 0
    baseline_steps: int = 0
    baseline_days: float = 0.0
    fee: str = "不收费"
    legal_basis: str = ""
    conditions: str = ""
    materials: list[MaterialSpec] = field(default_factory=list)
    approval_kind: str = "standard"  # or commitment (告知承诺制) / filing (豁免审批, 备案)
    citywide: bool | None = None  # 全市通办; None: the file does not say (the item keeps its flag)
    commitment_text: str = ""
    verification_days: int = DEFAULT_VERIFICATION_DAYS
    line: int = field(default=0, compare=False, repr=False)  # the item's first line in the file


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line of the file (header = 1; sheet row for XLSX); 0 = the file as a whole
    field: str  # the column concerned, "" when none
    message_zh: str
    message_en: str

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


class CatalogError(Exception):
    """A catalogue file (or an import of it) has errors; ``errors`` lists every one."""

    def __init__(self, errors: list[RowError]):
        self.errors = list(errors)
        super().__init__(self.summary("en"))

    def summary(self, lang: str = "zh", limit: int = 20) -> str:
        head = (f"事项目录有 {len(self.errors)} 处错误" if lang != "en"
                else f"the catalogue has {len(self.errors)} error(s)")
        lines = [head]
        for e in self.errors[:limit]:
            where = (f"第{e.line}行" if e.line else "文件") if lang != "en" else (f"line {e.line}" if e.line else "file")
            lines.append(f"{where} {e.field}: {e.message(lang)}" if e.field else f"{where}: {e.message(lang)}")
        if len(self.errors) > limit:
            lines.append(f"……另有 {len(self.errors) - limit} 处" if lang != "en"
                         else f"... and {len(self.errors) - limit} more")
        return "\n".join(lines)


def _label(column: str) -> str:
    return f"{LABELS_ZH.get(column, column)}（{column}）"


# -- reading raw rows ----------------------------------------------------------------------------------------------

def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Excel on Chinese Windows saves "CSV (逗号分隔)" in the ANSI code page (GBK ⊂ GB 18030)
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise CatalogError([RowError(0, "", "文件编码无法识别，请保存为 UTF-8 编码的 CSV",
                                         "the file is neither UTF-8 nor GB 18030 text; save it as UTF-8 CSV")])
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogError([RowError(reader.line_num, "", f"CSV 格式错误：{exc}", f"malformed CSV: {exc}")])
        yield line, [from_csv_cell(c.strip()) for c in cells]  # our export's apostrophe before '=' comes off
        line = reader.line_num + 1  # the next record starts after the lines this one spanned


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, InvalidFileException, KeyError ... for a file that is no XLSX
        raise CatalogError([RowError(0, "", f"无法读取 Excel 文件：{exc}", f"cannot read the XLSX file: {exc}")])
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # some writers store a wrong <dimension>; read what is really there
        for line, values in enumerate(ws.iter_rows(values_only=True), start=1):
            yield line, [_cell_text(v) for v in values]
    finally:
        wb.close()


def _raw_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path)
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    raise CatalogError([RowError(0, "", f"不支持的文件类型“{path.suffix}”，请使用 .csv 或 .xlsx",
                                 f"unsupported file type '{path.suffix}': use .csv or .xlsx")])


# -- field parsers: each records its error and returns _BAD on failure ---------------------------------------------

class _Row:
    def __init__(self, line: int, values: dict[str, str], errors: list[RowError]):
        self.line, self.values, self.errors = line, values, errors

    def error(self, column: str, zh: str, en: str) -> object:
        self.errors.append(RowError(self.line, column, zh, en))
        return _BAD

    def text(self, column: str, required: bool, default: str = "") -> object:
        if column not in self.values:  # missing column: already reported on the header line
            return _BAD
        value = self.values[column]
        if not value:
            if required:
                return self.error(column, f"{_label(column)}不能为空", f"{column} is required")
            return default
        if _CONTROL_RE.search(value):
            return self.error(column, f"{_label(column)}含有不可见的控制字符", f"{column} contains control characters")
        limit = MAX_LENGTH.get(column)
        if limit and len(value) > limit:
            return self.error(column, f"{_label(column)}过长（{len(value)} 字，最多 {limit} 字）",
                              f"{column} is too long ({len(value)} characters, at most {limit})")
        return value

    def code(self, column: str) -> object:
        value = self.text(column, required=True)
        if value is not _BAD and not _CODE_RE.fullmatch(value):
            return self.error(column, f"{_label(column)}“{value}”只能由英文字母、数字、点、下划线和连字符组成",
                              f"{column} '{value}' may hold only ASCII letters, digits, '.', '_' and '-'")
        return value

    def choice(self, column: str, allowed: tuple[str, ...]) -> object:
        value = self.text(column, required=True)
        if value is not _BAD and value not in allowed:
            return self.error(column, f"{_label(column)}“{value}”无效，应为 {' / '.join(allowed)} 之一",
                              f"{column} '{value}' is not one of {', '.join(allowed)}")
        return value

    def boolean(self, column: str, required: bool, default: bool = False) -> object:
        value = self.text(column, required=required)
        if value is _BAD:
            return _BAD
        if value == "":
            return default
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return self.error(column, f"{_label(column)}“{value}”无效，应填 是/否 或 true/false",
                          f"{column} '{value}' is not a boolean (是/否 or true/false)")

    def integer(self, column: str, required: bool, default: int | None = None) -> object:
        value = self.text(column, required=required)
        if value is _BAD:
            return _BAD
        if value == "":
            return default
        if not _INT_RE.fullmatch(value):
            return self.error(column, f"{_label(column)}“{value}”应为非负整数",
                              f"{column} '{value}' is not a non-negative integer")
        number = int(value)
        if number > MAX_INT:
            return self.error(column, f"{_label(column)}“{value}”过大（最大 {MAX_INT}）",
                              f"{column} {value} is too large (at most {MAX_INT})")
        return number

    def decimal(self, column: str, default: float = 0.0) -> object:
        value = self.text(column, required=False)
        if value is _BAD:
            return _BAD
        if value == "":
            return default
        if not _DECIMAL_RE.fullmatch(value) or not math.isfinite(float(value)) or float(value) > MAX_INT:
            return self.error(column, f"{_label(column)}“{value}”应为非负数（可带小数）",
                              f"{column} '{value}' is not a non-negative number")
        return float(value)


def _parse_item(row: _Row, departments: set[str]) -> dict[str, object]:
    v: dict[str, object] = {
        "item_code": row.code("item_code"),
        "item_name": row.text("item_name", required=True),
        "mode": row.choice("mode", MODES),
        "department_code": row.text("department_code", required=True),
        "kind": row.choice("kind", KINDS),
        "limit_unit": row.choice("limit_unit", LIMIT_UNITS),
        "promised_limit": row.integer("promised_limit", required=True),
        "statutory_limit": row.integer("statutory_limit", required=True),
        "county_step_limit": row.integer("county_step_limit", required=False),
        "city_step_limit": row.integer("city_step_limit", required=False),
        "allows_commitment": row.boolean("allows_commitment", required=False),
        "commitment_days": row.integer("commitment_days", required=False, default=DEFAULT_COMMITMENT_DAYS),
        "baseline_materials": row.integer("baseline_materials", required=False, default=0),
        "baseline_steps": row.integer("baseline_steps", required=False, default=0),
        "baseline_days": row.decimal("baseline_days"),
        "fee": row.text("fee", required=True),
        "legal_basis": row.text("legal_basis", required=True),
        "conditions": row.text("conditions", required=False),
        "approval_kind": row.text("approval_kind", required=False, default="standard"),
        "commitment_text": row.text("commitment_text", required=False),
        "verification_days": row.integer("verification_days", required=False, default=DEFAULT_VERIFICATION_DAYS),
        "citywide": row.boolean("citywide", required=False),
    }
    if v["approval_kind"] not in (_BAD, *APPROVAL_KINDS):
        v["approval_kind"] = row.error("approval_kind", f"{_label('approval_kind')}“{v['approval_kind']}”无效，应为 "
                                       f"{' / '.join(APPROVAL_KINDS)} 之一",
                                       f"approval_kind '{v['approval_kind']}' is not one of {', '.join(APPROVAL_KINDS)}")
    dept = v["department_code"]
    if dept is not _BAD and dept not in departments:
        v["department_code"] = row.error(
            "department_code", f"{_label('department_code')}“{dept}”不是已知的市级审批科室",
            f"department_code '{dept}' is not a known city section")
    return v


def _check_item(row: _Row, v: dict[str, object]) -> None:
    """Rules between an item's columns; checked once, on the item's first row."""
    promised, statutory = v["promised_limit"], v["statutory_limit"]
    ok = lambda *names: all(v[n] is not _BAD for n in names)  # noqa: E731
    if ok("promised_limit", "statutory_limit") and statutory < promised:
        row.error("statutory_limit", f"{_label('statutory_limit')}（{statutory}）不能小于承诺时限（{promised}）",
                  f"statutory_limit ({statutory}) is less than promised_limit ({promised})")
    if ok("kind", "promised_limit"):
        if v["kind"] == "instant" and promised != 0:
            row.error("promised_limit", f"即办件的{_label('promised_limit')}应为 0（当场办结），实际为 {promised}",
                      f"an instant item has promised_limit 0 (concluded on the spot), not {promised}")
        if v["kind"] == "promised" and promised == 0:
            row.error("promised_limit", f"承诺件的{_label('promised_limit')}应大于 0；当场办结的事项请填办件类型 instant",
                      "a promised item needs promised_limit > 0; use kind 'instant' for on-the-spot items")
    for step in ("county_step_limit", "city_step_limit"):
        if ok(step, "promised_limit") and v[step] is not None:
            if v[step] > promised:
                row.error(step, f"{_label(step)}（{v[step]}）不能大于承诺时限（{promised}）",
                          f"{step} ({v[step]}) exceeds promised_limit ({promised})")
            elif v[step] == 0:
                row.error(step, f"{_label(step)}应大于 0；不设环节时限请留空",
                          f"{step} must be > 0; leave it empty for no step limit")
    if ok("mode", "city_step_limit") and v["mode"] == Mode.DIRECT.value and v["city_step_limit"] is not None:
        row.error("city_step_limit", f"直接下放事项不报市级，{_label('city_step_limit')}应留空",
                  "a direct item never goes to the city: leave city_step_limit empty")
    if ok("mode", "county_step_limit") and v["mode"] == Mode.FORWARD_ONLY.value and v["county_step_limit"] is not None:
        row.error("county_step_limit", f"服务窗口前移事项县级只做形式审查并转报，{_label('county_step_limit')}应留空",
                  "a forward_only item is only checked for completeness and forwarded by the county: "
                  "leave county_step_limit empty")
    if ok("county_step_limit", "city_step_limit", "promised_limit") and None not in (
            v["county_step_limit"], v["city_step_limit"]) and max(v["county_step_limit"], v["city_step_limit"]) \
            <= promised < v["county_step_limit"] + v["city_step_limit"]:
        row.error("city_step_limit",
                  f"县级与市级环节时限之和（{v['county_step_limit'] + v['city_step_limit']}）超过承诺时限（{promised}）",
                  f"county_step_limit + city_step_limit ({v['county_step_limit'] + v['city_step_limit']}) "
                  f"exceeds promised_limit ({promised})")
    if ok("approval_kind", "commitment_text") and v["approval_kind"] == "commitment" and not v["commitment_text"]:
        row.error("commitment_text", f"告知承诺制事项须填写{_label('commitment_text')}",
                  "an item approved on a commitment needs its commitment_text")
    if ok("approval_kind", "mode") and v["approval_kind"] == "commitment" and v["mode"] != Mode.DIRECT.value:
        row.error("approval_kind", "告知承诺制事项由窗口当场审批，须为直接下放（direct）事项",
                  "an item approved on a commitment at the window must be a direct item")
    if ok("citywide", "mode") and v["citywide"] and v["mode"] != Mode.DIRECT.value:
        row.error("citywide", "只有直接下放（direct）事项可以全市通办", "only a direct item can be accepted city-wide")
    if ok("verification_days") and not 1 <= v["verification_days"] <= 120:
        row.error("verification_days", f"{_label('verification_days')}应在 1 到 120 之间",
                  "verification_days must be between 1 and 120")
    if ok("allows_commitment", "commitment_days") and v["allows_commitment"] and v["commitment_days"] == 0:
        row.error("commitment_days", f"容缺受理的事项{_label('commitment_days')}应大于 0",
                  "an item allowing 容缺 needs commitment_days > 0")


def _parse_material(row: _Row) -> object:
    """A MaterialSpec, None for a row whose four material cells are all empty, or _BAD."""
    if all(row.values.get(c, "") == "" for c in MATERIAL_COLUMNS):
        return None
    code = row.code("material_code")
    name = row.text("material_name", required=True)
    core = row.boolean("material_core", required=True)
    required = row.boolean("material_required", required=True)
    if _BAD in (code, name, core, required):
        return _BAD
    return MaterialSpec(code=code, name=name, core=core, required=required, line=row.line)


@dataclass
class _Group:
    line: int
    values: dict[str, object]
    materials: list[MaterialSpec] = field(default_factory=list)
    material_lines: dict[str, int] = field(default_factory=dict)
    blank_lines: list[int] = field(default_factory=list)
    rows: int = 0


def read_catalog(path: str | Path, known_departments: Iterable[str] | None = None, *, office_hours=None,
                 over_baseline: bool = False) -> list[ItemSpec]:
    """Read and validate a catalogue file (.csv or .xlsx); raise CatalogError listing every error.

    ``known_departments`` replaces ``SECTIONS`` as the set of acceptable department codes. 只减不增
    (delegation.baseline_rule): an item requiring more materials or promising a longer limit than its baseline is
    an error on its line, unless ``over_baseline`` (an administrator's recorded override); ``office_hours``
    (config.office_hours.OfficeHours, the default ones when None) turns an hour limit into working days.
    """
    path = Path(path)
    departments = set(SECTIONS if known_departments is None else known_departments)
    errors: list[RowError] = []
    rows = _raw_rows(path)
    header: list[str] | None = None
    columns: dict[int, str] = {}
    groups: dict[str, _Group] = {}
    seen_data = False

    for line, cells in rows:
        if header is None:
            if not any(cells):
                continue  # leading blank lines before the header
            header = [c.lstrip("\ufeff").strip() for c in cells]
            if line != 1:
                errors.append(RowError(line, "", "标题行应在第 1 行", "the header must be on line 1"))
            seen: set[str] = set()
            for i, name in enumerate(header):
                if not name:
                    continue
                if name not in ALL_COLUMNS:
                    errors.append(RowError(line, name, f"未知的列“{name}”", f"unknown column '{name}'"))
                elif name in seen:
                    errors.append(RowError(line, name, f"列“{name}”重复", f"column '{name}' appears twice"))
                else:
                    columns[i] = name
                seen.add(name)
            for name in COLUMNS:
                if name not in seen:
                    errors.append(RowError(line, name, f"缺少列{_label(name)}", f"column '{name}' is missing"))
            continue
        if not any(cells):
            continue  # blank line
        seen_data = True
        values: dict[str, str] = {}
        for i, cell in enumerate(cells):
            if i in columns:
                values[columns[i]] = cell
            elif cell and (i >= len(header) or not header[i]):
                errors.append(RowError(line, "", f"第 {i + 1} 列有内容但没有列名",
                                       f"column {i + 1} holds a value but has no header"))
        for name in (*columns.values(), *APPROVAL_COLUMNS, *CITYWIDE_COLUMNS):
            values.setdefault(name, "")  # a short row: its missing trailing cells are empty (optional columns too)
        row = _Row(line, values, errors)
        item = _parse_item(row, departments)
        material = _parse_material(row)
        code = item["item_code"]
        if code is _BAD:
            continue
        group = groups.get(code)
        if group is None:
            group = groups[code] = _Group(line, item)
            _check_item(row, item)
        else:
            for name in ITEM_COLUMNS[1:] + APPROVAL_COLUMNS + CITYWIDE_COLUMNS:
                first, here = group.values[name], item[name]
                if first is not _BAD and here is not _BAD and first != here:
                    row.error(name, f"{_label(name)}与该事项第 {group.line} 行不一致（同一事项各行的事项列必须相同）",
                              f"{name} differs from line {group.line}, the item's first row "
                              f"(item columns must be equal on every row of an item)")
        group.rows += 1
        if material is None:
            group.blank_lines.append(line)
        elif material is not _BAD:
            if material.code in group.material_lines:
                row.error("material_code", f"{_label('material_code')}“{material.code}”在该事项中重复（第 "
                                           f"{group.material_lines[material.code]} 行已有）",
                          f"material_code '{material.code}' repeats within the item "
                          f"(first on line {group.material_lines[material.code]})")
            else:
                group.material_lines[material.code] = line
                group.materials.append(material)

    if header is None:
        raise CatalogError([RowError(1, "", "文件为空，没有标题行", "the file is empty: no header line")])
    if not seen_data:
        errors.append(RowError(1, "", "文件中没有事项", "the file holds no items"))

    for code, group in groups.items():
        if group.rows > 1:  # a material-less row is only allowed as an item's only row
            for line in group.blank_lines:
                errors.append(RowError(line, "material_code", f"{_label('material_code')}不能为空",
                                       "material_code is required"))
        v = group.values
        if v["allows_commitment"] is True and group.rows == len(group.materials) and not any(
                m.required and not m.core for m in group.materials):
            errors.append(RowError(group.line, "allows_commitment",
                                   f"{_label('allows_commitment')}为“是”，但该事项没有可容缺的必交非核心材料",
                                   "allows_commitment is true but the item has no required non-core material "
                                   "that could be supplied later"))

    if errors:
        errors.sort(key=lambda e: (e.line, COLUMNS.index(e.field) if e.field in COLUMNS else -1))
        raise CatalogError(errors)

    specs = []
    for code, group in groups.items():
        v = group.values
        specs.append(ItemSpec(
            code=code, name=v["item_name"], mode=v["mode"], department_code=v["department_code"], kind=v["kind"],
            limit_unit=v["limit_unit"], promised_limit=v["promised_limit"], statutory_limit=v["statutory_limit"],
            county_step_limit=v["county_step_limit"], city_step_limit=v["city_step_limit"],
            allows_commitment=v["allows_commitment"], commitment_days=v["commitment_days"],
            baseline_materials=v["baseline_materials"], baseline_steps=v["baseline_steps"],
            baseline_days=v["baseline_days"], fee=v["fee"], legal_basis=v["legal_basis"], conditions=v["conditions"],
            materials=group.materials, line=group.line, approval_kind=v["approval_kind"],
            commitment_text=v["commitment_text"] if v["approval_kind"] == "commitment" else "",
            verification_days=v["verification_days"],
            citywide=v["citywide"] if "citywide" in columns.values() else None,
        ))
    if not over_baseline:
        from delegation import baseline_rule

        found = baseline_rule.breaches(specs, office_hours or baseline_rule.DEFAULT_OFFICE_HOURS)
        if found:
            raise CatalogError([baseline_rule.row_error(b) for b in found])
    return specs


# -- writing ---------------------------------------------------------------------------------------------------

def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _uses_approval_kinds(specs: list[ItemSpec]) -> bool:
    return any(s.approval_kind != "standard" for s in specs)


def _spec_rows(specs: Iterable[ItemSpec], approval: bool = False, citywide: bool = False) -> Iterator[list]:
    for s in specs:
        item = [s.code, s.name, s.mode, s.department_code, s.kind, s.limit_unit, s.promised_limit,
                s.statutory_limit, s.county_step_limit, s.city_step_limit, s.allows_commitment, s.commitment_days,
                s.baseline_materials, s.baseline_steps, s.baseline_days, s.fee, s.legal_basis, s.conditions]
        tail = [s.approval_kind, s.commitment_text, s.verification_days] if approval else []
        tail += [bool(s.citywide)] if citywide else []
        if not s.materials:
            yield item + [None, None, None, None] + tail
        for m in s.materials:
            yield item + [m.code, m.name, m.core, m.required] + tail


def write_catalog(specs: Iterable[ItemSpec], path: str | Path, *, bom: bool = True) -> None:
    """Write specs as a catalogue file, CSV or XLSX by the path's suffix (CSV with a BOM so Excel reads UTF-8)."""
    path = Path(path)
    suffix = path.suffix.lower()
    specs = list(specs)
    approval = _uses_approval_kinds(specs)
    citywide = any(s.citywide for s in specs)
    columns = COLUMNS + (APPROVAL_COLUMNS if approval else ()) + (CITYWIDE_COLUMNS if citywide else ())
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in _spec_rows(specs, approval, citywide):
                writer.writerow([_format(csv_cell(v)) for v in row])  # text never read as a formula
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "事项目录"
        ws.append(list(columns))
        for r, row in enumerate(_spec_rows(specs, approval, citywide), start=2):
            for c, value in enumerate(row, start=1):
                if isinstance(value, bool):
                    value = _format(value)
                elif isinstance(value, float) and value.is_integer():
                    value = int(value)
                as_text_cells([ws.cell(row=r, column=c, value=value)])  # text, never a formula, even '=…'
        ws.freeze_panes = "A2"
        wb.save(path)
    else:
        raise ValueError(f"unsupported catalogue file type {path.suffix!r}: use .csv or .xlsx")


# -- database --------------------------------------------------------------------------------------------------

def item_to_spec(item, approval=None, citywide: bool = False) -> ItemSpec:
    """`approval`: the item's approval_item row (delegation.window_decisions), None for an ordinary item."""
    return ItemSpec(
        code=item.code, name=item.name, mode=item.mode, department_code=item.department_code, kind=item.kind,
        limit_unit=item.limit_unit, promised_limit=item.promised_limit, statutory_limit=item.statutory_limit,
        county_step_limit=item.county_step_limit, city_step_limit=item.city_step_limit,
        allows_commitment=bool(item.allows_commitment), commitment_days=item.commitment_days,
        baseline_materials=item.baseline_materials, baseline_steps=item.baseline_steps,
        baseline_days=float(item.baseline_days), fee=item.fee, legal_basis=item.legal_basis,
        conditions=item.conditions,
        materials=[MaterialSpec(code=m.code, name=m.name, core=bool(m.core), required=bool(m.required))
                   for m in sorted(item.materials, key=lambda m: m.position)],
        approval_kind=approval.kind if approval is not None else "standard",
        commitment_text=(approval.commitment_text or "") if approval is not None else "",
        verification_days=approval.verification_days if approval is not None else DEFAULT_VERIFICATION_DAYS,
        citywide=citywide,
    )


def _apply(item, spec: ItemSpec) -> None:
    from delegation.models import ItemMaterial

    for name in ("name", "mode", "department_code", "kind", "limit_unit", "promised_limit", "statutory_limit",
                 "county_step_limit", "city_step_limit", "allows_commitment", "commitment_days",
                 "baseline_materials", "baseline_steps", "baseline_days", "fee", "legal_basis", "conditions"):
        setattr(item, name, getattr(spec, name))
    # Keep the rows of materials whose code stays (no unique-constraint clash), drop the others, add new ones.
    existing = {m.code: m for m in item.materials}
    materials = []
    for position, ms in enumerate(spec.materials):
        m = existing.get(ms.code) or ItemMaterial(code=ms.code)
        m.name, m.core, m.required, m.position = ms.name, ms.core, ms.required, position
        materials.append(m)
    item.materials = materials  # delete-orphan removes the materials the file no longer lists


# Told of the items an import rewrote or created (not of a seeding's only_new pass), in its transaction:
# delegation/catalogue_publish.py publishes the city's to the county nodes.
_import_listeners: list = []


def on_import(listener) -> None:
    _import_listeners.append(listener)


def import_catalog(session, specs: list[ItemSpec], divisions: list[str], *, only_new: bool = False) -> dict:
    """Upsert items by code; grant each newly created item to every division given. Does not commit.

    Existing items are updated to match the spec (their materials replaced by the spec's), unless ``only_new``,
    which leaves them untouched (the demo seeder uses it). Items absent from ``specs`` are left as they are; an
    existing item's ``active`` flag and its delegations are never changed. Returns ``{"created": n, "updated": m}``
    (``updated`` counts the existing items the specs matched and rewrote).
    Raises CatalogError (nothing changed) if a department is not an org, ValueError for unknown divisions.
    """
    import sqlalchemy as sa

    from delegation.models import Delegation, Division, Item, Org

    codes = [s.code for s in specs]
    if len(set(codes)) != len(codes):
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        raise ValueError(f"item codes repeat among the specs: {', '.join(dupes)}")
    divisions = list(dict.fromkeys(divisions))
    known = set(session.execute(sa.select(Division.code).where(Division.code.in_(divisions))).scalars())
    unknown = [d for d in divisions if d not in known]
    if unknown:
        raise ValueError(f"unknown division codes: {', '.join(unknown)}")
    departments = {s.department_code for s in specs}
    orgs = set(session.execute(sa.select(Org.code).where(Org.code.in_(departments))).scalars())
    missing = [s for s in specs if s.department_code not in orgs]
    if missing:
        raise CatalogError([RowError(s.line, "department_code",
                                     f"{_label('department_code')}“{s.department_code}”在系统中没有对应的机构",
                                     f"department_code '{s.department_code}' is not an organisation of the platform")
                            for s in missing])

    existing = {i.code: i for i in session.execute(sa.select(Item).where(Item.code.in_(codes))).unique().scalars()}
    created, updated, new_items = 0, 0, []
    for spec in specs:
        item = existing.get(spec.code)
        if item is None:
            item = Item(code=spec.code, active=True)
            session.add(item)
            new_items.append(item)
            created += 1
        elif only_new:
            continue
        else:
            updated += 1
        _apply(item, spec)
    session.flush()
    from delegation import window_decisions

    for spec in specs:  # the approval kind (issue 17), in its own table
        item = existing.get(spec.code) or next(i for i in new_items if i.code == spec.code)
        if item in new_items or not only_new:
            window_decisions.set_kind(item, spec.approval_kind, spec.commitment_text or None, spec.verification_days)
            if spec.citywide is not None:  # 全市通办 (issue 17), when the file has the column
                from delegation.citywide import set_flag

                set_flag(item, spec.citywide)
    for item in new_items:
        for division in divisions:
            session.add(Delegation(item_id=item.id, division_code=division, granted=True,
                                   reason="事项目录导入时下放 / granted on catalogue import"))
    session.flush()
    if not only_new:
        for listener in _import_listeners:
            listener([s.code for s in specs])
    return {"created": created, "updated": updated}


def export_catalog(session, path: str | Path) -> int:
    """Write every item of the catalogue (by code) to a CSV or XLSX file; returns the number of items."""
    import sqlalchemy as sa

    from delegation.models import Item

    from delegation import window_decisions

    items = session.execute(sa.select(Item).order_by(Item.code)).unique().scalars().all()
    approvals = window_decisions.kinds_by_item(i.id for i in items)
    from delegation.citywide import citywide_item_ids

    flagged = citywide_item_ids()
    write_catalog([item_to_spec(i, approvals.get(i.id), i.id in flagged) for i in items], path)
    return len(items)
