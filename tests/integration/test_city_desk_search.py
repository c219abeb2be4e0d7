"""The city desk as an approver uses it all day (issue 14): the county filter and the search narrow the queue to this
approver's cases; batch approval shows what it is about to approve and asks for an opinion before it approves."""
from __future__ import annotations

import re

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_review_city_pages import CITY, ENTERPRISE, Api, db_case, run_bus, text

OTHER = "360702"  # 章贡区
PERSON = {"kind": "individual", "name": "张三丰", "id_code": "11010519491231002X", "phone": "13800000000"}


def _at_city(api, county="360730", applicant=None) -> str:
    case_no = api.create("delegated_review", county=county, applicant=applicant)
    api.act(case_no, f"review-{county}", "review", opinion="经审核，同意", recommendation="approve")
    return case_no


def _rows(page: str) -> set[str]:
    return set(re.findall(r'data-testid="row-([^"]+)"', page))


def test_county_filter_and_search_narrow_the_queue(client):
    app = client.application
    api = Api(app)
    ningdu = _at_city(api)
    person = _at_city(api, applicant=PERSON)
    zhanggong = _at_city(api, county=OTHER)
    run_bus(app)
    log_in(client, CITY)
    assert {ningdu, person, zhanggong} <= _rows(text(client.get("/city")))
    page = text(client.get("/city?county=360730"))
    assert {ningdu, person} <= _rows(page) and zhanggong not in _rows(page)
    assert 'value="360702"' in page and "章贡区" in page  # the counties by name
    # by case number, by part of the applicant's name, by credit code (any case of the letters)
    assert _rows(text(client.get(f"/city?q={zhanggong}"))) == {zhanggong}
    assert _rows(text(client.get("/city?q=三丰"))) == {person}
    assert _rows(text(client.get(f"/city?q={ENTERPRISE['id_code'].lower()}"))) == {ningdu, zhanggong}
    assert _rows(text(client.get(f"/city?q={ENTERPRISE['id_code']}&county={OTHER}"))) == {zhanggong}
    # a wildcard is a character, not a pattern; nothing found says so
    page = text(client.get("/city?q=%25"))
    assert _rows(page) == set() and "没有待办的转报件" in page
    # the filters ride along on the department tabs and the batch form
    page = text(client.get(f"/city?county={OTHER}&q=三丰"))
    assert re.search(r'action="/city/batch-approve\?[^"]*county=360702', page)


def test_search_never_reaches_beyond_the_users_scope(client):
    app = client.application
    api = Api(app)
    at_city = _at_city(api)
    run_bus(app)
    log_in(client, "review-360702")  # another county's reviewer searches for it by number
    page = text(client.get(f"/review?q={at_city}"))
    assert _rows(page) == set() and "没有待办的办件" in page
    client.delete_cookie("session")
    log_in(client, "review-360730")
    assert at_city not in _rows(text(client.get(f"/review?q={at_city}")))  # forwarded: not on the county queue


def test_batch_approval_previews_and_asks_for_an_opinion_before_approving(client):
    app = client.application
    api = Api(app)
    good = [_at_city(api) for _ in range(2)]
    disagreed = api.create("delegated_review")
    api.act(disagreed, "review-360730", "review", opinion="面积不足", recommendation="deny")
    run_bus(app)
    log_in(client, CITY)
    token = csrf_token(client, "/city")
    before = {n: db_case(app, n) for n in [*good, disagreed]}

    # the selection: a preview of each case, the one the rule refuses marked with its reason, nothing approved
    r = client.post("/city/batch-approve", data={"csrf_token": token, "case_no": [*good, disagreed]})
    assert r.status_code == 200
    page = text(r)
    for n in good:
        assert re.search(rf'data-testid="preview-{n}" data-eligible="true"', page)
    assert re.search(rf'data-testid="preview-{disagreed}" data-eligible="false"', page)
    assert "县级审核结论不是同意" in page and "确认准予许可（2 件）" in page and "批量审批意见" in page
    assert {n: db_case(app, n) for n in before} == before

    # confirming without an opinion: the field named, nothing approved
    r = client.post("/city/batch-approve", data={"csrf_token": token, "case_no": good, "confirm": "1",
                                                 "batch-opinion": "  "})
    assert r.status_code == 422
    assert "批量审批意见" in text(r) and "请填写批量准予许可的审批意见" in text(r)
    assert {n: db_case(app, n) for n in before} == before

    # confirmed with an opinion: approved, the opinion on each case's timeline
    r = client.post("/city/batch-approve", data={"csrf_token": token, "case_no": good, "confirm": "1",
                                                 "batch-opinion": "经集体审议，同意准予许可"})
    assert r.status_code == 200 and "成功 2 件" in text(r)
    for n in good:
        assert db_case(app, n)["decision"] == "approve"
        assert "经集体审议，同意准予许可" in text(client.get(f"/cases/{n}"))
    assert db_case(app, disagreed) == before[disagreed]


def test_only_possible_actions_are_offered(client):
    """A case suspended by the county is not the city's to resume: no resume form on the city page (it failed)."""
    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    api.act(case_no, "review-360730", "suspend", kind="hearing", expected_end="2030-01-15", comment="听证")
    at_city = _at_city(api)
    run_bus(app)
    api.act(at_city, CITY, "suspend", kind="expert_review", expected_end="2030-02-01", comment="专家评审")
    log_in(client, "review-360730")
    page = text(client.get(f"/review/cases/{case_no}"))
    assert 'data-testid="form-resume"' in page  # the county's own suspension: it resumes it
    page = text(client.get(f"/cases/{at_city}"))
    assert 'data-testid="work-link"' not in page  # suspended by the city: nothing for the county to do
    page = text(client.get(f"/review/cases/{at_city}"))
    assert 'data-testid="form-resume"' not in page and 'data-testid="no-actions"' in page


def test_a_case_missing_a_required_material_is_not_offered_for_batch_approval(client):
    """The batch rule on the desk's rows: a case whose required material is not in hand has no tick box and says
    why; a complete one beside it may be ticked."""
    import sqlalchemy as sa

    from app.extensions import db
    from delegation.models import Case, CaseMaterial

    app = client.application
    api = Api(app)
    complete, lacking = _at_city(api), _at_city(api)
    run_bus(app)
    with app.app_context():
        case_id = db.session.execute(sa.select(Case.id).filter_by(case_no=lacking)).scalar_one()
        material = db.session.execute(sa.select(CaseMaterial).where(CaseMaterial.case_id == case_id,
                                                                    CaseMaterial.required)).scalars().first()
        material.present = False  # as the city's copy of a case forwarded without it
        db.session.commit()
    log_in(client, CITY)
    page = text(client.get("/city"))
    assert f'data-testid="pick-{complete}"' in page and f'data-testid="pick-{lacking}"' not in page
    row = page[page.index(f'data-testid="row-{lacking}"'):]
    assert "必需材料不齐，须逐件审批" in row[:row.index("</tr>")]
