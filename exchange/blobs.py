"""Content-addressed file store for uploads and message attachments: a file's name is its SHA-256.

A file is written under a temporary dot-name and renamed into place, so a reader never sees half a file. The
temporary name says who writes it: `.<sha256>.<host>.<pid>.<random>.part` (host: a short digest of the host name).
A process killed while writing leaves that name behind; `sweep_parts` removes it once its writer is known dead (a
process of this host that is gone) or it is older than the grace period (a writer on another host sharing the
store, or a pid reused since), and never a fresh part of a live writer (issue 21).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import time
import uuid
from pathlib import Path

from exchange.private import private_dir, write_private

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
PART_RE = re.compile(r"^\.[0-9a-f]{64}\.(?:([0-9a-f]{8})\.)?(\d+)\.[0-9a-f]{8}\.part$")
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
PART_GRACE_SECONDS = 3600  # a temporary file this old is stale whoever wrote it (a write takes seconds at most)

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another account's process
    try:  # a killed process its parent has not reaped yet writes nothing any more
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._made: set[str] = set()  # fan-out folders known to exist (a mkdir per file cost ~0.4 ms here)

    def path(self, sha256: str) -> Path:
        if not SHA256_RE.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store `data` under its SHA-256 (0600, in 0700 folders: applicants' documents). `digest`: the caller has
        just computed it from these very bytes (the inbox checks every attachment's digest before storing it), so
        it is not computed twice."""
        digest = digest or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            if digest[:2] not in self._made:
                self._folder(digest)
            # a name of its own per write: two threads storing the same file never share a half-written part
            tmp = target.with_name(f".{digest}.{HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
            try:
                write_private(tmp, data)
            except FileNotFoundError:  # the folder was removed since (a store emptied by hand): make it again
                self._made.clear()
                self._folder(digest)
                write_private(tmp, data)
            os.replace(tmp, target)
        return digest

    def _folder(self, digest: str) -> None:
        if not self._made:  # the first write of this process: the root too (0700 also if made 0755 before)
            private_dir(self.root)
        private_dir(self.root / digest[:2])
        self._made.add(digest[:2])

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def sweep_parts(self, grace_seconds: float = PART_GRACE_SECONDS, now: float | None = None) -> int:
        """Remove the temporary files of writers that were killed: those of a process of this host that is gone, at
        once (the worker runs this at start-up), and any older than `grace_seconds`. Returns how many went."""
        limit = (now or time.time()) - grace_seconds
        removed = 0
        try:
            folders = [d for d in os.scandir(self.root) if d.is_dir(follow_symlinks=False) and len(d.name) == 2]
        except FileNotFoundError:
            return 0
        for folder in folders:
            for entry in os.scandir(folder.path):
                match = PART_RE.match(entry.name)
                if not match:
                    continue
                host, pid = match.group(1), int(match.group(2))
                try:
                    stale = entry.stat(follow_symlinks=False).st_mtime < limit or (
                        host == HOST and pid != os.getpid() and not _pid_alive(pid))
                    if stale:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue  # its writer renamed it into place meanwhile, or another sweep took it
        if removed:
            log.info("%d temporary files of killed writers removed from %s", removed, self.root)
        return removed
