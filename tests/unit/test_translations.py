"""The English catalogue keeps up with the pages: every string the app marks for translation (babel.cfg: the Python
under app/ and the templates) has its English in app/translations/en/LC_MESSAGES/messages.po, nothing there is fuzzy,
and the English keeps every %(name)s placeholder of the Chinese. A page string without English fails the build."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = ROOT / "babel.cfg"
PO_PATH = ROOT / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}  # as `make i18n`: -k _l -k lazy_gettext
# A named placeholder with its conversion: %(name)s, %(n)d, %(x).1f …
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrs]")
FIX = "run `make i18n`, then give the new entries their English in " + str(PO_PATH.relative_to(ROOT))


def _ids(message_id) -> tuple[str, ...]:
    return message_id if isinstance(message_id, tuple) else (message_id,)


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    """msgid -> where it occurs, extracted in-process exactly as `pybabel extract -F babel.cfg` does."""
    with BABEL_CFG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        for msgid in _ids(message):
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    assert found, f"no messages extracted with {BABEL_CFG}"
    return found


@pytest.fixture(scope="module")
def catalog():
    assert PO_PATH.exists(), f"{PO_PATH} is missing: {FIX}"
    with PO_PATH.open("rb") as fh:
        return read_po(fh, locale="en")


def test_every_page_string_has_its_english(extracted, catalog):
    missing, untranslated = [], []
    for msgid, where in sorted(extracted.items()):
        entry = catalog.get(msgid)
        if entry is None:
            missing.append(f"  {msgid!r}  ({', '.join(where[:3])})")
        elif not all(_ids(entry.string)) or not entry.string:
            untranslated.append(f"  {msgid!r}  ({', '.join(where[:3])})")
    problems = []
    if missing:
        problems.append(f"{len(missing)} msgid(s) missing from the English catalogue:\n" + "\n".join(missing))
    if untranslated:
        problems.append(f"{len(untranslated)} msgid(s) without English:\n" + "\n".join(untranslated))
    assert not problems, "\n".join(problems) + f"\n-> {FIX}"


def test_no_fuzzy_entries(catalog):
    fuzzy = [f"  {m.id!r}" for m in catalog if m.id and m.fuzzy]
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy"
    assert not fuzzy, (f"{len(fuzzy)} fuzzy entr(ies): fuzzy translations are left out of the compiled catalogue; "
                       "check them and remove the fuzzy flag:\n" + "\n".join(fuzzy) + f"\n-> {FIX}")


def test_the_english_keeps_every_placeholder(catalog):
    broken = []
    for m in catalog:
        if not m.id or not m.string:
            continue
        for msgid, msgstr in zip(_ids(m.id), _ids(m.string)):
            want = sorted(set(PLACEHOLDER.findall(msgid)))
            got = sorted(set(PLACEHOLDER.findall(msgstr)))
            if want != got:
                broken.append(f"  {msgid!r} -> {msgstr!r}: placeholders {want} in Chinese, {got} in English")
                continue
            # Formatted with %: with variables, or always in a template (Jinja's newstyle gettext), where a
            # literal percent sign is written %% in the Chinese and in the English alike.
            in_template = any(str(path).endswith(".html") for path, _line in m.locations)
            if want or in_template:
                conversions = dict(re.findall(r"%\((\w+)\)[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?([a-zA-Z])", msgid))
                values = {name: (1 if conv in "diouxXeEfFgGc" else "x") for name, conv in conversions.items()}
                for side, text in (("Chinese", msgid), ("English", msgstr)):
                    try:
                        text % values
                    except (ValueError, TypeError, KeyError) as exc:
                        broken.append(f"  {msgid!r} -> {msgstr!r}: the {side} does not format ({exc}); "
                                      "a literal % is %% in a template")
    assert not broken, "\n".join(broken)


def test_the_dashboard_figure_names_are_the_statistics_names():
    """app/web/dashboard.py marks the figures' names for translation; their Chinese must stay statistics.FIGURE_ZH's
    (outside a request the lazy strings are the Chinese source strings)."""
    from app.web.dashboard import FIGURE_NAMES
    from supervision.statistics import FIGURE_ZH

    assert set(FIGURE_NAMES) == set(FIGURE_ZH)
    assert {k: str(v) for k, v in FIGURE_NAMES.items()} == FIGURE_ZH


def test_each_chinese_string_has_one_english_entry():
    """A msgid written twice gives one of its pages the other's English (gettext keeps one; msgfmt refuses the
    file): a word with two meanings needs two Chinese strings."""
    ids = re.findall(r'^msgid "(.+)"$', PO_PATH.read_text(encoding="utf-8"), flags=re.M)
    seen, twice = set(), []
    for msgid in ids:
        (twice.append(msgid) if msgid in seen else seen.add(msgid))
    assert not twice, f"written more than once in {PO_PATH.name}: {twice}"
