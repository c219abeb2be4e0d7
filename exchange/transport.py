"""Mailbox transports. The layout is the same on every store (exchange-v1, "Mailboxes and transports"):

    <root>/<node_id>/inbox/<message_id>.<fmt>          the published envelope
    <root>/<node_id>/inbox/<message_id>.files/<sha256> its attachments
"""
from __future__ import annotations

import os
import shutil
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


class Transport(Protocol):
    def publish(self, to_node: str, message_id: str, fmt: str, data: bytes,
                attachments: list[tuple[str, bytes]]) -> None: ...

    def list_inbox(self, node_id: str) -> list[str]: ...

    def read(self, node_id: str, name: str) -> bytes: ...

    def read_attachment(self, node_id: str, name: str, sha256: str) -> bytes: ...

    def remove(self, node_id: str, name: str) -> None: ...

    # Optional, where a store can do better than one call per file (SftpTransport): read_attachments(node_id,
    # name, [(sha256, size)]) -> [bytes], remove_many(node_id, [(name, [sha256] | None)]). And exists(node_id,
    # name) -> bool: whether a published envelope still waits unread in that inbox.

    def quarantine(self, node_id: str, name: str, reason: str) -> None: ...


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def quarantine_name(qdir: Path, name: str) -> str:
    """The name under which a rejected file is kept: its own, or `<id>.<n>.<fmt>` when an earlier rejected file of
    that name is already there (forgeries may reuse a genuine MessageId), so that no evidence is overwritten."""
    candidate, n = name, 0
    while (qdir / candidate).exists() or (qdir / f"{candidate}.reason.txt").exists():
        n += 1
        stem, _, ext = name.rpartition(".")
        candidate = f"{stem}.{n}.{ext}"
    return candidate


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
        return (self._inbox(node_id) / name).read_bytes()

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
        inbox = self._inbox(node_id)
        shutil.rmtree(inbox / f"{_stem(name)}.files", ignore_errors=True)
        (inbox / name).unlink(missing_ok=True)

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
