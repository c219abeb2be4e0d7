"""帮办代办 (issue 17): an applicant represented by an agent (经办人) and the hall's own assistants (帮办人员).

An agent acts for the applicant only on the applicant's authorisation: the item's authorisation-letter material
(授权委托书) must be brought, ticked or uploaded, when an agent is named. The catalogue has no column for "this
material is the authorisation letter"; every catalogue item that allows representation names it 授权委托书…, so the
material is found by that name (an administrator adds it to an item to let agents act on it).

An assistant is a window clerk flagged as such (User.assistant): chosen at intake, they take the case on the
applicant's behalf and are recorded on it (Case.assisted_by). Service functions flush; callers commit."""
from __future__ import annotations

import sqlalchemy as sa

from delegation.actors import Actor
from delegation.errors import Forbidden, Invalid, NotFound
from delegation.models import Case, CaseMaterial, Org, User
from delegation.workflow import Role
from persistence import db

AUTHORISATION_NAME = "授权委托书"


def authorisation_material(materials) -> CaseMaterial | None:
    """The authorisation letter among an item's or a case's materials (anything with code and name)."""
    return next((m for m in materials if AUTHORISATION_NAME in (m.name or "")), None)


def check_agent(case: Case) -> None:
    """An agent named on the case needs the applicant's authorisation letter among the materials brought; the
    refusal names the letter's file field (files.<code>), where the window adds it."""
    if not case.agent_name:
        return
    letter = authorisation_material(case.materials)
    if letter is None:
        raise Invalid("agent_not_allowed", "该事项的申请材料中没有授权委托书，不能由经办人代为办理，请申请人本人办理",
                      "the item lists no authorisation letter: an agent cannot apply for it", field="agent.name")
    if not letter.present:
        raise Invalid("authorisation_missing", f"经办人代为办理的，须提交{letter.name}",
                      f"an agent applies only with the applicant's authorisation letter ({letter.code})",
                      field=f"files.{letter.code}", material=letter.code)


def label(user: User) -> str:
    return f"{user.display_name} ({user.username})"


def assistants(org_code: str) -> list[User]:
    """The active assistants of a window, by name."""
    return list(db.session.execute(
        sa.select(User).join(Org, Org.id == User.org_id)
        .where(Org.code == org_code, User.assistant.is_(True), User.is_active.is_(True),
               User.role == Role.WINDOW.value).order_by(User.display_name, User.username)).unique().scalars())


def record_assistant(actor: Actor, case: Case, username: str | None) -> None:
    """The assistant who takes the case for the applicant (none: empty). One of the actor's own window only."""
    username = (username or "").strip()
    if not username:
        return
    chosen = next((u for u in assistants(actor.org_code) if u.username == username), None)
    if chosen is None:
        raise Invalid("assistant_unknown", "所选人员不是本窗口的帮办人员", "not an assistant of this window",
                      field="assisted_by")
    case.assisted_by = label(chosen)


def set_assistant(actor: Actor, username: str, on: bool) -> User:
    """The city administrators flag a window clerk as an assistant (帮办人员), or no longer."""
    if not (actor.role is Role.ADMIN and actor.org_level == "city"):
        raise Forbidden("role_forbidden", "只有市级管理员可以设置帮办人员", "only the city administrators name assistants")
    user = db.session.execute(sa.select(User).filter_by(username=(username or "").strip())).unique().scalar()
    if user is None:
        raise NotFound("user_not_found", "用户不存在", "no such user", field="username")
    if user.role != Role.WINDOW.value:
        raise Invalid("not_window_staff", "帮办人员须为窗口人员", "assistants are window staff", field="username")
    user.assistant = bool(on)
    db.session.flush()
    return user


def mask_name(name: str | None) -> str | None:
    """李四 → 李*: as the public lookup shows a person (no full name of anyone but the applicant)."""
    if not name:
        return None
    name = name.strip()
    return name[0] + "*" * max(1, len(name) - 1)


def public_view(case: Case) -> dict:
    """What the public lookup shows of the representation: the agent's and the assistant's names masked, no ID
    number, no phone, no username."""
    assistant = (case.assisted_by or "").rsplit(" (", 1)[0] or None
    return {"agent": mask_name(case.agent_name), "assistant": mask_name(assistant)}
