"""The applicant's rating of a concluded case (好差评). No login: the case number and its query code identify the
applicant. A wrong query code looks exactly like an unknown case, so the answer never tells whether a case exists.

Scores: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意; satisfied means a score of 3 or more. A bad score
(不满意, 非常不满意) needs the applicant's reason (the comment) and opens a rectification task for the unit that
handled the case (delegation.follow_up, issue 15). Service functions flush; callers commit."""
from __future__ import annotations

import hmac
from datetime import datetime

import sqlalchemy as sa

from delegation import follow_up
from delegation.errors import Conflict, Invalid, NotFound
from delegation.models import RATING_LABELS, Case, CaseRating
from delegation.workflow import State
from exchange.bus import get_bus
from persistence import db, utcnow

COMMENT_MAX = 500


# "5 非常满意、4 满意、…", the levels as the rating service names them
_LEVELS_ZH = "、".join(f"{level.value} {title}" for level, title in RATING_LABELS.items())


def _not_found(case_no: str) -> NotFound:
    return NotFound("case_not_found", "未找到该办件，请核对办件编号和查询码",
                    "no such case: check the case number and the query code", field="case_no")


def rate(case_no: str, query_code: str, score: int, comment: str = "", now: datetime | None = None,
         follow_up_days: int | None = None) -> CaseRating:
    """`follow_up_days`: the working days a bad rating's unit has to reply (default: RATING_FOLLOW_UP_DAYS)."""
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
    if score in follow_up.BAD_SCORES and not comment:  # asked after "already rated": that answer comes first
        raise Invalid("reason_required", f"评价为“{RATING_LABELS[score]}”时，请在评价内容（comment）中写明不满意的原因",
                      "a rating of dissatisfied needs the reason in comment", field="comment")
    rating = CaseRating(case_id=row.id, score=score, comment=comment, created_at=now)
    db.session.add(rating)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # rated at the same moment by another request
        db.session.rollback()
        raise _already_rated() from None
    if score in follow_up.BAD_SCORES:
        follow_up.open_for(db.session.get(Case, row.id), rating,
                           follow_up_days or get_bus().settings.rating_follow_up_days, now)
    return rating


def _already_rated() -> Conflict:
    return Conflict("already_rated", "该办件已评价，每件办件只能评价一次", "this case has already been rated",
                    field="case_no")


def view(case_no: str, rating: CaseRating) -> dict:
    return {"case_no": case_no, "score": rating.score, "score_label": RATING_LABELS[rating.score],
            "satisfied": rating.score >= 3, "comment": rating.comment, "created_at": rating.created_at}
