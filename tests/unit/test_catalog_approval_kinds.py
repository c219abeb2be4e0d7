"""The catalogue file's optional approval columns (issue 17, part A): approval_kind (standard, commitment 告知承诺制,
filing 备案), commitment_text and verification_days. A file without them reads as before; one with them round-trips
through CSV and XLSX; bad values are reported naming the column, and nothing is read."""
from __future__ import annotations

import pytest

from delegation.catalog_io import APPROVAL_COLUMNS, COLUMNS, CatalogError, read_catalog, write_catalog
from tests.unit.test_catalog_io import item_rows, row, write_csv

WITH_KINDS = COLUMNS + APPROVAL_COLUMNS
TEXT = "本单位承诺符合许可条件，承诺不实的自愿承担法律责任。"


def errors_of(path):
    with pytest.raises(CatalogError) as info:
        read_catalog(path)
    return [(e.line, e.field) for e in info.value.errors]


def test_a_file_without_the_columns_reads_every_item_as_ordinary(tmp_path):
    spec, = read_catalog(write_csv(tmp_path / "old.csv", item_rows()))
    assert (spec.approval_kind, spec.commitment_text, spec.verification_days) == ("standard", "", 20)
    write_catalog([spec], tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(COLUMNS)


def test_commitment_and_filing_items_round_trip(tmp_path):
    rows = [row(item_code="C-1", mode="direct", county_step_limit="2", city_step_limit="", approval_kind="commitment",
                commitment_text=TEXT, verification_days="15"),
            row(item_code="F-1", mode="direct", county_step_limit="2", city_step_limit="", approval_kind="filing"),
            row(item_code="S-1")]
    specs = read_catalog(write_csv(tmp_path / "kinds.csv", rows, columns=WITH_KINDS))
    by_code = {s.code: s for s in specs}
    assert (by_code["C-1"].approval_kind, by_code["C-1"].commitment_text, by_code["C-1"].verification_days) == (
        "commitment", TEXT, 15)
    assert (by_code["F-1"].approval_kind, by_code["F-1"].commitment_text) == ("filing", "")
    assert by_code["S-1"].approval_kind == "standard"
    for name in ("out.csv", "out.xlsx"):
        write_catalog(specs, tmp_path / name)
        assert read_catalog(tmp_path / name) == specs


def test_bad_approval_columns_are_reported_by_name(tmp_path):
    rows = [row(item_code="A-1", mode="direct", county_step_limit="2", city_step_limit="",
                approval_kind="commitment"),  # no text
            row(item_code="A-2", approval_kind="commitment", commitment_text=TEXT),  # delegated_review
            row(item_code="A-3", approval_kind="veto"),
            row(item_code="A-4", approval_kind="filing", verification_days="0")]
    assert errors_of(write_csv(tmp_path / "bad.csv", rows, columns=WITH_KINDS)) == [
        (2, "commitment_text"), (3, "approval_kind"), (4, "approval_kind"), (5, "verification_days")]
