"""CLI group `orgs`: the lines an organisation prints on its notices and documents (issue 16).

    flask --app wsgi orgs show 360702-window
    flask --app wsgi orgs contact 360702-window --address "…" --phone "0797-…" --hours "…"
    flask --app wsgi orgs contact 360702-bureau --doc-prefix 章贡行审许 --review-authority 章贡区人民政府 --court 章贡区人民法院

An empty value ("") clears a line; a bad value is refused naming its option and nothing changes."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

orgs = AppGroup("orgs", help="Organisations' contact lines, document-number prefix and remedies (机构信息).")

OPTIONS = (("address", "--address"), ("phone", "--phone"), ("office_hours", "--hours"),
           ("doc_prefix", "--doc-prefix"), ("review_authority", "--review-authority"), ("court", "--court"))


def _shown(org) -> dict:
    return {"code": org.code, "name": org.name, **{column: getattr(org, column) for column, _ in OPTIONS}}


@orgs.command("show")
@click.argument("org_code")
def show_cmd(org_code):
    """Print an organisation's lines as JSON."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import Org

    org = db.session.execute(sa.select(Org).filter_by(code=org_code)).scalar_one_or_none()
    if org is None:
        raise click.ClickException(f"no organisation {org_code}")
    click.echo(json.dumps(_shown(org), ensure_ascii=False))


@orgs.command("contact")
@click.argument("org_code")
@click.option("--address", help="window address (窗口地址)")
@click.option("--phone", help="telephone (咨询电话)")
@click.option("--hours", "office_hours", help="office hours (办公时间)")
@click.option("--doc-prefix", "doc_prefix", help="prefix of the organisation's document numbers, e.g. 章贡行审许")
@click.option("--review-authority", "review_authority", help="administrative review authority (行政复议机关)")
@click.option("--court", help="court for litigation against its decisions (行政诉讼法院)")
def contact_cmd(org_code, **values):
    """Set an organisation's lines (only the options given)."""
    from app.extensions import db
    from delegation.documents.contact import set_contact
    from delegation.errors import DomainError

    flags = dict(OPTIONS)
    try:
        org = set_contact(org_code, values)
    except DomainError as exc:
        db.session.rollback()
        where = f"{flags[exc.field]}: " if exc.field in flags else ""
        raise click.ClickException(f"{where}{exc.en}") from None
    db.session.commit()
    click.echo(json.dumps(_shown(org), ensure_ascii=False))


def register(cli) -> None:
    cli.add_command(orgs)
