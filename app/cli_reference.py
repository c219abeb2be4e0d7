"""`flask --app wsgi reference …`: the reference data published from the city (issue 18, part 3)."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.extensions import db


@click.group("reference", cls=AppGroup)
def reference():
    """Reference data published from the city node to the county nodes."""


@reference.command("versions")
def versions_cmd():
    """The version in force of each kind on this node (JSON)."""
    from delegation import reference_publish

    rows = [{**r, "published_at": r["published_at"].isoformat() if r["published_at"] else None,
             "applied_at": r["applied_at"].isoformat() if r["applied_at"] else None}
            for r in reference_publish.versions()]
    click.echo(json.dumps(rows, ensure_ascii=False))


@reference.command("republish")
@click.option("--kind", default=None, help="catalogue | credit | holidays (default: every kind)")
def republish_cmd(kind):
    """Publish this (city) node's whole reference data again, for a county node that joined later."""
    from delegation import reference_publish
    from delegation.errors import DomainError

    try:
        sent = reference_publish.republish(kind)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.field}: {exc.zh} / {exc.en}") from None
    db.session.commit()
    click.echo(json.dumps(sent))


def register(cli) -> None:
    cli.add_command(reference)
