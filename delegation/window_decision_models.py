"""Tables of the approval kinds decided at the window (issue 17, part A; migration 0024): an item's approval kind
(告知承诺 or 备案), who may decide on the spot, and a case's signed commitment with its verification."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from delegation.titles import N_, TitledStrEnum
from persistence import UTCDateTime, db


class ApprovalKind(TitledStrEnum):
    STANDARD = "standard", N_("一般审批")  # no row in approval_item
    COMMITMENT = "commitment", N_("告知承诺制")
    FILING = "filing", N_("豁免审批（备案）")


class Authority(TitledStrEnum):
    """What an administrator grants a window clerk: deciding at the window, on the spot."""

    COMMITMENT_DECISION = "commitment_decision", N_("告知承诺当场审批")
    INSTANT_DECISION = "instant_decision", N_("即办件当场办结")


class VerificationResult(TitledStrEnum):
    VERIFIED = "verified", N_("承诺属实")
    FALSE = "false", N_("承诺不实")


DEFAULT_VERIFICATION_DAYS = 20


class ApprovalItem(db.Model):
    """An item approved otherwise than by review and decision; an item without a row is approved the ordinary way.
    Kept out of the shared item table (as citywide_item is)."""

    __tablename__ = "approval_item"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('commitment', 'filing')", name="kind"),
        sa.CheckConstraint("kind <> 'commitment' OR commitment_text IS NOT NULL", name="commitment_text"),
        sa.CheckConstraint("verification_days BETWEEN 1 AND 120", name="verification_days"),
    )
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(20))
    commitment_text: Mapped[str | None] = mapped_column(sa.Text)  # what the applicant signs (告知承诺书)
    # working days the regulator has to verify a commitment after the approval
    verification_days: Mapped[int] = mapped_column(default=DEFAULT_VERIFICATION_DAYS,
                                                   server_default=sa.text(str(DEFAULT_VERIFICATION_DAYS)))


class StaffAuthority(db.Model):
    """An authority an administrator granted a member of staff (absent: not held)."""

    __tablename__ = "staff_authority"
    __table_args__ = (sa.CheckConstraint("authority IN ('commitment_decision', 'instant_decision')",
                                         name="authority"),)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    authority: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    granted_by: Mapped[str] = mapped_column(sa.String(100))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CommitmentRecord(db.Model):
    """The applicant's signed commitment of a 告知承诺 case and the regulator's verification of it."""

    __tablename__ = "commitment_record"
    __table_args__ = (
        sa.CheckConstraint("result IS NULL OR result IN ('verified', 'false')", name="result"),
        sa.CheckConstraint("result IS NULL OR (result_by IS NOT NULL AND result_at IS NOT NULL)", name="result_by"),
        # the regulator's open tasks, soonest due first
        sa.Index("ix_commitment_record_org_open", "supervising_org", "result", "verify_due_at"),
        # one task per case and regulator on every node (the regulator's node's copy has no case_id)
        sa.Index("uq_commitment_record_case_no_org", "case_no", "supervising_org", unique=True),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL on the supervising regulator's node when the case lives on another node (migration 0026): the task came
    # with the supervision push, and the result travels back as supervision.commitment_result
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("case_file.id"), unique=True)
    case_no: Mapped[str] = mapped_column(sa.String(40))
    commitment_text: Mapped[str] = mapped_column(sa.Text)  # as the applicant signed it (the item's may change)
    signer_name: Mapped[str] = mapped_column(sa.String(100))  # who signed for the applicant
    signed_by: Mapped[str] = mapped_column(sa.String(100))  # the clerk who took the signature and decided
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    supervising_org: Mapped[str] = mapped_column(sa.String(40))
    verify_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(sa.String(10))
    result_note: Mapped[str | None] = mapped_column(sa.Text)
    result_by: Mapped[str | None] = mapped_column(sa.String(100))
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
