"""The rule every free-text field of a staff action follows (a reason, a message, a reply): required, trimmed,
bounded; the refusal names the field and says it in Chinese."""
from __future__ import annotations

from delegation.errors import Invalid


def required_text(value: str | None, limit: int, field: str, zh: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid("required", f"请填写{zh}", f"{field} is required", field=field)
    if len(value) > limit:
        raise Invalid("too_long", f"{zh}不能超过 {limit} 个字", f"{field} is longer than {limit} characters",
                      field=field)
    return value
