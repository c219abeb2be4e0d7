"""Push to claim (issue 15): the regulators of the supervising organisation hear of each new push.

At once where the approval and the regulator share a node (after push_create's listener on "approve", imported
first so that it runs first); for a push that arrived over the bus, by the notification job (`push_alerts`), which
tells of every unclaimed push that has no notification yet — the notifications are the memory, so none twice."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import events
from delegation.notification_models import Notification
from delegation.notifications import notify_org
from delegation.workflow import Role
from persistence import db, utcnow
from supervision import push_create  # noqa: F401  (its "approve" listener first: the push exists when ours runs)
from supervision.models import SupervisionPush
from supervision.push_common import this_node
from supervision.push_states import INITIAL_STATE


def _untold():
    told = (sa.select(Notification.id)
            .where(Notification.case_no == SupervisionPush.case_no, Notification.kind == "push").exists())
    # only the pushes this node supervises: the deciding node's copy has no regulator here to tell
    return sa.select(SupervisionPush).where(SupervisionPush.state == INITIAL_STATE.value,
                                            SupervisionPush.supervising_node == this_node(), ~told)


def _tell(push: SupervisionPush, now: datetime) -> None:
    notify_org(push.supervising_org, "push", f"监管推送待认领：{push.case_no}",
               f"{push.item_name}（{push.applicant_name}）已{'准予许可' if push.decision == 'approve' else '作出决定'}，"
               f"请认领并开展监管。", case_no=push.case_no, roles=(Role.REGULATOR,), now=now)


@events.subscribe("approve")
def on_approve(event: events.CaseEvent) -> None:
    for push in db.session.execute(_untold().where(SupervisionPush.case_no == event.case.case_no)).scalars():
        _tell(push, event.at)


def push_alerts(now: datetime | None = None, limit: int = 500) -> int:
    now = now or utcnow()
    pushes = db.session.execute(_untold().order_by(SupervisionPush.id).limit(limit)).scalars().all()
    for push in pushes:
        _tell(push, now)
    return len(pushes)
