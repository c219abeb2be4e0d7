"""Each label once (issue 13): every state, mode, role, action, suspension kind, feedback kind, push state and
rating level has its Chinese title on its enum member, and the English catalogue translates it; the Chinese titles
of states, modes and roles are written in exactly one place of the Python source (the enum), so that a page, an
export, a statistic or an error message cannot say something else."""
from __future__ import annotations

import io
import tokenize
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from delegation.models import RatingLevel
from delegation.workflow import Action, Mode, Role, State, SuspensionKind, SystemAction
from supervision.models import FeedbackKind
from supervision.push_states import PushState

ROOT = Path(__file__).resolve().parents[2]
PO_PATH = ROOT / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
SOURCE_DIRS = ("app", "delegation", "supervision", "exchange", "config", "persistence")
TITLED = (State, Mode, Role, Action, SystemAction, SuspensionKind, FeedbackKind, PushState, RatingLevel)
ONCE = (State, Mode, Role)


@pytest.fixture(scope="module")
def catalog():
    with PO_PATH.open("rb") as fh:
        return read_po(fh, locale="en")


@pytest.fixture(scope="module")
def string_literals() -> Counter:
    """How often each string literal occurs in the Python source (comments and docstring prose do not count)."""
    found: Counter = Counter()
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
            for tok in tokens:
                if tok.type == tokenize.STRING:
                    found[_literal_text(tok.string)] += 1
    return found


def _literal_text(token: str) -> str:
    body = token.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return body[len(quote):-len(quote)]


@pytest.mark.parametrize("enum_type", TITLED, ids=lambda e: e.__name__)
def test_every_member_has_a_chinese_title_and_its_english(enum_type, catalog):
    for member in enum_type:
        title = getattr(member, "title_zh", None)
        assert title and any("\u4e00" <= ch <= "\u9fff" for ch in title), f"{member!r} has no Chinese title"
        entry = catalog.get(title)
        assert entry is not None and entry.string, f"{member!r}: {title!r} has no English in {PO_PATH.name}"


@pytest.mark.parametrize("enum_type", ONCE, ids=lambda e: e.__name__)
def test_state_mode_and_role_titles_are_written_once(enum_type, string_literals):
    # A title shared by members of two enums (不予受理: the state and the action; 已办结: a case and a push) is
    # written once on each of them and nowhere else.
    members_with = Counter(member.title_zh for titled in TITLED for member in titled)
    repeated = {m.title_zh: string_literals[m.title_zh] for m in enum_type
                if string_literals[m.title_zh] != members_with[m.title_zh]}
    assert not repeated, f"{enum_type.__name__} titles written outside the enum (title: literal count): {repeated}"


def test_labels_read_the_enum_titles(app):
    """The pages' labels and the exports' Chinese are the enum's title, in Chinese and in English."""
    from app.web.common import MODE_LABEL, ROLE_LABEL, STATE_LABEL
    from flask_babel import force_locale
    from supervision.statistics import MODE_ZH, STATE_ZH

    assert STATE_ZH == {s.value: s.title_zh for s in State} and MODE_ZH == {m.value: m.title_zh for m in Mode}
    with app.test_request_context():
        for table, enum_type in ((STATE_LABEL, State), (MODE_LABEL, Mode), (ROLE_LABEL, Role)):
            with force_locale("zh"):
                assert {k: str(v) for k, v in table.items()} == {m: m.title_zh for m in enum_type}
            with force_locale("en"):
                assert all(str(table[m]) != m.title_zh for m in enum_type), f"{enum_type.__name__} not in English"
