"""The trust store: node_id → certificates, loaded from files an operator exchanged out of band.

Layout: <trust_dir>/<node_id>/<anything>.pem. A message is verified only against its claimed sender's entries.
"""
from __future__ import annotations

from pathlib import Path

from cryptography import x509


class TrustStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[str, list[x509.Certificate]] = {}

    def certs_for(self, node_id: str) -> list[x509.Certificate]:
        if node_id not in self._cache:
            folder = self.root / node_id
            certs = []
            # A node id never contains a path separator (the XSD and NODE_ID_RE say so); refuse one anyway.
            if "/" not in node_id and "\\" not in node_id and node_id not in (".", "..") and folder.is_dir():
                for pem in sorted(folder.glob("*.pem")):
                    certs.append(x509.load_pem_x509_certificate(pem.read_bytes()))
            self._cache[node_id] = certs
        return self._cache[node_id]

    def knows(self, node_id: str) -> bool:
        return bool(self.certs_for(node_id))

    def add(self, node_id: str, pem: bytes, name: str = "node") -> Path:
        x509.load_pem_x509_certificate(pem)  # refuse garbage before it lands in the store
        folder = self.root / node_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.pem"
        target.write_bytes(pem)
        self._cache.pop(node_id, None)
        return target
