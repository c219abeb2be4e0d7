"""What the catalogue CLI commands share: finding an item by its code, and running one domain call as one unit of
work whose refusal names the field (nothing is changed) and whose success is committed."""
from __future__ import annotations

from contextlib import contextmanager

import click
import sqlalchemy as sa

from app.extensions import db


def item_or_fail(item_code: str):
    from delegation.models import Item

    item = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one_or_none()
    if item is None:
        raise click.ClickException(f"item_code: 没有事项 {item_code}")
    return item


@contextmanager
def domain_unit():
    """Commit what the block changed, or roll it back and print the refused field with the Chinese reason."""
    from delegation.errors import DomainError

    try:
        yield
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.field}: {exc.zh}") from None
    db.session.commit()
