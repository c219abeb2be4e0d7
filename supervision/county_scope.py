"""A county's own statistics (issue 18): the county administrator (县级管理员) sees the dashboard, its case lists, its
downloads and the /api/v1/stats figures of its own county only; the city administration and city-level staff see
every county. Every statistics entry point puts its filters through :func:`scope`, so no figure, list or file of
another county can be asked for by changing the query string."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from delegation.actors import Actor
from delegation.errors import Forbidden
from delegation.workflow import Role
from supervision.statistics import Filters, rating_follow_ups


def sees_statistics(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or actor.org_level == "city" or actor.role is Role.COUNTY_ADMIN


def county_of(actor: Actor) -> str | None:
    """The one county whose figures the actor may see; None: every county."""
    return actor.division_code if actor.role is Role.COUNTY_ADMIN else None


def check(actor: Actor) -> None:
    if not sees_statistics(actor):
        raise Forbidden("role_forbidden", "统计报表仅供管理员和市级人员查看",
                        "statistics are for the administrators and city-level staff")


def scope(filters: Filters, actor: Actor) -> Filters:
    """The filters narrowed to the actor's county; asking for another county is refused (403), not emptied."""
    check(actor)
    own = county_of(actor)
    if own is None:
        return filters
    if filters.county not in (None, own):
        raise Forbidden("county_forbidden", "县级管理员只能查看本县（市、区）的统计",
                        "a county administrator sees the figures of its own county only", field="county")
    return replace(filters, county=own)


def admits_county(actor: Actor, code: str) -> bool:
    own = county_of(actor)
    return own is None or code == own


def follow_up_counts(actor: Actor, now: datetime | None = None) -> dict:
    """差评整改 tasks open and past due: the city's (with those the county nodes reported), or those of the county
    administrator's own cases."""
    return rating_follow_ups(now, county_of(actor))
