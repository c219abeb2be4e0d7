"""The bounds of what a user may send: one place for the sizes the API schemas, the page forms, the request guard
and the notices all use, so that what one accepts another can always store, forward and print.

Nothing a request carries may be unbounded: one correction notice of 3,000 items once took 732 s of CPU to print."""
from __future__ import annotations

from collections import Counter

from delegation.errors import Invalid
from exchange import field_rules

# The character rule is a field rule (exchange.field_rules): the same for the API, the pages and the wire.
CONTROL_CHARS = field_rules.CONTROL_CHARS
has_control_chars = field_rules.has_control_chars

INT_MAX = 2**31 - 1  # the id columns' type (PostgreSQL integer): a keyset cursor or count beyond it is no id
TEXT_MAX = 10_000  # any one string in a request, whatever the field (each field has its own, smaller bound)
LIST_MAX = 200  # any one list in a request (each list has its own, smaller bound)

PROBLEM_MAX = 500  # one item of a correction notice: what is wrong with one material
CORRECTION_OTHER_MAX = 20  # items of a correction notice that name no material (the bureau's free lines)
REASONS_MAX = 30  # reasons of a denial or return, one per line
REASON_MAX = 1000  # one reason
COMMENT_MAX = 2000  # a comment on an action, a refusal's or withdrawal's reason, a correction note
REDIRECT_MAX = 500  # where a refused applicant may go instead; also an ID-check override's reason
CERTIFICATE_NO_MAX = 60  # a licence's certificate number (within tq:Name)

# A notice prints what its inputs allow (one item per material and a few free lines, each within PROBLEM_MAX);
# these caps only guard the renderer against data stored before the bounds existed.
NOTICE_ITEMS_MAX = 100
NOTICE_TEXT_MAX = 4000


def check_correction_items(items: list[dict]) -> None:
    """One item per material (no material twice), a few items naming none, each problem within PROBLEM_MAX; with
    the domain's check that every code is a material of the case, a notice lists at most materials + 20 items."""
    codes = [entry.get("material_code") for entry in items]
    if any(len(entry.get("problem") or "") > PROBLEM_MAX for entry in items):
        raise Invalid("too_long", f"每项补正内容不能超过 {PROBLEM_MAX} 个字",
                      f"each problem is limited to {PROBLEM_MAX} characters", field="items")
    if sum(1 for code in codes if not code) > CORRECTION_OTHER_MAX:
        raise Invalid("too_many", f"未对应材料的补正内容不能超过 {CORRECTION_OTHER_MAX} 项",
                      f"at most {CORRECTION_OTHER_MAX} items may name no material", field="items")
    twice = sorted(code for code, n in Counter(code for code in codes if code).items() if n > 1)
    if twice:
        raise Invalid("duplicate", f"材料 {'、'.join(twice)} 重复列出：每种材料只列一项",
                      f"material {', '.join(twice)} listed more than once: one item per material", field="items")
