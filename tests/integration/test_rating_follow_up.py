"""差评整改 (issue 15): a rating of 不满意 or 非常不满意 needs the applicant's reason and opens a rectification task for
the unit that decided the case; the unit sees it on its desk, verifies, rectifies and replies, and the applicant reads
the reply on the public lookup; the city dashboard counts open and overdue tasks, and the notification job reminds
an overdue task's unit once a working day (a controlled clock)."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from app.extensions import db
from delegation.follow_up_models import RatingFollowUp
from delegation.models import CaseRating, User
from delegation.notification_models import Notification
from delegation.workflow import Mode, State
from tests.integration.factories import make_case
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY, OTHER_COUNTY

# Beijing time 10:00 on Monday 7 and Tuesday 8 December 2026; a rating long before them
MON, TUE = (datetime(2026, 12, d, 2, 0, tzinfo=timezone.utc) for d in (7, 8))
LONG_AGO = datetime(2026, 9, 1, 2, 0, tzinfo=timezone.utc)
REVIEWER = f"review-{COUNTY}"


def _concluded(app, mode: Mode = Mode.DIRECT) -> tuple[str, str]:
    with app.app_context():
        case = make_case(State.CONCLUDED, mode)
        db.session.commit()
        return case.case_no, case.query_code


def _rate_page(client, case_no, query_code, score, comment=""):  # noqa: F811
    return client.post(f"/lookup/{case_no}/rating", data={
        "query_code": query_code, "score": str(score), "comment": comment,
        "csrf_token": csrf_token(client, f"/lookup/{case_no}/rating")})


def _as(app, username: str):
    signed_in = app.test_client()
    log_in(signed_in, username)
    return signed_in


def _tasks(app) -> list[tuple[str, str, int, str]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(sa.select(
            RatingFollowUp.case_no, RatingFollowUp.org_code, RatingFollowUp.score, RatingFollowUp.reason)
            .order_by(RatingFollowUp.id)).all()]


def _told(app, case_no: str) -> list[str]:
    with app.app_context():
        return sorted(db.session.execute(
            sa.select(User.username).join(Notification, Notification.user_id == User.id)
            .where(Notification.case_no == case_no, Notification.kind == "follow_up")).scalars())


def test_a_bad_rating_without_a_reason_is_refused_naming_the_field(client):  # noqa: F811
    app = client.application
    case_no, code = _concluded(app)
    r = _rate_page(client, case_no, code, 2, "   ")
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "评价内容" in page and "请填写不满意的原因" in page
    api = client.post(f"/api/v1/public/cases/{case_no}/rating", json={"query_code": code, "score": 1})
    assert api.status_code == 422 and api.get_json()["field"] == "comment", api.get_json()
    assert "不满意的原因" in api.get_json()["detail"]
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(CaseRating)).scalar_one() == 0
    assert _tasks(app) == []
    # a satisfied rating needs no reason and opens nothing
    assert _rate_page(client, case_no, code, 3).status_code == 200
    assert _tasks(app) == []


def test_a_bad_rating_opens_a_task_for_the_unit_that_decided_the_case(client):  # noqa: F811
    app = client.application
    direct_no, direct_code = _concluded(app)
    city_no, city_code = _concluded(app, Mode.FORWARD_ONLY)
    assert _rate_page(client, direct_no, direct_code, 2, "窗口让我跑了三次").status_code == 200
    assert _rate_page(client, city_no, city_code, 1, "审批太慢").status_code == 200
    with app.app_context():
        department = db.session.execute(sa.text("SELECT department_code FROM case_file WHERE case_no = :n"),
                                        {"n": city_no}).scalar_one()
    assert _tasks(app) == [(direct_no, f"{COUNTY}-bureau", 2, "窗口让我跑了三次"), (city_no, department, 1, "审批太慢")]
    assert _told(app, direct_no) == [REVIEWER]  # the county bureau decided the direct case
    assert "city-approver" in _told(app, city_no)  # the city approvers serve the department's cases

    desk = _as(app, REVIEWER).get("/review").get_data(as_text=True)
    assert 'data-testid="follow-up-desk"' in desk and direct_no in desk and city_no not in desk
    desk = _as(app, "city-approver").get("/city").get_data(as_text=True)
    assert 'data-testid="follow-up-desk"' in desk and city_no in desk and direct_no not in desk
    other = _as(app, f"review-{OTHER_COUNTY}")
    assert 'data-testid="follow-up-desk"' not in other.get("/review").get_data(as_text=True)
    with app.app_context():
        task_id = db.session.execute(sa.select(RatingFollowUp.id).filter_by(case_no=direct_no)).scalar_one()
    assert other.get(f"/follow-ups/{task_id}").status_code == 404  # another county's task reads as absent


def test_the_units_reply_shows_on_the_public_lookup(client):  # noqa: F811
    app = client.application
    case_no, code = _concluded(app)
    assert _rate_page(client, case_no, code, 1, "工作人员态度差").status_code == 200
    with app.app_context():
        task_id = db.session.execute(sa.select(RatingFollowUp.id)).scalar_one()
    log_in(client, REVIEWER)
    url = f"/follow-ups/{task_id}"
    assert "工作人员态度差" in client.get(url).get_data(as_text=True)
    form = {"finding": "经核实，窗口人员解释不耐心", "rectification": "已对窗口人员进行服务规范培训",
            "reply": "您好，已核实并整改，感谢您的监督。", "csrf_token": csrf_token(client, url)}
    r = client.post(f"{url}/reply", data={**form, "reply": ""})
    assert r.status_code == 422 and "答复申请人" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(RatingFollowUp, task_id).state == "open"
    r = client.post(f"{url}/reply", data=form)
    assert r.status_code == 303
    assert client.post(f"{url}/reply", data=form).status_code == 409  # answered once
    with app.app_context():
        name = db.session.execute(sa.select(User.display_name).filter_by(username=REVIEWER)).scalar_one()
    answered = client.get(url).get_data(as_text=True)
    assert name in answered and REVIEWER not in answered  # who replied, by name, never the account
    applicant = app.test_client()
    lookup = applicant.post("/lookup", data={"case_no": case_no, "query_code": code,
                                             "csrf_token": csrf_token(applicant, "/lookup")}).get_data(as_text=True)
    assert 'data-testid="follow-up-reply"' in lookup and "您好，已核实并整改，感谢您的监督。" in lookup
    assert "已对窗口人员进行服务规范培训" in lookup and "经核实" not in lookup  # the finding stays internal


def test_overdue_tasks_are_counted_on_the_dashboard_and_reminded_once_a_working_day(client):  # noqa: F811
    from app.mailer import run_notification_jobs
    from delegation import ratings

    app = client.application
    late_no, late_code = _concluded(app)
    fresh_no, fresh_code = _concluded(app)
    with app.app_context():
        ratings.rate(late_no, late_code, 2, "等了很久", now=LONG_AGO)  # due long ago
        db.session.commit()
    assert _rate_page(client, fresh_no, fresh_code, 2, "流程不清楚").status_code == 200  # due in 5 working days
    log_in(client, "admin")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "未答复 2 件，其中超期 1 件" in dashboard

    with app.app_context():
        assert run_notification_jobs(MON)["follow_ups"] == 1
        assert run_notification_jobs(MON.replace(hour=6))["follow_ups"] == 0  # once that working day
        assert run_notification_jobs(TUE)["follow_ups"] == 1
    reminders = _told(app, late_no)
    assert reminders == [REVIEWER, REVIEWER, REVIEWER]  # opened, then two working days' reminders


def test_a_city_section_sees_and_answers_only_its_own_tasks(client):  # noqa: F811
    """The bureau's approvers serve every section; a section's approver only its own section's tasks."""
    from delegation.models import Org
    from delegation.passwords import hash_password

    app = client.application
    city_no, city_code = _concluded(app, Mode.FORWARD_ONLY)
    assert _rate_page(client, city_no, city_code, 1, "审批太慢").status_code == 200
    with app.app_context():
        task = db.session.execute(sa.select(RatingFollowUp).filter_by(case_no=city_no)).scalar_one()
        task_id, owner = task.id, task.org_code
        other = db.session.execute(sa.select(Org).where(Org.kind == "city_section", Org.code != owner)
                                   .order_by(Org.code)).scalars().first()
        for username, org in (("sec-owner", db.session.execute(sa.select(Org).filter_by(code=owner)).scalar_one()),
                              ("sec-other", other)):
            db.session.add(User(username=username, display_name=username, role="city_approver", org_id=org.id,
                                password_hash=hash_password("demo")))
        db.session.commit()
    assert city_no in _as(app, "sec-owner").get("/city").get_data(as_text=True)
    stranger = _as(app, "sec-other")
    assert city_no not in stranger.get("/city").get_data(as_text=True)
    assert stranger.get(f"/follow-ups/{task_id}").status_code == 404
