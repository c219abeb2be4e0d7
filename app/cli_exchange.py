"""Operator commands for the node's key, the trust store, peers and audit export: `flask exchange <command>`.

The lead adds them to the existing group with `register(exchange)` (app/cli.py). The services live in
exchange.keyring; this module only parses options, prints, and turns failures into one-line errors.
"""
from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from exchange import keyring
from exchange.keyring import PASSPHRASE_ENV, KeyringError

BACKLOG_STATES = ("queued", "sending", "awaiting_receipt", "retry")
ALG_OPTION = dict(type=click.Choice(keyring.SIG_ALGS), default=keyring.SIG_ALGS[0], show_default=True,
                  help="签名算法：ecdsa-p256 (ECDSA P-256) 或 sm2-sm3 (国密 SM2/SM3)")


def _settings():
    return current_app.config["TONGQUAN"]


def _bus():
    from exchange.bus import get_bus

    return get_bus()


def _passphrase(encrypt: bool) -> str | None:
    # From the environment only: a passphrase on the command line would end up in shell history and `ps`.
    if not encrypt:
        return None
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        raise click.ClickException(f"--encrypt 需要环境变量 {PASSPHRASE_ENV}（私钥口令 passphrase）")
    return value


def _reload_key() -> None:
    # A running bus caches the key it signs with; after keygen/rotate it must read the new one.
    bus = _bus()
    if hasattr(bus, "reload_key"):
        bus.reload_key()
    else:
        bus._private_key = None


def _short(fp: str, full: bool) -> str:
    return fp if full else fp[:23] + "…"


def _local_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    from exchange.envelope import SHANGHAI

    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def register(exchange_group: click.Group) -> None:
    """Add the commands of this module to `flask exchange` (idempotent: a second call changes nothing)."""
    from flask.cli import with_appcontext

    for command in (keygen, cert, trust, untrust, peers, peer_set, rotate, export):
        if not getattr(command.callback, "_tongquan_ctx", False):
            command.callback = with_appcontext(command.callback)
            command.callback._tongquan_ctx = True
        exchange_group.add_command(command)


@click.command("keygen")
@click.option("--encrypt", is_flag=True, help=f"用环境变量 {PASSPHRASE_ENV} 的口令加密私钥")
@click.option("--alg", **ALG_OPTION)
def keygen(encrypt: bool, alg: str) -> None:
    """Make this node's signing key (ECDSA P-256, or SM2 with --alg sm2-sm3) and self-signed certificate; never
    overwrites. A node may hold both, one per algorithm its peers agreed on."""
    s = _settings()
    try:
        new_cert = keyring.generate(s.keys_dir, s.node_id, _passphrase(encrypt), alg=alg)
        fp = keyring.trust_cert(_bus().trust, s.node_id, keyring.cert_pem(new_cert))
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    _reload_key()
    click.echo(f"已为节点 {s.node_id} 生成签名密钥 (signing key, {alg})：{s.keys_dir / keyring.FILES[alg][0]}")
    click.echo(f"SHA-256 Fingerprint={fp}")
    hint = "" if alg == keyring.SIG_ALGS[0] else f" --alg {alg}"
    click.echo(f"请把 `flask exchange cert{hint}` 的输出通过线下渠道交给对端节点 (peers)。")


@click.command("cert")
@click.option("--alg", **ALG_OPTION)
def cert(alg: str) -> None:
    """Print this node's certificate (PEM) of the algorithm and its SHA-256 fingerprint, to hand to peers."""
    try:
        node_cert = keyring.node_cert(_settings().keys_dir, alg)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(keyring.cert_pem(node_cert).decode("ascii"), nl=False)
    click.echo(f"SHA-256 Fingerprint={keyring.cert_fingerprint(node_cert)}")


@click.command("trust")
@click.argument("node_id")
@click.argument("cert_file", metavar="CERT.pem", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="CN 与节点编号不符或证书过期时仍然信任")
def trust(node_id: str, cert_file: Path, force: bool) -> None:
    """Trust CERT.pem for messages from NODE_ID (compare the fingerprint with the peer out of band)."""
    try:
        fp = keyring.trust_cert(_bus().trust, node_id, cert_file.read_bytes(), force=force)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已信任节点 {node_id} 的证书 (certificate)")
    click.echo(f"SHA-256 Fingerprint={fp}")


@click.command("untrust")
@click.argument("node_id")
@click.argument("fingerprint")
@click.option("--force", is_flag=True, help="允许移除本节点当前使用的证书")
def untrust(node_id: str, fingerprint: str, force: bool) -> None:
    """Stop trusting NODE_ID's certificate with FINGERPRINT (full, or a unique prefix of 8+ hex digits)."""
    s = _settings()
    if node_id == s.node_id and not force:
        # Without its active certificate this node rejects its own messages (it sends to itself too).
        wanted = fingerprint.replace(":", "").lower()
        for alg in keyring.SIG_ALGS:  # the active certificate of either algorithm
            try:
                active = keyring.cert_fingerprint(keyring.node_cert(s.keys_dir, alg))
            except KeyringError:
                continue
            if len(wanted) >= 8 and active.replace(":", "").lower().startswith(wanted):
                raise click.ClickException(
                    "这是本节点当前使用的证书，移除后本节点将无法验证自己的消息；确需移除请加 --force")
    try:
        removed = keyring.untrust(_bus().trust, node_id, fingerprint)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已移除节点 {node_id} 的受信任证书 (untrusted)：{', '.join(p.name for p in removed)}")


@click.command("peers")
@click.option("--full", is_flag=True, help="显示完整指纹")
def peers(full: bool) -> None:
    """Known nodes: transport, wire format, trusted fingerprints, last success, backlog and dead messages."""
    from exchange.models import ExchangePeer, OutboxMessage

    s = _settings()
    rows = {p.node_id: p for p in db.session.execute(sa.select(ExchangePeer)).scalars()}
    fingerprints: dict[str, list[str]] = {}
    for node_id, fp, _not_after in keyring.trusted(_bus().trust):
        fingerprints.setdefault(node_id, []).append(fp)
    counts = db.session.execute(
        sa.select(OutboxMessage.to_node,
                  sa.func.count().filter(OutboxMessage.state.in_(BACKLOG_STATES)),
                  sa.func.count().filter(OutboxMessage.state == "dead"),
                  sa.func.max(OutboxMessage.sent_at))
        .group_by(OutboxMessage.to_node)
    ).all()
    stats = {node: (backlog, dead, sent) for node, backlog, dead, sent in counts}
    nodes = sorted(set(rows) | set(fingerprints) | set(stats))
    if not nodes:
        click.echo("没有已知节点 (no peers)。")
        return
    table = [("node", "transport", "format", "signature", "fingerprint", "last success", "backlog", "dead")]
    for node in nodes:
        peer = rows.get(node)
        backlog, dead, last_sent = stats.get(node, (0, 0, None))
        transport = peer.transport if peer else f"{getattr(s, 'exchange_transport', 'local')}*"
        fmt = peer.fmt if peer else f"{getattr(s, 'exchange_format', 'xml')}*"
        sig = peer.sig_alg if peer else f"{keyring.SIG_ALGS[0]}*"
        last = peer.last_success_at if peer and peer.last_success_at else last_sent
        fps = [_short(fp, full) for fp in fingerprints.get(node, [])] or ["(未信任 untrusted)"]
        table.append((node, transport, fmt, sig, fps[0], _local_time(last), str(backlog), str(dead)))
        table.extend(("", "", "", "", fp, "", "", "") for fp in fps[1:])  # one line per certificate after rotation
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    click.echo("* 无 peer 设置，使用本节点默认值 (default)")


def _check_private_file(option: str, path: Path) -> None:
    if not path.is_file():
        raise click.ClickException(f"{option}：文件不存在 {path}")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise click.ClickException(f"{option}：私钥文件 {path} 权限过宽 (group/world readable)，请 chmod 600")


@click.command("peer-set")
@click.argument("node_id")
@click.option("--transport", type=click.Choice(["local", "sftp"]), required=True)
@click.option("--format", "fmt", type=click.Choice(["xml", "json"]), required=True)
@click.option("--name", help="对端名称")
@click.option("--host", help="SFTP 主机 (前置机)")
@click.option("--port", type=click.IntRange(1, 65535), help="SFTP 端口，默认 22")
@click.option("--user", help="SFTP 用户")
@click.option("--key", "key_path", type=click.Path(path_type=Path), help="SFTP 客户端私钥文件 (0600)")
@click.option("--known-hosts", type=click.Path(path_type=Path), help="SFTP 主机公钥 known_hosts 文件")
@click.option("--root", help="SFTP 上交换目录，默认 /exchange")
@click.option("--sig-alg", type=click.Choice(keyring.SIG_ALGS),
              help="与对端约定的签名算法（默认保持原值，新对端为 ecdsa-p256）；只接受对端以该算法签名的消息")
def peer_set(node_id: str, transport: str, fmt: str, name: str | None, host: str | None, port: int | None,
             user: str | None, key_path: Path | None, known_hosts: Path | None, root: str | None,
             sig_alg: str | None) -> None:
    """Create or update how NODE_ID is reached and the signature algorithm agreed with it; options not given keep
    their stored values."""
    from exchange.models import ExchangePeer
    from exchange.trust import NODE_ID_RE

    if not NODE_ID_RE.match(node_id):
        raise click.ClickException(f"节点编号 (node_id) 无效：{node_id!r}")
    peer = db.session.get(ExchangePeer, node_id)
    created = peer is None
    if created:
        peer = ExchangePeer(node_id=node_id, name="", sftp_port=22, sftp_root="/exchange")
    host = host or peer.sftp_host
    user = user or peer.sftp_user
    # Stored absolute: the worker may run from another directory than the operator's shell.
    key = str(key_path.resolve()) if key_path else peer.sftp_key_path
    hosts = str(known_hosts.resolve()) if known_hosts else peer.sftp_known_hosts
    if transport == "sftp":
        missing = [opt for opt, value in (("--host", host), ("--user", user), ("--key", key),
                                          ("--known-hosts", hosts)) if not value]
        if missing:
            raise click.ClickException(f"transport=sftp 需要 {'、'.join(missing)}")
        _check_private_file("--key", Path(key))
        if not Path(hosts).is_file():
            raise click.ClickException(f"--known-hosts：文件不存在 {hosts}")
    if sig_alg is not None and sig_alg != keyring.SIG_ALGS[0] and not keyring.has_key(_settings().keys_dir, sig_alg):
        # Messages to the peer would be signed with a key this node does not have: refuse before anything is queued.
        raise click.ClickException(f"--sig-alg {sig_alg}：本节点没有该算法的签名密钥，请先运行 "
                                   f"flask exchange keygen --alg {sig_alg}")
    peer.transport, peer.fmt = transport, fmt
    peer.sig_alg = sig_alg or peer.sig_alg or keyring.SIG_ALGS[0]
    peer.sftp_host, peer.sftp_user, peer.sftp_key_path, peer.sftp_known_hosts = host, user, key, hosts
    if name is not None:
        peer.name = name
    if port is not None:
        peer.sftp_port = port
    if root is not None:
        peer.sftp_root = root
    if created:
        db.session.add(peer)
    db.session.commit()
    where = f" {user}@{host}:{peer.sftp_port}{peer.sftp_root}" if transport == "sftp" else ""
    click.echo(f"{'已添加' if created else '已更新'}对端 (peer) {node_id}：{transport}{where}，格式 {fmt}，"
               f"签名算法 {peer.sig_alg}")
    if peer.sig_alg not in keyring.trusted_algorithms(_bus().trust, node_id):
        # Not an error (the certificate may come later), but until then every message from the peer is quarantined.
        click.echo(f"注意：尚未信任节点 {node_id} 的 {peer.sig_alg} 证书，在 trust 之前它发来的消息都会被隔离 (quarantined)")


@click.command("rotate")
@click.option("--encrypt", is_flag=True, help=f"用环境变量 {PASSPHRASE_ENV} 的口令加密新私钥")
@click.option("--alg", **ALG_OPTION)
def rotate(encrypt: bool, alg: str) -> None:
    """Replace this node's signing key of the algorithm; the old certificate stays trusted until you untrust it."""
    s = _settings()
    try:
        old_fp, new_fp = keyring.rotate(s.keys_dir, _bus().trust, s.node_id, _passphrase(encrypt), alg=alg)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    _reload_key()
    click.echo(f"已轮换节点 {s.node_id} 的签名密钥 (key rotated)；旧密钥在 {s.keys_dir / keyring.RETIRED}")
    click.echo(f"旧证书 old SHA-256 Fingerprint={old_fp}")
    click.echo(f"新证书 new SHA-256 Fingerprint={new_fp}")
    hint = "" if alg == keyring.SIG_ALGS[0] else f" --alg {alg}"
    click.echo(f"下一步：把新证书 (`flask exchange cert{hint}`) 交给各对端；待旧消息都已送达、对端已信任新证书后，")
    click.echo(f"  运行 flask exchange untrust {s.node_id} {old_fp.replace(':', '')[:16]}（各对端也移除旧证书）。")
    click.echo("其他正在运行的进程 (web, worker) 需重启才会使用新密钥。")


@click.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--case", "case_no", help="导出该案件的全部消息")
@click.option("--message", "message_id", help="导出一条消息 (MessageId)")
def export(out_dir: Path, case_no: str | None, message_id: str | None) -> None:
    """Write the exact signed bytes of logged messages and their attachments, for audit (xmlsec1 --verify)."""
    if (case_no is None) == (message_id is None):
        raise click.ClickException("请指定 --case CASE_NO 或 --message ID 之一")
    try:
        paths = keyring.export_messages(db.session, _bus().blobs, out_dir, case_no=case_no, message_id=message_id)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(str(path))
    envelopes = sum(1 for p in paths if p.parent == out_dir)
    click.echo(f"已导出 {envelopes} 条消息、{len(paths) - envelopes} 个附件 (attachments) 到 {out_dir}")
