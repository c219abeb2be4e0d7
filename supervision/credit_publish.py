"""Credit and blacklist records published from the city to every county node (issue 18, part 3).

A record the city node makes (a false commitment, a penalty, a broken commitment) or lifts is published at once, in
the same transaction, as the next version of the reference kind `credit` (delegation/reference_publish.py): the
record as it stands now, with the city's expiry. A county node keeps a copy (credit_record with origin_node and
origin_id): the copy blocks 容缺 there (credit.is_blacklisted), warns the window and shows on the credit pages until
the city's expiry passes or the city lifts it. The copy is the city's: the county cannot lift it. A county's own
records stay on the county node."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import reference_publish
from delegation.deadlines import SHANGHAI
from delegation.titles import N_
from exchange.errors import ExchangeRejected
from persistence import db
from supervision import credit
from supervision.models import CreditRecord

KIND = "credit"
BATCH = 100  # CreditRecord maxOccurs


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).isoformat()


def wire(record: CreditRecord) -> dict:
    """The record as the city publishes it (reference.publish, credit_records)."""
    out = {"ref": str(record.id), "kind": record.kind, "blacklisted": bool(record.blacklisted),
           "id_code": record.id_code, "name": record.name, "case_no": record.case_no,
           "detail": record.detail or credit.KIND_ZH[record.kind], "recorded_by": record.recorded_by,
           "recorded_at": _local(record.created_at), "expires_at": _local(credit.record_expiry(record))}
    if record.lifted_at is not None:
        out["lifted"] = {"at": _local(record.lifted_at), "by": record.lifted_by, "reason": record.lift_reason}
    return out


def _publish(record: CreditRecord) -> None:
    if record.origin_node is None:  # a copy received from the city is never published again
        reference_publish.publish(KIND, {"credit_records": [wire(record)]})


credit.on_change(_publish)


def _apply(env, body: dict) -> None:
    records = body.get("credit_records") or []
    if not records:
        raise ExchangeRejected("schema_invalid", "a credit publication carries at least one credit record")
    if len({r["ref"] for r in records}) != len(records):
        raise ExchangeRejected("schema_invalid", "a credit record appears twice in one publication")
    for item in records:  # every ref before any copy: the whole publication or nothing
        reference_publish.number(item["ref"], "CreditRecord ref")
    for item in records:
        _copy(env.from_node, item)


# what the columns hold (the wire's types allow more: a peer's longer value is refused, not cut)
_COLUMN_MAX = {"case_no": 40, "recorded_by": 100}


def _bounded(item: dict) -> None:
    for key, size in _COLUMN_MAX.items():
        if len(item.get(key) or "") > size:
            raise ExchangeRejected("schema_invalid", f"credit record {item['ref']}: {key} longer than {size}")
    if len((item.get("lifted") or {}).get("by") or "") > 100:
        raise ExchangeRejected("schema_invalid", f"credit record {item['ref']}: lifted.by longer than 100")


def _copy(origin: str, item: dict) -> None:
    _bounded(item)
    ref = reference_publish.number(item["ref"], "CreditRecord ref")
    recorded_at = reference_publish.moment(item["recorded_at"], f"CreditRecord {ref} RecordedAt")
    expires_at = reference_publish.moment(item["expires_at"], f"CreditRecord {ref} ExpiresAt")
    row = db.session.execute(sa.select(CreditRecord).filter_by(origin_node=origin, origin_id=ref)
                             .with_for_update()).scalar()
    lifted = item.get("lifted")
    if row is None:
        row = CreditRecord(id_code=credit.normalise(item["id_code"]), name=item["name"], kind=item["kind"],
                           case_no=item.get("case_no"), detail=item["detail"], blacklisted=item["blacklisted"],
                           recorded_by=item["recorded_by"], created_at=recorded_at,
                           origin_node=origin, origin_id=ref, expires_at=expires_at)
        db.session.add(row)
    if lifted and row.lifted_at is None:  # the only change a record knows (credit_record's trigger)
        row.lifted_at = reference_publish.moment(lifted["at"], f"CreditRecord {ref} Lifted/At")
        row.lifted_by = lifted["by"]
        row.lift_reason = lifted["reason"]
    db.session.flush()


def everything():
    """This node's own records, oldest first, at most a publication's worth (100) each."""
    query = sa.select(CreditRecord).where(CreditRecord.origin_node.is_(None)).order_by(CreditRecord.id)
    batch: list[dict] = []
    for record in db.session.execute(query).scalars():
        batch.append(wire(record))
        if len(batch) == BATCH:
            yield {"credit_records": batch}
            batch = []
    if batch:
        yield {"credit_records": batch}


reference_publish.register(KIND, N_("信用记录与黑名单"), _apply, everything)
