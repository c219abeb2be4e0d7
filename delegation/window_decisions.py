"""Approval kinds decided at the window (issue 17, part A): 告知承诺制, 豁免/备案 and 即办件.

- 告知承诺 (`approve_on_commitment`): an item so flagged in the catalogue (approval_item) carries a commitment
  text; the applicant signs it at the window and a clerk holding the `commitment_decision` authority approves on
  the spot. The licence and the decision document are issued as for any approval and handed out at once; the double
  push follows (supervision listens). The regulator then verifies the commitment within the item's working days
  (supervision/commitment_checks.py); a false one revokes the licence and blacklists the applicant, who may not use
  告知承诺 again (nor 容缺).
- 即办件 (`decide_instant`): an instant item the county decides, accepted, approved and handed out in one step by
  a clerk holding the `instant_decision` authority.
- 备案 (`file`): an exempt item's filing is recorded and concluded with the decision `file` (已备案): no review,
  no approval, no licence; it is pushed to the regulator like an approval.

Each is one row of delegation/workflow.py from `submitted` to `concluded`, so the case is concluded in the unit of
work that decides it. The authorities are granted per user by an administrator (staff_authority)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from delegation import cases, clock, engine, licences
from delegation.actors import Actor
from delegation.documents import decisions as decision_documents, service
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Case, Item, User
from delegation.responsibility import responsible_parties
from delegation.window_decision_models import (ApprovalItem, ApprovalKind, Authority, CommitmentRecord,
                                               StaffAuthority)
from delegation.workflow import Action, Role
from persistence import db, utcnow

SIGNER_MAX = 100
COMMITMENT_TEXT_MAX = 4000
AUTHORITY_TITLES = {a.value: a.title_zh for a in Authority}


# -- the catalogue's approval kind -----------------------------------------------------------------------------

def approval_of(item: Item) -> ApprovalItem | None:
    return db.session.get(ApprovalItem, item.id)


def kind_of(item: Item) -> ApprovalKind:
    row = approval_of(item)
    return ApprovalKind(row.kind) if row is not None else ApprovalKind.STANDARD


def _filed_not_reviewed(case: Case) -> None:
    """An exempt item takes a filing: accepting it for review and decision is refused (cases' acceptance guards)."""
    if kind_of(case.item) is ApprovalKind.FILING:
        raise Conflict("filing_item", "该事项为豁免审批事项，请直接备案，不经受理和审批",
                       "an exempt item is filed, not accepted for review", field="action")


cases.register_acceptance_rule(_filed_not_reviewed)


def kinds_by_item(item_ids) -> dict[int, ApprovalItem]:
    """The approval rows of these items (one query for a list or an export)."""
    ids = list(item_ids)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(ApprovalItem).where(ApprovalItem.item_id.in_(ids))).scalars()
    return {r.item_id: r for r in rows}


def set_kind(item: Item, kind: str, commitment_text: str | None = None, verification_days: int | None = None):
    """The catalogue import's upsert: `standard` removes the row."""
    row = approval_of(item)
    if kind == ApprovalKind.STANDARD:
        if row is not None:
            db.session.delete(row)
        return None
    if row is None:
        row = ApprovalItem(item_id=item.id)
        db.session.add(row)
    row.kind = kind
    row.commitment_text = commitment_text if kind == ApprovalKind.COMMITMENT else None
    row.verification_days = verification_days or row.verification_days or 20
    return row


# -- who may decide on the spot -----------------------------------------------------------------------------------

def holds(actor: Actor, authority: Authority) -> bool:
    if actor.user_id is None:
        return False
    return db.session.get(StaffAuthority, (actor.user_id, authority.value)) is not None


def authorities_of(user_ids) -> dict[int, set[str]]:
    ids = list(user_ids)
    held: dict[int, set[str]] = {i: set() for i in ids}
    if ids:
        for user_id, authority in db.session.execute(
                sa.select(StaffAuthority.user_id, StaffAuthority.authority).where(StaffAuthority.user_id.in_(ids))):
            held[user_id].add(authority)
    return held


def set_authorities(actor: Actor, username: str, granted: list[str], now: datetime | None = None) -> set[str]:
    """The administrator sets which on-the-spot authorities a window clerk holds (the others are withdrawn)."""
    if actor.role is not Role.ADMIN:
        raise Forbidden("role_forbidden", "只有管理员可以授予当场审批权限", "only administrators grant authorities")
    unknown = sorted(set(granted) - set(AUTHORITY_TITLES))
    if unknown:
        raise Invalid("invalid_choice", f"未知的权限：{'、'.join(unknown)}", f"unknown authority {', '.join(unknown)}",
                      field="authorities")
    user = db.session.execute(sa.select(User).filter_by(username=(username or "").strip())).unique().scalar_one_or_none()
    if user is None:
        raise NotFound("user_not_found", f"用户 {username} 不存在", f"no user {username}", field="username")
    if granted and user.role != Role.WINDOW.value:
        raise Invalid("authority_for_window_only", "当场审批权限只能授予县级窗口人员",
                      "on-the-spot authorities are for county window staff only", field="authorities")
    now = now or utcnow()
    held = authorities_of([user.id])[user.id]
    for authority in held - set(granted):
        db.session.delete(db.session.get(StaffAuthority, (user.id, authority)))
    for authority in set(granted) - held:
        db.session.add(StaffAuthority(user_id=user.id, authority=authority, granted_by=actor.label, granted_at=now))
    db.session.flush()
    return set(granted)


def _require(actor: Actor, authority: Authority) -> None:
    if not holds(actor, authority):
        raise Forbidden("authority_missing",
                        f"您没有“{authority.title_zh}”权限，请由持有该权限的人员办理（权限由管理员在人员页面授予）",
                        f"you do not hold the {authority.value} authority (an administrator grants it on the staff "
                        f"page)", field="authority")


# -- guards ---------------------------------------------------------------------------------------------------

def _competent_here(case: Case) -> None:
    """A case accepted for another county (全市通办) is decided there, never on the spot here."""
    elsewhere = engine.CONDITIONS.get("citywide_elsewhere")  # delegation/citywide.py registers it
    if elsewhere is not None and elsewhere(case):
        raise Conflict("decided_elsewhere", "全市通办件由有权县级审批，不能在本窗口当场办结",
                       "a case accepted for another county is decided there", field="action")


@engine.guard("on_commitment")
def g_on_commitment(case, actor, payload, now):
    approval = approval_of(case.item)
    if approval is None or approval.kind != ApprovalKind.COMMITMENT:
        raise Conflict("commitment_approval_not_allowed", f"事项“{case.item.name}”不实行告知承诺制，请按一般程序受理",
                       f"item {case.item.code} is not approved on a commitment", field="item_code")
    _require(actor, Authority.COMMITMENT_DECISION)
    if cases._blacklisted is not None and cases._blacklisted(case.applicant_id_code):  # noqa: SLF001
        raise Conflict("applicant_blacklisted",
                       "申请人已列入失信黑名单（告知承诺不实），不能适用告知承诺制；请按一般程序受理",
                       "the applicant is blacklisted and may not be approved on a commitment",
                       field="applicant.id_code")
    if payload.get("commitment_signed") is not True:
        raise Invalid("required", "请确认申请人已当场签署告知承诺书", "the applicant must sign the commitment",
                      field="commitment_signed")
    _competent_here(case)
    cases.check_acceptable(case, now)  # delegated now, every required material present


@engine.guard("instant_decision")
def g_instant_decision(case, actor, payload, now):
    if case.item.kind != "instant":
        raise Conflict("not_instant", f"事项“{case.item.name}”不是即办件，不能当场办结",
                       f"item {case.item.code} is not an instant item", field="item_code")
    if kind_of(case.item) is ApprovalKind.FILING:
        raise Conflict("filing_only", f"事项“{case.item.name}”豁免审批，只需备案",
                       f"item {case.item.code} is exempt from approval: file it", field="item_code")
    _require(actor, Authority.INSTANT_DECISION)
    _competent_here(case)
    cases.check_acceptable(case, now)


@engine.guard("filing")
def g_filing(case, actor, payload, now):
    approval = approval_of(case.item)
    if approval is None or approval.kind != ApprovalKind.FILING:
        raise Conflict("filing_not_allowed", f"事项“{case.item.name}”不是豁免审批（备案）事项，不能备案",
                       f"item {case.item.code} takes no filing", field="item_code")
    _competent_here(case)
    cases.check_acceptable(case, now)


# -- effects --------------------------------------------------------------------------------------------------

def _signer(case: Case, payload: dict) -> str:
    signer = (payload.get("signer_name") or "").strip() or case.legal_representative or case.agent_name \
        or case.applicant_name
    if len(signer) > SIGNER_MAX:
        raise Invalid("too_long", f"签署人姓名不能超过{SIGNER_MAX}个字", f"signer_name is at most {SIGNER_MAX}",
                      field="signer_name")
    return signer


def _approve_and_hand_out(case: Case, actor: Actor, payload: dict, now: datetime, opinion: str) -> None:
    """Accepted, approved (licence, decision document, in the county bureau's name) and handed out at the window."""
    clock.start(case, now, None, "county")
    case.review_opinion, case.reviewed_by, case.reviewed_at = opinion, actor.label, now
    case.decision_reasons = []
    licences.issue(case, actor, payload.get("certificate_no"), now)
    case.decision = "approve"
    case.decided_by, case.decided_org, case.decided_at = actor.label, responsible_parties(case)["deciding"], now
    decision_documents.issue(case, now)
    _hand_out(case, actor, payload, now)
    service.record(case, actor, "pickup", payload, now)  # the applicant (or who takes it) signs for it here


def _hand_out(case: Case, actor: Actor, payload: dict, now: datetime) -> None:
    case.step_name = case.step_due_at = None
    case.handout_method, case.concluded_at = "pickup", now


@engine.effect(Action.APPROVE_ON_COMMITMENT)
def e_approve_on_commitment(case, actor, payload, now, t):
    approval = approval_of(case.item)
    signer = _signer(case, payload)
    _approve_and_hand_out(case, actor, payload, now, "告知承诺制：申请人已签署告知承诺书，当场审批")
    due = clock.add_limit(clock.load_calendar(), now, "working_days", approval.verification_days)
    db.session.add(CommitmentRecord(
        case_id=case.id, case_no=case.case_no, commitment_text=approval.commitment_text, signer_name=signer,
        signed_by=actor.label, signed_at=now, supervising_org=responsible_parties(case)["supervising"],
        verify_due_at=due))
    payload.pop("commitment_signed", None)
    payload.update(signer_name=signer, verify_due_at=due.isoformat(), certificate_no=case.certificate_no)


@engine.effect(Action.DECIDE_INSTANT)
def e_decide_instant(case, actor, payload, now, t):
    _approve_and_hand_out(case, actor, payload, now, "即办件：材料齐全，符合法定条件，当场办结")
    payload["certificate_no"] = case.certificate_no


@engine.effect(Action.FILE)
def e_file(case, actor, payload, now, t):
    clock.start(case, now, None, "county")
    case.decision, case.decision_reasons = "file", []
    # recorded in the name of the competent authority (the push's sender must be the one deciding the item)
    case.decided_by, case.decided_org, case.decided_at = actor.label, responsible_parties(case)["deciding"], now
    _hand_out(case, actor, payload, now)


# -- reading --------------------------------------------------------------------------------------------------

def commitment_of(case: Case) -> CommitmentRecord | None:
    return db.session.execute(sa.select(CommitmentRecord).filter_by(case_id=case.id)).scalar_one_or_none()


def window_offer(case: Case, actor: Actor) -> dict | None:
    """What the window's case page offers for a registered case of such an item: the kind, the commitment text to
    show and sign, and whether this clerk holds the authority (None: an ordinary item)."""
    from delegation.workflow import State

    if case.state is not State.SUBMITTED or actor.role is not Role.WINDOW:
        return None
    kind = kind_of(case.item)
    if kind is ApprovalKind.COMMITMENT:
        return {"kind": kind.value, "text": approval_of(case.item).commitment_text,
                "action": Action.APPROVE_ON_COMMITMENT.value, "authorised": holds(actor, Authority.COMMITMENT_DECISION)}
    if kind is ApprovalKind.FILING:
        return {"kind": kind.value, "action": Action.FILE.value, "authorised": True}
    if case.item.kind == "instant" and case.mode.value == "direct":
        return {"kind": "instant", "action": Action.DECIDE_INSTANT.value,
                "authorised": holds(actor, Authority.INSTANT_DECISION)}
    return None


def window_staff(search: str = "", limit: int = 200) -> list[User]:
    """The window clerks of every county, by county then account, optionally those whose account or name contains
    `search` or whose county's division code it is: the administrator's authorities and assistants pages."""
    from delegation.models import Org

    query = sa.select(User).join(Org, Org.id == User.org_id).where(User.role == Role.WINDOW.value,
                                                                   User.is_active.is_(True))
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(User.username.like(pattern, escape="\\"),
                                   User.display_name.like(pattern, escape="\\"), Org.division_code == search))
    return list(db.session.execute(query.order_by(Org.division_code, User.username).limit(limit)).unique().scalars())