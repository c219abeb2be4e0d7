"""The trust store: node_id → certificates, loaded from files an operator exchanged out of band.

Layout: <trust_dir>/<node_id>/<anything>.pem. A message is verified only against its claimed sender's entries.
A node's folder is re-read when it changes, so removing a certificate takes effect without a restart.
"""
from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509

NODE_ID_RE = re.compile(r"^\d{6}(-[A-Za-z0-9]{1,32})?$")


class TrustStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[str, tuple[tuple, list[x509.Certificate]]] = {}

    def _stamp(self, folder: Path) -> tuple:
        files = sorted(folder.glob("*.pem"))
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)

    def certs_for(self, node_id: str) -> list[x509.Certificate]:
        # The claimed sender comes from an unverified message: never let it name a path.
        if not NODE_ID_RE.match(node_id or ""):
            return []
        folder = self.root / node_id
        if not folder.is_dir():
            self._cache.pop(node_id, None)
            return []
        stamp = self._stamp(folder)
        cached = self._cache.get(node_id)
        if cached is None or cached[0] != stamp:
            certs = [x509.load_pem_x509_certificate((folder / name).read_bytes()) for name, _, _ in stamp]
            cached = self._cache[node_id] = (stamp, certs)
        return cached[1]

    def knows(self, node_id: str) -> bool:
        return bool(self.certs_for(node_id))

    def add(self, node_id: str, pem: bytes, name: str = "node") -> Path:
        if not NODE_ID_RE.match(node_id):
            raise ValueError(f"not a node id: {node_id!r}")
        x509.load_pem_x509_certificate(pem)  # refuse garbage before it lands in the store
        folder = self.root / node_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.pem"
        target.write_bytes(pem)
        return target
