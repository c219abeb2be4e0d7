"""Spot checks (抽查监督, 双随机一公开) through the API and the public page."""
from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from app.extensions import db, utcnow
from delegation.deadlines import SHANGHAI
from delegation.models import Case, CaseEvent, User
from supervision.models import SpotCheckEntry
from tests.integration.support import COUNTY, OTHER_COUNTY, Api

ADMIN = "admin"
URL = "/api/v1/spot-checks"


@pytest.fixture
def api(client):
    return Api(client)


def approved_case(api, county=COUNTY, conclude=True, item=None) -> str:
    """A direct item's case, accepted, reviewed and approved by the county; handed out unless `conclude` is off."""
    item = item or api.item("direct")
    window, reviewer = f"window-{county}", f"review-{county}"
    case_no = api.create(item, county=county)["case_no"]
    api.act(case_no, window, "accept")
    api.act(case_no, reviewer, "review", opinion="材料真实完整，符合条件")
    api.act(case_no, reviewer, "approve")
    if conclude:
        api.act(case_no, window, "hand_out", method="pickup")
    return case_no


def denied_case(api, county=COUNTY) -> str:
    case_no = api.create(api.item("direct"), county=county)["case_no"]
    api.act(case_no, f"window-{county}", "accept")
    api.act(case_no, f"review-{county}", "review", opinion="不符合条件")
    api.act(case_no, f"review-{county}", "deny", reasons=["场所不符合要求"])
    api.act(case_no, f"window-{county}", "hand_out", method="pickup")
    return case_no


def handled_by(case_no: str, username: str) -> None:
    """Put a regulator on the case's timeline, as if they had handled it."""
    case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
    user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
    db.session.add(CaseEvent(case_id=case.id, at=utcnow(), action="site_visit", actor_username=username,
                             from_state=case.state, to_state=case.state, actor=f"{user.display_name} ({username})",
                             actor_org=user.org.code, comment="现场核查"))
    db.session.commit()


def today() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


def draw(api, expect=201, user=ADMIN, **body):
    r = api.post(URL, user=user, json=body)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def sample(check) -> list[tuple[str, list[str]]]:
    return [(e["case_no"], [i["username"] for i in e["inspectors"]]) for e in check["entries"]]


def test_same_seed_and_inputs_draw_the_same_sample_and_it_verifies(api):
    concluded = [approved_case(api) for _ in range(4)]
    decided = approved_case(api, conclude=False)  # approved, not yet handed out: part of the population
    denied = denied_case(api)
    elsewhere = approved_case(api, county=OTHER_COUNTY)
    criteria = {"county": COUNTY, "mode": "direct", "period": {"from": today(), "to": today()}}

    first = draw(api, count=3, seed="2026-第一批", **criteria)
    assert first["population"] == 5 and first["sample_size"] == 3 and first["seed"] == "2026-第一批"
    assert first["criteria"]["population_cases"] == sorted(concluded + [decided])
    assert denied not in first["criteria"]["population_cases"]
    assert elsewhere not in first["criteria"]["population_cases"]
    assert all(len(set(i)) == 2 for _, i in sample(first))
    assert first["entries"][0]["county_code"] == COUNTY and first["entries"][0]["item_name"]

    again = draw(api, count=3, seed="2026-第一批", **criteria)
    assert again["id"] != first["id"] and sample(again) == sample(first)

    r = api.get(f"{URL}/{first['id']}/verify", user=ADMIN)
    assert r.status_code == 200
    proof = r.get_json()
    assert proof["reproduced"] is True and proof["population"]["unchanged"] is True
    assert [(e["case_no"], e["inspectors"]) for e in proof["redrawn"]] == sample(first)

    # a case concluded later in the period grows today's population; the stored draw still reproduces
    late = approved_case(api)
    proof = api.get(f"{URL}/{first['id']}/verify", user=ADMIN).get_json()
    assert proof["reproduced"] is True
    assert proof["population"]["unchanged"] is False and proof["population"]["added"] == [late]
    assert proof["population"]["stored"] == 5 and proof["population"]["current"] == 6

    # an entry changed by hand is caught
    entry = db.session.get(SpotCheckEntry, first["entries"][0]["id"])
    entry.inspectors = list(reversed(entry.inspectors))
    db.session.commit()
    proof = api.get(f"{URL}/{first['id']}/verify", user=ADMIN).get_json()
    assert proof["reproduced"] is False and proof["sample_matches"] is True and proof["inspectors_match"] is False


def test_a_fresh_seed_is_generated_and_rate_rounds_up(api):
    cases = [approved_case(api) for _ in range(3)]
    check = draw(api, rate=0.5)
    assert len(check["seed"]) == 32 and int(check["seed"], 16) >= 0
    assert check["sample_size"] == 2 and {e["case_no"] for e in check["entries"]} <= set(cases)
    assert check["criteria"]["rate"] == 0.5 and check["criteria"]["sample_size"] == 2
    assert api.get(f"{URL}/{check['id']}/verify", user=ADMIN).get_json()["reproduced"] is True


def test_inspectors_never_include_a_handler_of_the_case(api):
    from delegation.actors import Actor
    from supervision import spotchecks

    a, b, c = (approved_case(api) for _ in range(3))
    handled_by(a, f"reg-{COUNTY}")
    handled_by(a, "reg-city")
    handled_by(b, f"reg-{OTHER_COUNTY}")
    admin = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=ADMIN)).unique().scalar_one())
    handlers = {a: {f"reg-{COUNTY}", "reg-city"}, b: {f"reg-{OTHER_COUNTY}"}, c: set()}
    small_pool = [f"reg-{COUNTY}", "reg-city", f"reg-{OTHER_COUNTY}", "reg-360732"]
    seen = set()
    for i in range(40):
        check = spotchecks.create(admin, rate=1, seed=f"seed-{i}",
                                  inspector_usernames=small_pool if i % 2 else None)
        for e in check.entries:
            assert not set(e.inspectors) & handlers[e.case_no], (i, e.case_no, e.inspectors)
            seen.update(e.inspectors)
            if i % 2 and e.case_no == a:  # of the small pool only two are left for case a
                assert set(e.inspectors) == {f"reg-{OTHER_COUNTY}", "reg-360732"}
        db.session.rollback()
    assert len(seen) > 4  # the default pool is every active regulator

    # through the API as well
    check = draw(api, rate=1, seed="api", inspector_pool=small_pool)
    for case_no, inspectors in sample(check):
        assert not set(inspectors) & handlers[case_no]

    # too few left once the handlers are out: a clear 409 naming the case
    r = api.post(URL, user=ADMIN, json={"rate": 1, "seed": "x", "inspector_pool": [f"reg-{COUNTY}", "reg-360732"]})
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["code"] == "inspectors_insufficient" and body["field"] == "inspector_pool"
    assert body["case_no"] == a and a in body["detail"]


def test_sample_of_zero_or_beyond_the_population_is_a_clear_error(api):
    for _ in range(2):
        approved_case(api)
    cases = [
        ({"count": 0}, 422, "sample_empty", "count"),
        ({"count": 3}, 409, "sample_exceeds_population", "count"),
        ({"rate": 0}, 422, "rate_invalid", "rate"),
        ({"rate": 1.2}, 422, "rate_invalid", "rate"),
        ({"rate": 0.5, "count": 1}, 422, "sample_ambiguous", "rate"),
        ({}, 422, "sample_missing", "count"),
        ({"count": 1, "county": OTHER_COUNTY}, 409, "population_empty", "count"),
        ({"rate": 0.5, "period": {"from": "2020-01-01", "to": "2020-12-31"}}, 409, "population_empty", "rate"),
        ({"count": 1, "county": "999999"}, 422, "county_unknown", "county"),
        ({"count": 1, "item": "NO-SUCH-ITEM"}, 422, "item_unknown", "item"),
        ({"count": 1, "mode": "sideways"}, 422, "mode_unknown", "mode"),
        ({"count": 1, "period": {"from": "2026-05-02", "to": "2026-05-01"}}, 422, "period_reversed", "period.to"),
        ({"count": 1, "inspector_pool": ["reg-city", f"window-{COUNTY}"]}, 422, "inspector_not_regulator",
         "inspector_pool"),
        ({"count": 1, "inspector_pool": ["reg-city"]}, 422, "inspector_pool_too_small", "inspector_pool"),
        ({"count": "two"}, 422, "validation_failed", "count"),
        ({"count": 1, "colour": "red"}, 422, "validation_failed", "colour"),
    ]
    for body, status, code, field in cases:
        r = api.post(URL, user=ADMIN, json=body)
        problem = r.get_json()
        assert (r.status_code, problem["code"], problem.get("field")) == (status, code, field), (body, problem)
        assert r.mimetype == "application/problem+json"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"]), problem
    assert "超过" in api.post(URL, user=ADMIN, json={"count": 3}).get_json()["detail"]
    assert api.get(URL, user=ADMIN).get_json()["items"] == []  # nothing half-drawn was stored


def test_only_admins_draw_and_publish(api):
    approved_case(api)
    approved_case(api)
    for user in (f"window-{COUNTY}", f"review-{COUNTY}", "city-approver", f"reg-{COUNTY}", "reg-city"):
        r = api.post(URL, user=user, json={"count": 1})
        assert r.status_code == 403 and r.get_json()["code"] == "role_forbidden", user
    assert api.post(URL, json={"count": 1}).status_code == 401
    check = draw(api, count=1, seed="s")
    inspector = check["entries"][0]["inspectors"][0]["username"]
    r = api.post(f"{URL}/{check['id']}/publish", user=inspector)
    assert r.status_code == 403 and r.get_json()["code"] == "role_forbidden"
    for user in (f"window-{COUNTY}", "city-approver"):
        assert api.get(URL, user=user).status_code == 403
        assert api.post(f"{URL}/{check['id']}/publish", user=user).status_code == 403
    published = api.post(f"{URL}/{check['id']}/publish", user=ADMIN)
    assert published.status_code == 200 and published.get_json()["published_at"]
    again = api.post(f"{URL}/{check['id']}/publish", user=ADMIN)
    assert again.status_code == 409 and again.get_json()["code"] == "already_published"
    assert api.post(f"{URL}/9999/publish", user=ADMIN).status_code == 404


def test_findings_by_the_entry_inspectors_or_an_admin(api):
    for _ in range(3):
        approved_case(api)
    pool = [f"reg-{COUNTY}", f"reg-{OTHER_COUNTY}", "reg-city"]
    check = draw(api, rate=1, seed="findings", inspector_pool=pool)
    first, second = check["entries"][0], check["entries"][1]
    inspector = first["inspectors"][0]["username"]
    outsider = next(u for u in pool if u not in [i["username"] for i in first["inspectors"]])
    path = f"{URL}/{check['id']}/entries/{first['id']}/finding"

    # an inspector sees the checks they inspect, a regulator outside the check sees nothing
    assert api.get(f"{URL}/{check['id']}", user=inspector).status_code == 200
    assert [c["id"] for c in api.get(URL, user=inspector).get_json()["items"]] == [check["id"]]
    assert api.get(f"{URL}/{check['id']}", user="reg-360732").status_code == 404
    assert api.get(URL, user="reg-360732").get_json()["items"] == []

    r = api.post(path, user=outsider, json={"finding": "compliant"})
    assert r.status_code == 403 and r.get_json()["code"] == "not_inspector"
    r = api.post(path, user=inspector, json={"finding": "fine"})
    assert r.status_code == 422 and r.get_json()["field"] == "finding"
    r = api.post(path, user=inspector, json={"finding": "defect_corrected"})
    assert r.status_code == 422 and r.get_json()["field"] == "note"
    r = api.post(path, user=inspector, json={"finding": "defect_corrected", "note": "档案缺少现场照片，已补齐"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["finding"] == "defect_corrected" and inspector in r.get_json()["recorded_by"]
    r = api.post(f"{URL}/{check['id']}/entries/{second['id']}/finding", user=ADMIN,
                 json={"finding": "illegal_approval", "note": "不符合许可条件仍予批准"})
    assert r.status_code == 200
    assert api.post(f"{URL}/{check['id']}/entries/99999/finding", user=ADMIN,
                    json={"finding": "compliant"}).status_code == 404

    shown = api.get(f"{URL}/{check['id']}", user=ADMIN).get_json()
    assert shown["findings"] == {"compliant": 0, "defect_corrected": 1, "illegal_approval": 1, "pending": 1}
    # after publication a recorded finding is final; a pending one may still be recorded
    api.post(f"{URL}/{check['id']}/publish", user=ADMIN)
    r = api.post(path, user=ADMIN, json={"finding": "compliant"})
    assert r.status_code == 409 and r.get_json()["code"] == "finding_published"
    third = check["entries"][2]
    r = api.post(f"{URL}/{check['id']}/entries/{third['id']}/finding", user=third["inspectors"][1]["username"],
                 json={"finding": "compliant"})
    assert r.status_code == 200


def test_public_page_shows_published_sample_and_findings_without_staff_names(api, client):
    cases = [approved_case(api) for _ in range(3)]
    handled_by(cases[0], "reg-360732")
    hidden = draw(api, count=1, seed="not-published", title="未公示的抽查")
    check = draw(api, rate=1, seed="public", county=COUNTY, title="2026年第一批双随机抽查")
    entry = check["entries"][0]
    api.post(f"{URL}/{check['id']}/entries/{entry['id']}/finding", user=entry["inspectors"][0]["username"],
             json={"finding": "illegal_approval", "note": f"由{entry['inspectors'][0]['display_name']}检查：超范围许可"})

    # before publication: neither listed nor shown
    assert "2026年第一批双随机抽查" not in client.get("/public/spot-checks").get_data(as_text=True)
    assert client.get(f"/public/spot-checks/{check['id']}").status_code == 404
    assert api.post(f"{URL}/{check['id']}/publish", user=ADMIN).status_code == 200

    listing = client.get("/public/spot-checks")
    assert listing.status_code == 200 and listing.mimetype == "text/html"
    page = listing.get_data(as_text=True)
    assert "2026年第一批双随机抽查" in page and "未公示的抽查" not in page and "宁都县" in page
    detail = client.get(f"/public/spot-checks/{check['id']}")
    assert detail.status_code == 200
    html = detail.get_data(as_text=True)
    item_name = check["entries"][0]["item_name"]
    for case_no in cases:
        assert case_no in html
    assert item_name in html and "宁都县" in html and "违法审批" in html and "待检查" in html
    assert "<code>public</code>" in html  # the seed, so anyone can re-run the draw
    assert "超范围许可" not in html  # finding notes are free text: not published
    staff = db.session.execute(sa.select(User.username, User.display_name)).all()
    for username, display_name in staff:
        assert username not in html and username not in page, username
        assert display_name not in html and display_name not in page, display_name
    assert "reg-" not in html and "监管员" not in html

    assert client.get(f"/public/spot-checks/{hidden['id']}").status_code == 404
    assert client.get("/public/spot-checks/424242").status_code == 404
