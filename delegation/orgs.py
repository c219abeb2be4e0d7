"""Organisations looked up by code: one place for the window's intake, the bus handlers, the staff service and the
supervision loop."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.models import Org
from persistence import db


def find_org(code: str | None) -> Org | None:
    """The organisation, from the session when this unit of work already has it (the token check loads the user
    with their organisation), else by one query; None when no organisation has the code."""
    for obj in db.session.identity_map.values():
        if type(obj) is Org and obj.code == code:
            return obj
    return db.session.execute(sa.select(Org).filter_by(code=code)).scalar_one_or_none()


def get_org(code: str) -> Org:
    """The organisation a case or message names, which must exist (NoResultFound otherwise)."""
    org = find_org(code)
    if org is None:
        raise sa.exc.NoResultFound(f"no organisation {code!r}")
    return org
