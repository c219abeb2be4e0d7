"""Mailbox transports. The layout is the same on every store (exchange-v1, "Mailboxes and transports"):

    <root>/<node_id>/inbox/<message_id>.<fmt>          the published envelope
    <root>/<node_id>/inbox/<message_id>.files/<sha256> its attachments
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Protocol

from exchange.private import make_private, private_dir, write_private

ENVELOPE_SUFFIXES = (".xml", ".json")


class TransportError(Exception):
    """The store could not be reached or written; the message stays in the outbox and is retried."""


class StoreUnreachable(TransportError):
    """The store could not be reached at all (refused, timed out, dropped, its host key or our key refused):
    nothing was delivered, so the retry uses up none of the message's attempts (EXCHANGE_MAX_ATTEMPTS counts
    deliveries a peer did not acknowledge, not the hours a store is down)."""


class MessageGone(TransportError):
    """The inbox file was removed between the listing and the read: another worker handled it first. Normal
    when several workers share an inbox, so it is no warning."""


class Transport(Protocol):
    def publish(self, to_node: str, message_id: str, fmt: str, data: bytes,
                attachments: list[tuple[str, bytes]]) -> None: ...

    def list_inbox(self, node_id: str) -> list[str]: ...

    def read(self, node_id: str, name: str) -> bytes: ...

    def read_attachment(self, node_id: str, name: str, sha256: str) -> bytes: ...

    def remove(self, node_id: str, name: str) -> None: ...

    # Optional, where a store can do better than one call per file (SftpTransport): read_attachments(node_id,
    # name, [(sha256, size)]) -> [bytes], remove_many(node_id, [(name, [sha256] | None)]). And exists(node_id,
    # name) -> bool: whether a published envelope still waits unread in that inbox. And sweep(node_id,
    # grace_seconds) -> int: remove the leftovers of killed senders and removers (see `leftovers`).

    def quarantine(self, node_id: str, name: str, reason: str) -> None: ...


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


TOMBSTONE_SUFFIX = ".gone"
TEMP_SUFFIX = ".part"


def tombstone(name: str) -> str:
    """A name of this removal's own for an inbox entry about to be deleted: a dot-name (receivers ignore it) that
    no publish and no other removal ever uses, so that deleting it cannot take a copy published meanwhile."""
    return f".{name}.{uuid.uuid4().hex[:12]}{TOMBSTONE_SUFFIX}"


def leftovers(entries: list[tuple[str, bool]], names: set[str]) -> list[str]:
    """Of these inbox entries (name, is a folder), those nobody will remove but a sweep: tombstones and
    temporary upload names (dot-names), and attachment folders whose envelope is not in `names` (the whole
    inbox). The caller passes only entries older than its grace period: a publish in progress makes its folder
    before its envelope, and its .part before renaming it."""
    found = []
    for name, is_dir in entries:
        if name.startswith("."):
            if name.endswith((TOMBSTONE_SUFFIX, TEMP_SUFFIX)):
                found.append(name)
        elif is_dir and name.endswith(".files") and not any(
                f"{name[:-len('.files')]}{suffix}" in names for suffix in ENVELOPE_SUFFIXES):
            found.append(name)
    return found


def quarantine_name(qdir: Path, name: str) -> str:
    """The name under which a rejected file is kept: its own, or `<id>.<n>.<fmt>` when an earlier rejected file of
    that name is already there (forgeries may reuse a genuine MessageId), so that no evidence is overwritten."""
    candidate, n = name, 0
    while (qdir / candidate).exists() or (qdir / f"{candidate}.reason.txt").exists():
        n += 1
        stem, _, ext = name.rpartition(".")
        candidate = f"{stem}.{n}.{ext}"
    return candidate


def _delete(path: Path) -> bool:
    """Delete a file or a folder with what is in it; False if it was already gone."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True


class LocalTransport:
    """A directory shared by co-located nodes (and the embedded default)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _inbox(self, node_id: str) -> Path:
        return self.root / node_id / "inbox"

    def publish(self, to_node, message_id, fmt, data, attachments):
        inbox = self._inbox(to_node)
        try:
            # Case data and applicants' documents: 0600 in 0700 folders (co-located nodes run as one account).
            private_dir(inbox)
            if attachments:
                files = private_dir(inbox / f"{message_id}.files")
                for sha, content in attachments:
                    tmp = files / f".{sha}.part"
                    write_private(tmp, content)
                    os.replace(tmp, files / sha)
            # Atomic publish: a receiver never sees a half-written envelope, because it ignores dot-names.
            tmp = inbox / f".{message_id}.{fmt}.part"
            write_private(tmp, data, sync=True)
            os.replace(tmp, inbox / f"{message_id}.{fmt}")
        except OSError as exc:
            raise TransportError(f"local store {self.root}: {exc.strerror or exc}") from exc

    def list_inbox(self, node_id):
        inbox = self._inbox(node_id)
        if not inbox.is_dir():
            return []
        names = [p.name for p in inbox.iterdir()
                 if p.is_file() and not p.name.startswith(".") and p.suffix in ENVELOPE_SUFFIXES]
        # Oldest first, so that a backlog drains in the order it was written.
        return sorted(names, key=lambda n: ((inbox / n).stat().st_mtime_ns, n))

    def read(self, node_id, name):
        try:
            return (self._inbox(node_id) / name).read_bytes()
        except FileNotFoundError:
            raise MessageGone(f"{name} is no longer in the inbox (handled by another worker)") from None

    def exists(self, node_id, name):
        try:
            return (self._inbox(node_id) / name).is_file()
        except OSError as exc:
            raise TransportError(f"local store {self.root}: {exc.strerror or exc}") from exc

    def read_attachment(self, node_id, name, sha256):
        path = self._inbox(node_id) / f"{_stem(name)}.files" / sha256
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise TransportError(f"attachment {sha256} of {name} is missing") from None

    def remove(self, node_id, name):
        """The envelope, then its folder, renamed to tombstones and only those deleted: a copy published again
        meanwhile is never half taken (deleting by the message's own names took a fresh envelope and left its
        fresh folder for good: issue 21). See SftpTransport.remove_many."""
        inbox = self._inbox(node_id)
        taken = []
        for entry in (name, f"{_stem(name)}.files"):
            gone = inbox / tombstone(entry)
            try:
                os.replace(inbox / entry, gone)
            except FileNotFoundError:
                continue  # another worker removed it first
            taken.append(gone)
        for gone in taken:
            _delete(gone)

    def sweep(self, node_id, grace_seconds, now=None):
        """As SftpTransport.sweep: what nobody else removes from this node's inbox, once older than the grace."""
        inbox = self._inbox(node_id)
        try:
            entries = list(os.scandir(inbox))
        except FileNotFoundError:
            return 0
        limit = (now or time.time()) - grace_seconds
        old = []
        for e in entries:
            try:
                if e.stat(follow_symlinks=False).st_mtime < limit:
                    old.append((e.name, e.is_dir(follow_symlinks=False)))
            except FileNotFoundError:
                continue
        removed = 0
        for name in sorted(leftovers(old, {e.name for e in entries})):
            path = inbox / name
            if not name.startswith("."):  # an orphan folder: taken atomically first, as a removal takes it
                gone = inbox / tombstone(name)
                try:
                    os.replace(path, gone)
                except FileNotFoundError:
                    continue
                path = gone
            if _delete(path):
                removed += 1
        return removed

    def quarantine(self, node_id, name, reason):
        inbox = self._inbox(node_id)
        qdir = private_dir(self.root / node_id / "quarantine")
        target = quarantine_name(qdir, name)
        src = inbox / name
        if src.exists():
            os.replace(src, qdir / target)
            make_private(qdir / target)  # kept as evidence: whoever wrote it chose its mode
        files = inbox / f"{_stem(name)}.files"
        if files.exists():
            shutil.rmtree(qdir / f"{_stem(target)}.files", ignore_errors=True)
            os.replace(files, qdir / f"{_stem(target)}.files")
            make_private(qdir / f"{_stem(target)}.files")
        write_private(qdir / f"{target}.reason.txt", (reason + "\n").encode("utf-8"))
