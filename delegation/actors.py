"""Who is acting: a member of staff with a role in an organisation, or the system itself."""
from __future__ import annotations

import re
from dataclasses import dataclass

from delegation.workflow import Role


@dataclass(frozen=True)
class Actor:
    username: str
    display_name: str
    role: Role
    org_code: str
    org_kind: str
    org_level: str  # "city" | "county"
    division_code: str
    user_id: int | None = None

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(username=user.username, display_name=user.display_name, role=Role(user.role),
                   org_code=user.org.code, org_kind=user.org.kind, org_level=user.org.level,
                   division_code=user.org.division_code, user_id=user.id)

    @classmethod
    def system(cls, org_code: str, division_code: str, level: str = "city") -> "Actor":
        return cls(username="system", display_name=Role.SYSTEM.title_zh, role=Role.SYSTEM, org_code=org_code,
                   org_kind="system", org_level=level, division_code=division_code)

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.username})"


_LABEL = re.compile(r"^(?P<name>.*?\S)\s*[(（][^()（）\s]+[)）]$")


def person_of(label: str | None) -> str:
    """The person's name of an actor's label, "张三 (window-360730)" → "张三": what a notification says, never the
    account (a label without an account is returned as it is)."""
    match = _LABEL.match(label or "")
    return match.group("name") if match else (label or "")
