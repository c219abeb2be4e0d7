"""Revoking the licence of an approval a spot check found illegal (违法审批): the city administrator revokes it with
the finding as its ground ("spot-check-entry:<id>"), so that /verify says 已撤销 and the revocation can be traced
to the inspection. Only a recorded illegal_approval finding is a ground; other findings leave the licence alone.
The licence is revoked where it was issued — the node that decided; a licence another node issued is not found
here. Flushes; the caller commits."""
from __future__ import annotations

from datetime import datetime

from delegation import licences
from delegation.actors import Actor
from delegation.errors import Conflict, NotFound
from supervision import spotchecks


def revoke_for_finding(actor: Actor, check_id: int, entry_id: int, reason: str | None = None,
                       now: datetime | None = None):
    licences.require_city_admin(actor)  # before any look-up: a refused caller learns nothing of the check
    check = spotchecks.get(actor, check_id, for_update=True)
    entry = spotchecks._entry(check, entry_id)  # noqa: SLF001  the check's own look-up of an entry
    if entry.finding != "illegal_approval":
        raise Conflict("finding_not_illegal",
                       f"办件 {entry.case_no} 的检查结果不是“违法审批”，不能据此撤销证照",
                       f"the finding of {entry.case_no} is not illegal_approval", field="finding")
    licence = licences.of_case(entry.case_no)
    if licence is None:
        raise NotFound("licence_not_found", f"办件 {entry.case_no} 没有本节点签发的证照",
                       f"case {entry.case_no} has no licence issued by this node", field="case_no")
    reason = (reason or "").strip() or f"抽查认定违法审批：{entry.finding_note or ''}".rstrip("：")
    return licences.revoke(actor, licence.licence_no, reason, finding_ref=f"spot-check-entry:{entry.id}", now=now)
