"""The regulator's open cases (在办督促, issue 15): the cases its organisation will supervise once approved —
its county's direct cases for a county regulator, every delegated case for the city's — still open, searched and
narrowed to those near or past their limit, each with who holds it now and the time it has left; and one case's
page with its progress and the 催办 panel, so a supervisor presses the holder from the desk.

The list and the case come from delegation.reminders (to_supervise / supervised_case), the rule of who may press:
another organisation's case is a 404. The page shows what a supervisor needs to press (item, applicant, state,
holder, limit, reminders), not the case's materials or files."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from app.extensions import utcnow
from app.web import register_page_errors, requires
from app.web.common import keyset_after
from delegation import reminders, worklist
from delegation.errors import DomainError

bp = Blueprint("web_regulator_cases", __name__)
register_page_errors(bp)

PAGE_SIZE = 30


def _regulator(user) -> bool:
    return user.user.role == "regulator"


@bp.get("/regulator/cases")
@requires(_regulator)
def cases():
    args = _args()
    rows, counts, next_after = reminders.to_supervise(current_user.actor, **args, after=keyset_after(request.args),
                                                      limit=PAGE_SIZE)
    return render_template("regulator/cases.html", rows=_rows(rows, counts), next_after=next_after, args=args)


@bp.get("/regulator/cases/<case_no>")
@requires(_regulator)
def case(case_no: str):
    try:
        found = reminders.supervised_case(current_user.actor, case_no)
    except DomainError:
        abort(404)
    return render_template("regulator/case.html", case=found, row=_rows([found], {})[0], reminder_back="regulator")


def _args() -> dict:
    """The search box (bounded, spaces folded) and the limit filter of the query string."""
    due = request.args.get("due")
    return {"q": " ".join((request.args.get("q") or "").split())[:worklist.SEARCH_MAX] or None,
            "due": due if due in ("warning", "overdue") else None}


def _rows(cases, counts: dict[int, int]) -> list[dict]:
    """Each case with the name of the organisation holding it now, the time it has left and its reminders."""
    from app.web.case_page import org_names
    from app.web.window import _LEFT_WORDS, _left_words

    now = utcnow()
    holders = {c.id: worklist.holder_code(c) for c in cases}
    names = org_names(set(holders.values()))
    words = {key: str(text) for key, text in _LEFT_WORDS.items()}
    return [{"case": c, "holder": names.get(holders[c.id], ""), "reminders": counts.get(c.id, 0),
             "left": _left_words(words, worklist.time_left(c, now)) or (words["paused"] if c.paused_at else None)}
            for c in cases]
