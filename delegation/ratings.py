"""The applicant's rating of a concluded case (好差评). No login: the case number and its query code identify the
applicant. A wrong query code looks exactly like an unknown case, so the answer never tells whether a case exists.

Scores: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意; satisfied means a score of 3 or more.
Service functions flush; callers commit."""
from __future__ import annotations

import hmac
from datetime import datetime

import sqlalchemy as sa

from delegation import follow_up_models  # noqa: F401  (its table: the task a bad rating opens)
from delegation.errors import Conflict, Invalid, NotFound
from delegation.models import RATING_LABELS, Case, CaseRating
from delegation.workflow import State
from persistence import db, utcnow

COMMENT_MAX = 500


# "5 非常满意、4 满意、…", the levels as the rating service names them
_LEVELS_ZH = "、".join(f"{level.value} {title}" for level, title in RATING_LABELS.items())


def _not_found(case_no: str) -> NotFound:
    return NotFound("case_not_found", "未找到该办件，请核对办件编号和查询码",
                    "no such case: check the case number and the query code", field="case_no")


def rate(case_no: str, query_code: str, score: int, comment: str = "", now: datetime | None = None) -> CaseRating:
    now = now or utcnow()
    if isinstance(score, bool) or not isinstance(score, int) or score not in RATING_LABELS:
        raise Invalid("score_invalid", f"评价（score）应为 1 至 5 的整数：{_LEVELS_ZH}",
                      "score must be a whole number from 1 to 5", field="score")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise Invalid("comment_too_long", f"评价内容（comment）不能超过 {COMMENT_MAX} 字",
                      f"comment is limited to {COMMENT_MAX} characters", field="comment")
    row = db.session.execute(sa.select(Case.id, Case.state, Case.query_code).where(Case.case_no == case_no)).first()
    # compare even when the case is absent, so both answers take the same time
    matches = hmac.compare_digest((row.query_code if row else "\0" * 6).encode(), (query_code or "").encode())
    if row is None or not matches:
        raise _not_found(case_no)
    if row.state != State.CONCLUDED.value:
        raise Conflict("case_not_concluded", "办件办结后才能评价", "a case can be rated once it is concluded",
                       field="case_no", state=row.state)
    if db.session.execute(sa.select(CaseRating.id).where(CaseRating.case_id == row.id)).first() is not None:
        raise _already_rated()
    rating = CaseRating(case_id=row.id, score=score, comment=comment, created_at=now)
    db.session.add(rating)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # rated at the same moment by another request
        db.session.rollback()
        raise _already_rated() from None
    return rating


def _already_rated() -> Conflict:
    return Conflict("already_rated", "该办件已评价，每件办件只能评价一次", "this case has already been rated",
                    field="case_no")


def view(case_no: str, rating: CaseRating) -> dict:
    return {"case_no": case_no, "score": rating.score, "score_label": RATING_LABELS[rating.score],
            "satisfied": rating.score >= 3, "comment": rating.comment, "created_at": rating.created_at}
