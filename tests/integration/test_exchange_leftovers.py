"""Issue 21: the exchange under random kills leaves nothing behind on the store or the disk, and a test outage is
a real one."""
from __future__ import annotations

import threading
import time
from pathlib import Path

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
