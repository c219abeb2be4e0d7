"""CLI group `supervision`: `flask --app wsgi supervision sweep` (the claim-deadline job, also run on the schedule)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import click
from flask.cli import AppGroup

supervision = AppGroup("supervision", help="The supervision loop (双推送、认领、反馈).")


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO 8601 date-time, e.g. 2026-03-02T09:00:00+08:00", param_hint="--now") \
            from None
    if moment.tzinfo is None:
        raise click.BadParameter("give the offset too, e.g. +08:00", param_hint="--now")
    return moment.astimezone(timezone.utc)


@supervision.command("sweep")
@click.option("--now", "now", help="judge deadlines as of this moment (ISO 8601 with offset); default: now")
def sweep_cmd(now):
    """Warn regulators one working day before the claim deadline; escalate unclaimed pushes past it (each once)."""
    from supervision.push_sweep import sweep

    click.echo(json.dumps(sweep(_moment(now))))


def register(cli) -> None:
    """Add the `supervision` group to the app's CLI (app.cli, or any click group)."""
    cli.add_command(supervision)
