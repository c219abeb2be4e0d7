"""Reading, validating and writing the catalogue file (no database)."""
from __future__ import annotations

import csv
from collections import Counter

import pytest
from openpyxl import Workbook

from delegation.catalog_io import (
    COLUMNS,
    DEMO_CATALOG,
    SECTIONS,
    CatalogError,
    ItemSpec,
    MaterialSpec,
    read_catalog,
    write_catalog,
)

# -- the demo catalogue --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> list[ItemSpec]:
    return read_catalog(DEMO_CATALOG)


def test_demo_has_enough_items_in_every_mode(demo):
    assert len(demo) >= 36
    modes = Counter(s.mode for s in demo)
    assert set(modes) == {"direct", "delegated_review", "forward_only"}
    # roughly the city's 20 / 53 / 45 split
    assert modes["direct"] < modes["forward_only"] < modes["delegated_review"]
    assert len({s.code for s in demo}) == len(demo)
    assert {s.department_code for s in demo} == set(SECTIONS)


def test_demo_has_the_required_items(demo):
    by_name = {s.name: s for s in demo}
    special = [s for s in demo if s.name.startswith("特种设备使用登记")]
    assert special
    for s in special:
        assert s.mode in ("delegated_review", "forward_only")
        assert (s.city_step_limit, s.limit_unit) == (3, "working_days")
    assert any("电梯" in s.name for s in special)
    oil = [s for s in demo if s.name.startswith("成品油零售经营资格审批")]
    assert any("新建" in s.name for s in oil) and any("迁建" in s.name for s in oil)
    assert any("民办非学历教育办学许可" in name for name in by_name)


def test_demo_items_are_plausible(demo):
    assert sum(s.allows_commitment for s in demo) * 3 >= len(demo)
    assert any(s.limit_unit == "hours" for s in demo)
    assert any(s.kind == "instant" for s in demo)
    for s in demo:
        # what an applicant must bring (the statistics' count against the baseline); the authorisation letter,
        # optional, is brought only by an agent (帮办代办): every demo item lists it, so an agent can apply for any
        required = [m for m in s.materials if m.required]
        assert 3 <= len(required) <= 8, s.code
        letters = [m for m in s.materials if "授权委托书" in m.name]
        assert len(letters) == 1 and not letters[0].core and not letters[0].required, s.code
        assert s.statutory_limit >= s.promised_limit
        assert s.baseline_materials > len(required) and s.baseline_steps > 3 and s.baseline_days > 0
        assert s.code.isascii() and all(m.code.isascii() for m in s.materials)
        assert s.legal_basis.startswith("《") and s.fee
        if s.allows_commitment:
            assert any(m.required and not m.core for m in s.materials), s.code
        assert any(m.core for m in s.materials)


def test_demo_round_trips_through_csv_and_xlsx(demo, tmp_path):
    for name in ("out.csv", "out.xlsx"):
        write_catalog(demo, tmp_path / name)
        assert read_catalog(tmp_path / name) == demo
    # the demo file is in the exporter's own form (no BOM): writing it again gives the same bytes
    write_catalog(demo, tmp_path / "again.csv", bom=False)
    assert (tmp_path / "again.csv").read_bytes() == DEMO_CATALOG.read_bytes()
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbf")


# -- small files ---------------------------------------------------------------------------------------------------

BASE = {
    "item_code": "T-001", "item_name": "测试事项", "mode": "delegated_review",
    "department_code": "360700-sec-market", "kind": "promised", "limit_unit": "working_days",
    "promised_limit": "5", "statutory_limit": "20", "county_step_limit": "2", "city_step_limit": "3",
    "allows_commitment": "false", "commitment_days": "10", "baseline_materials": "5", "baseline_steps": "5",
    "baseline_days": "8.5", "fee": "不收费", "legal_basis": "《中华人民共和国行政许可法》", "conditions": "",
    "material_code": "M01", "material_name": "申请表", "material_core": "true", "material_required": "true",
}


def row(**changes) -> dict:
    return {**BASE, **changes}


def item_rows(code="T-001", **changes) -> list[dict]:
    """An item allowing 容缺, with a core material and a non-core one (``changes`` apply to both rows)."""
    changes = {"item_code": code, "allows_commitment": "true", **changes}
    return [row(**changes), row(**{"material_code": "M02", "material_name": "委托书", "material_core": "false",
                                   **changes})]


def write_csv(path, rows, columns=COLUMNS, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def errors_of(path, **kwargs) -> list[tuple[int, str]]:
    with pytest.raises(CatalogError) as info:
        read_catalog(path, **kwargs)
    return [(e.line, e.field) for e in info.value.errors]


def test_a_good_small_file(tmp_path):
    rows = item_rows() + item_rows("T-002", mode="direct", city_step_limit="", allows_commitment="否",
                                   material_core="是", material_required="是")
    specs = read_catalog(write_csv(tmp_path / "ok.csv", rows))
    assert [s.code for s in specs] == ["T-001", "T-002"]
    first, second = specs
    assert first.line == 2 and second.line == 4
    assert first.materials == [MaterialSpec("M01", "申请表", True, True), MaterialSpec("M02", "委托书", False, True)]
    assert (first.baseline_days, first.county_step_limit, first.city_step_limit) == (8.5, 2, 3)
    assert second.mode == "direct" and second.city_step_limit is None and second.allows_commitment is False


def test_bom_and_gbk_files_are_read(tmp_path):
    rows = item_rows()
    bom = read_catalog(write_csv(tmp_path / "bom.csv", rows, encoding="utf-8-sig"))
    gbk = read_catalog(write_csv(tmp_path / "gbk.csv", rows, encoding="gbk"))
    assert bom == gbk == read_catalog(write_csv(tmp_path / "plain.csv", rows))
    assert bom[0].name == "测试事项"


def test_every_bad_value_is_reported_with_line_and_field(tmp_path):
    rows = item_rows() + [
        row(item_code="T-002", mode="delegate"),                 # line 4
        row(item_code="T-003", limit_unit="days"),               # line 5
        row(item_code="T-004", kind="urgent"),                   # line 6
        row(item_code="T-005", allows_commitment="yes"),         # line 7
        row(item_code="T-006", promised_limit="五"),              # line 8
        row(item_code="T-007", material_core=""),                # line 9
        row(item_code="T-008", item_name=""),                    # line 10
        row(item_code="T-009", baseline_days="-1"),              # line 11
        row(item_code="T 010"),                                  # line 12
    ]
    errs = errors_of(write_csv(tmp_path / "bad.csv", rows))
    assert errs == [(4, "mode"), (5, "limit_unit"), (6, "kind"), (7, "allows_commitment"), (8, "promised_limit"),
                    (9, "material_core"), (10, "item_name"), (11, "baseline_days"), (12, "item_code")]


def test_chinese_messages_name_the_field(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [row(promised_limit="abc", material_required="maybe")])
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    by_field = {e.field: e for e in info.value.errors}
    assert "承诺时限" in by_field["promised_limit"].message_zh and "abc" in by_field["promised_limit"].message_zh
    assert "promised_limit" in by_field["promised_limit"].message_en
    assert "是否必交材料" in by_field["material_required"].message_zh
    assert "第2行" in info.value.summary("zh") and "line 2" in str(info.value)


def test_limits_must_agree(tmp_path):
    rows = [
        *item_rows("T-001", statutory_limit="3"),                              # lines 2-3: statutory < promised
        *item_rows("T-002", county_step_limit="6"),                            # lines 4-5: step > promised
        *item_rows("T-003", county_step_limit="3", city_step_limit="3"),       # lines 6-7: 3 + 3 > 5
        *item_rows("T-004", mode="direct", county_step_limit=""),              # lines 8-9: direct with a city step
        *item_rows("T-005", mode="forward_only", city_step_limit=""),          # lines 10-11: forward_only, county step
        *item_rows("T-006", kind="instant", county_step_limit="", city_step_limit=""),  # 12-13: instant with 5
        *item_rows("T-007", promised_limit="0", county_step_limit="", city_step_limit=""),  # 14-15: promised 0
    ]
    assert errors_of(write_csv(tmp_path / "limits.csv", rows)) == [
        (2, "statutory_limit"), (4, "county_step_limit"), (6, "city_step_limit"), (8, "city_step_limit"),
        (10, "county_step_limit"), (12, "promised_limit"), (14, "promised_limit"),
    ]


def test_rows_of_one_item_must_agree(tmp_path):
    rows = [row(), row(material_code="M02", material_core="false", item_name="别的名称", promised_limit="6"),
            row(material_code="M03", material_core="false", allows_commitment="否")]  # 否 == false: no error
    assert errors_of(write_csv(tmp_path / "disagree.csv", rows)) == [(3, "item_name"), (3, "promised_limit")]


def test_duplicate_material_code(tmp_path):
    rows = [*item_rows(), row(allows_commitment="true", material_name="又一份申请表")]
    assert errors_of(write_csv(tmp_path / "dupe.csv", rows)) == [(4, "material_code")]


def test_commitment_needs_a_non_core_material(tmp_path):
    rows = [row(allows_commitment="true"), row(material_code="M02", allows_commitment="true")]
    assert errors_of(write_csv(tmp_path / "commit.csv", rows)) == [(2, "allows_commitment")]


def test_department_must_be_a_section_unless_known_departments_given(tmp_path):
    path = write_csv(tmp_path / "dept.csv", item_rows(department_code="360700-sec-health"))
    assert errors_of(path) == [(2, "department_code"), (3, "department_code")]
    specs = read_catalog(path, known_departments=["360700-sec-health"])
    assert specs[0].department_code == "360700-sec-health"


def test_header_errors(tmp_path):
    columns = [c for c in COLUMNS if c != "fee"] + ["remark"]
    errs = errors_of(write_csv(tmp_path / "header.csv", item_rows(), columns=columns))
    assert (1, "remark") in errs and (1, "fee") in errs
    assert all(line == 1 for line, _ in errs)  # a missing column is reported once, not on every row


def test_multiline_cells_keep_line_numbers_right(tmp_path):
    rows = [row(conditions="第一条\n第二条\n第三条"), row(material_code="M02", material_core="false",
                                                        conditions="第一条\n第二条\n第三条"),
            row(item_code="T-002", mode="bogus")]
    path = write_csv(tmp_path / "multi.csv", rows)
    assert errors_of(path) == [(8, "mode")]  # header 1, rows on lines 2-4 and 5-7, the bad one starts on line 8


def test_material_less_item_is_one_row(tmp_path):
    empty = dict(material_code="", material_name="", material_core="", material_required="")
    specs = read_catalog(write_csv(tmp_path / "none.csv", [row(**empty)]))
    assert specs[0].materials == []
    assert errors_of(write_csv(tmp_path / "mixed.csv", [row(), row(**empty)])) == [
        (3, "material_code")]


def test_empty_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert errors_of(tmp_path / "empty.csv") == [(1, "")]
    assert errors_of(write_csv(tmp_path / "header-only.csv", [])) == [(1, "")]
    (tmp_path / "x.txt").write_text("x")
    assert errors_of(tmp_path / "x.txt") == [(0, "")]
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    assert errors_of(tmp_path / "broken.xlsx") == [(0, "")]


# -- XLSX ----------------------------------------------------------------------------------------------------------

def xlsx_value(column: str, text: str):
    """Values as Excel users type them: numbers as numbers, booleans as Excel booleans."""
    if text in ("true", "false") and column != "item_name":
        return text == "true"
    if text.isdigit():
        return int(text)
    if column == "baseline_days" and text:
        return float(text)
    return text or None


def write_xlsx(path, rows, blank_rows_before: int = 0):
    wb = Workbook()
    ws = wb.active
    ws.append(list(COLUMNS))
    for _ in range(blank_rows_before):
        ws.append([])
    for r in rows:
        ws.append([xlsx_value(c, r[c]) for c in COLUMNS])
    wb.create_sheet("备注").append(["this sheet is ignored"])
    wb.save(path)
    return path


def test_xlsx_is_read_like_csv(tmp_path):
    rows = item_rows() + item_rows("T-002", allows_commitment="是", material_required="是")
    assert read_catalog(write_xlsx(tmp_path / "c.xlsx", rows)) == read_catalog(write_csv(tmp_path / "c.csv", rows))


def test_xlsx_errors_name_the_sheet_row(tmp_path):
    rows = [*item_rows(), row(item_code="T-002", statutory_limit="2", material_required="maybe")]
    path = write_xlsx(tmp_path / "bad.xlsx", rows, blank_rows_before=2)  # rows on 4, 5 and 6
    assert errors_of(path) == [(6, "statutory_limit"), (6, "material_required")]


def test_xlsx_float_numbers_and_formula_like_text(tmp_path):
    specs = [ItemSpec(code="T-001", name="=危险的名称", mode="direct", department_code="360700-sec-market",
                      kind="promised", limit_unit="hours", promised_limit=3, statutory_limit=24, baseline_days=0.5,
                      legal_basis="《中华人民共和国行政许可法》", materials=[MaterialSpec("01", "申请表")])]
    write_catalog(specs, tmp_path / "f.xlsx")
    assert read_catalog(tmp_path / "f.xlsx") == specs
