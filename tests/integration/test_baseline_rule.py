"""Issue 18, 只减不增: an item whose required materials or promised limit exceed its pre-reform baseline is refused at
catalogue import (the administrator's upload and `flask catalog import`), naming the line and the column, and nothing
changes; an administrator's override with a reason lets it in and is recorded (who, when, which item, which rule,
why), insert-only, and shown on the administrator's page. An item without a baseline is not checked."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_admin_pages import ITEM_HEADER, in_db, items_named


def _row(code, material, *, required="true", promised="5", unit="working_days", statutory="15", base_materials="2",
         base_days="8"):
    return (f"{code},只减不增测试事项,direct,360700-sec-market,promised,{unit},{promised},{statutory},2,,false,,"
            f"{base_materials},4,{base_days},不收费,《测试法》第一条,,{material},材料{material},true,{required}")


def _file(*rows) -> bytes:
    return ("\n".join([ITEM_HEADER, *rows]) + "\n").encode()


# line 2-3: a good item; lines 4-6: three required materials against a baseline of 2; line 7: 9 days against 8
OVER = _file(_row("GZ-OK-001", "M01"), _row("GZ-OK-001", "M02", required="false"),
             _row("GZ-MORE-001", "M01"), _row("GZ-MORE-001", "M02"), _row("GZ-MORE-001", "M03"),
             _row("GZ-LONG-001", "M01", promised="9"))


def _upload(client, body: bytes, **fields):  # noqa: F811
    token = csrf_token(client, "/admin/catalog")
    return client.post("/admin/catalog/import", data={"csrf_token": token, **fields,
                                                      "file": (io.BytesIO(body), "catalog.csv", "text/csv")},
                       content_type="multipart/form-data")


def _overrides():
    from app.extensions import db
    from delegation.baseline_models import BaselineOverride

    return [(o.item_code, o.rule, o.value, o.baseline, o.reason, o.user.username)
            for o in db.session.execute(sa.select(BaselineOverride).order_by(BaselineOverride.id)).unique().scalars()]


def test_an_item_over_its_baseline_is_refused_naming_the_line(client):  # noqa: F811
    log_in(client, "admin")
    r = _upload(client, OVER)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    errors = [re.sub(r"<[^>]+>", " ", e) for e in re.findall(r'<tr data-testid="catalog-error">(.*?)</tr>', page, re.S)]
    assert len(errors) == 2, errors
    assert "第 4 行" in errors[0] and "baseline_materials" in errors[0] and "必交材料 3 项" in errors[0]
    assert "第 7 行" in errors[1] and "promised_limit" in errors[1] and "承诺时限 9 个工作日" in errors[1]
    assert "只减不增" in errors[0] and "未导入任何内容" in page
    for code in ("GZ-OK-001", "GZ-MORE-001", "GZ-LONG-001"):  # nothing of the file, not even the good item
        assert in_db(client, lambda: items_named(code)) == []
    assert in_db(client, _overrides) == []


def test_the_override_needs_a_reason_then_imports_and_is_recorded(client):  # noqa: F811
    log_in(client, "admin")
    r = _upload(client, OVER, override="y", override_reason="  ")
    assert r.status_code == 422
    assert re.search(r'class="field invalid">\s*<span>突破理由', r.get_data(as_text=True))
    assert in_db(client, lambda: items_named("GZ-MORE-001")) == []

    reason = "省级目录调整后新增申请表，经局务会研究同意"
    r = _upload(client, OVER, override="y", override_reason=reason)
    assert r.status_code == 200, r.get_data(as_text=True)[:3000]
    assert "其中 2 处突破“只减不增”，已记录" in r.get_data(as_text=True)
    for code in ("GZ-OK-001", "GZ-MORE-001", "GZ-LONG-001"):
        assert len(in_db(client, lambda: items_named(code))) == 1
    assert in_db(client, _overrides) == [("GZ-MORE-001", "materials", 3.0, 2.0, reason, "admin"),
                                         ("GZ-LONG-001", "days", 9.0, 8.0, reason, "admin")]
    page = client.get("/admin/catalog/overrides").get_data(as_text=True)
    assert 'data-testid="override-GZ-MORE-001-materials"' in page and reason in page and "市行政审批局管理员" in page

    def _rewrite():  # the record is insert-only: the database refuses to change or delete it
        from app.extensions import db

        for statement in ("UPDATE baseline_override SET reason = 'x'", "DELETE FROM baseline_override"):
            with pytest.raises(sa.exc.DatabaseError):
                db.session.execute(sa.text(statement))
                db.session.flush()
            db.session.rollback()
        return len(_overrides())
    assert in_db(client, _rewrite) == 2


def test_no_baseline_is_not_checked_and_hours_count_in_working_days(client):  # noqa: F811
    log_in(client, "admin")
    # no baselines: four required materials, 30 days; 24 office hours (3.4 working days of 7 h) against 4 days
    body = _file(*[_row("GZ-NOBASE-001", m, promised="30", statutory="40", base_materials="0", base_days="0")
                   for m in ("M01", "M02", "M03", "M04")],
                 _row("GZ-HOURS-001", "M01", promised="24", statutory="40", unit="hours", base_days="4"))
    assert _upload(client, body).status_code == 200
    # 32 office hours are 4.57 working days: over a 4-day baseline
    r = _upload(client, _file(_row("GZ-HOURS-002", "M01", promised="32", statutory="40", unit="hours",
                                   base_days="4")))
    assert r.status_code == 422 and "4.57 个工作日" in r.get_data(as_text=True)


def test_the_command_line_refuses_then_imports_with_an_administrators_override(app, tmp_path):
    from app.extensions import db

    path = tmp_path / "catalog.csv"
    path.write_bytes(OVER)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["catalog", "import", str(path)])
    assert refused.exit_code == 1
    assert "第 4 行，字段 baseline_materials：只减不增" in refused.output
    assert "第 7 行，字段 promised_limit：只减不增" in refused.output
    db.session.rollback()
    assert items_named("GZ-MORE-001") == []
    not_admin = runner.invoke(args=["catalog", "import", str(path), "--override-reason", "经研究同意",
                                    "--by", "window-360730"])
    assert not_admin.exit_code != 0 and "市级管理员" in not_admin.output
    done = runner.invoke(args=["catalog", "import", str(path), "--override-reason", "经局务会研究同意", "--by", "admin"])
    assert done.exit_code == 0, done.output
    assert '"overrides": 2' in done.output
    db.session.rollback()
    assert [(o[0], o[1], o[5]) for o in _overrides()] == [("GZ-MORE-001", "materials", "admin"),
                                                           ("GZ-LONG-001", "days", "admin")]


def test_the_overrides_page_names_each_item_beside_its_code(client):  # noqa: F811
    log_in(client, "admin")
    r = _upload(client, OVER, override="y", override_reason="经局务会研究同意")
    assert r.status_code == 200
    page = client.get("/admin/catalog/overrides").get_data(as_text=True)
    row = re.search(r'<tr data-testid="override-GZ-MORE-001-materials">(.*?)</tr>', page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert ["只减不增测试事项", "GZ-MORE-001"] in cells
