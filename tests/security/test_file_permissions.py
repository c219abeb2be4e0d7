"""Finding 12 of issue 12: applicants' documents on disk — uploaded materials, attachments received or waiting in a
mailbox, quarantined messages — are the platform's alone: files 0600 in folders 0700, whatever the umask of the
process (022, the usual one, left them world-readable)."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import uuid
from pathlib import Path

import pytest

from tests.integration.support import COUNTY, Api, run_bus
from tests.integration.test_sftp_transport import make_transport, sftp_server  # noqa: F401  (fixtures)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def api(client):
    return Api(client)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(folder: Path) -> dict[str, int]:
    """Every file and folder below `folder`, with its mode (oct), the folder itself as '.'."""
    found = {".": oct(mode(folder))}
    for path in sorted(folder.rglob("*")):
        found[str(path.relative_to(folder))] = oct(mode(path))
    return found


def private(found: dict[str, int], root: Path) -> bool:
    return all(m == (oct(0o700) if (root / name).is_dir() else oct(0o600)) for name, m in found.items())


def test_an_uploaded_material_is_stored_0600_in_folders_0700(umask_022, app, api):
    item = api.item("direct")
    case_no = api.create(item)["case_no"]
    r = api.client.post(f"/api/v1/cases/{case_no}/files", headers=api._headers(f"window-{COUNTY}", "zh-CN"),
                        data={"material_code": item["materials"][0]["code"],
                              "file": (io.BytesIO(PDF), "营业执照.pdf", "application/pdf")},
                        content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    sha = r.get_json()["sha256"]
    root = app.config["TONGQUAN"].upload_dir
    stored = root / sha[:2] / sha
    assert stored.read_bytes() == PDF
    assert (oct(mode(stored)), oct(mode(stored.parent)), oct(mode(root))) == (oct(0o600), oct(0o700), oct(0o700))


def test_a_message_waiting_in_a_local_mailbox_is_private(umask_022, app):
    from exchange.bus import get_bus

    bus = get_bus()
    message_id = str(uuid.uuid4())
    bus.transport.publish("360731", message_id, "xml", b"<envelope/>", [(hashlib.sha256(PDF).hexdigest(), PDF)])
    inbox = app.config["TONGQUAN"].exchange_root / "360731" / "inbox"
    found = modes_under(inbox)
    assert f"{message_id}.xml" in found and private(found, inbox), found


def test_a_quarantined_message_and_its_attachments_are_private(umask_022, app):
    # what a peer (or an intruder) left in this node's inbox, written with the usual umask: 0644 in 0755
    inbox = app.config["TONGQUAN"].exchange_root / app.config["TONGQUAN"].node_id / "inbox"
    files = inbox / "forged.files"
    files.mkdir(parents=True)
    (files / hashlib.sha256(PDF).hexdigest()).write_bytes(PDF)
    (inbox / "forged.xml").write_bytes(b"<not-an-envelope/>")
    run_bus()
    quarantine = inbox.parent / "quarantine"
    found = modes_under(quarantine)
    assert "forged.xml" in found and "forged.xml.reason.txt" in found and "forged.files" in found, found
    assert private(found, quarantine), found


def test_a_message_quarantined_from_the_sftp_host_is_private(umask_022, sftp_server, make_transport, tmp_path):
    transport = make_transport(sftp_server)
    transport.publish(COUNTY, "m-bad", "xml", b"<Envelope>bad</Envelope>", [(hashlib.sha256(PDF).hexdigest(), PDF)])
    transport.quarantine(COUNTY, "m-bad.xml", "bad_signature: does not verify")
    quarantine = tmp_path / "local" / COUNTY / "quarantine"  # downloaded to this node's disk
    found = modes_under(quarantine)
    assert "m-bad.xml" in found and "m-bad.files" in found and "m-bad.xml.reason.txt" in found, found
    assert private(found, quarantine), found
