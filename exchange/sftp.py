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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import paramiko
from paramiko.sftp import (CMD_ATTRS, CMD_CLOSE, CMD_DATA, CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_FSTAT,
                           CMD_HANDLE, CMD_MKDIR,
                           CMD_OPEN, CMD_READ, CMD_REMOVE, CMD_RMDIR, CMD_STATUS, CMD_WRITE, SFTP_EOF,
                           SFTP_FLAG_CREATE, SFTP_FLAG_READ, SFTP_FLAG_TRUNC, SFTP_FLAG_WRITE, SFTP_NO_SUCH_FILE,
                           SFTP_OK, SFTP_OP_UNSUPPORTED, int64)
from paramiko.sftp_attr import SFTPAttributes

from exchange.private import make_private, private_dir, write_private
from exchange.transport import (ENVELOPE_SUFFIXES, MessageGone, StoreUnreachable, TransportError, leftovers,
                                quarantine_name, tombstone)

T = TypeVar("T")
CHUNK = 32768  # the request size every SFTP server takes (draft-ietf-secsh-filexfer: at least 32 KB)
MAX_CHUNK = 256 * 1024 - 1024  # the largest read or write we ask for, whatever a server allows (memory per request)
WINDOW = 64  # requests in flight at once on a pipeline
IN_FLIGHT = 1536 * 1024  # data in flight at once, under paramiko's (and sshd's) 2 MB channel window


def _request_sizes(sftp: paramiko.SFTPClient) -> tuple[int, int]:
    """(read, write) bytes per request on this connection: what the server announces by limits@openssh.com
    (OpenSSH's sftp-server: ~255 KB each), else 32 KB. A 100 KB attachment is then one request each way instead
    of four: fewer SFTP and SSH packets to frame, encrypt and answer on both ends. Asked once per connection."""
    sizes = getattr(sftp, "_tongquan_sizes", None)
    if sizes is None:
        sizes = (CHUNK, CHUNK)
        try:
            t, msg = sftp._request(CMD_EXTENDED, "limits@openssh.com")
            if t == CMD_EXTENDED_REPLY:
                max_packet, max_read, max_write = msg.get_int64(), msg.get_int64(), msg.get_int64()
                # 0 means "not limited / unknown": keep the safe size. A write request carries ~100 bytes of
                # header besides the data (handle, offset, length): stay 1 KB under the packet limit.
                read = min(max_read, MAX_CHUNK) if max_read >= CHUNK else CHUNK
                write = min(max_write, max_packet - 1024 if max_packet else max_write, MAX_CHUNK)
                sizes = (read, write if write >= CHUNK else CHUNK)
        except (OSError, paramiko.SFTPError, EOFError, paramiko.SSHException) as exc:
            if isinstance(exc, (EOFError, paramiko.SSHException)):
                raise  # the connection itself failed: the caller's retry logic decides
        sftp._tongquan_sizes = sizes
    return sizes


def _status_error(code: int, text: str, path: str = "") -> OSError:
    """An SFTP status other than OK as the OSError paramiko would raise (FileNotFoundError for "no such file")."""
    text = text or f"SFTP status {code}"
    if code == SFTP_NO_SUCH_FILE:
        return FileNotFoundError(2, text, path or None)
    if code == 3:  # SSH_FX_PERMISSION_DENIED
        return PermissionError(13, text, path or None)
    return OSError(0, text, path or None)


class _Pipe:
    """SFTP requests sent back to back, without waiting for each answer (the protocol numbers them): a message's
    files are opened, written, checked, closed and renamed in three round trips instead of fifteen. The server
    handles the requests of one session in order (OpenSSH's sftp-server does), and each step that must not run
    unless an earlier one succeeded waits for that answer first."""

    def __init__(self, sftp: paramiko.SFTPClient):
        self.sftp = sftp
        self.replies: dict[int, tuple[int, paramiko.Message]] = {}
        self.waiting: dict[int, int] = {}  # request number -> the bytes it moves (data written or asked for)
        self.in_flight = 0

    def _async_response(self, t, msg, num):  # called by paramiko for each answer to one of our requests
        self.replies[num] = (t, msg)
        self.in_flight -= self.waiting.pop(num, 0)

    def send(self, t: int, *args, size: int = 0) -> int:
        """`size`: the data this request moves either way; at most WINDOW requests and IN_FLIGHT bytes are
        outstanding at once (so that neither end's channel window fills while the other waits on it)."""
        while self.waiting and (len(self.waiting) >= WINDOW or self.in_flight + size > IN_FLIGHT):
            self.sftp._read_response()
        num = self.sftp._async_request(self, t, *args)
        self.waiting[num] = size
        self.in_flight += size
        return num

    def reply(self, num: int) -> tuple[int, paramiko.Message]:
        while num not in self.replies:
            self.sftp._read_response()
        return self.replies.pop(num)

    def drain(self) -> None:
        """Read every outstanding answer (kept for reply()), so that the session is clean for the next
        operation."""
        while self.waiting:
            self.sftp._read_response()

    def abandon(self, handles=()) -> None:
        """After an error: close what is still open and read the outstanding answers, if the session still
        works (if it does not, the caller's error says why, and the connection is dropped)."""
        try:
            for handle in handles:
                if handle is not None:
                    self.send(CMD_CLOSE, handle)
            self.drain()
        except Exception:
            pass

    def status(self, num: int, path: str = "") -> int:
        """The status code of a request answered by a status (OK, or the error), raising on another answer."""
        t, msg = self.reply(num)
        if t != CMD_STATUS:
            raise OSError(0, f"unexpected SFTP answer {t}", path or None)
        return msg.get_int()

    def check(self, num: int, path: str = "") -> None:
        t, msg = self.reply(num)
        if t != CMD_STATUS:
            raise OSError(0, f"unexpected SFTP answer {t}", path or None)
        code, text = msg.get_int(), msg.get_text()
        if code != SFTP_OK:
            raise _status_error(code, text, path)

    def handle(self, num: int, path: str = "") -> bytes:
        t, msg = self.reply(num)
        if t == CMD_HANDLE:
            return msg.get_binary()
        if t == CMD_STATUS:
            code, text = msg.get_int(), msg.get_text()
            raise _status_error(code, text, path)
        raise OSError(0, f"unexpected SFTP answer {t}", path or None)

    def handles(self, nums: list[int], paths: list[str], into: list[bytes | None]) -> None:
        """The answers of these open requests, appended to `into` in order: a handle, or None for a file that did
        not open (so the caller's cleanup closes exactly those that did). Every answer is read before the first
        failure is raised, so no answer is left behind in the pipe."""
        errors: list[OSError] = []
        for num, path in zip(nums, paths):
            try:
                into.append(self.handle(num, path))
            except OSError as exc:
                into.append(None)
                errors.append(exc)
        if errors:
            raise errors[0]


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
        try:
            self._local.conn = self._connect()
        except TransportError as exc:
            # Nothing reached the store: a retry later, which uses up none of the message's attempts.
            raise StoreUnreachable(str(exc)) from exc.__cause__
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
                if attempt == 2 and lost:
                    raise StoreUnreachable(str(self._error(what, exc))) from exc
                if not lost:
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
            try:
                self._publish_pipelined(sftp, inbox, message_id, final, data,
                                        [(sha, content) for sha, (_, content) in zip(shas, attachments)])
            except FileNotFoundError:
                # The recipient's inbox does not exist yet (its first message): make it, then publish again.
                self._makedirs(sftp, inbox)
                self._publish_pipelined(sftp, inbox, message_id, final, data,
                                        [(sha, content) for sha, (_, content) in zip(shas, attachments)])

        self._run(f"publish {message_id} to {to_node}", op)

    @staticmethod
    def _publish_pipelined(sftp: paramiko.SFTPClient, inbox: str, message_id: str, final: str, data: bytes,
                           attachments: list[tuple[str, bytes]]) -> None:
        """Three round trips: (1) the attachments' folder made and every file opened under a dot-name; (2) all
        the bytes written, each file's size checked (fstat), the envelope fsynced (fsync@openssh.com, as
        LocalTransport fsyncs), the files closed and the attachments renamed to their digests; (3) only when
        every answer of (2) was OK, the envelope renamed into place: the atomic publish. A receiver never sees a
        half-written envelope, because it ignores dot-names; a .part left by an interrupted attempt is truncated
        and written again. posix_rename, because a plain SFTP rename refuses to replace an existing target (a
        message published again)."""
        files_dir = posixpath.join(inbox, f"{message_id}.files")
        targets = [(posixpath.join(files_dir, f".{sha}.part"), posixpath.join(files_dir, sha), content)
                   for sha, content in attachments]
        envelope_tmp = posixpath.join(inbox, f".{final}.part")
        targets.append((envelope_tmp, posixpath.join(inbox, final), data))
        pipe = _Pipe(sftp)
        handles: list[bytes | None] = []
        try:
            mkdir = pipe.send(CMD_MKDIR, files_dir, SFTPAttributes()) if attachments else None
            opens = [pipe.send(CMD_OPEN, tmp, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC, SFTPAttributes())
                     for tmp, _, _ in targets]
            if mkdir is not None and pipe.status(mkdir, files_dir) == SFTP_NO_SUCH_FILE:
                raise FileNotFoundError(2, "no inbox", inbox)  # (an existing folder answers "failure": fine)
            pipe.handles(opens, [tmp for tmp, _, _ in targets], handles)

            writes, stats = [], []
            chunk = _request_sizes(sftp)[1]
            for handle, (tmp, _, content) in zip(handles, targets):
                view = memoryview(content)
                for pos in range(0, len(content), chunk):
                    writes.append((pipe.send(CMD_WRITE, handle, int64(pos), bytes(view[pos:pos + chunk]),
                                            size=min(chunk, len(content) - pos)), tmp))
                stats.append(pipe.send(CMD_FSTAT, handle))
            fsync = pipe.send(CMD_EXTENDED, "fsync@openssh.com", handles[-1])
            closes = [(pipe.send(CMD_CLOSE, handle), tmp) for handle, (tmp, _, _) in zip(handles, targets)]
            handles = []
            # A digest-named attachment is only ever referred to by an envelope published in (3).
            renames = [(pipe.send(CMD_EXTENDED, "posix-rename@openssh.com", tmp, target), target)
                       for tmp, target, _ in targets[:-1]]
            for num, tmp in writes:
                pipe.check(num, tmp)
            for num, (tmp, _, content) in zip(stats, targets):
                t, msg = pipe.reply(num)
                if t != CMD_ATTRS:
                    raise OSError(0, f"cannot stat {tmp} after writing it", tmp)
                size = SFTPAttributes._from_msg(msg).st_size
                if size != len(content):
                    raise OSError(0, f"{tmp} has {size} bytes after upload, expected {len(content)}")
            code = pipe.status(fsync)
            if code not in (SFTP_OK, SFTP_OP_UNSUPPORTED):
                raise _status_error(code, "fsync failed", envelope_tmp)
            for num, tmp in closes:
                pipe.check(num, tmp)
            for num, target in renames:
                pipe.check(num, target)

            pipe.check(pipe.send(CMD_EXTENDED, "posix-rename@openssh.com", envelope_tmp, targets[-1][1]),
                       targets[-1][1])
        except BaseException:
            pipe.abandon(handles)
            raise
        pipe.drain()

    def list_inbox(self, node_id: str) -> list[str]:
        inbox = self._inbox(node_id)

        def op(sftp: paramiko.SFTPClient) -> list[str]:
            try:
                entries = sftp.listdir_attr(inbox)
            except FileNotFoundError:
                return []
            found = [(e.st_mtime or 0, e.filename, e.st_size) for e in entries
                     if stat.S_ISREG(e.st_mode or 0) and not e.filename.startswith(".")
                     and posixpath.splitext(e.filename)[1] in ENVELOPE_SUFFIXES]
            # The sizes, so that a read asks for the whole file at once (a hint: a read goes on to the end).
            self._local.sizes = {(node_id, name): size for _, name, size in found}
            # Oldest first, so that a backlog drains in the order it was written (SFTP mtimes are whole
            # seconds: the name breaks ties).
            return [name for _, name, _ in sorted(found)]

        return self._run(f"list {inbox}", op)

    @staticmethod
    def _read_files(sftp: paramiko.SFTPClient, paths: list[tuple[str, int | None]]) -> list[bytes]:
        """Whole files, in two round trips when their sizes are known: (1) every file opened; (2) every block
        read, one more block past the expected end to see the end of the file, and the files closed. A file longer
        than expected is read on to its end; one whose size is not known is read block by block."""
        chunk = _request_sizes(sftp)[0]
        pipe = _Pipe(sftp)
        handles: list[bytes | None] = []
        try:
            opens = [pipe.send(CMD_OPEN, path, SFTP_FLAG_READ, SFTPAttributes()) for path, _ in paths]
            pipe.handles(opens, [path for path, _ in paths], handles)
            plans = []
            for handle, (path, size) in zip(handles, paths):
                expect = size if size is not None and size >= 0 else 0
                reads = [(pos, pipe.send(CMD_READ, handle, int64(pos), chunk, size=chunk))
                         for pos in range(0, expect + 1, chunk)]
                plans.append(reads)
            results = []
            for handle, (path, _), reads in zip(handles, paths, plans):
                # BytesIO.getvalue() hands over its buffer: one copy of a large attachment in memory, not two.
                buf, at_end = io.BytesIO(), False
                while True:
                    for pos, num in reads:
                        t, msg = pipe.reply(num)
                        if at_end:
                            continue
                        if t == CMD_DATA:
                            block = msg.get_string()
                            if pos != buf.tell():
                                raise OSError(0, f"short read in the middle of {path}", path)
                            buf.write(block)
                            if len(block) < chunk:
                                at_end = True  # sftp-server answers short only at the end of the file
                        elif t == CMD_STATUS:
                            code, text = msg.get_int(), msg.get_text()
                            if code != SFTP_EOF:
                                raise _status_error(code, text, path)
                            at_end = True
                        else:
                            raise OSError(0, f"unexpected SFTP answer {t}", path)
                    if at_end:
                        break
                    pos = buf.tell()  # longer than expected (or its size unknown): read on
                    reads = [(pos + i * chunk, pipe.send(CMD_READ, handle, int64(pos + i * chunk), chunk, size=chunk))
                             for i in range(max(1, 32 * CHUNK // chunk))]
                results.append(buf.getvalue())
                del buf
            closes = [pipe.send(CMD_CLOSE, handle) for handle in handles]
            handles = []
            for num in closes:
                pipe.status(num)  # a failed close of a file only read changes nothing
        except BaseException:
            pipe.abandon(handles)
            raise
        pipe.drain()
        return results

    def exists(self, node_id: str, name: str) -> bool:
        path = posixpath.join(self._inbox(node_id), _safe(name))

        def op(sftp: paramiko.SFTPClient) -> bool:
            try:
                return stat.S_ISREG(sftp.stat(path).st_mode or 0)
            except FileNotFoundError:
                return False

        return self._run(f"stat {path}", op)

    def read(self, node_id: str, name: str) -> bytes:
        path = posixpath.join(self._inbox(node_id), _safe(name))
        size = (getattr(self._local, "sizes", None) or {}).get((node_id, name))

        def op(sftp: paramiko.SFTPClient) -> bytes:
            try:
                return self._read_files(sftp, [(path, size)])[0]
            except FileNotFoundError:
                raise MessageGone(f"{name} is no longer in the inbox (handled by another worker)") from None

        return self._run(f"read {path}", op)

    def read_attachment(self, node_id: str, name: str, sha256: str) -> bytes:
        return self.read_attachments(node_id, name, [(sha256, None)])[0]

    def read_attachments(self, node_id: str, name: str, items: list[tuple[str, int | None]]) -> list[bytes]:
        """The attachments of one message, all at once: (sha256, expected size) -> bytes, in that order."""
        files = posixpath.join(self._inbox(node_id), f"{_stem(_safe(name))}.files")
        paths = [(posixpath.join(files, _safe(sha)), size) for sha, size in items]

        def op(sftp: paramiko.SFTPClient) -> list[bytes]:
            try:
                return self._read_files(sftp, paths)
            except FileNotFoundError as exc:
                sha = posixpath.basename(exc.filename or "") or "?"
                raise TransportError(f"attachment {sha} of {name} is missing") from None

        return self._run(f"read {files}", op)

    def remove(self, node_id: str, name: str, attachments: list[str] | None = None) -> None:
        self.remove_many(node_id, [(name, attachments)])

    def remove_many(self, node_id: str, items: list[tuple[str, list[str] | None]]) -> None:
        """Remove handled messages: (name, the SHA-256 of its attachments, or None when not known), in one round
        trip for the lot. Each message's envelope and then its folder are first renamed to tombstones, names of
        this removal's own (`transport.tombstone`), and only the tombstones are deleted: a copy the sender
        publishes again meanwhile (a worker restarted before its batch committed) is never half taken. Either it
        lands before a rename and goes with it, or after it and stays whole, or its envelope lands after the
        folder was taken and stays alone, answered as the duplicate it is and removed next time. (Deleting by the
        message's own names in two round trips took the fresh envelope and left its fresh folder for good: issue
        21.) A crash before the tombstones are deleted leaves dot-names that `sweep` removes after its grace."""
        inbox = self._inbox(node_id)
        items = [(_safe(name), [_safe(s) for s in shas] if shas is not None else None) for name, shas in items]
        self._run(f"remove {items[0][0] if len(items) == 1 else f'{len(items)} messages'} from {inbox}",
                  lambda sftp: self._remove_pipelined(sftp, inbox, items))

    def _remove_pipelined(self, sftp: paramiko.SFTPClient, inbox: str,
                          items: list[tuple[str, list[str] | None]]) -> None:
        pipe = _Pipe(sftp)
        try:
            sent = []
            for name, shas in items:
                envelope, files = posixpath.join(inbox, name), posixpath.join(inbox, f"{_stem(name)}.files")
                gone_env, gone_files = (posixpath.join(inbox, tombstone(n)) for n in (name, f"{_stem(name)}.files"))
                # The server takes one session's requests in order: each delete below finds its tombstone, or
                # nothing (the rename found nothing: another worker removed it first).
                renames = [(pipe.send(CMD_EXTENDED, "posix-rename@openssh.com", envelope, gone_env), envelope),
                           (pipe.send(CMD_EXTENDED, "posix-rename@openssh.com", files, gone_files), files)]
                for sha in shas or ():
                    pipe.send(CMD_REMOVE, posixpath.join(gone_files, sha))  # answers read by drain()
                rmdir = pipe.send(CMD_RMDIR, gone_files)
                pipe.send(CMD_REMOVE, gone_env)
                sent.append((renames, rmdir, gone_files))
            for renames, rmdir, gone_files in sent:
                for num, path in renames:
                    code = pipe.status(num, path)
                    if code not in (SFTP_OK, SFTP_NO_SUCH_FILE):
                        raise _status_error(code, "rename to a tombstone failed", path)
                if pipe.status(rmdir, gone_files) not in (SFTP_OK, SFTP_NO_SUCH_FILE):
                    pipe.drain()
                    self._rmtree(sftp, gone_files)  # not empty: an unexpected file, or attachments not named
            pipe.drain()
        except BaseException:
            pipe.abandon()
            raise

    def sweep(self, node_id: str, grace_seconds: float, now: float | None = None) -> int:
        """Remove what nobody else will from this node's inbox, once older than `grace_seconds`: attachment folders
        without an envelope (a sender killed between its attachments and its envelope, whose message was then
        acknowledged through another copy), temporary upload names of killed senders (`.<name>.part`) and
        tombstones of killed removers. Returns how many entries went."""
        inbox = self._inbox(node_id)

        def op(sftp: paramiko.SFTPClient) -> int:
            try:
                entries = sftp.listdir_attr(inbox)
            except FileNotFoundError:
                return 0
            old = [e for e in entries if (e.st_mtime or 0) < (now or time.time()) - grace_seconds]
            names = {e.filename for e in entries}
            removed = 0
            for entry in sorted(leftovers([(e.filename, stat.S_ISDIR(e.st_mode or 0)) for e in old], names)):
                path = posixpath.join(inbox, entry)
                if not entry.startswith("."):  # an orphan folder: taken atomically first, as a removal takes it
                    gone = posixpath.join(inbox, tombstone(entry))
                    try:
                        sftp.posix_rename(path, gone)
                    except FileNotFoundError:
                        continue
                    path = gone
                try:
                    if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                        self._rmtree(sftp, path)
                    else:
                        sftp.remove(path)
                except FileNotFoundError:
                    continue
                removed += 1
            return removed

        return self._run(f"sweep {inbox}", op)

    def quarantine(self, node_id: str, name: str, reason: str) -> None:
        inbox = self._inbox(node_id)
        name = _safe(name)
        files_name = f"{_stem(name)}.files"
        qdir = self.local_quarantine_root / node_id / "quarantine"

        def op(sftp: paramiko.SFTPClient) -> None:
            private_dir(qdir)  # applicants' data: what is downloaded here is unreachable to other accounts
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
                private_dir(tmp_files)
                for entry in entries:
                    sftp.get(posixpath.join(remote_files, entry.filename), str(tmp_files / entry.filename))
                make_private(tmp_files)
                shutil.rmtree(qdir / target_files, ignore_errors=True)
                os.replace(tmp_files, qdir / target_files)
            if have_envelope:
                make_private(tmp)
                os.replace(tmp, qdir / target)
            write_private(qdir / f"{target}.reason.txt", (reason + "\n").encode("utf-8"))
            # Removed as a handled message is (tombstones): a copy published again meanwhile is not half taken.
            self._remove_pipelined(sftp, inbox, [(name, None)])

        self._run(f"quarantine {name} of {node_id}", op)
