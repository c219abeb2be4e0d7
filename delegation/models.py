"""Tables of the delegation domain: divisions, organisations, staff, the catalogue and cases."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from delegation.titles import N_, TitledIntEnum, titles
from delegation.workflow import Mode, Role, State
from persistence import UTCDateTime, db, utcnow

MODES = tuple(m.value for m in Mode)
STATES = tuple(s.value for s in State)
ROLES = tuple(r.value for r in Role if r is not Role.SYSTEM)
LIMIT_UNITS = ("working_days", "hours")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EnumText(sa.types.TypeDecorator):
    """A workflow enum (State, Mode) read as its member, stored as before: its value in a VARCHAR (no migration).
    A string that names no member is bound as it is, so that a list filter on an unknown state finds nothing and
    the CHECK constraint refuses it in a write."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum_type, length: int):
        super().__init__(length)
        self.enum_type = enum_type

    def process_bind_param(self, value, dialect):
        return value.value if isinstance(value, self.enum_type) else value

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum_type(value)


class Division(db.Model):
    """A city or county-level unit (GB/T 2260 code, or the city code with a suffix for a development zone)."""

    __tablename__ = "division"
    code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(20))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("division.code"))

    @property
    def is_city(self) -> bool:
        return self.parent_code is None


class Org(db.Model):
    """An organisation: a county window, approval bureau or industry authority, or a city section."""

    __tablename__ = "org"
    __table_args__ = (sa.CheckConstraint(_in("level", ("city", "county")), name="level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(30))
    level: Mapped[str] = mapped_column(sa.String(10))
    division_code: Mapped[str] = mapped_column(sa.ForeignKey("division.code"), index=True)
    node_id: Mapped[str] = mapped_column(sa.String(30))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id"))
    # printed on the notices and documents it issues (migration 0010; `flask orgs contact` sets them)
    address: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    office_hours: Mapped[str | None] = mapped_column(sa.String(100))
    doc_prefix: Mapped[str | None] = mapped_column(sa.String(20))  # of its own 文号, e.g. 章贡行审许
    review_authority: Mapped[str | None] = mapped_column(sa.String(100))  # 行政复议机关 of its decisions
    court: Mapped[str | None] = mapped_column(sa.String(100))  # where its decisions are litigated

    division: Mapped[Division] = relationship()
    parent: Mapped["Org | None"] = relationship(remote_side=[id])


class User(db.Model):
    __tablename__ = "app_user"
    __table_args__ = (sa.CheckConstraint(_in("role", ROLES), name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped at logout, password change and deactivation: a browser session carries the generation it began in,
    # so a copied cookie stops working once the user has left.
    session_generation: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    # An initial password (set by an operator or an administrator) must be replaced at the first login.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # where notifications are also sent (migration 0015, issue 15; set on /account): optional
    email: Mapped[str | None] = mapped_column(sa.String(254))
    mobile: Mapped[str | None] = mapped_column(sa.String(20))
    # a window's own assistant (帮办人员, migration 0023): may take a case on the applicant's behalf
    assistant: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    org: Mapped[Org] = relationship(lazy="joined")


class Item(db.Model):
    """A delegated approval item (事项) of the catalogue."""

    __tablename__ = "item"
    __table_args__ = (
        sa.CheckConstraint(_in("mode", MODES), name="mode"),
        sa.CheckConstraint(_in("limit_unit", LIMIT_UNITS), name="limit_unit"),
        sa.CheckConstraint(_in("kind", ("instant", "promised")), name="kind"),
        sa.CheckConstraint("promised_limit >= 0 AND statutory_limit >= promised_limit", name="limits"),
        sa.CheckConstraint("validity_months BETWEEN 0 AND 1200", name="validity_months"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    mode: Mapped[str] = mapped_column(sa.String(20), index=True)
    department_code: Mapped[str] = mapped_column(sa.ForeignKey("org.code"))
    kind: Mapped[str] = mapped_column(sa.String(10), default="promised")
    limit_unit: Mapped[str] = mapped_column(sa.String(20), default="working_days")
    promised_limit: Mapped[int]
    statutory_limit: Mapped[int]
    county_step_limit: Mapped[int | None]
    city_step_limit: Mapped[int | None]
    allows_commitment: Mapped[bool] = mapped_column(default=False)
    commitment_days: Mapped[int] = mapped_column(default=10)
    baseline_materials: Mapped[int] = mapped_column(default=0)
    baseline_steps: Mapped[int] = mapped_column(default=0)
    baseline_days: Mapped[float] = mapped_column(sa.Float, default=0)
    fee: Mapped[str] = mapped_column(sa.String(200), default="不收费")
    legal_basis: Mapped[str] = mapped_column(sa.Text, default="")
    conditions: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    # years an archived case of this item is kept after it concluded; None = 永久 (supervision/archive.py, 0012)
    archive_retention_years: Mapped[int | None] = mapped_column(default=30, server_default=sa.text("30"))
    # The licence an approval yields (migration 0011, delegation/licences.py): its title ("" = 行政许可证), the
    # optional fields it prints (licences.OPTIONAL_FIELDS) and its validity in months (0 = 长期有效).
    licence_title: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    licence_fields: Mapped[list | None] = mapped_column(sa.JSON)
    validity_months: Mapped[int] = mapped_column(default=60, server_default=sa.text("60"))
    # 材料邮寄 (issue 19, migration 0014): the city decides only once the originals arrived; mail not signed for
    # within originals_days working days warns both sides (delegation/mailing.py)
    originals_before_decision: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    originals_days: Mapped[int] = mapped_column(default=5, server_default=sa.text("5"))

    department: Mapped[Org] = relationship()
    materials: Mapped[list["ItemMaterial"]] = relationship(
        back_populates="item", order_by="ItemMaterial.position", cascade="all, delete-orphan"
    )


class ItemMaterial(db.Model):
    __tablename__ = "item_material"
    __table_args__ = (sa.UniqueConstraint("item_id", "code", name="uq_item_material_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(200))
    core: Mapped[bool] = mapped_column(default=True)
    required: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    # its paper original is mailed to the city (材料邮寄, migration 0014)
    originals_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    item: Mapped[Item] = relationship(back_populates="materials")


class Delegation(db.Model):
    """Whether an item is delegated to a county; the city may revoke and grant it again."""

    __tablename__ = "delegation"
    __table_args__ = (sa.UniqueConstraint("item_id", "division_code", name="uq_delegation_item_division"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"))
    division_code: Mapped[str] = mapped_column(sa.ForeignKey("division.code"))
    granted: Mapped[bool] = mapped_column(default=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a change that takes effect later


class DelegationEvent(db.Model):
    """The history of grants and revocations of an item for a county. Insert-only."""

    __tablename__ = "delegation_event"
    __table_args__ = (sa.CheckConstraint("action IN ('grant', 'revoke')", name="action"),
                      sa.Index("ix_delegation_event_item_division", "item_id", "division_code", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="CASCADE"))
    division_code: Mapped[str] = mapped_column(sa.ForeignKey("division.code"))
    action: Mapped[str] = mapped_column(sa.String(10))
    reason: Mapped[str] = mapped_column(sa.Text)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finding_ref: Mapped[str | None] = mapped_column(sa.String(100))  # e.g. "spot-check-entry:12"
    by: Mapped[str] = mapped_column(sa.String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HolidayDay(db.Model):
    """The admin's holiday table for years the calendar package does not cover."""

    __tablename__ = "holiday_day"
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(sa.String(60), default="")


class HolidayYear(db.Model):
    """A year the admin declared complete in the holiday table."""

    __tablename__ = "holiday_year"
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class CaseNoCounter(db.Model):
    __tablename__ = "case_no_counter"
    division_code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


# The states in which a case's clock runs (unless paused), and the partial indexes' predicates. Queries that mean to
# use such an index repeat its predicate word for word (sa.text), so that the planner proves the index applies.
OPEN_CLOCK_STATES = ("accepted", "county_review", "forwarded", "city_review", "returned")
CLOCK_RUNNING_SQL = f"{_in('state', OPEN_CLOCK_STATES)} AND paused_at IS NULL"
FINAL_STATE_VALUES = ("concluded", "refused", "terminated", "withdrawn")
COMMITMENT_OPEN_SQL = f"commitment_met_at IS NULL AND NOT ({_in('state', FINAL_STATE_VALUES)})"
# the city approvers' queue (app/web/city.py _queue_filter): at the city, or suspended by the city
CITY_QUEUE_SQL = ("state IN ('forwarded', 'city_review') OR "
                  "(state = 'suspended' AND resume_state IN ('forwarded', 'city_review'))")  # migration 0037

ACCEPTED_STATES = ("accepted", "county_review", "forwarded", "city_review", "returned", "decided", "concluded",
                   "suspended")


class Case(db.Model):
    """A case (办件). Columns that belong to a state are tied to it by CHECK constraints."""

    __tablename__ = "case_file"
    __table_args__ = (
        sa.CheckConstraint(_in("state", STATES), name="state"),
        sa.CheckConstraint(_in("mode", MODES), name="mode"),
        sa.CheckConstraint("decision IS NULL OR decision IN ('approve', 'deny')", name="decision"),
        sa.CheckConstraint(f"NOT ({_in('state', ACCEPTED_STATES)}) OR accepted_at IS NOT NULL", name="accepted"),
        sa.CheckConstraint("state NOT IN ('decided', 'concluded') OR (decision IS NOT NULL AND decided_at IS NOT NULL)",
                           name="decided"),
        sa.CheckConstraint("state <> 'concluded' OR (concluded_at IS NOT NULL AND handout_method IS NOT NULL)",
                           name="concluded"),
        sa.CheckConstraint("state <> 'refused' OR refusal_reason IS NOT NULL", name="refused"),
        sa.CheckConstraint("state <> 'suspended' OR (paused_at IS NOT NULL AND suspension_kind IS NOT NULL "
                           "AND resume_state IS NOT NULL)", name="suspended"),
        sa.CheckConstraint("state <> 'correction_requested' OR (correction_items IS NOT NULL "
                           "AND resume_state IS NOT NULL)", name="correction"),
        sa.CheckConstraint("handout_method IS NULL OR handout_method IN ('pickup', 'mail')", name="handout"),
        sa.CheckConstraint("handout_method <> 'mail' OR tracking_no IS NOT NULL", name="tracking"),
        sa.CheckConstraint("due_flag IN ('ok', 'warning', 'overdue')", name="due_flag"),
        sa.Index("ix_case_file_county_state", "county_code", "state", "id"),
        sa.Index("ix_case_file_due", "due_flag", "state"),
        # the 容缺 cases only (a few per cent): the statistics count their commitments live
        sa.Index("ix_case_file_commitment", "commitment_deadline",
                 postgresql_where=sa.text("commitment_deadline IS NOT NULL"),
                 sqlite_where=sa.text("commitment_deadline IS NOT NULL")),
        # -- the lists and the jobs (migration 0007): each list is an index range scan in its own order --
        # a county's cases newest first (window desk "recent", GET /api/v1/cases as county staff)
        sa.Index("ix_case_file_county_id", "county_code", "id"),
        # a state's cases newest first, whoever sees them all (GET /api/v1/cases?state=… as the city bureau)
        sa.Index("ix_case_file_state_id", "state", "id"),
        # a city section's cases (its own items) by state, newest first
        sa.Index("ix_case_file_department_state", "department_code", "state", "id"),
        # the deadline sweep: the running clocks by flag and deadline (delegation.clock.sweep_flags)
        sa.Index("ix_case_file_clock", "due_flag", "due_at",
                 postgresql_where=sa.text(CLOCK_RUNNING_SQL), sqlite_where=sa.text(CLOCK_RUNNING_SQL)),
        # the 容缺 commitments still open (delegation.cases.sweep terminates the broken ones)
        sa.Index("ix_case_file_commitment_open", "commitment_deadline",
                 postgresql_where=sa.text(COMMITMENT_OPEN_SQL), sqlite_where=sa.text(COMMITMENT_OPEN_SQL)),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    query_code: Mapped[str] = mapped_column(sa.String(12))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id"), index=True)
    mode: Mapped[Mode] = mapped_column(EnumText(Mode, 20))
    state: Mapped[State] = mapped_column(EnumText(State, 30), default=State.SUBMITTED)  # moved by delegation.engine
    county_code: Mapped[str] = mapped_column(sa.ForeignKey("division.code"))
    window_org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id"))
    department_code: Mapped[str] = mapped_column(sa.String(40))
    applicant_kind: Mapped[str] = mapped_column(sa.String(20))
    applicant_name: Mapped[str] = mapped_column(sa.String(200))
    applicant_id_code: Mapped[str] = mapped_column(sa.String(30), index=True)
    applicant_phone: Mapped[str | None] = mapped_column(sa.String(30))
    # what a window records at intake (migration 0013): the address, the legal representative and the agent (经办人)
    applicant_address: Mapped[str | None] = mapped_column(sa.String(200))
    legal_representative: Mapped[str | None] = mapped_column(sa.String(100))
    agent_name: Mapped[str | None] = mapped_column(sa.String(100))
    agent_id_code: Mapped[str | None] = mapped_column(sa.String(30))
    agent_phone: Mapped[str | None] = mapped_column(sa.String(30))
    assisted_by: Mapped[str | None] = mapped_column(sa.String(100))  # the window's 帮办人员 who took it (0023)
    # the catalogue version in force when it was registered (0033, delegation/catalogue_publish.py); NULL: before any
    catalogue_version: Mapped[int | None] = mapped_column()
    # the item's pre-reform baselines when it was registered (0034): its reductions are measured against these, so
    # a later catalogue version re-scores no case already registered (NULL: written past the ORM, read the item's)
    baseline_materials: Mapped[int | None] = mapped_column()
    baseline_steps: Mapped[int | None] = mapped_column()
    baseline_days: Mapped[float | None] = mapped_column(sa.Float)
    id_check_override: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(60))
    # time limit
    limit_unit: Mapped[str] = mapped_column(sa.String(20))
    promised_limit: Mapped[int]
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_basis: Mapped[str | None] = mapped_column(sa.String(20))
    due_flag: Mapped[str] = mapped_column(sa.String(10), default="ok")
    step_name: Mapped[str | None] = mapped_column(sa.String(20))
    step_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clock_remaining: Mapped[int | None]
    # working days the clock stood still (suspensions, corrections), summed at each resume; statistics subtract it
    paused_days: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    resume_state: Mapped[State | None] = mapped_column(EnumText(State, 30))
    # intake
    correction_items: Mapped[list | None] = mapped_column(sa.JSON)
    correction_history: Mapped[list | None] = mapped_column(sa.JSON)  # every notice given, for 一次性告知
    refusal_reason: Mapped[str | None] = mapped_column(sa.Text)
    refusal_redirect: Mapped[str | None] = mapped_column(sa.Text)
    commitment_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    commitment_met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # review and decision
    review_opinion: Mapped[str | None] = mapped_column(sa.Text)
    review_recommendation: Mapped[str | None] = mapped_column(sa.String(10))
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    return_reasons: Mapped[list | None] = mapped_column(sa.JSON)
    suspension_kind: Mapped[str | None] = mapped_column(sa.String(30))
    suspension_expected_end: Mapped[date | None] = mapped_column(sa.Date)
    decision: Mapped[str | None] = mapped_column(sa.String(10))
    decision_reasons: Mapped[list | None] = mapped_column(sa.JSON)
    certificate_no: Mapped[str | None] = mapped_column(sa.String(60))  # the licence number (delegation/licences.py)
    valid_from: Mapped[date | None] = mapped_column(sa.Date)  # the licence's validity (migration 0011)
    valid_until: Mapped[date | None] = mapped_column(sa.Date)  # None on an approval: 长期有效
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    decided_org: Mapped[str | None] = mapped_column(sa.String(40))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # hand-out
    handout_method: Mapped[str | None] = mapped_column(sa.String(10))
    tracking_no: Mapped[str | None] = mapped_column(sa.String(40))
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str | None] = mapped_column(sa.Text)
    # 转办 (issue 15, migration 0018): the county organisation a transfer passed the case to while the county holds
    # it (NULL: the county bureau); a transfer at the city changes department_code (delegation/transfer.py)
    holder_org: Mapped[str | None] = mapped_column(sa.String(40))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @validates("state", "mode", "resume_state")
    def _as_member(self, key, value):
        # A value assigned reads back as the member, as a loaded one does (e.g. mode=item.mode, a string).
        return None if value is None else (State if key != "mode" else Mode)(value)

    item: Mapped[Item] = relationship(lazy="joined")
    window_org: Mapped[Org] = relationship(lazy="joined")
    materials: Mapped[list["CaseMaterial"]] = relationship(
        back_populates="case", order_by="CaseMaterial.position", cascade="all, delete-orphan"
    )
    files: Mapped[list["CaseFile"]] = relationship(back_populates="case", order_by="CaseFile.id")
    events: Mapped[list["CaseEvent"]] = relationship(back_populates="case", order_by="CaseEvent.id")


class CaseMaterial(db.Model):
    """The item's material list as it stood when the case was created, with what the applicant brought."""

    __tablename__ = "case_material"
    __table_args__ = (sa.UniqueConstraint("case_id", "code", name="uq_case_material_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(200))
    core: Mapped[bool]
    required: Mapped[bool]
    present: Mapped[bool] = mapped_column(default=False)
    committed: Mapped[bool] = mapped_column(default=False)  # promised under 容缺
    position: Mapped[int] = mapped_column(default=0)

    case: Mapped[Case] = relationship(back_populates="materials")


class CaseFile(db.Model):
    """An uploaded file, stored under its SHA-256, never under the name the user gave it."""

    __tablename__ = "case_upload"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    material_code: Mapped[str] = mapped_column(sa.String(40))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    media_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by: Mapped[str] = mapped_column(sa.String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="files")


class CaseEvent(db.Model):
    """One line of a case's timeline. Insert-only: database triggers refuse updates and deletes."""

    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(40))
    actor_username: Mapped[str | None] = mapped_column(sa.String(60))  # who handled it, for spot-check exclusion
    from_state: Mapped[str | None] = mapped_column(sa.String(30))
    to_state: Mapped[str] = mapped_column(sa.String(30))
    actor: Mapped[str] = mapped_column(sa.String(100))
    actor_org: Mapped[str] = mapped_column(sa.String(40))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    data: Mapped[dict | None] = mapped_column(sa.JSON)
    # SHA-256 over this line and the one before it (delegation/audit.py, migration 0012): the hash chain
    digest: Mapped[str | None] = mapped_column(sa.String(64))

    case: Mapped[Case] = relationship(back_populates="events")


# -- statistics (issue 6) ---------------------------------------------------------------------------------------

# The period filter of the statistics works on the application date.
sa.Index("ix_case_file_created_at", Case.created_at)
# The city approvers' queue in deadline order (cases without a deadline last), app/web/review.py deadline_page.
sa.Index("ix_case_file_city_queue", Case.due_at.is_(None), Case.due_at, Case.id,
         postgresql_where=sa.text(CITY_QUEUE_SQL), sqlite_where=sa.text(CITY_QUEUE_SQL))
# The window's worklist (delegation/worklist.py, migration 0013): a county's state queue in deadline order, its
# warning/overdue filter, its open 容缺 commitments, the search by phone and by a part of the applicant's name
# (a trigram GIN index on PostgreSQL; SQLite, a plain index of the same name).
sa.Index("ix_case_file_county_state_due", Case.county_code, Case.state, Case.due_at.is_(None), Case.due_at, Case.id)
# its 全部 queue in deadline order, first and deep pages (migration 0016)
sa.Index("ix_case_file_county_due", Case.county_code, Case.due_at.is_(None), Case.due_at, Case.id)
# the desk's warning/overdue counts of the open cases, from the index alone (migration 0016)
sa.Index("ix_case_file_county_flag_state", Case.county_code, Case.due_flag, Case.state)
sa.Index("ix_case_file_county_due_flag", Case.county_code, Case.due_flag, Case.id)
sa.Index("ix_case_file_county_commitment", Case.county_code, Case.commitment_deadline,
         postgresql_where=sa.text(COMMITMENT_OPEN_SQL), sqlite_where=sa.text(COMMITMENT_OPEN_SQL))
sa.Index("ix_case_file_applicant_phone", Case.applicant_phone)
sa.Index("ix_case_file_applicant_name_trgm", Case.applicant_name, postgresql_using="gin",
         postgresql_ops={"applicant_name": "gin_trgm_ops"})



class RatingLevel(TitledIntEnum):
    """The levels of the rating service (好差评), best first; satisfied means 3 or more."""

    VERY_SATISFIED = 5, N_("非常满意")
    SATISFIED = 4, N_("满意")
    FAIRLY_SATISFIED = 3, N_("基本满意")
    DISSATISFIED = 2, N_("不满意")
    VERY_DISSATISFIED = 1, N_("非常不满意")


RATING_LABELS = titles(RatingLevel)


class CaseRating(db.Model):
    """The applicant's rating of a concluded case (好差评): one per case, 5 非常满意 … 1 非常不满意."""

    __tablename__ = "case_rating"
    __table_args__ = (sa.CheckConstraint("score BETWEEN 1 AND 5", name="score"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(db.Model):
    """The working-day calendar as a table, so that SQL can count working days: the working days strictly after
    day A up to and including day B are seq(B) − seq(A). Filled by supervision.statistics.refresh_calendar."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_workday: Mapped[bool]
    workday_seq: Mapped[int]


# -- 材料邮寄: paper originals mailed to the city (issue 19, migration 0014; delegation/mailing.py) ----------------

class OriginalsMailing(db.Model):
    """The window's record of originals sent to the city, the same row on both nodes (mailing_uid): insert-only
    (triggers, migration 0014) but for the sweep's overdue_warned_at."""

    __tablename__ = "originals_mailing"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_uid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("case_file.id"), index=True)
    courier: Mapped[str] = mapped_column(sa.String(40))
    tracking_no: Mapped[str] = mapped_column(sa.String(40))
    materials: Mapped[list] = mapped_column(sa.JSON)  # material codes sent
    mailed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mailed_by: Mapped[str] = mapped_column(sa.String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # signed for by then, or both sides are warned
    overdue_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    receipt: Mapped["OriginalsReceipt | None"] = relationship(back_populates="mailing", uselist=False)


class OriginalsReceipt(db.Model):
    """The city's signing for a mailing: complete, or which materials are missing or damaged. Insert-only."""

    __tablename__ = "originals_receipt"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(sa.ForeignKey("originals_mailing.id"), unique=True)
    complete: Mapped[bool] = mapped_column()
    missing: Mapped[list] = mapped_column(sa.JSON)
    damaged: Mapped[list] = mapped_column(sa.JSON)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_by: Mapped[str] = mapped_column(sa.String(200))

    mailing: Mapped[OriginalsMailing] = relationship(back_populates="receipt")
