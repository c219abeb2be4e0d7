"""Who sees a case, and what a refusal leaves behind: the city sees a case only once it has been forwarded, 容缺
acceptance needs every core material, a suspension is lifted only by the level that started it, and a refused
action (403, 404, 409) changes nothing at all."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, CaseEvent, Org, User
from exchange.models import OutboxMessage
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, run_bus

WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"


@pytest.fixture
def api(client):
    return Api(client)


def department_approver(department_code: str) -> str:
    """A city approver of one department (a city_section: it sees that department's items only)."""
    username = f"approver-{department_code}"
    if db.session.execute(sa.select(User.id).filter_by(username=username)).first() is None:
        org = db.session.execute(sa.select(Org).filter_by(code=department_code)).scalar_one()
        db.session.add(User(username=username, display_name="市级科室审批员", role="city_approver", org_id=org.id,
                            password_hash="x"))
        db.session.commit()
    return username


def outbox_count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(OutboxMessage)).scalar_one()


def listed(api, user, **query) -> list[str]:
    qs = "&".join(f"{k}={v}" for k, v in {"limit": 200, **query}.items())
    r = api.get(f"/api/v1/cases?{qs}", user=user)
    assert r.status_code == 200, r.get_json()
    return [c["case_no"] for c in r.get_json()["items"]]


def in_city_review(api, mode="forward_only") -> str:
    item = api.item(mode)
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    if mode == "delegated_review":
        api.act(case_no, REVIEWER, "review", opinion="经审核，符合许可条件", recommendation="approve")
    run_bus()
    assert api.case(case_no, CITY)["state"] == "city_review"
    return case_no


# -- (a) the city does not see a delegated_review case the county still holds ---------------------------------

@pytest.mark.parametrize("who", ["bureau", "department"])
def test_city_cannot_see_a_delegated_review_case_before_it_is_forwarded(api, who):
    item = api.item("delegated_review")
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    assert api.case(case_no)["state"] == "county_review"
    user = CITY if who == "bureau" else department_approver(item["department_code"])

    r = api.get(f"/api/v1/cases/{case_no}", user=user)
    assert r.status_code == 404 and r.get_json()["code"] == "case_not_found"
    assert case_no not in listed(api, user)
    assert case_no not in listed(api, user, state="county_review")
    assert case_no not in listed(api, user, county=COUNTY)
    r = api.post(f"/api/v1/cases/{case_no}/actions", user=user, json={"action": "approve"})
    assert r.status_code == 404 and r.get_json()["code"] == "case_not_found"

    # once the county bureau has reviewed and forwarded it, the same user sees it
    api.act(case_no, REVIEWER, "review", opinion="经审核，符合许可条件", recommendation="approve")
    assert api.get(f"/api/v1/cases/{case_no}", user=user).status_code == 200
    assert case_no in listed(api, user)


# -- (b) 容缺 acceptance needs every core material ----------------------------------------------------------------

@pytest.mark.parametrize("also_missing_optional", [True, False], ids=["core-and-non-core", "core-only"])
def test_commitment_acceptance_is_refused_when_a_core_material_is_missing(api, also_missing_optional):
    item = api.item("delegated_review", commitment=True)
    core = next(m["code"] for m in item["materials"] if m["core"])
    non_core = next(m["code"] for m in item["materials"] if not m["core"])
    absent = {core, non_core} if also_missing_optional else {core}
    case_no = api.create(item, present=[m["code"] for m in item["materials"] if m["code"] not in absent])["case_no"]
    before, outbox = api.case(case_no), outbox_count()

    r = api.act(case_no, WINDOW, "accept_with_commitment", expect=409)

    assert r["code"] == "core_materials_missing" and r["field"] == "materials" and r["missing"] == [core]
    assert api.case(case_no) == before and before["state"] == "submitted" and before["commitment"] is None
    assert outbox_count() == outbox


# -- (c) a suspension is lifted only by the level that started it ------------------------------------------------

def test_county_suspension_cannot_be_resumed_by_the_city(api):
    from delegation.actors import Actor
    from delegation.cases import GUARDS
    from delegation.errors import Forbidden

    item = api.item("delegated_review")
    case_no = api.create(item)["case_no"]
    api.act(case_no, WINDOW, "accept")
    api.act(case_no, REVIEWER, "suspend", kind="expert_review", expected_end="2030-01-01")
    before, outbox = api.case(case_no), outbox_count()
    assert before["state"] == "suspended"

    # Through the API the city does not even see it: the county holds it, it was never forwarded.
    r = api.post(f"/api/v1/cases/{case_no}/actions", user=CITY, json={"action": "resume"})
    assert r.status_code == 404 and r.get_json()["code"] == "case_not_found"
    # And the guard refuses the city by itself, should the case ever be visible to it.
    city = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=CITY)).unique().scalar_one())
    case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
    with pytest.raises(Forbidden) as refused:
        GUARDS["suspended_here"](case, city, {}, None)
    assert refused.value.code == "suspended_elsewhere"
    db.session.rollback()
    assert api.case(case_no) == before and outbox_count() == outbox

    assert api.act(case_no, REVIEWER, "resume")["state"] == "county_review"


@pytest.mark.parametrize("mode", ["forward_only", "delegated_review"])
def test_city_suspension_cannot_be_resumed_by_the_county(api, mode):
    case_no = in_city_review(api, mode)
    api.act(case_no, CITY, "suspend", kind="site_inspection", expected_end="2030-01-01")
    before, outbox = api.case(case_no), outbox_count()
    assert before["state"] == "suspended"

    r = api.act(case_no, REVIEWER, "resume", expect=403)
    assert r["code"] == "suspended_elsewhere"
    assert api.case(case_no) == before and outbox_count() == outbox

    assert api.act(case_no, CITY, "resume")["state"] == "city_review"


# -- (d) a refused action changes nothing ------------------------------------------------------------------------

def snapshot(api, case_no) -> tuple:
    events = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent).join(Case)
                                .where(Case.case_no == case_no)).scalar_one()
    return api.case(case_no, WINDOW), api.case(case_no, CITY), outbox_count(), events


REFUSALS = [
    # (user, action, payload, status, code)
    (WINDOW, "approve", {"certificate_no": "GZ-FAKE-1"}, 403, "role_forbidden"),
    (REVIEWER, "deny", {"reasons": ["越权"]}, 403, "role_forbidden"),
    (f"window-{OTHER_COUNTY}", "supply_materials", {"materials": ["M01"]}, 404, "case_not_found"),
    (f"review-{OTHER_COUNTY}", "review", {"opinion": "越权", "recommendation": "deny"}, 404, "case_not_found"),
    (WINDOW, "withdraw", {"comment": "申请人撤回"}, 409, "state_forbids"),
    (CITY, "resume", {}, 409, "state_forbids"),
]


@pytest.mark.parametrize("user,action,payload,status,code", REFUSALS,
                         ids=[f"{r[3]}-{r[1]}-by-{r[0]}" for r in REFUSALS])
def test_refused_action_changes_nothing(api, user, action, payload, status, code):
    case_no = in_city_review(api)
    before = snapshot(api, case_no)

    r = api.act(case_no, user, action, expect=status, **payload)

    assert r["code"] == code
    assert snapshot(api, case_no) == before
    # and the case is still usable by the right person afterwards
    assert api.act(case_no, CITY, "approve")["state"] == "decided"


def test_refusals_in_a_row_change_nothing(api):
    """403, 404 and 409 one after another on the same case, then the full case and the outbox are compared."""
    case_no = in_city_review(api)
    before = snapshot(api, case_no)
    for user, action, payload, status, code in REFUSALS:
        assert api.act(case_no, user, action, expect=status, **payload)["code"] == code
    assert snapshot(api, case_no) == before
