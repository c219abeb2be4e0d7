"""This node's place on the bus: its id, signing key, trust store, transport and file store."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from exchange.blobs import BlobStore
from exchange.keys import cert_pem, generate_node_key, load_private_key, write_private_key
from exchange.transport import LocalTransport, Transport
from exchange.trust import TrustStore

log = logging.getLogger(__name__)
EXTENSION_KEY = "tongquan.bus"


@dataclass
class Bus:
    node_id: str
    keys_dir: Path
    trust: TrustStore
    transport: Transport
    blobs: BlobStore
    max_attempts: int = 8
    receipt_timeout_seconds: int = 600
    _private_key: object = None

    @property
    def private_key(self):
        if self._private_key is None:
            self._private_key = load_private_key(self.keys_dir / "node.key")
        return self._private_key

    def sign(self, envelope) -> bytes:
        from exchange.xmlform import sign

        return sign(envelope, self.private_key, self.node_id)

    def verify(self, data: bytes):
        from exchange.xmlform import verify

        return verify(data, self.trust.certs_for, self.node_id)


def ensure_node_key(node_id: str, keys_dir: Path, trust: TrustStore) -> None:
    """First start of a node: make its key pair and trust its own certificate (it sends to itself too)."""
    key_path = keys_dir / "node.key"
    if key_path.exists():
        return
    key, cert = generate_node_key(node_id)
    write_private_key(key_path, key)
    pem = cert_pem(cert)
    (keys_dir / "node.crt").write_bytes(pem)
    trust.add(node_id, pem, name="self")
    log.info("generated the signing key of node %s", node_id)


def init_bus(app, settings) -> Bus:
    trust = TrustStore(settings.trust_dir)
    ensure_node_key(settings.node_id, settings.keys_dir, trust)
    bus = Bus(
        node_id=settings.node_id,
        keys_dir=settings.keys_dir,
        trust=trust,
        transport=LocalTransport(settings.exchange_root),
        blobs=BlobStore(settings.upload_dir),
        max_attempts=settings.exchange_max_attempts,
    )
    app.extensions[EXTENSION_KEY] = bus
    return bus


def get_bus() -> Bus:
    return current_app.extensions[EXTENSION_KEY]
