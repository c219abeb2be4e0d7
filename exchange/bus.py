"""This node's place on the bus: its id, signing key, trust store, transports and file store.

The node's own inbox lives on its home store (the local directory, or the SFTP exchange host). A peer is reached
through the transport and in the wire format its `exchange_peer` row names, or through the home store in the
default format when it has none. The row also names the signature algorithm agreed with the peer (ECDSA P-256 when
there is none): messages to the peer are signed with it and messages from the peer verify only with it.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from config import Settings
from exchange.blobs import BlobStore
from exchange.keys import cert_pem, generate_node_key, write_private_key
from exchange.sm2 import ECDSA_P256, SM2_SM3
from exchange.transport import LocalTransport, Transport
from exchange.trust import TrustStore

log = logging.getLogger(__name__)
EXTENSION_KEY = "tongquan.bus"
FORMATS = ("xml", "json")


@dataclass
class Bus:
    node_id: str
    keys_dir: Path
    trust: TrustStore
    transport: Transport  # the home store: this node's inbox, and the default way to reach a peer
    blobs: BlobStore
    exchange_root: Path
    # The node's settings, for the code the bus serves: the domain reads its settings here (office hours, upload
    # limit, claim days), not from Flask or the environment.
    settings: Settings
    default_format: str = "xml"
    max_attempts: int = 8
    receipt_timeout_seconds: int = 600
    _private_key: object = None  # the P-256 key
    _sm2_key: object = None
    _peer_transports: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def private_key(self):
        if self._private_key is None:
            from exchange.keyring import load_node_key

            self._private_key = load_node_key(self.keys_dir, self.settings.exchange_key_passphrase or None)
        return self._private_key

    def signing_key(self, alg: str = ECDSA_P256):
        """This node's key of `alg` (keys/node.key, or keys/node-sm2.key for sm2-sm3), read once."""
        if alg == ECDSA_P256:
            return self.private_key
        if alg != SM2_SM3:
            raise ValueError(f"unknown signature algorithm {alg!r}")
        if self._sm2_key is None:
            from exchange.keyring import load_node_key

            self._sm2_key = load_node_key(self.keys_dir, self.settings.exchange_key_passphrase or None, alg=SM2_SM3)
        return self._sm2_key

    def reload_key(self) -> None:
        self._private_key = self._sm2_key = None

    # -- peers ----------------------------------------------------------------------------------------------

    def _peer(self, node_id: str) -> "_PeerSettings | None":
        """The peer's settings, read once per transaction (a receive batch answers many messages of one peer)."""
        from persistence import db
        from exchange.models import ExchangePeer

        session = db.session()
        cache = session.info.setdefault(_PEERS_KEY, {})
        if node_id not in cache:
            peer = session.get(ExchangePeer, node_id)
            cache[node_id] = None if peer is None else _PeerSettings(
                peer.fmt, peer.transport, (peer.sftp_host, peer.sftp_port, peer.sftp_user, peer.sftp_key_path,
                                           peer.sftp_known_hosts, peer.sftp_root), peer.sig_alg or ECDSA_P256)
        return cache[node_id]

    def format_for(self, node_id: str) -> str:
        peer = self._peer(node_id)
        return peer.fmt if peer is not None else self.default_format

    def sig_alg_for(self, node_id: str) -> str:
        """The signature algorithm agreed with `node_id`: the only one its messages may carry, the one we sign with."""
        peer = self._peer(node_id)
        return peer.sig_alg if peer is not None else ECDSA_P256

    def transport_for(self, node_id: str) -> Transport:
        peer = self._peer(node_id)
        if peer is None:
            return self.transport
        if peer.transport == "local":
            return self.transport if isinstance(self.transport, LocalTransport) else LocalTransport(self.exchange_root)
        config = peer.sftp
        with self._lock:
            transport = self._peer_transports.get(config)
            if transport is None:
                transport = self._peer_transports[config] = sftp_transport(*config, self.exchange_root)
        return transport

    # -- wire formats ---------------------------------------------------------------------------------------

    def sign(self, envelope, fmt: str = "xml") -> bytes:
        # The key decides the algorithm in the wire forms; the recipient's agreement decides the key.
        return _form(fmt).sign(envelope, self.signing_key(self.sig_alg_for(envelope.to_node)), self.node_id)

    def verify(self, data: bytes, fmt: str = "xml"):
        return _form(fmt).verify(data, self.trust.certs_for, self.node_id, sig_alg=self.sig_alg_for)


@dataclass(frozen=True)
class _PeerSettings:
    fmt: str
    transport: str
    sftp: tuple
    sig_alg: str = ECDSA_P256


_PEERS_KEY = "tongquan.peers"


def _forget_peers(session, *_args) -> None:
    # SQLAlchemy also calls after_commit / after_rollback when a SAVEPOINT ends: only the outermost counts. (The
    # outermost transaction is still "in" its session while the event runs: in_transaction() is true then too.)
    if not session.in_nested_transaction():
        session.info.pop(_PEERS_KEY, None)


def _peers_written(session, _flush_context) -> None:
    from exchange.models import ExchangePeer

    if any(isinstance(obj, ExchangePeer) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_PEERS_KEY, None)


def _listen() -> None:
    import sqlalchemy as sa

    sa.event.listen(sa.orm.Session, "after_commit", _forget_peers)
    sa.event.listen(sa.orm.Session, "after_rollback", _forget_peers)
    sa.event.listen(sa.orm.Session, "after_flush", _peers_written)


_listen()


def _form(fmt: str):
    if fmt == "json":
        from exchange import jsonform

        return jsonform
    if fmt == "xml":
        from exchange import xmlform

        return xmlform
    raise ValueError(f"unknown wire format {fmt!r}")


def sftp_transport(host, port, user, key_path, known_hosts, root, local_root: Path) -> Transport:
    from exchange.sftp import SftpTransport

    return SftpTransport(host, port, user, key_path, known_hosts, root, local_quarantine_root=local_root)


def ensure_node_key(node_id: str, keys_dir: Path, trust: TrustStore) -> None:
    """First start of a node: make its key pair and trust its own certificate (it sends to itself too)."""
    key_path = keys_dir / "node.key"
    if key_path.exists():
        return
    key, cert = generate_node_key(node_id)
    try:
        write_private_key(key_path, key)  # O_EXCL: of processes starting together, one makes the key
    except FileExistsError:
        return
    pem = cert_pem(cert)
    (keys_dir / "node.crt").write_bytes(pem)
    trust.add(node_id, pem, name="self")
    log.info("generated the signing key of node %s", node_id)


def init_bus(app, settings) -> Bus:
    trust = TrustStore(settings.trust_dir)
    ensure_node_key(settings.node_id, settings.keys_dir, trust)
    if settings.exchange_transport == "sftp":
        s = settings.sftp
        home = sftp_transport(s["host"], s["port"], s["user"], s["key"], s["known_hosts"], s["root"],
                              settings.exchange_root)
    else:
        home = LocalTransport(settings.exchange_root)
    bus = Bus(
        node_id=settings.node_id,
        keys_dir=settings.keys_dir,
        trust=trust,
        transport=home,
        blobs=BlobStore(settings.upload_dir),
        exchange_root=settings.exchange_root,
        settings=settings,
        default_format=settings.exchange_format,
        max_attempts=settings.exchange_max_attempts,
        receipt_timeout_seconds=settings.exchange_receipt_timeout_seconds,
    )
    bus.private_key  # an unreadable key (e.g. EXCHANGE_KEY_PASSPHRASE missing) stops start-up, not a request
    from exchange.keyring import has_key

    if has_key(settings.keys_dir, SM2_SM3):
        bus.signing_key(SM2_SM3)  # likewise the SM2 key, where the node has one
    app.extensions[EXTENSION_KEY] = bus
    return bus


_locate: Callable[[], Bus] | None = None


def set_locator(locate: Callable[[], Bus]) -> None:
    """The app shell says how to find the bus of the node being served (with Flask: the current app's, see
    app/__init__.py). The exchange itself knows no web framework; several nodes may share a process (the tests')."""
    global _locate
    _locate = locate


def get_bus() -> Bus:
    if _locate is None:
        raise RuntimeError("no exchange bus: the app shell has not started one (init_bus, set_locator)")
    return _locate()
