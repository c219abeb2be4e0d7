"""The administration pages (/admin): catalogue import and export, delegations, holidays, users, exchange."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY

ITEM_HEADER = ("item_code,item_name,mode,department_code,kind,limit_unit,promised_limit,statutory_limit,"
               "county_step_limit,city_step_limit,allows_commitment,commitment_days,baseline_materials,"
               "baseline_steps,baseline_days,fee,legal_basis,conditions,material_code,material_name,material_core,"
               "material_required")


def catalog_row(code="GZ-TEST-001", name="测试事项（页面导入）", mode="direct", material="M01", core="true",
                promised="5"):
    city_limit = "" if mode == "direct" else "2"
    return (f"{code},{name},{mode},360700-sec-market,promised,working_days,{promised},15,2,{city_limit},false,,"
            f"6,4,8,不收费,《测试法》第一条,,{material},材料{material},{core},true")


def login(client, username="admin", password="demo"):
    log_in(client, username, password)


def in_db(client, fn):
    from app.extensions import db

    with client.application.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def items_named(code):
    from app.extensions import db
    from delegation.models import Item

    return db.session.execute(sa.select(Item.code, Item.name).filter_by(code=code)).all()


@pytest.mark.parametrize("path", ["/admin", "/admin/catalog", "/admin/delegations", "/admin/holidays",
                                  "/admin/users", "/admin/exchange", "/regulator"])
def test_window_user_gets_403(client, path):
    login(client, f"window-{COUNTY}")
    r = client.get(path)
    assert r.status_code == 403 and "无权访问" in r.get_data(as_text=True)


def test_admin_pages_open(client):
    login(client)
    for path in ("/admin", "/admin/catalog", "/admin/catalog/items/GZ-TZSB-001", "/admin/delegations",
                 "/admin/holidays", "/admin/users", "/admin/exchange"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True)[:2000])
    page = client.get("/admin/catalog/items/GZ-TZSB-001").get_data(as_text=True)
    assert 'data-testid="material-M01"' in page and "核心" in page
    assert client.get("/admin/catalog/items/NOPE").status_code == 404


def test_catalog_import_reports_the_bad_line_then_imports_a_good_file(client):
    login(client)
    token = csrf_token(client, "/admin/catalog")
    bad = "\n".join([ITEM_HEADER, catalog_row(material="M01"), catalog_row(material="M02", promised="x")]) + "\n"
    r = client.post("/admin/catalog/import", data={"csrf_token": token, "file": (io.BytesIO(bad.encode()),
                                                                                   "catalog.csv", "text/csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    errors = re.findall(r'<tr data-testid="catalog-error">(.*?)</tr>', page, re.S)
    assert errors and "第 3 行" in errors[0] and "承诺时限" in errors[0] and "应为非负整数" in errors[0]
    assert "未导入任何内容" in page
    assert in_db(client, lambda: items_named("GZ-TEST-001")) == []

    # the file's contents must match its name
    r = client.post("/admin/catalog/import", data={"csrf_token": token, "file": (io.BytesIO(b"PK\x03\x04junk"),
                                                                                   "catalog.csv", "text/csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "导入文件" in r.get_data(as_text=True)
    r = client.post("/admin/catalog/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert r.status_code == 422 and "导入文件" in r.get_data(as_text=True)

    good = "\ufeff" + "\n".join([ITEM_HEADER, catalog_row(material="M01"),
                                 catalog_row(material="M02", core="false")]) + "\n"
    r = client.post("/admin/catalog/import", data={"csrf_token": token, "file": (io.BytesIO(good.encode()),
                                                                                   "good.csv", "text/csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "新增事项 1 项，更新事项 0 项" in r.get_data(as_text=True)
    assert in_db(client, lambda: items_named("GZ-TEST-001")) == [("GZ-TEST-001", "测试事项（页面导入）")]
    page = client.get("/admin/catalog/items/GZ-TEST-001").get_data(as_text=True)
    assert 'data-testid="material-M02"' in page
    tmp = client.application.instance_path + "/tmp"
    import os

    assert not os.path.isdir(tmp) or os.listdir(tmp) == []  # uploads are deleted after the import

    export = client.get("/admin/catalog/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "GZ-TEST-001" in export.get_data().decode("utf-8-sig")


def test_revoking_a_delegation_on_the_page_changes_the_grants(client):
    from delegation import grants

    login(client)
    page = client.get(f"/admin/delegations?item=GZ-TZSB-001&county={COUNTY}").get_data(as_text=True)
    assert f'data-testid="delegation-GZ-TZSB-001-{COUNTY}"' in page
    token = csrf_token(client, "/admin/delegations")
    form = {"csrf_token": token, "item_code": "GZ-TZSB-001", "county": COUNTY, "back_item": "GZ-TZSB-001"}

    r = client.post("/admin/delegations/revoke", data={**form, "reason": ""})
    assert r.status_code == 422 and "理由" in r.get_data(as_text=True)
    assert in_db(client, lambda: grants.states("GZ-TZSB-001", COUNTY))[0]["granted"] is True

    r = client.post("/admin/delegations/revoke", data={**form, "reason": "抽查发现违法审批，收回审批权限"})
    assert r.status_code == 302
    assert in_db(client, lambda: grants.states("GZ-TZSB-001", COUNTY))[0]["granted"] is False
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "抽查发现违法审批" in page and 'data-testid="delegation-history"' in page

    r = client.post("/admin/delegations/revoke", data={**form, "reason": "再次收回"})
    assert r.status_code == 409 and "已收回" in r.get_data(as_text=True)
    r = client.post("/admin/delegations/restore", data={**form, "reason": "整改到位，恢复"})
    assert r.status_code == 302
    assert in_db(client, lambda: grants.states("GZ-TZSB-001", COUNTY))[0]["granted"] is True


def test_creating_users(client):
    from app.extensions import db
    from delegation.models import User

    login(client)
    token = csrf_token(client, "/admin/users")
    base = {"csrf_token": token, "display_name": "新窗口人员", "org": f"{COUNTY}-window", "role": "window",
            "password": "secret-pass-1"}
    r = client.post("/admin/users", data={**base, "username": f"window-{COUNTY}"})
    assert r.status_code == 422
    assert re.search(r'class="err">用户名：用户名“window-360730”已被使用', r.get_data(as_text=True))  # beside the field

    r = client.post("/admin/users", data={**base, "username": "new-window", "org": "360700-bureau"})
    assert r.status_code == 422 and "角色" in r.get_data(as_text=True) and "县级角色只能设在县级机构" in r.get_data(
        as_text=True)
    assert in_db(client, lambda: db.session.execute(sa.select(User.id).filter_by(username="new-window")).first()) \
        is None

    r = client.post("/admin/users", data={**base, "username": "new-window"})
    assert r.status_code == 302
    assert "new-window" in client.get("/admin/users?q=new-window").get_data(as_text=True)
    uid = in_db(client, lambda: db.session.execute(sa.select(User.id).filter_by(username="new-window")).scalar())

    assert client.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": token}).status_code == 302
    assert in_db(client, lambda: db.session.get(User, uid).is_active) is False
    assert client.post(f"/admin/users/{uid}/reactivate", data={"csrf_token": token}).status_code == 302
    r = client.post(f"/admin/users/{uid}/password", data={"csrf_token": token, "password": "short"})
    assert r.status_code == 422 and "密码至少需要8个字符" in r.get_data(as_text=True)
    assert client.post(f"/admin/users/{uid}/password", data={"csrf_token": token,
                                                             "password": "another-pass-2"}).status_code == 302

    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin")})
    login(client, "new-window", "another-pass-2")  # the new password works


def test_a_holiday_for_2027_is_stored(client):
    from delegation.models import HolidayDay, HolidayYear

    login(client)
    page = client.get("/admin/holidays?year=2027").get_data(as_text=True)
    assert 'data-testid="holiday-form"' in page
    token = csrf_token(client, "/admin/holidays?year=2027")
    r = client.post("/admin/holidays/days", data={"csrf_token": token, "day": "2027-01-01", "kind": "holiday",
                                                  "name": ""})
    assert r.status_code == 422 and "名称" in r.get_data(as_text=True)
    r = client.post("/admin/holidays/days", data={"csrf_token": token, "day": "2026-10-01", "kind": "holiday",
                                                  "name": "国庆节"})
    assert r.status_code == 422 and "无需在节假日表中维护" in r.get_data(as_text=True)
    r = client.post("/admin/holidays/days", data={"csrf_token": token, "day": "2027-01-01", "kind": "holiday",
                                                  "name": "元旦"})
    assert r.status_code == 302
    r = client.post("/admin/holidays/days", data={"csrf_token": token, "day": "2027-02-20", "kind": "workday",
                                                  "name": "春节调休上班"})
    assert r.status_code == 302
    assert client.post("/admin/holidays/years/2027/complete", data={"csrf_token": token}).status_code == 302

    def stored():
        from app.extensions import db

        days = db.session.execute(sa.select(HolidayDay.day, HolidayDay.is_workday, HolidayDay.name)
                                  .order_by(HolidayDay.day)).all()
        return [tuple(d) for d in days], db.session.get(HolidayYear, 2027) is not None

    assert in_db(client, stored) == ([(date(2027, 1, 1), False, "元旦"), (date(2027, 2, 20), True, "春节调休上班")],
                                     True)
    page = client.get("/admin/holidays?year=2027").get_data(as_text=True)
    assert "元旦" in page and "年度完整" in page
    assert client.post("/admin/holidays/days/2027-02-20/delete", data={"csrf_token": token}).status_code == 302
    assert in_db(client, stored)[0] == [(date(2027, 1, 1), False, "元旦")]


def test_exchange_page_lists_messages_and_resends_a_dead_letter(client):
    from app.extensions import db
    from delegation import grants
    from delegation.actors import Actor
    from delegation.models import User
    from exchange.models import OutboxMessage

    def dead_letter():
        admin = db.session.execute(sa.select(User).filter_by(username="admin")).unique().scalar_one()
        grants.revoke(Actor.for_user(admin), "GZ-TZSB-001", COUNTY, "测试")  # a delegation.change message
        row = db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())).scalars().first()
        row.state, row.attempts, row.last_error = "dead", 8, "connection refused"
        db.session.commit()
        return row.message_id, row.id

    message_id, row_id = in_db(client, dead_letter)
    login(client)
    page = client.get("/admin/exchange").get_data(as_text=True)
    assert f'data-testid="message-out-{row_id}"' in page and "delegation.change" in page
    assert f'data-testid="dead-{message_id}"' in page and "connection refused" in page
    page = client.get("/admin/exchange?direction=out&state=dead&type=delegation.change").get_data(as_text=True)
    assert f'data-testid="message-out-{row_id}"' in page
    page = client.get("/admin/exchange?direction=in&type=delegation.change").get_data(as_text=True)
    assert f'data-testid="message-out-{row_id}"' not in page

    token = csrf_token(client, "/admin/exchange")
    r = client.post(f"/admin/exchange/outbox/{message_id}/resend", data={"csrf_token": token})
    assert r.status_code == 302
    state = in_db(client, lambda: db.session.get(OutboxMessage, row_id).state)
    assert state == "queued"
    r = client.post(f"/admin/exchange/outbox/{message_id}/resend", data={"csrf_token": token})
    assert r.status_code == 409 and "只有发送失败或被拒收的报文可以重发" in r.get_data(as_text=True)
    assert client.post("/admin/exchange/outbox/nope/resend", data={"csrf_token": token}).status_code == 404


def count_queries(client, path):
    from app.extensions import db

    with client.application.app_context():
        engine = db.engine
    seen = []

    def _count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", _count)
    try:
        r = client.get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", _count)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return len(seen)


def test_list_pages_run_a_constant_number_of_queries(client):
    """50 rows per page, a handful of queries: nothing is loaded row by row."""
    login(client)
    for path in ("/admin/catalog", "/admin/catalog?after=50", "/admin/users", "/admin/exchange",
                 f"/admin/delegations?item=GZ-TZSB-001", f"/admin/delegations?county={COUNTY}"):
        assert count_queries(client, path) <= 12, path
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin")})
    login(client, "reg-city")
    for tab in ("claim", "claimed", "done"):
        assert count_queries(client, f"/regulator?tab={tab}") <= 8
