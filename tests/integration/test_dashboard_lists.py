"""Issue 14, the dashboard: every county of the city is ranked (those without a case too), each card opens the list
of the cases behind its figure (as far as the viewer may see them), and satisfaction comes with its number of
ratings."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.integration.support import COUNTY, OTHER_COUNTY, Api
from tests.integration.test_public_pages import application, client, login  # noqa: F401


def _cases(application) -> None:  # noqa: F811
    from app.extensions import db
    from delegation import ratings

    with application.app_context():
        api = Api(application.test_client())
        for county, score in ((COUNTY, 5), (COUNTY, 2), (OTHER_COUNTY, None)):
            case = api.create(api.item("direct"), county=county)
            no = case["case_no"]
            api.act(no, f"window-{county}", "accept")
            api.act(no, f"review-{county}", "review", opinion="材料真实完整，符合条件")
            api.act(no, f"review-{county}", "approve")
            api.act(no, f"window-{county}", "hand_out", method="pickup")
            if score:
                ratings.rate(no, case["query_code"], score, "办理太慢" if score < 3 else "")  # a bad one: its reason
        api.create(api.item("direct"), county=OTHER_COUNTY)  # applied for, not accepted
        db.session.commit()


def _counties(application) -> dict[str, str]:  # noqa: F811
    from app.extensions import db
    from delegation.models import Division

    with application.app_context():
        return dict(db.session.execute(sa.select(Division.code, Division.name)
                                       .where(Division.parent_code.is_not(None))).all())


def _value(page: str, field: str) -> str:
    match = re.search(rf'data-field="{field}"[^>]*>\s*<div class="value">([^<]*)</div>', page)
    assert match, field
    return match.group(1)


def test_every_county_is_ranked_even_without_a_case(application, client):  # noqa: F811
    _cases(application)
    login(client, "admin")
    page = client.get("/dashboard").get_data(as_text=True)
    ranking = page[page.index('data-testid="county-ranking"'):]
    counties = _counties(application)
    assert len(counties) > 3
    for name in counties.values():
        assert f"<td>{name}</td>" in ranking, name
    # the counties with cases lead; filtered to one county, only that one is listed
    rows = re.findall(r"<tr[^>]*>\s*<td>(\d+)</td><td>([^<]+)</td>", ranking)
    assert [name for _, name in rows][:2] == [counties[COUNTY], counties[OTHER_COUNTY]]
    one = client.get(f"/dashboard?county={OTHER_COUNTY}").get_data(as_text=True)
    one = one[one.index('data-testid="county-ranking"'):]
    assert len(re.findall(r"<tr[^>]*>\s*<td>\d+</td>", one)) == 1


def test_each_card_opens_the_cases_behind_its_figure(application, client):  # noqa: F811
    _cases(application)
    login(client, "admin")
    page = client.get("/dashboard").get_data(as_text=True)
    for field, expected in (("total_cases", 4), ("concluded", 3), ("satisfaction", 2)):
        link = re.search(rf'data-field="{field}"\s+href="([^"]+)"', page)
        assert link, field
        listing = client.get(link.group(1).replace("&amp;", "&"))
        assert listing.status_code == 200
        text = listing.get_data(as_text=True)
        total = re.search(r'data-testid="case-total">(\d+)<', text).group(1)
        assert int(total) == expected, field
        assert len(re.findall(r'href="/cases/[^"]+"', text)) == expected
    assert _value(page, "total_cases") == "4" and _value(page, "concluded") == "3"
    # satisfaction: one of two ratings satisfied, and the number of ratings beside it
    assert _value(page, "satisfaction") == "50.0%"
    assert re.search(r'data-testid="ratings-count">共 2 条评价<', page)
    # the filters carry over to the list
    scoped = client.get(f"/dashboard/cases?figure=total_cases&county={OTHER_COUNTY}").get_data(as_text=True)
    assert re.search(r'data-testid="case-total">2<', scoped)


def test_the_case_list_is_scoped_and_checked(application, client):  # noqa: F811
    _cases(application)
    login(client, "city-approver")  # city level: sees the dashboard, but no county's direct case
    r = client.get("/dashboard/cases?figure=total_cases")
    assert r.status_code == 200
    assert re.search(r'data-testid="case-total">0<', r.get_data(as_text=True))
    assert client.get("/dashboard/cases?figure=no_such_figure").status_code == 404
    bad = client.get("/dashboard/cases?figure=total_cases&page=abc")
    assert bad.status_code == 200 and "page" in bad.get_data(as_text=True)
    client.post("/logout", data={})
    county = application.test_client()
    login(county, f"window-{COUNTY}")
    assert county.get("/dashboard/cases?figure=total_cases").status_code == 403


def test_every_count_figure_lists_exactly_the_cases_it_counts(application):  # noqa: F811
    from app.extensions import db
    from supervision import statistics

    _cases(application)
    with application.app_context():
        summary = statistics.summary()
        counts = [k for k, kind in statistics.FIGURE_KIND.items() if kind == "count" and k != "pushes"]
        listed = {k: statistics.cases_behind(k, statistics.Filters(), sa.true())["total"] for k in counts}
        assert listed == {k: summary[k] for k in counts}
        assert summary["total_cases"] == 4 and summary["ratings"] == 2 and summary["concluded"] == 3
        # a rate's list is its denominator: satisfaction over the rated cases
        assert statistics.cases_behind("satisfaction", statistics.Filters(), sa.true())["total"] == summary["ratings"]
        db.session.remove()
