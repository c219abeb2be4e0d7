"""CLI group `stats`: `flask --app wsgi stats refresh` brings the monthly rollups up to date;
`flask --app wsgi stats refresh-calendar` fills the working-day table the statistics count
with. Run it after the admin's holiday table changes or chinese-calendar is upgraded (the statistics fill missing
years by themselves, but do not notice a changed year)."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

stats = AppGroup("stats", help="Statistics (统计报表).")


@stats.command("refresh-calendar")
@click.option("--from-year", type=int, help="first year (default: the year of the first case, or this year)")
@click.option("--to-year", type=int, help="last year (default: next year)")
def refresh_calendar_cmd(from_year, to_year):
    """(Re)write calendar_day for the given years and the range already there (idempotent)."""
    import sqlalchemy as sa

    from app.extensions import db, utcnow
    from delegation.deadlines import SHANGHAI
    from delegation.models import Case
    from supervision.statistics import refresh_calendar

    this_year = utcnow().astimezone(SHANGHAI).year
    if from_year is None:
        first = db.session.execute(sa.select(sa.func.min(Case.created_at))).scalar()
        from_year = first.astimezone(SHANGHAI).year if first else this_year
    to_year = this_year + 1 if to_year is None else to_year
    if not (1900 <= from_year <= 2200 and 1900 <= to_year <= 2200) or from_year > to_year:
        raise click.BadParameter("years between 1900 and 2200, --from-year not after --to-year")
    click.echo(json.dumps(refresh_calendar(from_year, to_year)))


@stats.command("refresh")
@click.option("--full", is_flag=True, help="rebuild every case's facts and every rollup, not only the cases changed since the last run")
def refresh_rollups_cmd(full):
    """Bring the monthly rollups up to date (the scheduler and the worker do it every minute)."""
    from app.extensions import db
    from supervision import rollup

    result = rollup.refresh(full=full)
    db.session.commit()
    click.echo(json.dumps(result))


def register(cli) -> None:
    """Add the `stats` group to the app's CLI (app.cli, or any click group)."""
    cli.add_command(stats)
