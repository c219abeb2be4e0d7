"""Issue 21: the exchange under random kills leaves nothing behind on the store or the disk, and a test outage is
a real one."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import paramiko
import pytest

from exchange.sftp import SftpTransport
from exchange.transport import TransportError
from tests.sftpserver import SftpServer

NODE = "360730"


def store_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def own_server(tmp_path):
    server = SftpServer(tmp_path).start()
    yield server
    server.stop()


def sftp_transport(server: SftpServer, tmp_path: Path, **kw) -> SftpTransport:
    return SftpTransport(**server.connect_kwargs(), local_quarantine_root=tmp_path / "q", timeout=2.0, **kw)


def test_an_outage_of_the_test_server_admits_no_session_while_it_lasts(own_server, tmp_path):
    """Busy clients that reconnect in a loop (as a worker whose store went away does) get nothing onto the store
    from the moment stop() returns until the server starts again."""
    stop = threading.Event()
    published = [0] * 4
    failed = [0] * 4

    def busy(k: int) -> None:
        t = sftp_transport(own_server, tmp_path)
        i = 0
        while not stop.is_set():
            i += 1
            try:
                t.publish(NODE, f"c{k}-m{i}", "xml", b"<Envelope/>", [])
                published[k] += 1
            except TransportError:
                failed[k] += 1
        t.close_all()

    threads = [threading.Thread(target=busy, args=(k,)) for k in range(len(published))]
    for th in threads:
        th.start()
    try:
        deadline = time.monotonic() + 10
        while min(published) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert min(published) >= 5  # every client is busy on the store
        own_server.stop()
        during = store_files(own_server.root)
        failed_at_stop = sum(failed)
        time.sleep(2)
        assert store_files(own_server.root) == during  # nothing reached the store during the outage
        assert sum(failed) > failed_at_stop  # the clients kept trying, and were refused
        own_server.start()
        before = sum(published)
        deadline = time.monotonic() + 10
        while sum(published) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(published) > before  # and after it, they get through again
    finally:
        stop.set()
        for th in threads:
            th.join(15)


# --------------------------------------------------------------------------------- 1. removal vs a re-publish

ATTACHMENTS = [(hashlib.sha256(b"%PDF-1 a" * 1000).hexdigest(), b"%PDF-1 a" * 1000),
               (hashlib.sha256(b"%PDF-1 b" * 1000).hexdigest(), b"%PDF-1 b" * 1000)]
SHAS = [s for s, _ in ATTACHMENTS]
MID = "7d1c2f0e-4a1b-4c3d-9e8f-0a1b2c3d4e5f"
ENVELOPE = f"{MID}.xml"


def everything(root: Path) -> list[str]:
    """Every file and folder under `root`, dot-names included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def drain_as_duplicates(t, inbox_files) -> None:
    """What a receiver does with copies of a message it has already applied: answer and remove each one listed."""
    for name in t.list_inbox(NODE):
        t.remove(NODE, name) if not hasattr(t, "remove_many") else t.remove_many(NODE, [(name, SHAS)])


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory):
    server = SftpServer(tmp_path_factory.mktemp("sftp")).start()
    yield server
    server.stop()


def sftp_pair(server, tmp_path):
    return sftp_transport(server, tmp_path), sftp_transport(server, tmp_path), server.root / NODE / "inbox"


def hook_sftp(receiver: SftpTransport, touches, action) -> list:
    """Run `action` once, just before the receiver's connection sends its first request on a path `touches`
    accepts (a request's path: its first string argument, or a rename's source)."""
    sftp = receiver._sftp()
    real = sftp._async_request
    fired = []

    def request(fileobj, kind, *args):
        path = args[1] if kind == paramiko.sftp.CMD_EXTENDED and len(args) > 1 else (args[0] if args else None)
        if not fired and isinstance(path, str) and touches(path):
            fired.append(path)
            action()
        return real(fileobj, kind, *args)

    sftp._async_request = request
    return fired


def hook_local(monkeypatch, touches, action) -> list:
    """The same for the local transport: before its first file operation on a path `touches` accepts."""
    import os
    import shutil

    fired = []

    def wrap(owner, attr, path_of):
        real = getattr(owner, attr)

        def call(*args, **kw):
            path = str(path_of(args))
            if not fired and touches(path):
                fired.append(path)
                action()
            return real(*args, **kw)

        monkeypatch.setattr(owner, attr, call)

    wrap(os, "replace", lambda a: a[0])
    wrap(shutil, "rmtree", lambda a: a[0])
    wrap(Path, "unlink", lambda a: a[0])
    return fired


@pytest.mark.parametrize("store", ["sftp", "local"])
@pytest.mark.parametrize("point", ["envelope", "folder"])
def test_a_copy_published_again_during_removal_leaves_nothing_behind(store, point, sftp_server, tmp_path,
                                                                     monkeypatch):
    """A sender restarted before its batch committed publishes the message again while the receiver removes the
    copy it has handled: whenever that publish lands, once the receiver has answered what it finds, the inbox is
    empty. (Before: a publish between the removal of the attachments and that of the envelope lost the fresh
    envelope and left the fresh folder for good.)"""
    from exchange.transport import LocalTransport

    if store == "sftp":
        sender, receiver, inbox = sftp_pair(sftp_server, tmp_path)
        for leftover in inbox.parent.glob("*"):
            import shutil
            shutil.rmtree(leftover)
    else:
        sender = receiver = LocalTransport(tmp_path / "exchange")
        inbox = tmp_path / "exchange" / NODE / "inbox"
    sender.publish(NODE, MID, "xml", b"<Envelope/>", ATTACHMENTS)
    assert receiver.list_inbox(NODE) == [ENVELOPE]

    envelope, folder = str(inbox / ENVELOPE), str(inbox / f"{MID}.files")
    touches = (lambda p: p == envelope) if point == "envelope" else (lambda p: p == folder or p.startswith(folder + "/"))

    def republish():
        sender.publish(NODE, MID, "xml", b"<Envelope/>", ATTACHMENTS)

    if store == "sftp":
        fired = hook_sftp(receiver, touches, republish)
        receiver.remove_many(NODE, [(ENVELOPE, SHAS)])
    else:
        fired = hook_local(monkeypatch, touches, republish)
        receiver.remove(NODE, ENVELOPE)
        monkeypatch.undo()
    assert fired  # the publish did land in the middle of the removal
    drain_as_duplicates(receiver, inbox)
    assert everything(inbox) == []


@pytest.mark.parametrize("store", ["sftp", "local"])
def test_the_sweep_removes_what_killed_senders_and_removers_left_once_past_the_grace(store, sftp_server, tmp_path):
    """A sender killed between its attachments and its envelope (whose message is then acknowledged through another
    copy), or mid-upload, and a remover killed before deleting its tombstones: the sweep removes these leftovers
    once older than the grace period, and nothing a live publish or a waiting message needs."""
    import os
    import shutil

    from exchange.transport import LocalTransport

    if store == "sftp":
        t = sftp_transport(sftp_server, tmp_path)
        inbox = sftp_server.root / NODE / "inbox"
        shutil.rmtree(inbox, ignore_errors=True)
    else:
        t = LocalTransport(tmp_path / "exchange")
        inbox = tmp_path / "exchange" / NODE / "inbox"
    inbox.mkdir(parents=True)
    old = time.time() - 7200

    def make(name: str, aged: bool, folder: bool = False) -> None:
        path = inbox / name
        if folder:
            path.mkdir()
            (path / SHAS[0]).write_bytes(ATTACHMENTS[0][1])
        else:
            path.write_bytes(b"<Envelope/>")
        if aged:
            os.utime(path, (old, old))

    make("a.files", aged=True, folder=True)            # orphan: goes
    make("b.files", aged=False, folder=True)           # a publish in progress: stays
    make("c.xml", aged=True)                           # a message waiting: stays, with its folder
    make("c.files", aged=True, folder=True)
    make(".d.xml.part", aged=True)                     # a killed sender's upload: goes
    make(".e.xml.part", aged=False)                    # a live sender's upload: stays
    make(".f.xml.0123456789ab.gone", aged=True)        # a killed remover's tombstones: go
    make(".g.files.0123456789ab.gone", aged=True, folder=True)
    assert t.sweep(NODE, 3600) == 4
    assert everything(inbox) == [".e.xml.part", "b.files", f"b.files/{SHAS[0]}", "c.files", f"c.files/{SHAS[0]}",
                                 "c.xml"]
    assert t.list_inbox(NODE) == ["c.xml"]


# --------------------------------------------------------------------------------- 2. temporary blob files

WRITER = """
import os, sys, time
from pathlib import Path

import exchange.blobs as blobs

def killed_here(src, dst):  # the bytes are written under the temporary name; the rename never comes
    print(src, flush=True)
    time.sleep(600)

blobs.os.replace = killed_here
blobs.BlobStore(Path(sys.argv[1])).put(b"%PDF-1.4 an applicant's document" * 4096)
"""


def test_a_writer_killed_inside_put_leaves_no_temporary_file_after_the_next_start(app):
    """A worker killed with SIGKILL while it stores an attachment: its temporary file is gone once a worker starts
    again; while the writer lives, its fresh temporary file is left alone."""
    import signal
    import subprocess
    import sys

    from app.worker import worker_cmd
    from exchange.bus import get_bus

    root = get_bus().blobs.root
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        part = Path(writer.stdout.readline().strip())
        assert part.name.endswith(".part") and part.stat().st_size == 32 * 4096
        result = app.test_cli_runner().invoke(worker_cmd, ["--once", "--job", "leftovers"])
        assert result.exit_code == 0, result.output
        assert part.exists()  # a live writer's fresh file stays
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    assert part.exists() and not [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    result = app.test_cli_runner().invoke(worker_cmd, ["--once", "--job", "leftovers"])  # the next start
    assert result.exit_code == 0, result.output
    assert [p for p in root.rglob("*") if p.is_file()] == []


# --------------------------------------------------------------------------------- 4. receipts of a backlog


def test_a_backlog_published_slower_than_the_receipt_timeout_is_sent_once(client, monkeypatch):
    """A backlog whose publishing takes longer than the receipt timeout, answered as soon as it is read: no
    message is sent twice (before: the timeout ran from the start of the run, so every message of the backlog
    was overdue before its receipt could be read, and was sent again)."""
    import sqlalchemy as sa

    from app.extensions import db
    from exchange.bus import get_bus
    from exchange.models import OutboxMessage
    from tests.integration.support import COUNTY, Api, run_bus

    api = Api(client)
    item = api.item("forward_only")
    cases = []
    for _ in range(12):
        case_no = api.create(item)["case_no"]
        api.act(case_no, f"window-{COUNTY}", "accept")
        cases.append(case_no)
    bus = get_bus()
    monkeypatch.setattr(bus, "receipt_timeout_seconds", 5)
    real_publish = bus.transport.publish

    def slow_store(to_node, message_id, fmt, data, attachments):
        if b"case.forward" in data:  # 12 × 0.5 s: the backlog takes longer to publish than its receipt timeout
            time.sleep(0.5)
        return real_publish(to_node, message_id, fmt, data, attachments)

    monkeypatch.setattr(bus.transport, "publish", slow_store)
    for _ in range(3):
        run_bus()
    db.session.expire_all()
    rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="case.forward")).scalars().all()
    assert len(rows) == 12
    assert {(r.state, r.attempts) for r in rows} == {("acknowledged", 1)}  # each sent once, and answered


def test_a_file_another_worker_removed_first_is_no_warning(client, monkeypatch, caplog):
    """Two workers on one inbox: the second finds files the first has already handled and removed. That is normal
    operation: nothing is logged at WARNING or above, and the message is applied once."""
    import logging

    import sqlalchemy as sa

    from app.extensions import db
    from exchange.bus import get_bus
    from exchange.inbox import receive
    from exchange.models import InboundMessage
    from exchange.outbox import send_due
    from tests.integration.support import COUNTY, Api

    api = Api(client)
    item = api.item("forward_only")
    for _ in range(3):
        api.act(api.create(item)["case_no"], f"window-{COUNTY}", "accept")
    send_due()
    bus = get_bus()
    listed = bus.transport.list_inbox(bus.node_id)
    assert len(listed) == 3
    receive()  # the first worker handles and removes them all
    monkeypatch.setattr(bus.transport, "list_inbox", lambda node_id: listed)  # the second listed them before
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        assert receive() == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert db.session.execute(sa.select(sa.func.count()).select_from(InboundMessage)
                              .filter_by(type="case.forward")).scalar_one() == 3
