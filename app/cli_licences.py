"""`flask --app wsgi licences …`: an item's licence template (issue 16).

    licences template ITEM_CODE [--title 食品经营许可证] [--fields holder_id,legal_basis] [--validity-months 60]
    licences show ITEM_CODE

The template is read when an approval issues its licence; licences already issued keep what they were issued with."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup, with_appcontext

from app.cli_support import domain_unit, item_or_fail

licences_group = AppGroup("licences", help="Licence templates of the catalogue's items (电子证照).")


def register(cli) -> None:
    cli.add_command(licences_group)


def _show(item) -> str:
    from delegation.licences import DEFAULT_TITLE, template_fields

    return json.dumps({"item": item.code, "title": item.licence_title or DEFAULT_TITLE,
                       "fields": template_fields(item), "validity_months": item.validity_months},
                      ensure_ascii=False)


@licences_group.command("template")
@click.argument("item_code")
@click.option("--title", default="", help="the licence's title; empty: 行政许可证")
@click.option("--fields", default="", help="comma-separated optional rows: holder_id, legal_basis, conditions, case_no")
@click.option("--validity-months", type=int, default=60, show_default=True, help="validity in months; 0: no expiry")
@with_appcontext
def template_cmd(item_code, title, fields, validity_months):
    """Set an item's licence template (replaces what was set)."""
    from delegation import licences

    with domain_unit():
        item = licences.set_template(item_code, title, [f.strip() for f in fields.split(",") if f.strip()],
                                     validity_months)
    click.echo(_show(item))


@licences_group.command("show")
@click.argument("item_code")
@with_appcontext
def show_cmd(item_code):
    """An item's licence template, as JSON."""
    click.echo(_show(item_or_fail(item_code)))
