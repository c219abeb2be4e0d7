"""The SFTP transport against a real OpenSSH sshd (tests/sftpserver.py); no database needed."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import paramiko
import pytest

from exchange.sftp import SftpTransport
from exchange.transport import TransportError
from tests.sftpserver import SftpServer, keygen

NODE = "360730"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory):
    """One sshd for the module; tests that stop or restart a server use `own_server`."""
    server = SftpServer(tmp_path_factory.mktemp("sftp")).start()
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path):
    server = SftpServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def make_transport(tmp_path):
    """SftpTransport for a server, with short timeouts and an (existing) exchange root of its own."""
    made: list[SftpTransport] = []

    def make(server: SftpServer, **overrides) -> SftpTransport:
        kwargs = {**server.connect_kwargs(), "root": str(server.root / f"{tmp_path.name}-{uuid.uuid4().hex[:6]}"),
                  "local_quarantine_root": tmp_path / "local", "timeout": 3.0, **overrides}
        if "root" not in overrides:
            Path(kwargs["root"]).mkdir(parents=True)
        transport = SftpTransport(**kwargs)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close_all()


def inbox_of(transport: SftpTransport, node: str = NODE) -> Path:
    """The inbox as a path on this machine (the server's file system is ours)."""
    return Path(transport.root) / node / "inbox"


def test_round_trip(sftp_server, make_transport):
    t = make_transport(sftp_server)
    assert t.list_inbox(NODE) == []  # no inbox yet is an empty inbox
    a, b = b"first attachment", b"second attachment" * 1000
    mid = str(uuid.uuid4())
    t.publish(NODE, mid, "xml", b"<Envelope/>", [(sha(a), a), (sha(b), b)])

    name = f"{mid}.xml"
    assert t.list_inbox(NODE) == [name]
    assert t.read(NODE, name) == b"<Envelope/>"
    assert t.read_attachment(NODE, name, sha(a)) == a
    assert t.read_attachment(NODE, name, sha(b)) == b
    with pytest.raises(TransportError, match="missing"):
        t.read_attachment(NODE, name, "0" * 64)
    inbox = inbox_of(t)
    assert sorted(p.name for p in inbox.iterdir()) == sorted([name, f"{mid}.files"])
    assert sorted(p.name for p in (inbox / f"{mid}.files").iterdir()) == sorted([sha(a), sha(b)])

    t.remove(NODE, name)
    assert t.list_inbox(NODE) == []
    assert list(inbox.iterdir()) == []
    t.remove(NODE, name)  # removing what is gone is not an error, as in LocalTransport
    with pytest.raises(TransportError):
        t.read(NODE, name)


def test_batch_reads_and_removals(sftp_server, make_transport):
    """What the inbox uses: every attachment of a message at once, with the sizes it expects (a file longer than
    expected is read to its end, a shorter one as it is); several messages removed in one call, the attachments
    named or not, a folder with a stray file in it too; exists() for a message still unread."""
    t = make_transport(sftp_server)
    a, b = b"a" * 70_000, b"b" * 3
    mids = [str(uuid.uuid4()) for _ in range(3)]
    for mid in mids:
        t.publish(NODE, mid, "xml", b"<Envelope>" + mid.encode() + b"</Envelope>", [(sha(a), a), (sha(b), b)])
    names = [f"{m}.xml" for m in mids]
    assert sorted(t.list_inbox(NODE)) == sorted(names)
    assert t.exists(NODE, names[0]) and not t.exists(NODE, "nothing.xml")
    assert t.read_attachments(NODE, names[0], [(sha(a), len(a)), (sha(b), len(b))]) == [a, b]
    assert t.read_attachments(NODE, names[0], [(sha(a), 10), (sha(b), 100_000)]) == [a, b]  # wrong hints
    assert t.read_attachments(NODE, names[0], [(sha(a), None)]) == [a]
    with pytest.raises(TransportError, match="missing"):
        t.read_attachments(NODE, names[0], [(sha(a), len(a)), ("0" * 64, 1)])
    (inbox_of(t) / f"{mids[2]}.files" / "stray").write_bytes(b"x")
    t.remove_many(NODE, [(names[0], [sha(a), sha(b)]), (names[1], None), (names[2], [sha(a), sha(b)])])
    assert list(inbox_of(t).iterdir()) == [] and t.list_inbox(NODE) == []


def test_list_inbox_ignores_dot_and_foreign_names_and_is_oldest_first(sftp_server, make_transport):
    t = make_transport(sftp_server)
    for mid, fmt in (("b", "xml"), ("a", "json"), ("c", "xml")):
        t.publish(NODE, mid, fmt, b"{}", [])
    inbox = inbox_of(t)
    os.utime(inbox / "c.xml", (1_000, 1_000))  # the oldest, whatever its name
    for stamp, file in ((2_000, "a.json"), (2_000, "b.xml")):
        os.utime(inbox / file, (stamp, stamp))  # same second: by name
    (inbox / ".d.xml.part").write_bytes(b"half")
    (inbox / "notes.txt").write_bytes(b"x")
    (inbox / "dir.xml").mkdir()
    assert t.list_inbox(NODE) == ["c.xml", "a.json", "b.xml"]


def test_stale_part_is_overwritten(sftp_server, make_transport):
    t = make_transport(sftp_server)
    mid, att = "m-stale", b"attachment"
    inbox = inbox_of(t)
    (inbox / f"{mid}.files").mkdir(parents=True)
    # What an interrupted attempt leaves: longer than the real content, so a missing truncation would show.
    (inbox / f".{mid}.xml.part").write_bytes(b"GARBAGE" * 10_000)
    (inbox / f"{mid}.files" / f".{sha(att)}.part").write_bytes(b"GARBAGE" * 10_000)
    assert t.list_inbox(NODE) == []

    t.publish(NODE, mid, "xml", b"<Envelope>complete</Envelope>", [(sha(att), att)])
    assert (inbox / f"{mid}.xml").read_bytes() == b"<Envelope>complete</Envelope>"
    assert (inbox / f"{mid}.files" / sha(att)).read_bytes() == att
    assert not [p for p in inbox.rglob(".*")]
    # Published again (a retry whose first try did arrive): the existing final name is replaced.
    t.publish(NODE, mid, "xml", b"<Envelope>again</Envelope>", [(sha(att), att)])
    assert t.read(NODE, f"{mid}.xml") == b"<Envelope>again</Envelope>"


def test_connection_dropped_mid_publish_is_retried_once(sftp_server, make_transport, monkeypatch):
    t = make_transport(sftp_server)
    t.check()
    first = t._local.conn
    real_request = paramiko.SFTPClient._async_request
    drops = {"left": 1}

    def rename_after_a_drop(self, fileobj, kind, *args):
        # The pipelined publish renames the envelope's .part into place as its last request.
        if (kind == paramiko.sftp.CMD_EXTENDED and args[0] == "posix-rename@openssh.com"
                and str(args[1]).endswith(".xml.part") and drops["left"]):
            drops["left"] -= 1
            sftp_server.drop_connections()  # the envelope is uploaded, not yet renamed
        return real_request(self, fileobj, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", rename_after_a_drop)
    t.publish(NODE, "m-drop", "xml", b"<Envelope/>", [(sha(b"x"), b"x")])
    assert t._local.conn is not first  # reconnected
    assert t.read(NODE, "m-drop.xml") == b"<Envelope/>"
    assert not list(inbox_of(t).rglob(".*"))

    # Dropped on the retry as well: an error, and nothing but a .part on the server.
    drops["left"] = 2
    with pytest.raises(TransportError) as err:
        t.publish(NODE, "m-drop2", "xml", b"<Envelope/>", [])
    assert "Traceback" not in str(err.value) and "\n" not in str(err.value)
    assert t.list_inbox(NODE) == ["m-drop.xml"]
    assert (inbox_of(t) / ".m-drop2.xml.part").exists()
    monkeypatch.undo()
    t.publish(NODE, "m-drop2", "xml", b"<Envelope/>", [])  # the next attempt overwrites that .part
    assert sorted(t.list_inbox(NODE)) == ["m-drop.xml", "m-drop2.xml"]


def test_changed_host_key_is_refused_and_nothing_is_sent(sftp_server, make_transport, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sftp_server.port} "
                     + " ".join(Path(f"{other}.pub").read_text().split()[:2]) + "\n")
    t = make_transport(sftp_server, known_hosts=known)
    with pytest.raises(TransportError, match="host key .* has changed"):
        t.publish(NODE, "m1", "xml", b"<Envelope/>", [(sha(b"x"), b"x")])
    assert list(Path(t.root).iterdir()) == []


def test_unknown_host_key_is_refused(sftp_server, make_transport, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sftp_server.port + 1} " + sftp_server.host_key_line.split(" ", 1)[1] + "\n")
    t = make_transport(sftp_server, known_hosts=known)
    with pytest.raises(TransportError, match="host key .* is unknown"):
        t.publish(NODE, "m1", "xml", b"<Envelope/>", [])
    assert list(Path(t.root).iterdir()) == []
    assert known.read_text().count("\n") == 1  # never written to (no auto-add)

    t = make_transport(sftp_server, known_hosts=tmp_path / "absent")
    with pytest.raises(TransportError, match="known_hosts"):
        t.check()


def test_restarted_server_reconnects(own_server, make_transport):
    t = make_transport(own_server)
    t.publish(NODE, "m1", "xml", b"<Envelope/>", [])
    own_server.restart()
    assert t.list_inbox(NODE) == ["m1.xml"]  # same transport object, a new connection
    t.publish(NODE, "m2", "xml", b"<Envelope/>", [])
    assert t.list_inbox(NODE) == ["m1.xml", "m2.xml"]


def test_server_down_fails_fast(own_server, make_transport):
    t = make_transport(own_server, timeout=2.0)
    t.check()
    own_server.stop()
    started = time.monotonic()
    with pytest.raises(TransportError):
        t.list_inbox(NODE)  # the open connection is dead, and so is the reconnection
    with pytest.raises(TransportError):
        t.publish(NODE, "m1", "xml", b"<Envelope/>", [])
    assert time.monotonic() - started < 5
    assert not [p for p in own_server.root.rglob("*") if p.is_file()]  # nothing reached the store meanwhile


def test_silent_server_times_out(make_transport, sftp_server):
    """A port that accepts but never speaks (a hung host) must not hang the sender."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        t = make_transport(sftp_server, port=listener.getsockname()[1], timeout=1.0)
        started = time.monotonic()
        with pytest.raises(TransportError, match="sftp .*:"):
            t.check()
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_quarantine_moves_to_the_local_folder(sftp_server, make_transport, tmp_path):
    t = make_transport(sftp_server)
    att = b"evidence"
    t.publish(NODE, "m-bad", "xml", b"<Envelope>bad</Envelope>", [(sha(att), att)])
    t.quarantine(NODE, "m-bad.xml", "bad_signature: does not verify")

    qdir = tmp_path / "local" / NODE / "quarantine"
    assert (qdir / "m-bad.xml").read_bytes() == b"<Envelope>bad</Envelope>"
    assert (qdir / "m-bad.files" / sha(att)).read_bytes() == att
    assert (qdir / "m-bad.xml.reason.txt").read_text() == "bad_signature: does not verify\n"
    assert not [p for p in qdir.iterdir() if p.name.startswith(".")]
    assert t.list_inbox(NODE) == []
    assert list(inbox_of(t).iterdir()) == []
    # As LocalTransport: quarantining what is already gone still records the reason.
    t.quarantine(NODE, "m-gone.xml", "replay_mismatch: x")
    assert (qdir / "m-gone.xml.reason.txt").exists() and not (qdir / "m-gone.xml").exists()


def test_each_thread_has_its_own_client(sftp_server, make_transport):
    t = make_transport(sftp_server)
    barrier = threading.Barrier(2)
    clients: dict[str, int] = {}
    errors: list[BaseException] = []

    def send(mid: str) -> None:
        try:
            barrier.wait(5)
            for n in range(5):
                payload = os.urandom(200_000)
                t.publish(NODE, f"{mid}-{n}", "xml", b"<Envelope/>", [(sha(payload), payload)])
            clients[mid] = id(t._local.conn.client)
            t.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(mid,)) for mid in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(set(clients.values())) == 2
    assert len(t.list_inbox(NODE)) == 10


def test_client_key_types_and_passphrase(sftp_server, make_transport):
    ecdsa = sftp_server.add_client_key("client_ecdsa", "ecdsa", passphrase="s3cret pass")
    rsa = sftp_server.add_client_key("client_rsa", "rsa")
    make_transport(sftp_server, key_path=ecdsa, passphrase=b"s3cret pass").check()
    make_transport(sftp_server, key_path=rsa).check()

    for passphrase in (None, b"wrong"):
        with pytest.raises(TransportError, match="client key") as err:
            make_transport(sftp_server, key_path=ecdsa, passphrase=passphrase).check()
        assert "PRIVATE" not in str(err.value) and err.value.__cause__ is None

    stranger = keygen(Path(sftp_server.dir) / "stranger")
    with pytest.raises(TransportError, match="authentication failed"):
        make_transport(sftp_server, key_path=stranger).check()


def test_check_and_keepalive(sftp_server, make_transport):
    t = make_transport(sftp_server, root=str(sftp_server.root))
    t.check()
    assert t._local.conn.client.get_transport().packetizer._Packetizer__keepalive_interval == 30
    with pytest.raises(TransportError, match="stat"):
        make_transport(sftp_server, root=str(sftp_server.root / "absent")).check()


def test_large_attachment_round_trip(sftp_server, make_transport):
    t = make_transport(sftp_server, timeout=10.0)
    size = 50 * 2 ** 20
    big = os.urandom(size)
    digest = sha(big)
    tracemalloc.start()
    try:
        t.publish(NODE, "m-big", "xml", b"<Envelope/>", [(digest, big)])
        _, sent_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        del big
        got = t.read_attachment(NODE, "m-big.xml", digest)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(got) == size and sha(got) == digest
    # Streamed: publishing copies nothing whole; reading holds about one copy (plus the prefetch window).
    assert sent_peak < size // 4, sent_peak
    assert read_peak < size * 1.6, read_peak
    remote = hashlib.sha256()
    with open(inbox_of(t) / "m-big.files" / digest, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            remote.update(block)
    assert remote.hexdigest() == digest
