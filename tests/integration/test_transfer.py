"""转办 on one node (issue 15): a city section's case passed to another section, a county bureau's case to another
approval bureau of its county, always with a reason; the deadline does not restart, the timeline says who passed it
to whom and why, the receiving organisation's users are told; only the holder may pass it, never a concluded case,
and only to an organisation that may handle it on this node — otherwise the error names the field and nothing
changes. Through the API and the case page's form."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, CaseEvent, Org, User
from delegation.notification_models import Notification
from delegation.passwords import hash_password
from delegation.workflow import Mode, State
from tests.integration.factories import make_case
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY, Api

REASON = "本事项涉及食品经营，应由商贸流通审批科办理"
SECOND_BUREAU = f"{COUNTY}-bureau-2"  # a unit (股) of the county bureau, made by the test


def _user(username: str, org_code: str, role: str) -> None:
    org = db.session.execute(sa.select(Org).filter_by(code=org_code)).scalar_one()
    db.session.add(User(username=username, display_name=username, role=role, org_id=org.id,
                        password_hash=hash_password("demo")))


def _case(case_no: str) -> Case:
    db.session.expire_all()
    return db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()


def _snapshot(case_no: str) -> tuple:
    """What a refused transfer must leave as it was: holder columns, clocks, timeline, inbox."""
    case = _case(case_no)
    events = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)
                                .filter_by(case_id=case.id)).scalar_one()
    notes = db.session.execute(sa.select(sa.func.count()).select_from(Notification)
                               .filter_by(kind="transfer")).scalar_one()
    return (case.state, case.department_code, case.holder_org, case.due_at, case.step_due_at, case.version, events,
            notes)


def _told(case_no: str) -> list[str]:
    return sorted(db.session.execute(
        sa.select(User.username).join(Notification, Notification.user_id == User.id)
        .where(Notification.case_no == case_no, Notification.kind == "transfer")).scalars())


def _refused(api: Api, case_no: str, user: str, status: int, field: str, **body) -> dict:
    before = _snapshot(case_no)
    r = api.post(f"/api/v1/cases/{case_no}/transfer", user=user, json=body)
    assert r.status_code == status, r.get_json()
    problem = r.get_json()
    assert problem.get("field") == field, problem
    assert _snapshot(case_no) == before
    return problem


def test_a_city_section_passes_a_case_to_another_section_without_restarting_its_time_limit(app):
    api = Api(app.test_client())
    with app.app_context():
        case = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
        case_no, holder = case.case_no, case.department_code
        target = next(code for code in ("360700-sec-trade", "360700-sec-market") if code != holder)
        _user("sec-holder", holder, "city_approver")
        _user("sec-target", target, "city_approver")
        db.session.commit()
        before = _snapshot(case_no)

        # bad input, a stranger, the wrong level: each named, nothing changed
        assert _refused(api, case_no, "city-approver", 422, "reason", to_org=target)["code"] == "required"
        assert _refused(api, case_no, "city-approver", 422, "reason", to_org=target, reason="理" * 501)
        assert _refused(api, case_no, "city-approver", 422, "to_org", reason=REASON)
        assert _refused(api, case_no, "city-approver", 422, "to_org", to_org="360700-sec-nowhere", reason=REASON)
        assert _refused(api, case_no, "city-approver", 422, "to_org", to_org=holder, reason=REASON)
        problem = _refused(api, case_no, "city-approver", 422, "to_org", to_org=f"{COUNTY}-bureau", reason=REASON)
        assert problem["code"] == "org_cannot_handle" and "不能办理" in problem["detail"]
        assert _refused(api, case_no, "city-approver", 422, "to_org", to_org="360700-industry", reason=REASON)
        assert _refused(api, case_no, "sec-target", 404, "case_no", to_org=target, reason=REASON)  # not its case
        assert _refused(api, case_no, f"window-{COUNTY}", 403, None, to_org=target, reason=REASON)
        # a section another node hosts does not hold this case: it could not take it over
        db.session.execute(sa.update(Org).where(Org.code == target).values(node_id="360799"))
        db.session.commit()
        assert _refused(api, case_no, "city-approver", 422, "to_org", to_org=target,
                        reason=REASON)["code"] == "org_elsewhere"
        db.session.execute(sa.update(Org).where(Org.code == target).values(node_id="360700"))
        db.session.commit()

        r = api.post(f"/api/v1/cases/{case_no}/transfer", user="sec-holder", json={"to_org": target, "reason": REASON})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert body["state"] == "city_review" and body["responsible"]["deciding"] == target
        case = _case(case_no)
        assert case.department_code == target
        assert (case.due_at, case.step_due_at) == (before[3], before[4])  # the time limit does not restart
        line = case.events[-1]
        names = dict(db.session.execute(sa.select(Org.code, Org.name).where(Org.code.in_((holder, target)))).all())
        assert line.action == "transfer" and line.actor_username == "sec-holder"
        assert line.comment == f"{names[holder]} → {names[target]}：{REASON}"
        assert line.data["from_org"] == holder and line.data["to_org"] == target
        assert "sec-target" in _told(case_no) and "sec-holder" not in _told(case_no)
        from delegation.notification_models import Notification

        body = db.session.execute(sa.select(Notification.body).filter_by(case_no=case_no, kind="transfer")).scalar()
        assert names[holder] in body and "(sec-holder)" not in body  # a person by name, never the account
        # the case is now the target's: its section sees it, the former holder no longer does
        assert api.get(f"/api/v1/cases/{case_no}", user="sec-target").status_code == 200
        assert api.get(f"/api/v1/cases/{case_no}", user="sec-holder").status_code == 404
        timeline = api.get(f"/api/v1/cases/{case_no}", user="sec-target").get_json()["timeline"]
        assert timeline[-1]["action"] == "transfer" and REASON in timeline[-1]["comment"]


def test_a_county_bureau_passes_a_case_to_a_unit_of_the_bureau_and_back(app):
    api = Api(app.test_client())
    with app.app_context():
        bureau = db.session.execute(sa.select(Org).filter_by(code=f"{COUNTY}-bureau")).scalar_one()
        db.session.add(Org(code=SECOND_BUREAU, name="宁都县行政审批局第二审批股", kind="approval_unit",
                           level="county", division_code=COUNTY, node_id="360700", parent_id=bureau.id))
        db.session.flush()
        _user(f"review2-{COUNTY}", SECOND_BUREAU, "reviewer")
        case_no = make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no
        concluded = make_case(State.CONCLUDED, Mode.DIRECT).case_no
        db.session.commit()
        reviewer = f"review-{COUNTY}"

        assert _refused(api, case_no, reviewer, 422, "to_org", to_org="360702-bureau", reason=REASON)
        assert _refused(api, case_no, reviewer, 422, "to_org", to_org=f"{COUNTY}-window", reason=REASON)
        assert _refused(api, case_no, reviewer, 422, "to_org", to_org=f"{COUNTY}-industry", reason=REASON)
        assert _refused(api, concluded, reviewer, 409, "case_no", to_org=SECOND_BUREAU,
                        reason=REASON)["code"] == "case_closed"

        r = api.post(f"/api/v1/cases/{case_no}/transfer", user=reviewer, json={"to_org": SECOND_BUREAU, "reason": REASON})
        assert r.status_code == 200, r.get_json()
        from delegation.worklist import holder_code

        case = _case(case_no)
        assert case.holder_org == SECOND_BUREAU and holder_code(case) == SECOND_BUREAU
        assert case.state is State.COUNTY_REVIEW and case.events[-1].action == "transfer"
        assert _told(case_no) == [f"review2-{COUNTY}"]
        # the bureau that passed it no longer holds it: it cannot pass it again
        problem = _refused(api, case_no, reviewer, 403, "to_org", to_org=SECOND_BUREAU, reason=REASON)
        assert problem["code"] == "not_holder"
        # the new holder can pass it back
        r = api.post(f"/api/v1/cases/{case_no}/transfer", user=f"review2-{COUNTY}",
                     json={"to_org": f"{COUNTY}-bureau", "reason": "退回原承办单位"})
        assert r.status_code == 200, r.get_json()
        assert holder_code(_case(case_no)) == f"{COUNTY}-bureau"


def test_the_case_page_offers_the_transfer_and_says_a_refusal(client):  # noqa: F811
    app = client.application
    with app.app_context():
        case = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
        case_no, holder = case.case_no, case.department_code
        target = next(code for code in ("360700-sec-trade", "360700-sec-market") if code != holder)
        db.session.commit()

    log_in(client, "city-approver")
    for path in (f"/cases/{case_no}", f"/city/cases/{case_no}"):  # the case page and the desk's work page
        page = client.get(path).get_data(as_text=True)
        assert 'data-testid="transfer-form"' in page and f'value="{target}"' in page
        assert f'<option value="{holder}">' not in page  # not to itself
    token = csrf_token(client, f"/cases/{case_no}")
    r = client.post(f"/cases/{case_no}/transfer", data={"to_org": target, "reason": "", "csrf_token": token})
    assert r.status_code == 303
    assert "请填写转办理由" in client.get(f"/cases/{case_no}").get_data(as_text=True)
    with app.app_context():
        assert _case(case_no).department_code == holder

    r = client.post(f"/cases/{case_no}/transfer", data={"to_org": target, "reason": REASON, "csrf_token": token})
    assert r.status_code == 303
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "已转办" in page and REASON in page
    with app.app_context():
        assert _case(case_no).department_code == target


def test_a_section_that_passed_a_case_on_lands_on_its_desk_told_it_is_done(client):  # noqa: F811
    app = client.application
    with app.app_context():
        case = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
        case_no, holder = case.case_no, case.department_code
        target = next(code for code in ("360700-sec-trade", "360700-sec-market") if code != holder)
        _user("sec-passer", holder, "city_approver")
        db.session.commit()
    log_in(client, "sec-passer")
    r = client.post(f"/cases/{case_no}/transfer", data={"to_org": target, "reason": REASON,
                                                          "csrf_token": csrf_token(client, f"/cases/{case_no}")})
    assert r.status_code == 303 and r.headers["Location"].endswith("/city")  # the case is no longer its to see
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and "已转办" in page.get_data(as_text=True)
