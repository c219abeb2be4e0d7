"""材料邮寄 (issue 19): the window mails the paper originals the catalogue marks, the city signs for them, the county
sees what arrived, missing or damaged; an item that waits for them is not decided before; late mail warns both.

Over two nodes (county 360730 and city 360700 on a real SFTP server; county→city XML, city→county JSON), and on
the embedded node for the rules and the pages."""
from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db, utcnow
from tests.integration.support import COUNTY, Api, Node
from tests.integration.test_two_nodes import CITY, nodes, pump, sftp  # noqa: F401  (fixtures)

ITEM = "GZ-TZSB-003"  # the demo item whose M01 and M03 originals go to the city before it decides
WINDOW, REVIEWER, APPROVER = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"


def _forwarded_case(api: Api) -> str:
    item = next(i for i in api.get("/api/v1/items?mode=delegated_review", user=WINDOW).get_json()
                if i["code"] == ITEM)
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, REVIEWER, "review", opinion="符合条件", recommendation="approve")
    return case_no


def _mail(api: Api, case_no, expect=201, **body):
    body = {"courier": "中国邮政EMS", "tracking_no": "1178236549012", "materials": ["M01", "M03"], **body}
    r = api.post(f"/api/v1/cases/{case_no}/originals", user=WINDOW, json=body)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def _counts() -> tuple[int, int, int]:
    from delegation.models import CaseEvent, OriginalsMailing
    from exchange.models import OutboxMessage

    return tuple(db.session.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                 for t in (OriginalsMailing, OutboxMessage, CaseEvent))


# -- over two nodes ----------------------------------------------------------------------------------------------

def test_mailing_round_trip_over_two_nodes(nodes, sftp, tmp_path):  # noqa: F811
    county, city = Node(nodes[0]), Node(nodes[1])
    with county.ctx():
        case_no = _forwarded_case(county.api)
    pump(county, city)
    assert city.case(case_no, APPROVER)["state"] == "city_review"

    with county.ctx():
        mailing_id = _mail(county.api, case_no)["mailings"][0]["mailing_id"]
    pump(county, city)
    at_city = city.get(f"/api/v1/cases/{case_no}/originals", APPROVER)
    assert [(m["mailing_id"], m["tracking_no"], m["materials"], m["receipt"]) for m in at_city["mailings"]] == [
        (mailing_id, "1178236549012", ["M01", "M03"], None)]
    assert at_city["lacking"] == ["M01", "M03"]

    # the city may not decide before the originals arrived: the refusal names the field, the case stays
    refused = city.post(f"/api/v1/cases/{case_no}/actions", APPROVER, expect=409, action="approve")
    assert refused["field"] == "originals" and "原件" in refused["detail"]
    assert city.case(case_no, APPROVER)["state"] == "city_review"

    # one original came damaged: the county sees which
    city.post(f"/api/v1/cases/{case_no}/originals/{mailing_id}/receipt", APPROVER, expect=201,
              damaged=["M03"], comment="检验证书水渍破损")
    pump(county, city)
    seen = county.get(f"/api/v1/cases/{case_no}/originals", WINDOW)
    receipt = seen["mailings"][0]["receipt"]
    assert (receipt["complete"], receipt["missing"], receipt["damaged"]) == (False, [], ["M03"])
    assert seen["lacking"] == ["M03"]
    city.post(f"/api/v1/cases/{case_no}/actions", APPROVER, expect=409, action="approve")

    # the window sends it again; signed for complete, the city decides
    with county.ctx():
        again = _mail(county.api, case_no, tracking_no="SF1234567890", materials=["M03"])["mailings"][1]["mailing_id"]
    pump(county, city)
    city.post(f"/api/v1/cases/{case_no}/originals/{again}/receipt", APPROVER, expect=201)
    pump(county, city)
    assert county.get(f"/api/v1/cases/{case_no}/originals", WINDOW)["lacking"] == []
    assert city.post(f"/api/v1/cases/{case_no}/actions", APPROVER, action="approve",
                     certificate_no="赣特登2026-0003")["state"] == "decided"
    pump(county, city)
    assert county.case(case_no, WINDOW)["state"] == "decided"

    # each applied exactly once, acknowledged, in the peer's format (county→city XML, city→county JSON)
    pump(county, city)
    for node, fmt, peer, sent in ((county, "xml", CITY, "case.originals_mailed"),
                                  (city, "json", COUNTY, "case.originals_received")):
        with node.ctx():
            from delegation.models import OriginalsMailing, OriginalsReceipt
            from exchange.models import OutboxMessage

            assert db.session.execute(sa.select(sa.func.count()).select_from(OriginalsMailing)).scalar() == 2
            assert db.session.execute(sa.select(sa.func.count()).select_from(OriginalsReceipt)).scalar() == 2
            rows = db.session.execute(sa.select(OutboxMessage).filter_by(to_node=peer, type=sent)).scalars().all()
            assert len(rows) == 2 and {(r.fmt, r.state, r.receipt_status) for r in rows} == {
                (fmt, "acknowledged", "accepted")}
            if fmt == "xml":
                _xmlsec1_verifies(bytes(rows[0].raw), nodes[0], tmp_path)


def _xmlsec1_verifies(raw: bytes, county_app, tmp_path) -> None:
    xmlsec1 = shutil.which("xmlsec1")
    assert xmlsec1, "xmlsec1 is required (apt-get install xmlsec1)"
    message = tmp_path / "originals_mailed.xml"
    message.write_bytes(raw)
    cert = tmp_path / f"instance-{COUNTY}" / "keys" / "node.crt"
    result = subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(message)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # and a changed byte fails it
    message.write_bytes(raw.replace(b"1178236549012", b"1178236549013"))
    assert subprocess.run([xmlsec1, "--verify", "--pubkey-cert-pem", str(cert), str(message)],
                          capture_output=True, timeout=60).returncode != 0
    assert b"<CaseOriginalsMailed>" in raw


# -- on one node: rules, bad input, warnings, pages --------------------------------------------------------------

@pytest.fixture
def api(client):
    return Api(client)


def test_bad_input_is_named_and_changes_nothing(app, api):
    case_no = _forwarded_case(api)
    before = _counts()
    for body, field in (({"materials": ["M02"]}, "materials"), ({"materials": ["NOPE"]}, "materials"),
                        ({"tracking_no": "快递123"}, "tracking_no"), ({"tracking_no": "AB"}, "tracking_no"),
                        ({"courier": "  "}, "courier"), ({"materials": []}, "materials")):
        problem = _mail(api, case_no, expect=422, **body)
        assert problem["field"] == field, (body, problem)
        db.session.remove()
        assert _counts() == before
    # an unknown material in the city's receipt is named too
    mailing_id = _mail(api, case_no)["mailings"][0]["mailing_id"]
    r = api.post(f"/api/v1/cases/{case_no}/originals/{mailing_id}/receipt", user=APPROVER,
                 json={"missing": ["M02"]})
    assert r.status_code == 422 and r.get_json()["field"] == "missing"
    assert api.get(f"/api/v1/cases/{case_no}/originals", user=WINDOW).get_json()["mailings"][0]["receipt"] is None


def test_an_item_without_originals_takes_no_mailing(app, api):
    item = api.item("delegated_review")
    assert item["code"] != ITEM
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    assert _mail(api, case_no, expect=409)["field"] == "materials"


def test_city_refuses_to_decide_before_the_originals_arrived(app, api):
    from delegation.models import CaseEvent

    case_no = _forwarded_case(api)
    from tests.integration.support import run_bus

    run_bus()
    assert api.case(case_no, APPROVER)["state"] == "city_review"
    lines = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)).scalar()
    r = api.post(f"/api/v1/cases/{case_no}/actions", user=APPROVER, json={"action": "deny", "reasons": ["不符合"]})
    assert r.status_code == 409 and r.get_json()["field"] == "originals"
    assert "特种设备使用登记表" in r.get_json()["detail"]
    db.session.remove()
    assert db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)).scalar() == lines
    assert api.case(case_no, APPROVER)["state"] == "city_review"


def test_mail_not_signed_for_in_time_warns_both_sides(app, api):
    """The clock is the mailing's: sent three weeks ago, five working days are long past."""
    from delegation import cases, mailing
    from delegation.models import Case, CaseEvent
    from tests.integration.factories import window

    case_no = _forwarded_case(api)
    sent = utcnow() - timedelta(days=21)
    case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
    late = mailing.record_mailing(window(), case, "顺丰速运", "SF9988776655", ["M01"], now=sent)
    db.session.commit()
    assert late.due_at < utcnow() - timedelta(days=7)
    for user in (WINDOW, APPROVER):
        assert api.get(f"/api/v1/cases/{case_no}/originals", user=user).get_json()["mailings"][0]["overdue"]

    assert cases.sweep()["originals_overdue"] == 1
    assert cases.sweep()["originals_overdue"] == 0  # warned once
    warned = db.session.execute(sa.select(CaseEvent).filter_by(action="originals_overdue")).scalars().all()
    assert len(warned) == 1 and "SF9988776655" in warned[0].comment

    # a mailing still within its days is not overdue
    fresh = mailing.record_mailing(window(), case, "顺丰速运", "SF1122334455", ["M03"])
    db.session.commit()
    assert not mailing.is_overdue(fresh, utcnow()) and cases.sweep()["originals_overdue"] == 0


# -- the pages ---------------------------------------------------------------------------------------------------

def test_window_mails_and_city_signs_on_the_case_page(database_url, tmp_path):
    from tests.integration.pages import client as _client, csrf_token, log_in  # noqa: F401
    from tests.conftest import make_app

    application = make_app(database_url, tmp_path / "instance")
    with application.app_context():
        case_no = _forwarded_case(Api(application.test_client()))
        from tests.integration.support import run_bus

        run_bus()
        db.session.remove()
    page = f"/cases/{case_no}"
    web = application.test_client()
    log_in(web, WINDOW)
    shown = web.get(page).get_data(as_text=True)
    assert 'data-testid="mail-form"' in shown and "特种设备使用登记表" in shown
    assert 'data-testid="mail-form"' in web.get(f"/window/cases/{case_no}").get_data(as_text=True)  # the desk too

    # a bad waybill number: said beside its field, input kept, nothing recorded
    token = csrf_token(web, page)
    r = web.post(f"{page}/originals", data={"csrf_token": token, "courier": "EMS", "tracking_no": "单号?",
                                           "materials": ["M01"]})
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "快递单号：" in body and 'value="EMS"' in body
    r = web.post(f"{page}/originals", data={"csrf_token": token, "courier": "EMS", "tracking_no": "EMS123456",
                                           "materials": ["M01", "M03"]})
    assert r.status_code == 303
    assert 'data-testid="mailing-EMS123456"' in web.get(page).get_data(as_text=True)

    city = application.test_client()
    log_in(city, APPROVER)
    shown = city.get(page).get_data(as_text=True)
    assert 'data-testid="receipt-form"' in shown and 'data-testid="mail-form"' not in shown
    assert 'data-testid="receipt-form"' in city.get(f"/city/cases/{case_no}").get_data(as_text=True)
    with application.app_context():
        from delegation.models import OriginalsMailing

        uid = db.session.execute(sa.select(OriginalsMailing.mailing_uid)).scalar_one()
        db.session.remove()
    r = city.post(f"{page}/originals/receipt", data={"csrf_token": csrf_token(city, page), "mailing_id": uid,
                                                     "missing": ["M03"]})
    assert r.status_code == 303
    # the window is not allowed the city's form, nor the city the window's
    assert web.post(f"{page}/originals/receipt", data={"csrf_token": token, "mailing_id": uid}).status_code == 403
    shown = web.get(page).get_data(as_text=True)
    assert 'data-testid="mailing-missing"' in shown and "安装监督检验证书" in shown
    with application.app_context():
        db.engine.dispose()


def test_mailings_and_receipts_are_insert_only(app, api):
    """The records of what was sent and what arrived are evidence: only the sweep's warning mark may change."""
    case_no = _forwarded_case(api)
    mailing_id = _mail(api, case_no)["mailings"][0]["mailing_id"]
    api.post(f"/api/v1/cases/{case_no}/originals/{mailing_id}/receipt", user=APPROVER, json={"damaged": ["M01"]})
    db.session.remove()
    statements = ("UPDATE originals_mailing SET tracking_no = 'EMS000000'",
                  "UPDATE originals_receipt SET complete = true, damaged = '[]'",
                  "DELETE FROM originals_receipt", "DELETE FROM originals_mailing")
    for statement in statements:
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    db.session.execute(sa.text("UPDATE originals_mailing SET overdue_warned_at = mailed_at"))  # allowed
    db.session.rollback()
    receipt = api.get(f"/api/v1/cases/{case_no}/originals", user=WINDOW).get_json()["mailings"][0]["receipt"]
    assert receipt["damaged"] == ["M01"] and receipt["complete"] is False


def test_audit_verify_names_a_dropped_mailing_trigger(app):
    from delegation import audit

    assert audit.missing_triggers(db.session) == []
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ALTER TABLE originals_receipt DISABLE TRIGGER originals_receipt_insert_only"))
    else:
        db.session.execute(sa.text("DROP TRIGGER originals_receipt_no_update"))
    assert [str(p) for p in audit.missing_triggers(db.session)] == [
        "table originals_receipt: its insert-only triggers are missing or disabled"]
    db.session.rollback()


def test_the_catalogue_settings_by_command(app):
    runner = app.test_cli_runner()
    item = "GZ-TZSB-001"
    r = runner.invoke(args=["originals", "set", item, "--materials", "M01,M99", "--before-decision"])
    assert r.exit_code != 0 and "materials" in r.output and "M99" in r.output
    assert '"materials": []' in runner.invoke(args=["originals", "show", item]).output  # nothing changed
    r = runner.invoke(args=["originals", "set", item, "--materials", "M01", "--days", "0"])
    assert r.exit_code != 0 and "days" in r.output
    r = runner.invoke(args=["originals", "set", item, "--materials", "M01", "--before-decision", "--days", "3"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(args=["originals", "show", item]).output.strip() == (
        '{"item": "GZ-TZSB-001", "materials": ["M01"], "before_decision": true, "days": 3}')


def test_overdue_mail_is_shown_on_both_case_pages(database_url, tmp_path):
    from delegation import mailing
    from delegation.models import Case
    from tests.conftest import make_app
    from tests.integration.factories import window
    from tests.integration.pages import log_in

    application = make_app(database_url, tmp_path / "instance")
    with application.app_context():
        case_no = _forwarded_case(Api(application.test_client()))
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        mailing.record_mailing(window(), case, "顺丰速运", "SF9988776655", ["M01"], now=utcnow() - timedelta(days=21))
        mailing.record_mailing(window(), case, "顺丰速运", "SF1122334455", ["M03"])  # still within its days
        db.session.commit()
        db.session.remove()
    for user in (WINDOW, APPROVER):
        web = application.test_client()
        log_in(web, user)
        shown = web.get(f"/cases/{case_no}").get_data(as_text=True)
        warnings = [line for line in shown.splitlines() if 'data-testid="originals-overdue"' in line]
        assert len(warnings) == 1 and "SF9988776655" in warnings[0], (user, warnings)
    with application.app_context():
        db.engine.dispose()


def test_the_archive_package_keeps_the_mailings_and_receipts(app, api):
    import json
    import zipfile
    from pathlib import Path

    from supervision.archive import ArchivePackage
    from tests.integration.support import run_bus

    case_no = _forwarded_case(api)
    run_bus()
    mailing_id = _mail(api, case_no)["mailings"][0]["mailing_id"]
    api.post(f"/api/v1/cases/{case_no}/originals/{mailing_id}/receipt", user=APPROVER, json={})
    api.act(case_no, APPROVER, "approve", certificate_no="赣特登2026-0009")
    api.act(case_no, WINDOW, "hand_out", method="pickup")
    run_bus(3)
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["archive", "build"]).exit_code == 0
    package = db.session.execute(sa.select(ArchivePackage).filter_by(case_no=case_no)).scalar_one()
    with zipfile.ZipFile(Path(app.instance_path) / "archives" / package.file_name) as zf:
        originals = json.loads(zf.read("case.json"))["originals"]
    assert [(o["mailing_uid"], o["tracking_no"], o["materials"], o["receipt"]["complete"]) for o in originals] == [
        (mailing_id, "1178236549012", ["M01", "M03"], True)]
