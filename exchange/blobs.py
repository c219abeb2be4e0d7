"""Content-addressed file store for uploads and message attachments: a file's name is its SHA-256."""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from exchange.private import private_dir, write_private

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


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
            tmp = target.with_name(f".{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
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
