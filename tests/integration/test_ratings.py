"""好差评: the applicant rates a concluded case once, without logging in, with the case number and its query code;
a wrong code looks exactly like a case that does not exist."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import cases
from delegation.actors import Actor
from delegation.models import CaseRating, Item, User
from supervision import statistics
from tests.integration.support import COUNTY, ENTERPRISE, Api

CST = ZoneInfo("Asia/Shanghai")
WINDOW, REVIEWER = f"window-{COUNTY}", f"review-{COUNTY}"


def actor(username: str) -> Actor:
    return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())


def a_case(conclude: bool = True):
    """A direct case, decided (and handed out when `conclude`)."""
    item = db.session.execute(sa.select(Item).filter_by(mode="direct", limit_unit="working_days")
                              ).unique().scalars().first()
    now = datetime(2026, 3, 2, 10, tzinfo=CST)
    case = cases.create_case(actor(WINDOW), item.code, dict(ENTERPRISE),
                             [{"code": m.code, "present": True} for m in item.materials], now=now)
    cases.perform(actor(WINDOW), case.case_no, "accept", now=now)
    cases.perform(actor(REVIEWER), case.case_no, "review", {"opinion": "符合条件"}, now=now)
    cases.perform(actor(REVIEWER), case.case_no, "approve", now=now)
    if conclude:
        cases.perform(actor(WINDOW), case.case_no, "hand_out", {"method": "pickup"}, now=now)
    db.session.commit()
    return case


@pytest.fixture
def api(client):
    return Api(client)


def rating_url(case_no: str) -> str:
    return f"/api/v1/public/cases/{case_no}/rating"


def test_rate_a_concluded_case_once_without_logging_in(api):
    case = a_case()
    r = api.post(rating_url(case.case_no), json={"query_code": case.query_code, "score": 4, "comment": " 很方便 "})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["case_no"], body["score"], body["score_label"], body["satisfied"], body["comment"]) == \
        (case.case_no, 4, "满意", True, "很方便")
    again = api.post(rating_url(case.case_no), json={"query_code": case.query_code, "score": 1})
    assert again.status_code == 409 and again.get_json()["code"] == "already_rated"
    stored = db.session.execute(sa.select(CaseRating.score).filter_by(case_id=case.id)).scalars().all()
    assert stored == [4]


def test_a_wrong_query_code_looks_like_an_absent_case(api):
    case = a_case()
    wrong_code = "000000" if case.query_code != "000000" else "111111"
    wrong = api.post(rating_url(case.case_no), json={"query_code": wrong_code, "score": 5})
    absent = api.post(rating_url(f"{COUNTY}-2026-999999"), json={"query_code": case.query_code, "score": 5})
    assert wrong.status_code == absent.status_code == 404
    assert wrong.get_json() == absent.get_json()  # the same words: nothing tells the two apart
    assert db.session.execute(sa.select(sa.func.count(CaseRating.id))).scalar_one() == 0


def test_only_a_concluded_case_can_be_rated(api):
    case = a_case(conclude=False)
    r = api.post(rating_url(case.case_no), json={"query_code": case.query_code, "score": 5})
    assert r.status_code == 409 and r.get_json()["code"] == "case_not_concluded"
    assert "办结" in r.get_json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"score": 5}, "query_code"),
    ({"query_code": "123456"}, "score"),
    ({"query_code": "123456", "score": 0}, "score"),
    ({"query_code": "123456", "score": 6}, "score"),
    ({"query_code": "123456", "score": "5"}, "score"),
    ({"query_code": "123456", "score": 4.5}, "score"),
    ({"query_code": "123456", "score": 5, "comment": "好" * 501}, "comment"),
    ({"query_code": "123456", "score": 5, "extra": 1}, "extra"),
])
def test_bad_ratings_name_the_field(app, api, body, field):
    case = a_case()
    r = api.post(rating_url(case.case_no), json=body)
    assert r.status_code == 422 and r.get_json()["field"] == field, r.get_json()


def test_satisfaction_counts_scores_of_three_and_more(app):
    from delegation import ratings

    scores = [5, 4, 3, 2, 1]
    for score in scores:
        case = a_case()
        ratings.rate(case.case_no, case.query_code, score, "办理太慢" if score < 3 else "")  # a bad one: its reason
        db.session.commit()
    figures = statistics.summary(now=datetime(2026, 4, 1, tzinfo=CST))
    assert (figures["ratings"], figures["satisfied"], figures["satisfaction"]) == (5, 3, 0.6)
    (county,) = statistics.breakdown("county", now=datetime(2026, 4, 1, tzinfo=CST))
    assert county["satisfaction_flag"] is True  # 60 % < 95 %: flagged for rectification
