"""档案管理 (issue 19): the package of a concluded case verifies offline — with the platform's CLI and with the
standalone script under the system's Python, in a clean environment without a database — and any byte changed in
any part is named; the catalogue is the administrator's, and disposal waits for the end of the retention."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from persistence import utcnow
from supervision import archive, archive_verify
from supervision.archive import ArchiveDisposal, ArchivePackage
from tests.integration.pages import csrf_token, log_in
from tests.integration.support import COUNTY, Api, run_bus

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "verify_archive.py"
WINDOW, REVIEWER = f"window-{COUNTY}", f"review-{COUNTY}"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% scanned business licence\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def concluded_over_the_bus(client) -> str:
    """A direct case with an uploaded file, approved by the county and handed out; its supervision push and the
    receipts travel as signed messages on the bus (the county's regulator on this node)."""
    api = Api(client)
    item = api.item("direct")
    case_no = api.create(item)["case_no"]
    r = api.post(f"/api/v1/cases/{case_no}/files", user=WINDOW,
                 data={"material_code": item["materials"][0]["code"],
                       "file": (io.BytesIO(PDF), "营业执照.pdf", "application/pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, REVIEWER, "review", opinion="材料真实完整，符合条件")
    api.act(case_no, REVIEWER, "approve")
    api.act(case_no, WINDOW, "hand_out", method="pickup")
    run_bus(3)
    db.session.commit()
    return case_no


def build(app, case_no: str) -> Path:
    result = app.test_cli_runner().invoke(args=["archive", "build"])
    assert result.exit_code == 0, result.output
    package = db.session.execute(sa.select(ArchivePackage).filter_by(case_no=case_no)).scalar_one()
    return Path(app.instance_path) / "archives" / package.file_name


@pytest.fixture
def package(app, client):
    case_no = concluded_over_the_bus(client)
    return case_no, build(app, case_no)


def clean_env(tmp_path) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def test_a_concluded_case_is_archived_and_verifies_offline(app, package, tmp_path):
    case_no, path = package
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "mimetype" and zf.read("mimetype") == b"application/vnd.etsi.asic-e+zip"
        index = json.loads(zf.read("messages/index.json"))
        record = json.loads(zf.read("case.json"))
    types = {(m["direction"], m["type"]) for m in index}
    assert {("out", "supervision.push"), ("in", "supervision.push"), ("out", "receipt"), ("in", "receipt")} <= types
    assert all(m["signer_certificate"] for m in index)
    assert any(n.startswith("receipts/") for n in names) and any(n.startswith("certs/") for n in names)
    assert any(n.startswith("files/") and n.endswith(".pdf") for n in names)
    assert any(n.startswith("documents/") for n in names)  # the notices the platform renders
    assert record["case_no"] == case_no and record["state"] == "concluded" and "query_code" not in record
    # the exact signed bytes
    with zipfile.ZipFile(path) as zf:
        for m in index:
            assert zf.read(m["path"]) == bytes(db.session.execute(sa.text(
                f"SELECT raw FROM {'outbox_message' if m['direction'] == 'out' else 'inbound_message'} "
                "WHERE message_id = :id"), {"id": m["message_id"]}).scalar_one())

    # copied to a machine without the platform: the script alone, the system's Python, no database, no env
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(SCRIPT, elsewhere / "verify_archive.py")  # follows the link: one self-contained file
    shutil.copy(path, elsewhere / "package.zip")
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    result = subprocess.run([python, "verify_archive.py", "package.zip"], cwd=elsewhere, env=clean_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED" in result.stdout and "FAIL" not in result.stdout
    assert f"{len(index)} message signature(s) verify" in result.stdout

    # the platform's command, in a clean environment with no database behind it
    env = {**clean_env(tmp_path), "INSTANCE_PATH": str(tmp_path / "empty-instance"), "TONGQUAN_ENV": "testing",
           "SECRET_KEY": "x" * 32, "DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'none.db'}"}
    flask = [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "archive", "verify"]
    result = subprocess.run([*flask, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED" in result.stdout
    assert not (tmp_path / "absent").exists()


def _flipped(path: Path, part: str, target: Path) -> Path:
    """A copy of the package with one byte of `part` changed (the container itself rewritten consistently)."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == part:
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
            dst.writestr(info, data, compress_type=info.compress_type)
    return target


def test_any_changed_byte_of_any_part_is_named(package, tmp_path):
    _, path = package
    with zipfile.ZipFile(path) as zf:
        parts = zf.namelist()
    for part in parts:
        report = archive_verify.verify(str(_flipped(path, part, tmp_path / "copy.zip")), out=io.StringIO())
        assert part in report.failed_parts, (part, report.failures)
    # a byte changed in the ZIP itself, inside a stored part's data: the damaged part is named too
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("META-INF/signature.p7s")
    offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 10
    raw[offset] ^= 0x01
    (tmp_path / "damaged.zip").write_bytes(bytes(raw))
    report = archive_verify.verify(str(tmp_path / "damaged.zip"), out=io.StringIO())
    assert "META-INF/signature.p7s" in report.failed_parts


def test_xmlsec1_verifies_the_messages_inside(package, tmp_path):
    _, path = package
    with zipfile.ZipFile(path) as zf:
        index = json.loads(zf.read("messages/index.json"))
        zf.extractall(tmp_path / "x")
    checked = 0
    for m in index:
        if m["format"] != "xml":
            continue
        result = subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(tmp_path / "x" / m["signer_certificate"]),
                                 str(tmp_path / "x" / m["path"])], capture_output=True, text=True)
        assert result.returncode == 0 and "OK" in result.stdout + result.stderr, (m["path"], result.stderr)
        checked += 1
    assert checked >= 4


def test_json_messages_verify_with_openssl(database_url, tmp_path):
    from tests.conftest import make_app

    json_app = make_app(database_url, tmp_path / "instance", EXCHANGE_FORMAT="json")
    with json_app.app_context():
        case_no = concluded_over_the_bus(json_app.test_client())
        path = build(json_app, case_no)
        with zipfile.ZipFile(path) as zf:
            index = json.loads(zf.read("messages/index.json"))
        assert {m["format"] for m in index} == {"json"}
        report = archive_verify.verify(str(path), out=io.StringIO())
        assert not report.failures, report.failures
        assert f"{len(index)} message signature(s) verify with their signers' certificates (xmlsec1, openssl)" \
            in report.passed
        # openssl refuses a JWS whose payload changed by one character
        with zipfile.ZipFile(path) as zf:
            entry = next(m for m in index if m["type"] == "supervision.push")
            jws, cert = zf.read(entry["path"]), zf.read(entry["signer_certificate"])
        (tmp_path / "signer.pem").write_bytes(cert)
        good, _ = archive_verify._verify_jws(jws, str(tmp_path / "signer.pem"), str(tmp_path))
        assert good
        parsed = json.loads(jws)
        payload = parsed["payload"]
        parsed["payload"] = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
        bad, said = archive_verify._verify_jws(json.dumps(parsed).encode(), str(tmp_path / "signer.pem"),
                                               str(tmp_path))
        assert not bad and "Verification failure" in said, said
        db.session.remove()
        db.engine.dispose()


def test_a_pinned_certificate_that_differs_is_named(package, tmp_path):
    from exchange.keys import cert_pem, generate_node_key

    _, path = package
    other = tmp_path / "other.pem"
    other.write_bytes(cert_pem(generate_node_key("360700")[1]))
    report = archive_verify.verify(str(path), other.read_bytes(), out=io.StringIO())
    assert any("is not the certificate you gave" in why for _, why in report.failures)


# -- catalogue and disposal ------------------------------------------------------------------------------------

def test_disposal_waits_for_the_retention_and_is_recorded(app, package):
    case_no, path = package
    entry = db.session.execute(sa.select(ArchivePackage).filter_by(case_no=case_no)).scalar_one()
    assert entry.retention_years == 30 and entry.retain_until.year == entry.concluded_at.year + 30
    with pytest.raises(archive.Conflict) as refused:
        archive.dispose(entry.id, "admin", "到期销毁", True)
    assert refused.value.field == "retain_until" and "保管期限" in refused.value.zh
    db.session.rollback()
    assert path.exists() and db.session.execute(sa.select(ArchiveDisposal)).first() is None

    later = utcnow() + timedelta(days=366 * 31)
    with pytest.raises(archive.Invalid) as unconfirmed:
        archive.dispose(entry.id, "admin", "到期销毁", False, now=later)
    assert unconfirmed.value.field == "confirm"
    db.session.rollback()
    record = archive.dispose(entry.id, "admin", "保管期满，经鉴定无保存价值", True, now=later)
    db.session.commit()
    archive.remove_disposed(entry.id, Path(app.instance_path) / "archives")
    assert not path.exists()
    assert (record.case_no, record.package_sha256, record.disposed_by) == (case_no, entry.sha256, "admin")
    with pytest.raises(sa.exc.DatabaseError):  # the record of the disposal is insert-only too
        db.session.execute(sa.text("DELETE FROM archive_disposal"))
        db.session.flush()
    db.session.rollback()


def test_the_catalogue_page_is_the_administrators(app, database_url, tmp_path, package):
    from tests.conftest import make_app

    case_no, _ = package
    entry = db.session.execute(sa.select(ArchivePackage).filter_by(case_no=case_no)).scalar_one()
    pages = make_app(database_url, tmp_path / "instance")  # an app of its own: no context held across requests
    window = pages.test_client()
    log_in(window, WINDOW)
    assert window.get("/admin/archives").status_code == 403
    assert window.get(f"/admin/archives/{entry.id}/package").status_code == 403
    client = pages.test_client()
    log_in(client, "admin")
    page = client.get(f"/admin/archives?case_no={case_no}")
    assert page.status_code == 200 and case_no in page.get_data(as_text=True)
    assert case_no not in client.get("/admin/archives?year=1999").get_data(as_text=True)
    bad = client.get("/admin/archives?year=abc")
    assert bad.status_code == 422 and "year" in bad.get_data(as_text=True)
    download = client.get(f"/admin/archives/{entry.id}/package")
    assert download.status_code == 200 and download.data[:2] == b"PK"
    form = client.get(f"/admin/archives/{entry.id}/dispose")
    assert form.status_code == 200 and "不可恢复" in form.get_data(as_text=True)
    token = csrf_token(client, f"/admin/archives/{entry.id}/dispose")
    refused = client.post(f"/admin/archives/{entry.id}/dispose",
                          data={"csrf_token": token, "reason": "到期", "confirm": "y"})
    assert refused.status_code == 409 and "保管期限" in refused.get_data(as_text=True)
    assert db.session.execute(sa.select(ArchiveDisposal)).first() is None
    db.session.remove()
    with pages.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_worker_archives_concluded_cases_and_seals_once_a_day(app, client):
    from app.worker import worker_cmd
    from delegation.audit import AuditSeal

    case_no = concluded_over_the_bus(client)
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(worker_cmd, ["--once", "--job", "archives", "--job", "audit-seal"])
        assert result.exit_code == 0, result.output
    assert db.session.execute(sa.select(ArchivePackage.case_no)).scalars().all() == [case_no]
    assert len(db.session.execute(sa.select(AuditSeal)).scalars().all()) == 1  # the second run: sealed today
