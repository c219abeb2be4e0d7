"""Reference data published by the city node to every county node (issue 18, part 3): `reference.publish`.

Reference data (credit records, and in time the holiday table and the catalogue) is made at the city. Each change
makes the next version of its kind on the city node, and in the same transaction one message per county node goes
to the outbox: the kind, the version and what changed, as it stands now. The messages of a kind form a stream
(Header/CaseNo `REF-<kind>`, Sequence per recipient), so the bus applies one sender's publications in order and holds
an early one until those before it arrived. A receiving node applies a version only above the one in force there; a
repeated or older one changes nothing and is acknowledged. Each node keeps the version in force per kind
(`reference_version`) and shows it to its administrators.

The domain decides what a kind carries: it registers an apply function per kind (`register`) and calls `publish`
from the service that made the change. Service functions flush; callers commit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

import sqlalchemy as sa

from delegation.models import Division, Org
from delegation.reference_models import ReferenceVersion
from exchange.errors import ExchangeRejected
from exchange.handlers import applies
from exchange.outbox import enqueue
from persistence import db, utcnow

log = logging.getLogger(__name__)

MESSAGE_TYPE = "reference.publish"
STREAM_PREFIX = "REF-"
# The wire's tq:RefNumber allows 18 digits, but a version or a record's ref lands in an SQL INTEGER (32-bit on
# PostgreSQL): a larger one is refused by the handler (schema_invalid, naming the field) rather than failing the
# flush, which would leave the message in the inbox, retried for ever, with the kind's stream held behind it. A
# handler's refusal uses up the message's Sequence, so the publications after it still apply.
NUMBER_MAX = 2_147_483_647


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # what the administrators read (Chinese, translated on the page)
    apply: Callable[[object, dict], None]  # (envelope, body) on a receiving node, in the message's transaction
    everything: Callable[[], Iterable[dict]]  # the kind's whole data here, as payloads of publications


_kinds: dict[str, Kind] = {}


def register(name: str, label: str, apply: Callable[[object, dict], None],
             everything: Callable[[], Iterable[dict]]) -> None:
    _kinds[name] = Kind(name, label, apply, everything)


def kinds() -> list[Kind]:
    return list(_kinds.values())


def number(value: str, field: str) -> int:
    """A tq:RefNumber of a publication as an int a column holds, or the refusal naming `field`."""
    n = int(value)
    if not 1 <= n <= NUMBER_MAX:
        raise ExchangeRejected("schema_invalid", f"{field} {value} is out of range (1..{NUMBER_MAX})")
    return n


def moment(value: str, field: str) -> datetime:
    """A tq:ZonedDateTime of a publication, or the refusal naming `field`: xs:dateTime allows years (0001 with an
    offset east of UTC, five digits) that cannot be stored in UTC and would fail the flush, as a number would."""
    try:
        at = datetime.fromisoformat(value)
        if 1900 <= at.astimezone(timezone.utc).year <= 9998:
            return at
    except (ValueError, OverflowError):
        pass
    raise ExchangeRejected("schema_invalid", f"{field} {value} is out of range (years 1900..9998)")


def _bus():
    from exchange.bus import get_bus

    return get_bus()


def publisher_org() -> Org | None:
    """The city bureau, when this node hosts it: only the city node publishes."""
    return db.session.execute(
        sa.select(Org).filter_by(kind="city_bureau", level="city", node_id=_bus().node_id).order_by(Org.id)
    ).scalars().first()


def county_nodes() -> list[tuple[str, str]]:
    """(node, an organisation there to address) for every other node hosting county organisations."""
    rows = db.session.execute(
        sa.select(Org.node_id, sa.func.min(Org.code)).where(Org.level == "county", Org.node_id != _bus().node_id)
        .group_by(Org.node_id).order_by(Org.node_id)
    ).all()
    return [(node, org) for node, org in rows]


def publish(kind: str, payload: dict, now: datetime | None = None) -> int | None:
    """The next version of `kind`, sent with `payload` (the kind's body keys) to every county node in the caller's
    transaction. None when this node is not the city node (a county's own records stay where they were made)."""
    if kind not in _kinds:
        raise ValueError(f"unknown reference kind {kind!r}")
    publisher = publisher_org()
    if publisher is None:
        return None
    now = now or utcnow()
    version = _next_version(kind, now)
    body = {"kind": kind, "version": str(version), "published_at": now, **payload}
    for node, org in county_nodes():
        enqueue(MESSAGE_TYPE, from_org=publisher.code, to_node=node, to_org=org, body=body,
                case_no=f"{STREAM_PREFIX}{kind}")
    db.session.flush()
    return version


def _next_version(kind: str, now: datetime) -> int:
    """The kind's version, one up, in one upsert: two workers publishing the first version of a kind at once (a
    sweep terminating broken commitments on both) must not both insert it."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    table = ReferenceVersion.__table__
    values = {"kind": kind, "version": 1, "source_node": _bus().node_id, "published_at": now, "applied_at": now}
    statement = dialect.insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.kind],
        set_={"version": table.c.version + 1, "source_node": statement.excluded.source_node,
              "published_at": statement.excluded.published_at, "applied_at": statement.excluded.applied_at},
    ).returning(table.c.version)
    version = db.session.execute(statement).scalar_one()
    for loaded in [o for o in db.session.identity_map.values() if isinstance(o, ReferenceVersion) and o.kind == kind]:
        db.session.expire(loaded)  # written past the ORM
    return version


def republish(kind: str | None = None) -> dict[str, list[int]]:
    """Everything of `kind` (or of every kind) published again as new versions, for a county node that joined after
    the data was made (`flask --app wsgi reference republish`). The receivers apply each as any publication; what
    they hold already is kept (a record is copied once, a year's table replaced by the same). The versions sent."""
    from delegation.errors import Invalid

    if kind is not None and kind not in _kinds:
        raise Invalid("invalid_choice", f"没有“{kind}”类参考数据", f"no reference data of kind {kind!r}", field="kind")
    if publisher_org() is None:
        raise Invalid("not_city_node", "本节点不是市级节点，不发布参考数据",
                      "this node does not host the city bureau and publishes no reference data", field="kind")
    sent: dict[str, list[int]] = {}
    for one in ([_kinds[kind]] if kind else kinds()):
        sent[one.name] = [publish(one.name, payload) for payload in one.everything()]
    return sent


def in_force() -> dict[str, ReferenceVersion]:
    return {r.kind: r for r in db.session.execute(sa.select(ReferenceVersion)).scalars()}


def versions() -> list[dict]:
    """Every kind this node knows, with the version in force (None: none yet), for the administrators' page."""
    rows = in_force()
    node = _bus().node_id
    # a node is named by its division (a node id is the division code of the city or county it serves)
    names = dict(db.session.execute(sa.select(Division.code, Division.name).where(
        Division.code.in_({r.source_node for r in rows.values()}))).all())
    out = []
    for kind in kinds():
        row = rows.get(kind.name)
        out.append({"kind": kind.name, "label": kind.label, "version": row.version if row else None,
                    "source_node": row.source_node if row else None,
                    "source_name": names.get(row.source_node, row.source_node) if row else None,
                    "published_here": bool(row) and
                    row.source_node == node, "published_at": row.published_at if row else None,
                    "applied_at": row.applied_at if row else None})
    return out


# -- applying what arrives -------------------------------------------------------------------------------------

@applies(MESSAGE_TYPE)
def apply_publication(env, attachments) -> None:
    """On a county node: a version of the city's reference data. Only the city bureau of the sending node may
    publish, on the kind's own stream; a version not above the one in force changes nothing."""
    from delegation.messaging import _sender, _system

    _system(env)  # addressed to an organisation on this node
    sender = _sender(env)
    body = env.body
    if sender.level != "city" or sender.kind != "city_bureau":
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} is not the city bureau")
    kind = _kinds.get(body["kind"])
    if kind is None:
        raise ExchangeRejected("unsupported_kind", f"this node does not apply reference data of kind {body['kind']}")
    if env.case_no != f"{STREAM_PREFIX}{kind.name}":
        raise ExchangeRejected("schema_invalid", f"reference data of kind {kind.name} travels on stream "
                                                 f"{STREAM_PREFIX}{kind.name}, not {env.case_no}")
    version = number(body["version"], "Version")
    moment(body["published_at"], "PublishedAt")
    row = db.session.execute(sa.select(ReferenceVersion).filter_by(kind=kind.name).with_for_update()).scalar()
    if row is not None and row.source_node == _bus().node_id:
        return  # this node publishes the kind itself (it hosts the city): its own data is the reference
    if row is not None and row.version >= version:
        log.info("%s %s version %d: version %d is in force; nothing changes", MESSAGE_TYPE, kind.name, version,
                 row.version)
        return
    kind.apply(env, body)
    if row is None:
        row = ReferenceVersion(kind=kind.name)
        db.session.add(row)
    row.version, row.source_node = version, env.from_node
    row.published_at, row.applied_at = moment(body["published_at"], "PublishedAt"), utcnow()
