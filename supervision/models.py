"""Tables of the supervision loop (审管联动): pushes, claims, feedback, alerts, spot checks, credit records."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from delegation.titles import N_, TitledStrEnum
from persistence import UTCDateTime, db, utcnow
from supervision.push_states import INITIAL_STATE, PushState



class FeedbackKind(TitledStrEnum):
    """What the regulator found or did; rectification and penalty imply an order to rectify."""

    INSPECTION = "inspection", N_("检查")
    RECTIFICATION = "rectification", N_("责令整改")
    PENALTY = "penalty", N_("行政处罚")
    NO_ISSUE = "no_issue", N_("未发现问题")


PUSH_STATES = tuple(s.value for s in PushState)
FEEDBACK_KINDS = tuple(k.value for k in FeedbackKind)
FINDINGS = ("compliant", "defect_corrected", "illegal_approval")
ALERT_KINDS = ("warning", "escalation", "no_feedback")
CREDIT_KINDS = ("broken_commitment", "false_commitment", "penalty")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PushStateType(sa.types.TypeDecorator):
    """A push's state read as a PushState, stored as before: its value in a VARCHAR(10) (no migration)."""

    impl = sa.String(10)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else PushState(value).value

    def process_result_value(self, value, dialect):
        return None if value is None else PushState(value)


class SupervisionPush(db.Model):
    """An approval pushed to the authority that supervises it (双推送). One per case and authority; the deciding
    node and the regulator's node each keep their copy, kept in step by the bus."""

    __tablename__ = "supervision_push"
    __table_args__ = (
        sa.UniqueConstraint("case_no", "supervising_org", name="uq_supervision_push_case"),
        sa.CheckConstraint(_in("state", PUSH_STATES), name="state"),
        sa.CheckConstraint("state = 'pushed' OR (claimed_at IS NOT NULL AND claimed_by IS NOT NULL)", name="claimed"),
        sa.CheckConstraint("state <> 'closed' OR closed_at IS NOT NULL", name="closed"),
        sa.Index("ix_supervision_push_org_state", "supervising_org", "state", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(sa.String(40), index=True)
    item_code: Mapped[str] = mapped_column(sa.String(40))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    mode: Mapped[str] = mapped_column(sa.String(20))
    county_code: Mapped[str] = mapped_column(sa.String(20))
    applicant_name: Mapped[str] = mapped_column(sa.String(200))
    applicant_id_code: Mapped[str] = mapped_column(sa.String(30))
    decision: Mapped[str] = mapped_column(sa.String(10))
    certificate_no: Mapped[str | None] = mapped_column(sa.String(60))
    accepting_org: Mapped[str] = mapped_column(sa.String(40))
    deciding_org: Mapped[str] = mapped_column(sa.String(40))
    deciding_node: Mapped[str] = mapped_column(sa.String(30))
    supervising_org: Mapped[str] = mapped_column(sa.String(40))
    supervising_node: Mapped[str] = mapped_column(sa.String(30))
    responsible: Mapped[list] = mapped_column(sa.JSON)  # [{role, org, person}]
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pushed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[PushState] = mapped_column(PushStateType(), default=INITIAL_STATE)  # moved by push_states.fire
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # claimed, then no feedback within SUPERVISION_FEEDBACK_DAYS: escalated once (push_sweep)
    feedback_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(sa.String(100))

    feedback: Mapped[list["SupervisionFeedback"]] = relationship(back_populates="push",
                                                                 order_by="SupervisionFeedback.id")


class SupervisionFeedback(db.Model):
    """What supervision found: an inspection, a rectification order, a penalty, or no issue."""

    __tablename__ = "supervision_feedback"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", FEEDBACK_KINDS), name="kind"),
        sa.CheckConstraint("kind <> 'penalty' OR decision_no IS NOT NULL", name="penalty"),
        sa.UniqueConstraint("feedback_uid", name="uq_supervision_feedback_uid"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_uid: Mapped[str] = mapped_column(sa.String(36))  # the same on both nodes' copies
    push_id: Mapped[int] = mapped_column(sa.ForeignKey("supervision_push.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    on_date: Mapped[date] = mapped_column(sa.Date)
    result: Mapped[str] = mapped_column(sa.Text)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    rectification_ordered: Mapped[bool] = mapped_column(default=False)
    decision_no: Mapped[str | None] = mapped_column(sa.String(60))
    amount: Mapped[str | None] = mapped_column(sa.String(20))  # decimal string, yuan
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    push: Mapped[SupervisionPush] = relationship(back_populates="feedback")


class SupervisionAlert(db.Model):
    """A warning or an escalation about an unclaimed push, or an escalation of a claimed push without feedback
    (no_feedback), addressed to organisations."""

    __tablename__ = "supervision_alert"
    __table_args__ = (sa.CheckConstraint(_in("kind", ALERT_KINDS), name="kind"),
                      sa.UniqueConstraint("push_id", "kind", name="uq_supervision_alert_once"))
    id: Mapped[int] = mapped_column(primary_key=True)
    push_id: Mapped[int] = mapped_column(sa.ForeignKey("supervision_push.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    recipients: Mapped[list] = mapped_column(sa.JSON)  # org codes
    message: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpotCheck(db.Model):
    """A draw of concluded delegated cases (双随机): reproducible from its stored seed and inputs."""

    __tablename__ = "spot_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    seed: Mapped[str] = mapped_column(sa.String(64))
    criteria: Mapped[dict] = mapped_column(sa.JSON)  # county, item, mode, period, rate | count, inspector pool
    population: Mapped[int]
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    entries: Mapped[list["SpotCheckEntry"]] = relationship(back_populates="spot_check", order_by="SpotCheckEntry.id")


class SpotCheckEntry(db.Model):
    __tablename__ = "spot_check_entry"
    __table_args__ = (sa.CheckConstraint(f"finding IS NULL OR {_in('finding', FINDINGS)}", name="finding"),
                      sa.UniqueConstraint("spot_check_id", "case_no", name="uq_spot_check_entry_case"))
    id: Mapped[int] = mapped_column(primary_key=True)
    spot_check_id: Mapped[int] = mapped_column(sa.ForeignKey("spot_check.id"), index=True)
    case_no: Mapped[str] = mapped_column(sa.String(40))
    inspectors: Mapped[list] = mapped_column(sa.JSON)  # usernames
    finding: Mapped[str | None] = mapped_column(sa.String(20))
    finding_note: Mapped[str | None] = mapped_column(sa.Text)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(100))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    spot_check: Mapped[SpotCheck] = relationship(back_populates="entries")


class CreditRecord(db.Model):
    """A mark against an applicant's credit code or ID: a broken or false commitment, or a penalty."""

    __tablename__ = "credit_record"
    __table_args__ = (sa.CheckConstraint(_in("kind", CREDIT_KINDS), name="kind"),
                      sa.Index("ix_credit_record_origin", "origin_node", "origin_id", unique=True,
                               postgresql_where=sa.text("origin_node IS NOT NULL"),
                               sqlite_where=sa.text("origin_node IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    id_code: Mapped[str] = mapped_column(sa.String(30), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    case_no: Mapped[str | None] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    blacklisted: Mapped[bool] = mapped_column(default=False)  # 黑名单: false commitments
    recorded_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # lifted by the administrator (migration 0023): who, when, why, set once and together (the table's trigger);
    # it then no longer counts, as once expired
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(sa.String(100))
    lift_reason: Mapped[str | None] = mapped_column(sa.Text)
    # a copy of the city's record `origin_id`, published to this node (migration 0028, supervision/credit_publish.py),
    # which expires when the city's does; NULL on a node's own records
    origin_node: Mapped[str | None] = mapped_column(sa.String(30))
    origin_id: Mapped[int | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
