"""`flask --app wsgi archive …` and `flask --app wsgi audit …` (issue 19), and the jobs the worker runs for them.

    archive build [--limit N]               build the packages of concluded cases (the worker does it every 10 min)
    archive verify PACKAGE [--cert PEM | --fingerprint FP]   check a package offline (no database needed)
    archive retention ITEM_CODE YEARS|permanent              an item's retention for the packages built from now
    audit verify                            triggers present, hash chains intact, seals signed and still matching
    audit seal                              sign the chains' heads and the protected tables now (daily by the worker)
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import db

archive = AppGroup("archive", help="Archive packages of concluded cases (档案管理).")
audit_group = AppGroup("audit", help="The tamper-evident audit trail.")
BEIJING = timezone(timedelta(hours=8))


def register(cli) -> None:
    cli.add_command(archive)
    cli.add_command(audit_group)


def archive_dir():
    return current_app.config["TONGQUAN"].instance_path / "archives"


# -- documents the app renders ---------------------------------------------------------------------------------

def notice_documents(case):
    """The notices the platform renders for a case (受理通知书, 一次性告知书, 不予受理通知书, and the decision
    documents once app/web/notices.py renders them), as PDF, for the archive package."""
    from app.web import notices

    render = getattr(notices, "render_document", None)
    with current_app.test_request_context("/"):  # the templates' translations and url_for need a request
        for kind, _title in notices.available_notices(case):
            data = render(case, kind) if render is not None else notices.render_notice(case, kind).get_data()
            if data:
                yield f"{kind}.pdf", data


def _register_sources() -> None:
    from supervision import archive as service

    if notice_documents not in service.DOCUMENT_SOURCES:
        service.register_document_source(notice_documents)


# -- jobs ------------------------------------------------------------------------------------------------------

def build_archives(limit: int = 20) -> dict:
    """The job: package every concluded case not archived yet (one commit each)."""
    from exchange.bus import get_bus
    from supervision import archive as service

    _register_sources()
    return {"archived": len(service.build_due(get_bus(), archive_dir(), limit))}


def seal_if_due() -> dict:
    """The job: one seal per Beijing day (run hourly; a restart does not seal again)."""
    from delegation.audit import AuditSeal

    last = db.session.execute(sa.select(AuditSeal.sealed_at).order_by(AuditSeal.id.desc()).limit(1)).scalar()
    today = datetime.now(BEIJING).date()
    if last is not None and last.astimezone(BEIJING).date() == today:
        return {"sealed": 0}
    _seal()
    db.session.commit()
    return {"sealed": 1}


def _seal():
    from delegation.audit import seal
    from exchange.bus import get_bus
    from exchange.keys import cert_pem
    from exchange.keyring import node_cert

    bus = get_bus()
    return seal(db.session, bus.node_id, bus.private_key, cert_pem(node_cert(bus.keys_dir)))


def _trusted_own_certs():
    from exchange.bus import get_bus
    from supervision.archive import _certificates

    return _certificates(get_bus(), get_bus().node_id)


# -- commands --------------------------------------------------------------------------------------------------

@archive.command("build")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@with_appcontext
def build_cmd(limit):
    """Build the archive packages of concluded cases that have none."""
    click.echo(json.dumps(build_archives(limit)))


@archive.command("verify")
@click.argument("package", type=click.Path(exists=True, dir_okay=False))
@click.option("--cert", type=click.Path(exists=True, dir_okay=False), help="the archiving node's certificate")
@click.option("--fingerprint", help="its SHA-256 fingerprint")
def verify_cmd(package, cert, fingerprint):
    """Verify a package offline: digests, the manifest's signature, every message's signature, the timeline."""
    from supervision import archive_verify

    args = [package] + (["--cert", cert] if cert else []) + (["--fingerprint", fingerprint] if fingerprint else [])
    sys.exit(archive_verify.main(args))


@archive.command("retention")
@click.argument("item_code")
@click.argument("years")
@with_appcontext
def retention_cmd(item_code, years):
    """Set an item's retention: a number of years (1–100) or `permanent` (永久)."""
    from app.cli_support import item_or_fail

    item = item_or_fail(item_code)
    if years in ("permanent", "永久"):
        item.archive_retention_years = None
    elif years.isdigit() and 1 <= int(years) <= 100:
        item.archive_retention_years = int(years)
    else:
        raise click.ClickException("years: 请给出 1–100 的年数或 permanent (a number of years 1–100, or permanent)")
    db.session.commit()
    click.echo(f"{item_code}: {item.archive_retention_years or 'permanent'}")


@audit_group.command("verify")
@with_appcontext
def audit_verify_cmd():
    """Check the trail: triggers in place, every timeline's hash chain, every seal, the message logs' bytes."""
    from delegation.audit import verify_all

    counts, problems = verify_all(db.session, _trusted_own_certs())
    db.session.rollback()
    for problem in problems:
        click.echo(f"FAIL  {problem}")
    click.echo(json.dumps({**counts, "problems": len(problems)}))
    sys.exit(1 if problems else 0)


@audit_group.command("seal")
@with_appcontext
def audit_seal_cmd():
    """Sign the heads of the timelines and the protected tables' new rows with the node key, now."""
    row = _seal()
    db.session.commit()
    click.echo(json.dumps({"seal": row.id, "digest": row.digest}))
