"""Titles on the enums: each label of a state, mode, role, action or kind is written once, on its member.

A member carries its Chinese title (`title_zh`): the domain's messages, notices, exports and statistics use it as
it is, whatever the page language. `label` is the same title through the Babel catalogue (the title is the msgid,
marked with N_ so that `pybabel extract` finds it), resolved lazily in the reader's language when rendered.
"""
from __future__ import annotations

import enum

from flask_babel import lazy_gettext


def N_(zh: str) -> str:
    """Marks a Chinese title for the catalogue (N_ is one of Babel's default keywords); `label` translates it."""
    return zh


class _Titled:
    title_zh: str

    @property
    def label(self):
        """The title in the reader's language (Flask-Babel, resolved when rendered)."""
        return lazy_gettext(self.title_zh)


class TitledStrEnum(_Titled, enum.StrEnum):
    """A StrEnum whose members are written `NAME = "stored value", N_("中文标题")`."""

    def __new__(cls, value: str, title_zh: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.title_zh = title_zh
        return member


class TitledIntEnum(_Titled, enum.IntEnum):
    """An IntEnum whose members are written `NAME = 5, N_("中文标题")`."""

    def __new__(cls, value: int, title_zh: str):
        member = int.__new__(cls, value)
        member._value_ = value
        member.title_zh = title_zh
        return member


def titles(enum_type) -> dict:
    """member -> Chinese title, in declaration order (a look-up table for code that keys by stored value)."""
    return {member: member.title_zh for member in enum_type}
