"""`flask --app wsgi seed-bulk N`: N generated cases for the statistics benchmark (see delegation.bulk)."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext


@click.command("seed-bulk")
@click.argument("n", type=click.IntRange(min=1))
@click.option("--seed", default=None, help="random seed (the same seed on the same demo data gives the same cases)")
@click.option("--batch", default=100_000, show_default=True, type=click.IntRange(min=1000),
              help="cases per INSERT statement and per commit")
@click.option("--months", default=24, show_default=True, type=click.IntRange(min=1, max=120),
              help="spread the cases over this many months up to today")
@with_appcontext
def seed_bulk_cmd(n, seed, batch, months):
    """Add N realistic cases (with materials, supervision pushes and ratings); run seed-demo first."""
    from delegation.bulk import BulkError, seed_bulk

    def progress(done, seconds):
        click.echo(f"{done:,} cases in {seconds:.1f} s", err=True)

    from app.extensions import db
    from supervision import rollup

    # The cases go in by plain INSERTs, which the rollups' change tracking does not see: every month is read
    # live until the rollups are rebuilt, which is done here at the end (and by the next refresh if this stops).
    rollup.mark_all_dirty()
    db.session.commit()
    try:
        result = seed_bulk(n, seed=seed, batch=batch, months=months, progress=progress)
    except BulkError as exc:
        raise click.ClickException(str(exc)) from None
    rollup.mark_all_dirty()
    result["rollup"] = rollup.refresh()
    db.session.commit()
    click.echo(json.dumps(result, ensure_ascii=False))


def register(cli) -> None:
    cli.add_command(seed_bulk_cmd)
