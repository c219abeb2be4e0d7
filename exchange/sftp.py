"""The SFTP mailbox transport: a 前置机 exchange host, with the same layout and behaviour as `LocalTransport`
(exchange-v1, "Mailboxes and transports"):

    <root>/<node_id>/inbox/<message_id>.<fmt>          the published envelope
    <root>/<node_id>/inbox/<message_id>.files/<sha256> its attachments

Quarantine is local (the spec puts it under this node's own store), so `quarantine` downloads the files into
`<local_quarantine_root>/<node_id>/quarantine/` and only then removes them from the remote inbox.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import posixpath
import shutil
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import paramiko

from exchange.transport import ENVELOPE_SUFFIXES, TransportError, quarantine_name

T = TypeVar("T")
CHUNK = 32768  # paramiko's largest SFTP write request; bigger writes are split anyway


@dataclass
class _Connection:
    client: paramiko.SSHClient
    sftp: paramiko.SFTPClient
    owner: threading.Thread


class _RejectUnknownHost(paramiko.RejectPolicy):
    """RejectPolicy, with an operator-readable message: which key the server offered, so it can be checked
    out of band before it is added to the known_hosts file."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        raise TransportError(
            f"host key of {hostname} is unknown (not in {self.known_hosts}): the server offered "
            f"{key.get_name()} {_fingerprint(key)}; nothing was sent")


def _fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def _safe(part: str) -> str:
    """A path component from the caller (an attachment digest comes from a peer's envelope): never a path."""
    if not part or "/" in part or "\\" in part or part in (".", "..") or "\0" in part:
        raise TransportError(f"invalid name in the mailbox: {part!r}")
    return part


def _describe(exc: BaseException) -> str:
    """A short reason, never a traceback nor key material."""
    if isinstance(exc, paramiko.BadHostKeyException):
        return "host key changed"
    if isinstance(exc, paramiko.PasswordRequiredException):
        return "the client key needs a passphrase"
    if isinstance(exc, paramiko.AuthenticationException):
        return "authentication failed (client key refused)"
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return "timed out"
    if isinstance(exc, EOFError):
        return "connection closed by the server"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return (text[0][:200] if text else type(exc).__name__)


class SftpTransport:
    """Mailboxes on an SFTP server. Safe to share between threads: each thread gets its own connection
    (paramiko clients are not thread-safe), kept open and reused until `close()`."""

    def __init__(self, host: str, port: int, username: str, key_path: Path | str, known_hosts: Path | str,
                 root: str, *, local_quarantine_root: Path, passphrase: bytes | None = None,
                 timeout: float = 10.0, keepalive: int = 30):
        self.host, self.port, self.username = host, int(port), username
        self.key_path, self.known_hosts = Path(key_path), Path(known_hosts)
        self.root = str(root).rstrip("/") or "/"
        self.local_quarantine_root = Path(local_quarantine_root)
        self.timeout, self.keepalive = timeout, keepalive
        self._passphrase = passphrase
        self._pkey: paramiko.PKey | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []  # every thread's, so that close_all() reaches them

    def __repr__(self) -> str:  # no passphrase in logs or tracebacks
        return f"SftpTransport({self.username}@{self.host}:{self.port}{self.root})"

    # --- connections -------------------------------------------------------------------------------------------

    def _error(self, what: str, exc: BaseException) -> TransportError:
        if isinstance(exc, TransportError):
            return exc
        return TransportError(f"sftp {self.username}@{self.host}:{self.port}: {what}: {_describe(exc)}")

    def _key(self) -> paramiko.PKey:
        if self._pkey is None:
            try:
                self._pkey = paramiko.PKey.from_path(self.key_path, self._passphrase)
            except Exception as exc:
                # Deliberately without the parser's text or the cause: a key parser's message may quote the key.
                if isinstance(exc, OSError):
                    reason = exc.strerror or type(exc).__name__
                elif isinstance(exc, paramiko.UnknownKeyType):
                    reason = "unsupported key type (use Ed25519, ECDSA or RSA)"
                elif isinstance(exc, (TypeError, paramiko.PasswordRequiredException)) and self._passphrase is None:
                    reason = "the key is encrypted and no passphrase was given"
                else:
                    reason = "wrong passphrase or not a private key"
                raise TransportError(f"cannot load the SFTP client key {self.key_path}: {reason}") from None
        return self._pkey

    def _connect(self) -> _Connection:
        pkey = self._key()
        client = paramiko.SSHClient()
        try:
            # Host keys as "system" keys: paramiko never writes those back, so the file stays the operator's.
            client.load_system_host_keys(str(self.known_hosts))
            client.set_missing_host_key_policy(_RejectUnknownHost(self.known_hosts))
            client.connect(self.host, self.port, username=self.username, pkey=pkey, timeout=self.timeout,
                           banner_timeout=self.timeout, auth_timeout=self.timeout, channel_timeout=self.timeout,
                           look_for_keys=False, allow_agent=False)
            client.get_transport().set_keepalive(self.keepalive)
            # SFTP is many small request/response round trips: Nagle's delay costs 10–20 ms on each.
            client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sftp = client.open_sftp()
            # Without it, a server that stops answering would block this thread for ever.
            sftp.get_channel().settimeout(self.timeout)
        except TransportError:  # from _RejectUnknownHost
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise TransportError(
                f"host key of [{self.host}]:{self.port} has changed: the server offered {exc.key.get_name()} "
                f"{_fingerprint(exc.key)}, {self.known_hosts} expects {_fingerprint(exc.expected_key)}; "
                "nothing was sent") from None
        except Exception as exc:
            client.close()
            if isinstance(exc, FileNotFoundError) and exc.filename == str(self.known_hosts):
                raise TransportError(f"known_hosts file {self.known_hosts} is missing") from None
            raise self._error("connect", exc) from exc
        conn = _Connection(client, sftp, threading.current_thread())
        with self._lock:
            # Connections of threads that have ended would otherwise stay open until close_all().
            dead = [c for c in self._connections if not c.owner.is_alive()]
            self._connections = [c for c in self._connections if c.owner.is_alive()] + [conn]
        for c in dead:
            c.client.close()
        return conn

    @staticmethod
    def _usable(conn: _Connection | None) -> bool:
        transport = conn.client.get_transport() if conn else None
        channel = conn.sftp.get_channel() if conn else None
        return bool(transport and transport.is_active() and channel and not channel.closed)

    def _sftp(self) -> paramiko.SFTPClient:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if self._usable(conn):
            return conn.sftp
        self.close()  # known dead (keepalive or the server's close noticed it): no need to fail first
        self._local.conn = self._connect()
        return self._local.conn.sftp

    def _connection_lost(self, exc: BaseException) -> bool:
        if isinstance(exc, (paramiko.SSHException, EOFError, TimeoutError, ConnectionError)):
            return True
        # An SFTP status error (no such file, permission) leaves the connection up and usable; a closed channel
        # ("Socket is closed") or transport does not.
        return not self._usable(getattr(self._local, "conn", None))

    def _run(self, what: str, op: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run `op` on this thread's connection; if the connection drops under it, reconnect and run it once
        more (every operation here can be repeated: uploads overwrite, removals tolerate what is gone)."""
        for attempt in (1, 2):
            sftp = self._sftp()
            try:
                return op(sftp)
            except TransportError:
                raise
            except Exception as exc:
                lost = self._connection_lost(exc)
                if lost:
                    self.close()
                if attempt == 2 or not lost:
                    raise self._error(what, exc) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close this thread's connection (the next call opens a new one)."""
        conn: _Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn.client.close()

    def close_all(self) -> None:
        """Close every thread's connection, at shutdown (a thread must not be using it any more)."""
        self._local.conn = None
        with self._lock:
            conns, self._connections = self._connections, []
        for conn in conns:
            conn.client.close()

    def check(self) -> None:
        """Readiness probe: the server is reachable, trusted, accepts our key and has the root folder."""
        self._run(f"stat {self.root}", lambda sftp: sftp.stat(self.root))

    # --- remote paths ------------------------------------------------------------------------------------------

    def _inbox(self, node_id: str) -> str:
        return posixpath.join(self.root, _safe(node_id), "inbox")

    @staticmethod
    def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            if stat.S_ISDIR(sftp.stat(path).st_mode):
                return
        except FileNotFoundError:
            pass
        parent = posixpath.dirname(path.rstrip("/"))
        if parent and parent != path:
            SftpTransport._makedirs(sftp, parent)
        try:
            sftp.mkdir(path)
        except OSError:
            sftp.stat(path)  # another thread or node made it meanwhile; anything else raises here

    @staticmethod
    def _upload(sftp: paramiko.SFTPClient, path: str, data: bytes, sync: bool = False) -> None:
        """Write `path` from scratch (a stale file of that name is truncated), in slices, so that a large
        attachment is not copied whole once more."""
        with sftp.open(path, "wb") as fh:
            fh.set_pipelined(True)
            for pos in range(0, len(data), CHUNK):
                fh.write(data[pos:pos + CHUNK])
            fh.flush()
            if sync:
                try:
                    # fsync@openssh.com, as LocalTransport fsyncs: the envelope is on disk before it is renamed.
                    sftp._request(paramiko.sftp.CMD_EXTENDED, "fsync@openssh.com", fh.handle)
                except OSError:
                    pass  # a server without the extension; the rename still keeps the publish atomic
        size = sftp.stat(path).st_size
        if size != len(data):
            raise OSError(0, f"{path} has {size} bytes after upload, expected {len(data)}")

    @staticmethod
    def _download(sftp: paramiko.SFTPClient, path: str) -> bytes:
        # getfo prefetches; BytesIO.getvalue() hands over its buffer without another copy.
        buf = io.BytesIO()
        sftp.getfo(path, buf)
        return buf.getvalue()

    @staticmethod
    def _rmtree(sftp: paramiko.SFTPClient, path: str) -> None:
        try:
            entries = sftp.listdir_attr(path)
        except FileNotFoundError:
            return
        for entry in entries:
            child = posixpath.join(path, entry.filename)
            if stat.S_ISDIR(entry.st_mode):
                SftpTransport._rmtree(sftp, child)
            else:
                try:
                    sftp.remove(child)
                except FileNotFoundError:
                    pass
        try:
            sftp.rmdir(path)
        except FileNotFoundError:
            pass

    # --- the Transport protocol --------------------------------------------------------------------------------

    def publish(self, to_node: str, message_id: str, fmt: str, data: bytes,
                attachments: list[tuple[str, bytes]]) -> None:
        inbox = self._inbox(to_node)
        final = f"{_safe(message_id)}.{_safe(fmt)}"
        shas = [_safe(sha) for sha, _ in attachments]

        def op(sftp: paramiko.SFTPClient) -> None:
            self._makedirs(sftp, inbox)
            if attachments:
                files = posixpath.join(inbox, f"{message_id}.files")
                self._makedirs(sftp, files)
                for sha, (_, content) in zip(shas, attachments):
                    tmp = posixpath.join(files, f".{sha}.part")
                    self._upload(sftp, tmp, content)
                    sftp.posix_rename(tmp, posixpath.join(files, sha))
            # Atomic publish: a receiver never sees a half-written envelope, because it ignores dot-names; a
            # .part left by an interrupted attempt is overwritten here. posix_rename, because a plain SFTP
            # rename refuses to replace an existing target (a message published again).
            tmp = posixpath.join(inbox, f".{final}.part")
            self._upload(sftp, tmp, data, sync=True)
            sftp.posix_rename(tmp, posixpath.join(inbox, final))

        self._run(f"publish {message_id} to {to_node}", op)

    def list_inbox(self, node_id: str) -> list[str]:
        inbox = self._inbox(node_id)

        def op(sftp: paramiko.SFTPClient) -> list[str]:
            try:
                entries = sftp.listdir_attr(inbox)
            except FileNotFoundError:
                return []
            found = [(e.st_mtime or 0, e.filename) for e in entries
                     if stat.S_ISREG(e.st_mode or 0) and not e.filename.startswith(".")
                     and posixpath.splitext(e.filename)[1] in ENVELOPE_SUFFIXES]
            # Oldest first, so that a backlog drains in the order it was written (SFTP mtimes are whole
            # seconds: the name breaks ties).
            return [name for _, name in sorted(found)]

        return self._run(f"list {inbox}", op)

    def read(self, node_id: str, name: str) -> bytes:
        path = posixpath.join(self._inbox(node_id), _safe(name))
        return self._run(f"read {path}", lambda sftp: self._download(sftp, path))

    def read_attachment(self, node_id: str, name: str, sha256: str) -> bytes:
        path = posixpath.join(self._inbox(node_id), f"{_stem(_safe(name))}.files", _safe(sha256))

        def op(sftp: paramiko.SFTPClient) -> bytes:
            try:
                return self._download(sftp, path)
            except FileNotFoundError:
                raise TransportError(f"attachment {sha256} of {name} is missing") from None

        return self._run(f"read {path}", op)

    def remove(self, node_id: str, name: str) -> None:
        inbox = self._inbox(node_id)
        name = _safe(name)

        def op(sftp: paramiko.SFTPClient) -> None:
            self._rmtree(sftp, posixpath.join(inbox, f"{_stem(name)}.files"))
            try:
                sftp.remove(posixpath.join(inbox, name))
            except FileNotFoundError:
                pass

        self._run(f"remove {name} from {inbox}", op)

    def quarantine(self, node_id: str, name: str, reason: str) -> None:
        inbox = self._inbox(node_id)
        name = _safe(name)
        files_name = f"{_stem(name)}.files"
        qdir = self.local_quarantine_root / node_id / "quarantine"

        def op(sftp: paramiko.SFTPClient) -> None:
            qdir.mkdir(parents=True, exist_ok=True)
            target = quarantine_name(qdir, name)
            target_files = f"{_stem(target)}.files"
            # Everything is downloaded (to dot-names, then renamed) before anything is removed remotely: a
            # failure half-way leaves the message in the inbox, to be quarantined again on the next pass.
            src = posixpath.join(inbox, name)
            have_envelope = True
            tmp = qdir / f".{name}.part"
            try:
                sftp.get(src, str(tmp))
            except FileNotFoundError:
                have_envelope = False
                tmp.unlink(missing_ok=True)
            remote_files = posixpath.join(inbox, files_name)
            try:
                entries = [e for e in sftp.listdir_attr(remote_files) if stat.S_ISREG(e.st_mode or 0)]
            except FileNotFoundError:
                entries = None
            if entries is not None:
                tmp_files = qdir / f".{files_name}.part"
                shutil.rmtree(tmp_files, ignore_errors=True)
                tmp_files.mkdir()
                for entry in entries:
                    sftp.get(posixpath.join(remote_files, entry.filename), str(tmp_files / entry.filename))
                shutil.rmtree(qdir / target_files, ignore_errors=True)
                os.replace(tmp_files, qdir / target_files)
            if have_envelope:
                os.replace(tmp, qdir / target)
            (qdir / f"{target}.reason.txt").write_text(reason + "\n", encoding="utf-8")
            self._rmtree(sftp, remote_files)
            if have_envelope:
                try:
                    sftp.remove(src)
                except FileNotFoundError:
                    pass

        self._run(f"quarantine {name} of {node_id}", op)
