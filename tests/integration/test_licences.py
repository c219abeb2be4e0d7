"""Electronic licences (issue 16): what an approval yields — a number in the issuing authority's series, validity
dates, a PDF signed with the authority's key (PAdES, checked by pyHanko and by poppler's pdfsig) with a seal and a
QR code leading to the public /verify page, which says valid, expired or revoked."""
from __future__ import annotations

import re
import subprocess
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db, utcnow
from delegation import licences
from delegation.actors import Actor
from delegation.licence_models import Licence
from delegation.models import Case, User
from delegation.workflow import Mode, State
from tests.integration.factories import make_case
from tests.integration.pages import client, log_in  # noqa: F401  (the browser-like client)
from tests.integration.support import COUNTY, ENTERPRISE, OTHER_COUNTY

BUREAU = f"{COUNTY}-bureau"


def _actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def _decided(app, mode=Mode.DIRECT, now=None, validity_months=None) -> tuple[str, str]:
    """A case approved through the engine; (case number, licence number)."""
    with app.app_context():
        if validity_months is not None:
            from tests.integration.factories import item_of

            item_of(mode).validity_months = validity_months
        case = make_case(State.DECIDED, mode, now=now)
        db.session.commit()
        numbers = case.case_no, case.certificate_no
        db.session.remove()
    return numbers


def _app(client):  # noqa: F811
    return client.application


def _licence_pdf(client, case_no) -> bytes:  # noqa: F811
    log_in(client, f"window-{COUNTY}")
    r = client.get(f"/cases/{case_no}/licence.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf", r.status
    return r.data


def _pdftotext(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def _nss_trusting(ca_pem: bytes, tmp_path) -> str:
    """An NSS database (poppler's certificate store) that trusts the node's licence CA, as a reader would set up."""
    folder = tmp_path / "nss"
    folder.mkdir()
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", "tongquan-licence-ca", "-t", "CT,C,C",
                    "-i", str(tmp_path / "ca.pem")], check=True)
    return f"sql:{folder}"


def _pdfsig(pdf: bytes, tmp_path, name: str, nss: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", "-nssdir", nss, str(path)], capture_output=True, text=True).stdout


def _pyhanko_status(pdf: bytes, ca_pem: bytes):
    from io import BytesIO

    from asn1crypto import pem, x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = asn1_x509.Certificate.load(pem.unarmor(ca_pem)[2])
    reader = PdfFileReader(BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))


def _one_byte_changed(pdf: bytes) -> bytes:
    """The signed licence with one byte of its page content stream changed (same length, same offsets)."""
    start = pdf.index(b"stream\n", pdf.index(b"/Length")) + len(b"stream\n") + 20
    return pdf[:start] + bytes([pdf[start] ^ 0x01]) + pdf[start + 1:]


# -- the signed PDF ---------------------------------------------------------------------------------------------

def test_the_signed_licence_verifies_and_one_changed_byte_breaks_it(client, tmp_path):  # noqa: F811
    case_no, licence_no = _decided(_app(client))
    pdf = _licence_pdf(client, case_no)
    ca_pem = client.get("/verify/ca.pem").data
    assert ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")

    status = _pyhanko_status(pdf, ca_pem)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    signer = status.signing_cert.subject.native
    assert signer["organizational_unit_name"] == BUREAU and "宁都县" in signer["common_name"]
    assert status.signing_cert.issuer.native["common_name"].startswith("同权电子证照签发CA")
    nss = _nss_trusting(ca_pem, tmp_path)
    out = _pdfsig(pdf, tmp_path, "good.pdf", nss)
    assert "Signature is Valid." in out and "ETSI.CAdES.detached" in out, out
    assert "Certificate is Trusted." in out and "Total document signed" in out, out

    bad = _one_byte_changed(pdf)
    assert not _pyhanko_status(bad, ca_pem).bottom_line
    assert not _pyhanko_status(bad, ca_pem).intact
    out = _pdfsig(bad, tmp_path, "bad.pdf", nss)
    assert "Signature is Valid." not in out and ("Digest Mismatch" in out or "Signature is Invalid" in out), out


def test_the_licence_prints_in_chinese_with_the_ui_in_english(client, tmp_path):  # noqa: F811
    case_no, licence_no = _decided(_app(client))
    client.get("/lang/en?next=/login")
    pdf = _licence_pdf(client, case_no)
    text = _pdftotext(pdf, tmp_path)
    with _app(client).app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        item_name, valid_from, valid_until = case.item.name, case.valid_from, case.valid_until
    flat = re.sub(r"\s+", "", text)
    assert licence_no == f"{COUNTY}XK{valid_from.year}000001"  # no organisation code in a number people read
    for expected in ("行政许可证", "证照编号", licence_no, "持证主体", ENTERPRISE["name"], "许可事项", item_name,
                     "有效期限", licences.zh_date(valid_from), licences.zh_date(valid_until), "发证机关",
                     "宁都县行政审批局", "扫码核验"):
        assert expected in flat, (expected, text)
    assert "Licence" not in text and "Holder" not in text
    # five years from the day of the approval, the day before the anniversary
    assert valid_until == licences.add_months(valid_from, 60) - timedelta(days=1)
    assert ENTERPRISE["phone"] not in flat


# -- the public check -------------------------------------------------------------------------------------------

def test_verify_page_for_a_valid_an_expired_and_a_revoked_licence(client):  # noqa: F811
    app = _app(client)
    _, valid_no = _decided(app)
    _, old_no = _decided(app, now=utcnow() - timedelta(days=120), validity_months=3)
    _, revoked_no = _decided(app, validity_months=60)

    r = client.get(f"/verify/{valid_no}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-status="valid"' in page and "有效" in page
    assert ENTERPRISE["name"] in page and "宁都县行政审批局" in page and ENTERPRISE["id_code"] not in page
    assert ENTERPRISE["phone"] not in page

    r = client.get(f"/verify/{old_no}")
    assert r.status_code == 200 and 'data-status="expired"' in r.get_data(as_text=True)
    assert "已过期" in r.get_data(as_text=True)

    with app.app_context():
        admin = _actor("admin")
        with pytest.raises(Exception) as refused:
            licences.revoke(_actor(f"review-{COUNTY}"), revoked_no, "违法审批")
        assert refused.value.code == "role_forbidden"
        with pytest.raises(Exception) as refused:
            licences.revoke(admin, revoked_no, "  ")
        assert refused.value.field == "reason"
        db.session.rollback()
        licences.revoke(admin, revoked_no, "抽查发现违法审批")
        db.session.commit()
        revoked_on = licences.zh_date(licences.today_local())
    r = client.get(f"/verify/{revoked_no}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-status="revoked"' in page and "已撤销" in page and revoked_on in page
    assert "抽查发现违法审批" not in page  # the reason may name people: not on the public page

    r = client.get("/verify/NO-SUCH-LICENCE")
    assert r.status_code == 404 and "NO-SUCH-LICENCE" in r.get_data(as_text=True)


def test_a_person_holding_a_licence_is_shown_by_family_name_only(client):  # noqa: F811
    app = _app(client)
    with app.app_context():
        from delegation import cases, engine
        from delegation.workflow import Action
        from tests.integration.factories import item_of, reviewer, window
        from tests.integration.support import PERSON

        item = item_of(Mode.DIRECT)
        case = cases.create_case(window(), item.code, dict(PERSON),
                                 [{"code": m.code, "present": True} for m in item.materials])
        engine.apply(case, window(), Action.ACCEPT, {})
        engine.apply(case, reviewer(), Action.REVIEW, {"opinion": "符合条件"})
        engine.apply(case, reviewer(), Action.APPROVE, {})
        db.session.commit()
        number = case.certificate_no
    page = client.get(f"/verify/{number}").get_data(as_text=True)
    assert "张*" in page and "张三" not in page and PERSON["id_code"] not in page


def test_the_applicant_downloads_the_licence_from_the_lookup(client):  # noqa: F811
    from tests.integration.pages import csrf_token

    case_no, licence_no = _decided(_app(client))
    with _app(client).app_context():
        code = db.session.execute(sa.select(Case.query_code).filter_by(case_no=case_no)).scalar_one()
    token = csrf_token(client, "/lookup")
    page = client.post("/lookup", data={"case_no": case_no, "query_code": code, "csrf_token": token})
    assert f"/lookup/{case_no}/licence" in page.get_data(as_text=True)
    r = client.post(f"/lookup/{case_no}/licence", data={"query_code": code, "csrf_token": token})
    assert r.status_code == 200 and r.data.startswith(b"%PDF") and b"/ByteRange" in r.data
    wrong = "000000" if code != "000000" else "111111"
    r = client.post(f"/lookup/{case_no}/licence", data={"query_code": wrong, "csrf_token": token})
    assert r.status_code == 404


def test_another_countys_window_cannot_download_the_licence(client):  # noqa: F811
    case_no, _ = _decided(_app(client))
    log_in(client, f"window-{OTHER_COUNTY}")
    assert client.get(f"/cases/{case_no}/licence.pdf").status_code == 404


# -- numbers ----------------------------------------------------------------------------------------------------

def test_a_typed_number_is_kept_and_a_taken_one_is_refused_on_its_field(client):  # noqa: F811
    from tests.integration.support import Api

    app = _app(client)
    with app.app_context():
        first = make_case(State.COUNTY_REVIEW, Mode.DIRECT)
        second = make_case(State.COUNTY_REVIEW, Mode.DIRECT)
        db.session.commit()
        numbers = first.case_no, second.case_no
        api = Api(app.test_client())
        for no in numbers:
            api.act(no, f"review-{COUNTY}", "review", opinion="符合条件")
        assert api.act(numbers[0], f"review-{COUNTY}", "approve",
                       certificate_no="赣宁许2026-0001")["decision"]["certificate_no"] == "赣宁许2026-0001"
        r = api.post(f"/api/v1/cases/{numbers[1]}/actions", user=f"review-{COUNTY}",
                     json={"action": "approve", "certificate_no": "赣宁许2026-0001"})
        assert r.status_code == 409 and r.get_json()["field"] == "certificate_no"
        # a typed number in the series' own form would collide with a number the series gives later
        r = api.post(f"/api/v1/cases/{numbers[1]}/actions", user=f"review-{COUNTY}",
                     json={"action": "approve", "certificate_no": f"{COUNTY}XK2026000009"})
        assert r.status_code == 422 and r.get_json()["field"] == "certificate_no"
        assert api.case(numbers[1], f"review-{COUNTY}")["state"] == "county_review"


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # real parallel writers: a server database
def test_concurrent_approvals_take_consecutive_numbers_without_duplicates(database_url, tmp_path):
    from tests.conftest import make_app
    from tests.integration.support import Api

    app = make_app(database_url, tmp_path / "instance")
    n = 12
    with app.app_context():
        case_nos = []
        for _ in range(n):
            case_nos.append(make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no)
        db.session.commit()
        api = Api(app.test_client())
        for no in case_nos:
            api.act(no, f"review-{COUNTY}", "review", opinion="符合条件")
        token = api.token(f"review-{COUNTY}")
        db.session.remove()
    start, answers = threading.Barrier(n), []

    def approve(case_no):
        browser = app.test_client()
        start.wait()
        r = browser.post(f"/api/v1/cases/{case_no}/actions", json={"action": "approve"},
                         headers={"Authorization": f"Bearer {token}"})
        answers.append((r.status_code, r.get_json()["decision"]["certificate_no"] if r.status_code == 200 else r))

    threads = [threading.Thread(target=approve, args=(no,)) for no in case_nos]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in answers] == [200] * n, answers
    year = licences.today_local().year
    assert sorted(no for _, no in answers) == [f"{COUNTY}XK{year}{i:06d}" for i in range(1, n + 1)]
    with app.app_context():
        rows = db.session.execute(sa.select(Licence.licence_no, Licence.case_no)).all()
        assert sorted(r.case_no for r in rows) == sorted(case_nos)
        db.session.remove()
        db.engine.dispose()


def test_validity_months_count_to_the_day_before_the_anniversary():
    from types import SimpleNamespace

    assert licences.validity(SimpleNamespace(validity_months=12), date(2024, 2, 29)) == date(2025, 2, 27)
    assert licences.validity(SimpleNamespace(validity_months=60), date(2026, 12, 3)) == date(2031, 12, 2)
    assert licences.validity(SimpleNamespace(validity_months=1), date(2026, 1, 31)) == date(2026, 2, 27)
    assert licences.validity(SimpleNamespace(validity_months=0), date(2026, 12, 3)) is None


def test_a_spot_check_finding_of_an_illegal_approval_revokes_the_licence(client):  # noqa: F811
    from delegation.errors import Conflict
    from supervision import spotchecks
    from supervision.licence_revocation import revoke_for_finding

    app = _app(client)
    numbers = dict(_decided(app) for _ in range(2))
    with app.app_context():
        admin = _actor("admin")
        check = spotchecks.create(admin, rate=1, seed="licence-revocation",
                                  inspector_usernames=[f"reg-{COUNTY}", f"reg-{OTHER_COUNTY}", "reg-city"])
        illegal, fine = check.entries[0], check.entries[1]
        spotchecks.record_finding(admin, check.id, illegal.id, "illegal_approval", "不符合许可条件仍予批准")
        spotchecks.record_finding(admin, check.id, fine.id, "compliant", None)
        with pytest.raises(Conflict) as refused:
            revoke_for_finding(admin, check.id, fine.id)
        assert refused.value.field == "finding"
        licence = revoke_for_finding(admin, check.id, illegal.id)
        db.session.commit()
        assert licence.finding_ref == f"spot-check-entry:{illegal.id}" and "不符合许可条件" in licence.revoked_reason
        revoked_no, kept_no = numbers[illegal.case_no], numbers[fine.case_no]
    assert 'data-status="revoked"' in client.get(f"/verify/{revoked_no}").get_data(as_text=True)
    assert 'data-status="valid"' in client.get(f"/verify/{kept_no}").get_data(as_text=True)


def test_the_case_page_links_the_licence_once_approved(client):  # noqa: F811
    case_no, licence_no = _decided(_app(client))
    log_in(client, f"window-{COUNTY}")
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert f"/cases/{case_no}/licence.pdf" in page and licence_no in page
    assert 'data-testid="licence-validity"' in page


def test_the_city_administrator_revokes_through_the_api(client):  # noqa: F811
    from tests.integration.support import Api

    app = _app(client)
    _, number = _decided(app)
    with app.app_context():
        api = Api(app.test_client())
        path = f"/api/v1/licences/{number}"
        assert api.get(path, user=f"review-{COUNTY}").status_code == 403
        assert api.post(f"{path}/revoke", user=f"review-{COUNTY}", json={"reason": "x"}).status_code == 403
        r = api.post(f"{path}/revoke", user="admin", json={"reason": ""})
        assert r.status_code == 422 and "reason" in str(r.get_json())
        assert api.get(path, user="admin").get_json()["status"] == "valid"
        r = api.post(f"{path}/revoke", user="admin", json={"reason": "申请材料虚假，依法撤销"})
        assert r.status_code == 200 and r.get_json()["status"] == "revoked" and r.get_json()["revoked_at"]
        again = api.post(f"{path}/revoke", user="admin", json={"reason": "再次撤销"})
        assert again.status_code == 409 and again.get_json()["code"] == "licence_already_revoked"
        assert api.post("/api/v1/licences/NO-SUCH/revoke", user="admin", json={"reason": "x"}).status_code == 404
        db.session.remove()
    assert 'data-status="revoked"' in client.get(f"/verify/{number}").get_data(as_text=True)


def test_guessing_licence_numbers_is_limited_per_address(client):  # noqa: F811
    answers = [client.get(f"/verify/GUESS-{n:04d}").status_code for n in range(21)]
    assert answers == [404] * 20 + [429]
    r = client.get("/verify/GUESS-9999")
    assert r.status_code == 429 and r.headers["Retry-After"] and "操作过于频繁" in r.get_data(as_text=True)


def test_a_licence_is_drawn_outside_a_request_as_well(client, tmp_path):
    """A job or the command line that approves (no request, no session) draws the same Chinese licence."""
    from app.web.licence_pdf import licence_pdf

    case_no, licence_no = _decided(_app(client))
    with _app(client).app_context():
        licence = db.session.execute(sa.select(Licence).filter_by(licence_no=licence_no)).scalar_one()
        text = _pdftotext(licence_pdf(licence), tmp_path)
    assert licence_no in text and "持证主体" in text and case_no


def test_the_administrator_sets_an_items_licence_template_and_the_next_licence_prints_it(client, tmp_path):
    """`flask licences template`: the title, the printed rows and the validity of the next approval's licence; a
    bad value is named and changes nothing."""
    from tests.integration.factories import item_of

    app = _app(client)
    with app.app_context():
        code = item_of(Mode.DIRECT).code
        db.session.remove()
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["licences", "template", code, "--fields", "holder_id,colour"])
    assert refused.exit_code != 0 and "fields" in refused.output and "colour" in refused.output
    refused = runner.invoke(args=["licences", "template", code, "--validity-months", "-1"])
    assert refused.exit_code != 0 and "validity_months" in refused.output
    shown = runner.invoke(args=["licences", "show", code])
    assert '"validity_months": 60' in shown.output and "行政许可证" in shown.output  # unchanged by the refusals
    done = runner.invoke(args=["licences", "template", code, "--title", "特种设备使用登记证", "--fields",
                               "holder_id,legal_basis", "--validity-months", "24"])
    assert done.exit_code == 0, done.output
    case_no, licence_no = _decided(app)
    with app.app_context():
        licence = db.session.execute(sa.select(Licence).filter_by(licence_no=licence_no)).scalar_one()
        assert licence.valid_until == licences.add_months(licence.valid_from, 24) - timedelta(days=1)
        db.session.remove()
    text = _pdftotext(_licence_pdf(client, case_no), tmp_path)
    assert "特种设备使用登记证" in text and ENTERPRISE["id_code"] in text
