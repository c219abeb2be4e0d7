"""Domain errors. Each carries a stable code, the field it concerns and its message in Chinese and English."""
from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, code: str, zh: str, en: str, field: str | None = None, **extra):
        super().__init__(en)
        self.code, self.zh, self.en, self.field, self.extra = code, zh, en, field, extra

    def message(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


class Invalid(DomainError):
    """Bad input: names the field."""

    status = 422


class Forbidden(DomainError):
    """The user's role or organisation may not do this."""

    status = 403


class NotFound(DomainError):
    """Absent, or not visible to this user (another county's case looks absent)."""

    status = 404


class Conflict(DomainError):
    """The case's state (or a rule of the item) does not allow the action now."""

    status = 409
