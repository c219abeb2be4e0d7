"""Assignment within an organisation (issue 15): claim, assign and release a case without changing its state, each a
line of the timeline; the assignee is notified; the desks show 我的待办 and 本单位未分配 with their counts; a
time-bounded stand-in works an absent colleague's cases and gives them back when the period ends (a controlled
clock), and cannot pass them on; bad input is refused naming the field and changes nothing; a case sent to the
city and returned comes back to the person who had it."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import assignment, engine, staff
from delegation.assignment_models import CaseAssignment, StandIn
from delegation.errors import Conflict, DomainError, Invalid
from delegation.models import Case, CaseEvent, User
from delegation.notification_models import Notification
from delegation.workflow import Action, Mode, State
from tests.integration.factories import actor, make_case, reviewer, window
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY, OTHER_COUNTY

# Beijing time 10:00 on Monday 7 December 2026 and the days after
MON = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)


def _at(day: int) -> datetime:
    return datetime(2026, 12, day, 2, 0, tzinfo=timezone.utc)


def _colleague(name: str, org: str = f"{COUNTY}-bureau", role: str = "reviewer") -> User:
    return staff.create_account(name, f"同事{name[-1]}", org, role, "password-123", must_change_password=False)


def _reload(case_no: str) -> Case:
    db.session.expire_all()
    return db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()


def _lines(case: Case, *actions) -> list[tuple]:
    return [(e.action, e.from_state, e.to_state, e.actor_username) for e in case.events if e.action in actions]


def _told(username: str) -> list[str]:
    return list(db.session.execute(sa.select(Notification.title).join(User, User.id == Notification.user_id)
                                   .where(User.username == username, Notification.kind == "assigned")
                                   .order_by(Notification.id)).scalars())


def _nos(queue) -> list[str]:
    return [c.case_no for c, _ in queue.rows]


def test_claim_assign_release_keep_the_state_write_the_timeline_and_fill_the_queues(app):
    with app.app_context():
        b = _colleague("review-b")
        case = make_case(State.COUNTY_REVIEW, Mode.DIRECT)
        case_no, state, version = case.case_no, case.state, case.version
        db.session.commit()
        me = reviewer()
        assert case_no in _nos(assignment.unassigned(me)) and case_no not in _nos(assignment.my_work(me, MON))
        before = assignment.unassigned(me).count

        assignment.claim(me, case_no, MON)
        db.session.commit()
        assert _nos(assignment.my_work(me, MON)) == [case_no] and assignment.my_work(me, MON).count == 1
        assert assignment.unassigned(me).count == before - 1
        with pytest.raises(Conflict) as refused:  # a colleague cannot take it from me
            assignment.claim(Actor_for(b), case_no, MON)
        assert refused.value.code == "assigned_to_other"
        db.session.rollback()

        assignment.assign(me, case_no, "review-b", MON)
        db.session.commit()
        assert _told("review-b") == [f"分派办件：{case_no}"]
        assert case_no in _nos(assignment.my_work(Actor_for(b), MON)) and not assignment.my_work(me, MON).rows
        assignment.release(Actor_for(b), case_no, MON)
        db.session.commit()

        case = _reload(case_no)
        assert case.state is state and case.version == version  # not a transition
        assert _lines(case, "claim", "assign", "release") == [
            ("claim", state.value, state.value, f"review-{COUNTY}"),
            ("assign", state.value, state.value, f"review-{COUNTY}"),
            ("release", state.value, state.value, "review-b")]
        assert case_no in _nos(assignment.unassigned(me))
        # the window's unit does not hold the case: nothing to claim there
        with pytest.raises(Conflict) as elsewhere:
            assignment.claim(window(), case_no, MON)
        assert elsewhere.value.field == "case_no"


def Actor_for(user: User):
    from delegation.actors import Actor
    return Actor.for_user(user)


@pytest.mark.parametrize("assignee, field", [("reg-" + COUNTY, "assignee"), (f"review-{OTHER_COUNTY}", "assignee"),
                                             (f"window-{COUNTY}", "assignee"), ("", "assignee")])
def test_assigning_outside_the_unit_is_refused_naming_the_field_and_changes_nothing(app, assignee, field):
    with app.app_context():
        case_no = make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no
        db.session.commit()
        count = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)).scalar_one()
        with pytest.raises(Invalid) as refused:
            assignment.assign(reviewer(), case_no, assignee, MON)
        db.session.rollback()
        assert refused.value.field == field
        assert db.session.execute(sa.select(sa.func.count()).select_from(CaseAssignment)).scalar_one() == 0
        assert db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)).scalar_one() == count


def test_a_stand_in_works_the_absent_users_cases_for_the_period_only_and_cannot_pass_them_on(app):
    with app.app_context():
        b, c = _colleague("review-b"), _colleague("review-c")
        me = reviewer()
        mine = make_case(State.COUNTY_REVIEW, Mode.DIRECT, now=MON).case_no
        later = make_case(State.COUNTY_REVIEW, Mode.DIRECT, now=MON).case_no
        assignment.claim(me, mine, MON)
        assignment.name_stand_in(me, "review-b", date(2026, 12, 8), date(2026, 12, 10), MON)
        db.session.commit()
        assert _told("review-b") == [f"委托代办：{me.display_name}"]
        assert _nos(assignment.my_work(me, MON)) == [mine]  # the period has not begun
        assert assignment.my_work(Actor_for(b), MON).count == 0

        during = _at(9)
        work = assignment.my_work(Actor_for(b), during)
        assert [(c_.case_no, w.username if w else None) for c_, w in work.rows] == [(mine, me.username)]  # 代办
        assert assignment.my_work(me, during).count == 0
        # a new assignment to the absent user goes to the stand-in (who is told), and stays the user's
        assignment.assign(Actor_for(c), later, me.username, during)
        db.session.commit()
        assert _told("review-b")[-1] == f"分派办件：{later}"
        assert sorted(_nos(assignment.my_work(Actor_for(b), during))) == sorted([mine, later])
        # the stand-in cannot pass the work on: no assignment to a third person, no release, no onward stand-in
        for attempt in (lambda: assignment.assign(Actor_for(b), mine, "review-c", during),
                        lambda: assignment.release(Actor_for(b), mine, during)):
            with pytest.raises(Conflict) as refused:
                attempt()
            db.session.rollback()
            assert refused.value.code == "stand_in_cannot_pass_on"
        with pytest.raises(Conflict) as onward:
            assignment.name_stand_in(Actor_for(b), "review-c", date(2026, 12, 9), date(2026, 12, 12), during)
        db.session.rollback()
        assert onward.value.field == "stand_in"

        after = _at(11)  # the period is over: what is unfinished is the user's again
        assert sorted(_nos(assignment.my_work(me, after))) == sorted([mine, later])
        assert assignment.my_work(Actor_for(b), after).count == 0
        assert _reload(mine).state is State.COUNTY_REVIEW


@pytest.mark.parametrize("stand_in, starts, ends, field", [
    (f"window-{COUNTY}", "2026-12-08", "2026-12-10", "stand_in"),  # another organisation (the window)
    (f"review-{OTHER_COUNTY}", "2026-12-08", "2026-12-10", "stand_in"),  # another county
    (f"review-{COUNTY}", "2026-12-08", "2026-12-10", "stand_in"),  # self
    ("nobody-here", "2026-12-08", "2026-12-10", "stand_in"),
    ("review-b", "2026-12-10", "2026-12-08", "ends_on"),  # an end before the start
    ("review-b", "2026-12-08", "2027-03-08", "ends_on"),  # over 90 days
    ("review-b", "2026-12-01", "2026-12-10", "starts_on"),  # begun in the past
    ("review-b", "8/12/2026", "2026-12-10", "starts_on"),
])
def test_a_bad_stand_in_is_refused_naming_the_field_and_nothing_changes(app, stand_in, starts, ends, field):
    with app.app_context():
        _colleague("review-b")
        db.session.commit()
        with pytest.raises(DomainError) as refused:
            assignment.name_stand_in(reviewer(), stand_in, starts, ends, MON)
        db.session.rollback()
        assert refused.value.field == field
        assert db.session.execute(sa.select(sa.func.count()).select_from(StandIn)).scalar_one() == 0


def test_a_case_returned_by_the_city_comes_back_to_the_person_who_had_it(app):
    with app.app_context():
        _colleague("review-b")
        city_b = _colleague("city-b", "360700-bureau", "city_approver")
        case = make_case(State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW)
        case_no = case.case_no
        assignment.assign(reviewer(), case_no, "review-b", MON)
        db.session.commit()
        b = Actor_for(db.session.execute(sa.select(User).filter_by(username="review-b")).unique().scalar_one())
        engine.apply(case, b, Action.REVIEW, {"opinion": "符合条件", "recommendation": "approve"})
        db.session.commit()
        case = _reload(case_no)
        assert case.state in (State.FORWARDED, State.CITY_REVIEW)
        assert assignment.my_work(b, MON).count == 0  # the bureau's assignment ends while the city holds it
        if case.state is State.FORWARDED:
            from tests.integration.factories import _receive
            _receive(case, MON)
        city = actor("city-approver")
        assert case_no in _nos(assignment.unassigned(city))
        assignment.assign(city, case_no, city_b.username, MON)
        engine.apply(case, city, Action.RETURN, {"reasons": ["缺少现场照片"]})
        db.session.commit()
        assert _reload(case_no).state is State.RETURNED
        assert _nos(assignment.my_work(b, MON)) == [case_no]  # back to the person who had it
        assert assignment.my_work(Actor_for(city_b), MON).count == 0
        assert assignment.panel(b, _reload(case_no), MON).assignee.username == "review-b"


def test_the_desks_show_the_queues_and_the_case_page_claims(client):  # noqa: F811
    app = client.application
    with app.app_context():
        case_no = make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no
        _colleague("review-b")
        db.session.commit()
    log_in(client, f"review-{COUNTY}")
    desk = client.get("/review").get_data(as_text=True)
    assert '<span class="count" data-testid="assign-count-mine">0</span>' in desk
    assert '<span class="count" data-testid="assign-count-unassigned">1</span>' in desk
    assert f'data-testid="unassigned-{case_no}"' in client.get("/work").get_data(as_text=True)
    r = client.post(f"/cases/{case_no}/claim", data={"csrf_token": csrf_token(client, f"/cases/{case_no}")})
    assert r.status_code == 303
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "已领取" in page and 'data-testid="release-form"' in page and 'data-testid="claim-form"' not in page
    assert "<td>领取</td>" in page  # the timeline's line, in the page language
    desk = client.get("/review").get_data(as_text=True)
    assert '<span class="count" data-testid="assign-count-mine">1</span>' in desk
    assert '<span class="count" data-testid="assign-count-unassigned">0</span>' in desk
    assert f'data-testid="mine-{case_no}"' in client.get("/work").get_data(as_text=True)
    # a bad assignee: said on the case page naming what was wrong, nothing changes
    r = client.post(f"/cases/{case_no}/assign", data={"assignee": f"review-{OTHER_COUNTY}",
                                                      "csrf_token": csrf_token(client, f"/cases/{case_no}")},
                    follow_redirects=True)
    assert "只能分派给本单位在岗的办件人员" in r.get_data(as_text=True)
    # the stand-in page refuses an end before the start, under that field
    r = client.post("/stand-ins", data={"stand_in": "review-b", "starts_on": "2099-12-10", "ends_on": "2099-12-08",
                                        "csrf_token": csrf_token(client, "/stand-ins")})
    assert r.status_code == 422
    assert 'data-testid="error-ends_on"' in r.get_data(as_text=True)
    r = client.post("/stand-ins", data={"stand_in": "review-b", "starts_on": "2099-12-08", "ends_on": "2099-12-10",
                                        "csrf_token": csrf_token(client, "/stand-ins")})
    assert r.status_code == 303
    assert 'data-testid="period-' in client.get("/stand-ins").get_data(as_text=True)


def test_the_api_claims_says_who_has_it_refuses_a_foreign_assignee_and_releases(client):  # noqa: F811
    with client.application.app_context():
        case_no = make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no
        db.session.commit()
    token = client.post("/api/v1/auth/token", json={"username": f"review-{COUNTY}", "password": "demo"}).get_json()
    auth = {"Authorization": f"Bearer {token['token']}"}
    url = f"/api/v1/cases/{case_no}/assignment"
    assert client.get(url, headers=auth).get_json() == {"org": f"{COUNTY}-bureau", "assignee": None, "worker": None}
    r = client.post(url, json={}, headers=auth)
    assert r.status_code == 201 and r.get_json()["assignee"] == f"review-{COUNTY}"
    r = client.post(url, json={"assignee": f"review-{OTHER_COUNTY}"}, headers=auth)
    assert r.status_code == 422 and r.get_json()["field"] == "assignee"
    assert client.get(url, headers=auth).get_json()["assignee"] == f"review-{COUNTY}"  # nothing changed
    assert client.delete(url, headers=auth).status_code == 204
    assert client.get(url, headers=auth).get_json()["assignee"] is None
    assert client.delete(url, headers=auth).status_code == 409


def test_the_queues_sql_names_the_same_holder_as_the_python_rule(app):
    """holder_expr (the queues' SQL) and worklist.holder_code (everything else) must agree in every state, or a
    case would sit in one unit's queue while another holds it."""
    from delegation.worklist import holder_code
    with app.app_context():
        made = [make_case(state, mode) for state, mode in (
            (State.SUBMITTED, Mode.DIRECT), (State.CORRECTION_REQUESTED, Mode.DIRECT),
            (State.COUNTY_REVIEW, Mode.DIRECT), (State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW),
            (State.CITY_REVIEW, Mode.FORWARD_ONLY), (State.RETURNED, Mode.FORWARD_ONLY),
            (State.RETURNED, Mode.DELEGATED_REVIEW), (State.SUSPENDED, Mode.DIRECT), (State.DECIDED, Mode.DIRECT),
            (State.CONCLUDED, Mode.DIRECT))]
        made[3].holder_org = f"{COUNTY}-bureau-unit"  # a county 转办 to a unit of the bureau
        db.session.flush()
        sql = dict(db.session.execute(sa.select(Case.id, assignment.holder_expr())
                                      .where(Case.id.in_([c.id for c in made]))).all())
        assert {c.id: holder_code(c) for c in made} == sql
        assert len(set(sql.values())) >= 4  # window, bureau, the unit, a city department


def test_each_units_unassigned_queue_holds_exactly_the_open_cases_that_unit_holds(app):
    """本单位未分配 reads only the states a unit can hold a case in (the window, the county bureau, the city): a case
    in any state, suspended at the county or at the city, returned to either level, is in the queue and the count
    of the one unit that holds it, and in no other unit's."""
    from delegation.worklist import holder_code
    with app.app_context():
        made = [make_case(state, mode) for state, mode in (
            (State.SUBMITTED, Mode.DIRECT), (State.CORRECTION_REQUESTED, Mode.DIRECT),
            (State.COUNTY_REVIEW, Mode.DIRECT), (State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW),
            (State.FORWARDED, Mode.FORWARD_ONLY), (State.CITY_REVIEW, Mode.FORWARD_ONLY),
            (State.RETURNED, Mode.FORWARD_ONLY), (State.RETURNED, Mode.DELEGATED_REVIEW),
            (State.SUSPENDED, Mode.DIRECT), (State.DECIDED, Mode.DIRECT), (State.CONCLUDED, Mode.DIRECT),
            (State.REFUSED, Mode.DIRECT), (State.WITHDRAWN, Mode.DIRECT))]
        city = actor("city-approver")
        at_city = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
        made.append(engine.apply(at_city, city, Action.SUSPEND,
                                 {"kind": "expert_review", "expected_end": date(2027, 1, 20)}))
        db.session.commit()
        assert made[-1].state is State.SUSPENDED
        for who in (window(), reviewer(), city):
            codes = assignment.unit_codes(who)
            held = {c.case_no for c in made if c.state.value not in ("concluded", "refused", "withdrawn")
                    and holder_code(c) in codes}
            queue = assignment.unassigned(who)
            assert held and set(_nos(queue)) & {c.case_no for c in made} == held, who.username
            assert queue.count == len(_nos(queue)) == assignment.counts(who)["unassigned"]


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # real parallel writers: a server database
def test_a_stand_in_submitted_twice_at_once_is_named_once(database_url, tmp_path):
    """A double submit, or A naming B while B names C, runs the overlap checks side by side: the users' rows are
    locked first, so one period is recorded and the others are refused."""
    import threading

    from tests.conftest import make_app

    app = make_app(database_url, tmp_path / "instance")
    with app.app_context():
        _colleague("review-b"), _colleague("review-c")
        db.session.commit()
        db.session.remove()
    n, start, answers = 6, threading.Barrier(6), []

    def name(who: str, whom: str):
        with app.app_context():
            start.wait()
            try:
                assignment.name_stand_in(actor(who), whom, date(2026, 12, 8), date(2026, 12, 10), MON)
                db.session.commit()
                answers.append("named")
            except DomainError as exc:
                db.session.rollback()
                answers.append(exc.code)
            finally:
                db.session.remove()

    pairs = [(f"review-{COUNTY}", "review-b")] * (n - 2) + [("review-b", "review-c")] * 2
    threads = [threading.Thread(target=name, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        periods = db.session.execute(sa.select(StandIn.user_id, StandIn.stand_in_id)).all()
        db.session.remove()
        db.engine.dispose()
    assert answers.count("named") == len(periods) == 1, (answers, periods)  # never two, never a chain


def _held(case_no: str) -> dict[str, bool]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(CaseAssignment.org_code, CaseAssignment.held).join(
        Case, Case.id == CaseAssignment.case_id).where(Case.case_no == case_no)).all())


def test_only_the_holding_organisations_assignment_is_current_as_the_case_moves(app):
    """我的待办 reads a clerk's current assignments only (case_assignment.held, migration 0031), not the history of
    every case they ever had: each step of the case marks which organisation's assignment is current."""
    with app.app_context():
        case = make_case(State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW)
        case_no = case.case_no
        assignment.claim(reviewer(), case_no, MON)
        db.session.commit()
        bureau = f"{COUNTY}-bureau"
        assert _held(case_no) == {bureau: True}
        engine.apply(case, reviewer(), Action.REVIEW, {"opinion": "符合条件", "recommendation": "approve"})
        db.session.commit()
        case = _reload(case_no)
        assert _held(case_no) == {bureau: False}  # the city holds it now
        if case.state is State.FORWARDED:
            from tests.integration.factories import _receive
            _receive(case, MON)
        city = actor("city-approver")
        assignment.claim(city, case_no, MON)
        db.session.commit()
        department = _reload(case_no).department_code
        assert _held(case_no) == {bureau: False, department: True}
        engine.apply(_reload(case_no), city, Action.RETURN, {"reasons": ["缺少现场照片"]})
        db.session.commit()
        assert _held(case_no) == {bureau: True, department: False}  # back to the reviewer who had it
        engine.apply(_reload(case_no), reviewer(), Action.REVIEW, {"opinion": "已补充照片", "recommendation": "approve"})
        db.session.commit()
        case = _reload(case_no)
        if case.state is State.FORWARDED:
            from tests.integration.factories import _receive
            _receive(case, MON)
        engine.apply(_reload(case_no), city, Action.APPROVE, {"opinion": "同意"})
        db.session.commit()
        assert _reload(case_no).state not in (State.FORWARDED, State.CITY_REVIEW, State.COUNTY_REVIEW)
        assert _held(case_no) == {bureau: False, department: False}  # decided: the window hands it out


def test_an_upgraded_database_counts_only_the_cases_a_clerk_holds_now(app):
    """Migration 0031 left `held` true on every open case's assignments; 0035 makes it exact, and the bar's
    我的待办 count reads the held rows alone: a case the city holds now is not in the county reviewer's count."""
    import flask_migrate

    with app.app_context():
        case = make_case(State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW)
        case_no = case.case_no
        assignment.claim(reviewer(), case_no, MON)
        db.session.commit()
        engine.apply(_reload(case_no), reviewer(), Action.REVIEW, {"opinion": "符合条件", "recommendation": "approve"})
        db.session.commit()
        kept = make_case(State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW).case_no  # still at the bureau
        assignment.claim(reviewer(), kept, MON)
        db.session.commit()
        bureau = f"{COUNTY}-bureau"
        # as 0031's backfill left a database: the moved-on case's row still true
        db.session.execute(sa.update(CaseAssignment).values(held=True))
        db.session.commit()
        flask_migrate.downgrade(revision="0034")
        flask_migrate.upgrade()
        assert _held(case_no) == {bureau: False} and _held(kept) == {bureau: True}
        counts = assignment.counts(reviewer(), MON)
        assert counts["mine"] == 1 == assignment.my_work(reviewer(), MON).count


def test_the_bar_badge_stops_where_the_work_page_counts_on(client, monkeypatch):  # noqa: F811
    """Every staff page draws the bar: its 本单位未分配 badge stops at the bar's cap ("99+" at a hundred), while /work
    still counts the unit's cases up to the worklist's cap."""
    monkeypatch.setattr(assignment, "BAR_CAP", 3)
    monkeypatch.setattr(assignment, "_STATEMENTS", {})  # the statements are built with the cap
    app = client.application
    with app.app_context():
        made = [make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no for _ in range(4)]
        db.session.commit()
    log_in(client, f"review-{COUNTY}")
    desk = client.get("/review").get_data(as_text=True)
    assert '<span class="count" data-testid="assign-count-unassigned">2+</span>' in desk
    work = client.get("/work").get_data(as_text=True)
    assert all(f'data-testid="unassigned-{no}"' in work for no in made)
