"""`flask --app wsgi originals …`: the catalogue's 材料邮寄 settings of an item (issue 19).

    originals set ITEM_CODE [--materials M01,M03] [--before-decision/--no-before-decision] [--days 5]
    originals show ITEM_CODE

Set them alike on the county and the city nodes: the city accepts a mailing only of materials its own catalogue
marks."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup, with_appcontext

from app.cli_support import domain_unit, item_or_fail

originals = AppGroup("originals", help="Which materials' paper originals are mailed to the city (材料邮寄).")


def register(cli) -> None:
    cli.add_command(originals)


def _show(item) -> str:
    return json.dumps({"item": item.code, "materials": [m.code for m in item.materials if m.originals_required],
                       "before_decision": item.originals_before_decision, "days": item.originals_days},
                      ensure_ascii=False)


@originals.command("set")
@click.argument("item_code")
@click.option("--materials", default="", help="comma-separated material codes; empty: none")
@click.option("--before-decision/--no-before-decision", default=False, help="the city decides only once they arrived")
@click.option("--days", type=int, default=5, show_default=True, help="working days to sign for the mail")
@with_appcontext
def set_cmd(item_code, materials, before_decision, days):
    """Set an item's originals (replaces what was set)."""
    from delegation import mailing

    codes = [c.strip() for c in materials.split(",") if c.strip()]
    with domain_unit():
        item = mailing.set_originals(item_code, codes, before_decision, days)
    click.echo(_show(item))


@originals.command("show")
@click.argument("item_code")
@with_appcontext
def show_cmd(item_code):
    """An item's originals settings, as JSON."""
    click.echo(_show(item_or_fail(item_code)))
