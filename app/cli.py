"""Command-line interface: `flask --app wsgi <command>`."""
from __future__ import annotations

import json
import sys

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import db


def register_cli(app):
    from app.cli_bulk import register as register_bulk
    from app.cli_orgs import register as register_orgs
    from app.cli_stats import register as register_stats
    from app.cli_supervision import register as register_supervision

    register_supervision(app.cli)
    register_stats(app.cli)
    register_bulk(app.cli)
    register_orgs(app.cli)
    from app.worker import worker_cmd

    app.cli.add_command(worker_cmd)  # the jobs in a process of their own (production)
    app.cli.add_command(seed_reference_cmd)
    app.cli.add_command(seed_demo_cmd)
    app.cli.add_command(users)
    app.cli.add_command(exchange)
    app.cli.add_command(catalog)
    app.cli.add_command(deadlines)
    from app.cli_reference import register as register_reference

    register_reference(app.cli)  # reference versions / republish: reference data from the city (issue 18)
    from app.cli_archive import register as register_archive

    register_archive(app.cli)  # archive build / verify / retention, audit verify / seal (issue 19)
    from app.cli_mailing import register as register_mailing

    register_mailing(app.cli)  # originals set / show: the catalogue's 材料邮寄 settings (issue 19)
    from app.cli_licences import register as register_licences

    register_licences(app.cli)  # licences template / show: an item's licence template (issue 16)


def _seed_options(command):
    """The options seed-reference and seed-demo share: which node this is and where the others live."""
    for option in reversed((
        click.option("--node", help="seed what this node holds (default NODE_ID); a county code for a county node"),
        click.option("--remote-county", "remote", multiple=True,
                     help="on the city node: a county that runs its own node (repeatable)"),
        click.option("--org-node", "org_nodes", multiple=True, metavar="ORG=NODE",
                     help="an organisation living on a node of its own, e.g. 360700-industry=360700-sj "
                          "(repeatable; give the same on every node)"),
    )):
        command = option(command)
    return command


def _seed(seed, node, remote, org_nodes) -> dict:
    from config.settings import NODE_ID_RE

    node = node or current_app.config["TONGQUAN"].node_id
    if node != current_app.config["TONGQUAN"].node_id:
        raise click.ClickException(f"--node {node} differs from this installation's NODE_ID "
                                   f"{current_app.config['TONGQUAN'].node_id}")
    placed = dict(pair.split("=", 1) for pair in org_nodes if "=" in pair)
    if len(placed) != len(org_nodes) or not all(NODE_ID_RE.match(n) for n in placed.values()):
        raise click.ClickException("--org-node takes ORG=NODE, e.g. 360700-industry=360700-sj")
    try:
        result = seed(node, set(remote), placed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    return result


@click.command("seed-reference")
@with_appcontext
@_seed_options
def seed_reference_cmd(node, remote, org_nodes):
    """Load the city, counties, organisations and catalogue, and no account (idempotent; for production)."""
    from delegation.seed import seed_reference

    click.echo(json.dumps(_seed(seed_reference, node, remote, org_nodes), ensure_ascii=False))


@click.command("seed-demo")
@with_appcontext
@_seed_options
@click.option("--cases", "with_cases", is_flag=True,
              help="also a day's work on every desk of 宁都县 (only on a database without cases; `make run` does)")
def seed_demo_cmd(node, remote, org_nodes, with_cases):
    """The reference data and the demo accounts (password `demo`; refused in production). Idempotent."""
    from delegation.seed import seed_demo

    if current_app.config["TONGQUAN"].env == "production":
        raise click.ClickException("seed-demo is refused under TONGQUAN_ENV=production (its accounts share the "
                                   "known password 'demo'): run seed-reference, then users create USERNAME --org "
                                   "ORG --role admin for the first administrator")
    result = _seed(seed_demo, node, remote, org_nodes)
    if with_cases:
        from app.demo_cases import seed_demo_cases

        result["demo_cases"] = seed_demo_cases()
    click.echo(json.dumps(result, ensure_ascii=False))


@click.group(cls=AppGroup)
def users():
    """Staff accounts."""


@users.command("create")
@click.argument("username")
@click.option("--org", "org_code", required=True, help="the organisation's code, e.g. 360700-bureau")
@click.option("--role", required=True,
              type=click.Choice(["window", "reviewer", "regulator", "county_admin", "city_approver", "admin"]),
              help="county roles (window, reviewer, regulator, county_admin: a county node's administrator) in "
                   "county organisations, city roles (city_approver, admin) in city ones")
@click.option("--name", "display_name", help="the name shown on the pages (default: the username)")
@click.option("--generate", is_flag=True, help="make a strong password and print it once, instead of asking")
def user_create(username, org_code, role, display_name, generate):
    """Create a staff account (e.g. a node's first administrator). The password is an initial one: the account
    must change it at its first login."""
    import secrets

    from delegation.errors import DomainError
    from delegation.staff import create_account

    password = secrets.token_urlsafe(15) if generate else \
        click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        create_account(username, display_name or username, org_code, role, password)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.field}: {exc.zh} / {exc.en}") from None
    db.session.commit()
    click.echo(f"created {username.strip()} ({role}, {org_code}); it must change its password at the first login")
    if generate:
        click.echo(f"initial password: {password}  (shown once: hand it over, it is stored only as a hash)")


@users.command("token")
@click.argument("username")
def user_token(username):
    """Print an API token for USERNAME."""
    from app.auth import issue_token
    from delegation.models import User

    user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    click.echo(issue_token(user))


@click.group(cls=AppGroup)
def exchange():
    """The exchange bus."""


from app.cli_exchange import register as _register_exchange_admin  # noqa: E402

_register_exchange_admin(exchange)


@exchange.command("run-once")
def exchange_run_once():
    """Send what is due, receive what waits, process receipts."""
    from exchange.jobs import run_once

    click.echo(json.dumps(run_once()))


@click.group(cls=AppGroup)
def catalog():
    """The catalogue of delegated items."""


@catalog.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--override-reason", default=None, help="只减不增: import items over their baseline, for this reason")
@click.option("--by", "by_username", default=None, help="the city administrator's account answering for the override")
def catalog_import(path, override_reason, by_username):
    """Import items from a CSV or XLSX file; a bad row (or an item over its 只减不增 baseline) stops the whole file."""
    from delegation import baseline_rule
    from delegation.catalog_io import CatalogError
    from delegation.errors import Invalid
    from delegation.models import Division

    counties = db.session.execute(sa.select(Division.code).where(Division.parent_code.is_not(None))).scalars().all()
    try:
        override = None if override_reason is None and by_username is None else \
            baseline_rule.override_by(db.session, by_username, override_reason)
        result = baseline_rule.import_file(db.session, path, list(counties), override=override)
    except Invalid as exc:
        raise click.ClickException(exc.message("zh")) from None
    except CatalogError as exc:
        db.session.rollback()
        for err in exc.errors:
            where = f"第 {err.line} 行" if err.line else "文件"
            click.echo(f"{where}，字段 {err.field}：{err.message_zh}", err=True)
        click.echo(f"导入失败：{len(exc.errors)} 处错误，未导入任何内容。", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(json.dumps(result, ensure_ascii=False))


@catalog.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def catalog_export(path):
    """Export the catalogue as CSV or XLSX (by the file's suffix)."""
    from delegation.catalog_io import export_catalog

    export_catalog(db.session, path)
    click.echo(path)


@click.group(cls=AppGroup)
def deadlines():
    """Time limits."""


@deadlines.command("sweep")
def deadlines_sweep():
    """Refresh warning/overdue flags and terminate broken 容缺 commitments."""
    from delegation.cases import sweep

    click.echo(json.dumps(sweep()))
