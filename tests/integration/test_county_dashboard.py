"""Issue 18, county dashboards: a county administrator (县级管理员, demo admin-<code>) sees the statistics of its own
county only — the dashboard, the cases behind each card, the downloads and /api/v1/stats — reads its own county's
cases, and is refused another county's figures and cases and every page of the city administrator; the city
administrator still sees every county."""
from __future__ import annotations

import csv
import io
import re

import pytest

from tests.integration.pages import log_in
from tests.integration.support import COUNTY, OTHER_COUNTY, Api
from tests.integration.test_public_pages import application, client  # noqa: F401

COUNTY_ADMIN = f"admin-{COUNTY}"


@pytest.fixture
def cases(application):  # noqa: F811
    """Two cases of COUNTY (one concluded), three of OTHER_COUNTY: case numbers by county."""
    from app.extensions import db

    made = {COUNTY: [], OTHER_COUNTY: []}
    with application.app_context():
        api = Api(application.test_client())
        for county, n in ((COUNTY, 2), (OTHER_COUNTY, 3)):
            for _ in range(n):
                made[county].append(api.create(api.item("direct"), county=county)["case_no"])
        no = made[COUNTY][0]
        api.act(no, f"window-{COUNTY}", "accept")
        api.act(no, f"review-{COUNTY}", "review", opinion="材料真实完整，符合条件")
        api.act(no, f"review-{COUNTY}", "approve")
        api.act(no, f"window-{COUNTY}", "hand_out", method="pickup")
        db.session.commit()
    return made


def _card(page: str, field: str) -> str:
    match = re.search(rf'data-field="{field}"[^>]*>\s*<div class="value">([^<]*)</div>', page)
    assert match, field
    return match.group(1)


def test_the_county_admin_sees_its_own_county_on_the_dashboard(client, cases):  # noqa: F811
    log_in(client, COUNTY_ADMIN)
    page = client.get("/dashboard").get_data(as_text=True)
    assert _card(page, "total_cases") == "2" and _card(page, "concluded") == "1"
    assert "县级管理员" in page  # the top bar names the role
    ranking = page[page.index('data-testid="county-ranking"'):]
    assert len(re.findall(r"<tr[^>]*>\s*<td>\d+</td>", ranking)) == 1  # its own county only
    assert "于都县" not in page  # not even as a choice of the county filter
    # the cases behind a card: its own county's, whatever the link says
    listing = client.get("/dashboard/cases?figure=total_cases").get_data(as_text=True)
    assert re.search(r'data-testid="case-total">(\d+)<', listing).group(1) == "2"
    assert sorted(re.findall(r'href="/cases/([^"]+)"', listing)) == sorted(cases[COUNTY])
    # the download has its figures
    rows = list(csv.reader(io.StringIO(client.get("/dashboard/export.csv?by=county").get_data(as_text=True)
                                       .lstrip("\ufeff"))))
    assert [r for r in rows[1:] if r and r[0] == OTHER_COUNTY] == []


def test_the_city_admin_still_sees_every_county(client, cases):  # noqa: F811
    log_in(client, "admin")
    page = client.get("/dashboard").get_data(as_text=True)
    assert _card(page, "total_cases") == "5"
    listing = client.get(f"/dashboard/cases?figure=total_cases&county={OTHER_COUNTY}").get_data(as_text=True)
    assert re.search(r'data-testid="case-total">(\d+)<', listing).group(1) == "3"


@pytest.mark.parametrize("path", [
    f"/dashboard?county={OTHER_COUNTY}",
    f"/dashboard/cases?figure=total_cases&county={OTHER_COUNTY}",
    f"/dashboard/export.csv?county={OTHER_COUNTY}",
    f"/dashboard/export.xlsx?county={OTHER_COUNTY}",
    "/admin", "/admin/catalog", "/admin/users", "/admin/delegations", "/admin/catalog/overrides",
])
def test_another_county_and_the_city_admin_pages_are_refused(client, cases, path):  # noqa: F811
    log_in(client, COUNTY_ADMIN)
    assert client.get(path).status_code == 403


def test_the_county_admin_reads_its_own_cases_only(client, cases):  # noqa: F811
    log_in(client, COUNTY_ADMIN)
    own = client.get(f"/cases/{cases[COUNTY][0]}")
    assert own.status_code == 200
    assert 'name="action"' not in own.get_data(as_text=True)  # reads, does not act
    assert client.get(f"/cases/{cases[OTHER_COUNTY][0]}").status_code == 404


def test_the_statistics_api_is_scoped_to_the_county(application, cases):  # noqa: F811
    with application.app_context():
        api = Api(application.test_client())
        summary = api.get("/api/v1/stats/summary", user=COUNTY_ADMIN)
        assert summary.status_code == 200
        body = summary.get_json()
        assert body["total_cases"] == 2 and body["filters"]["county"] == COUNTY
        rows = api.get("/api/v1/stats/by/county", user=COUNTY_ADMIN).get_json()["rows"]
        assert [r["key"] for r in rows] == [COUNTY]
        for path in (f"/api/v1/stats/summary?county={OTHER_COUNTY}", f"/api/v1/stats/export.csv?county={OTHER_COUNTY}",
                     f"/api/v1/stats/by/item?county={OTHER_COUNTY}"):
            refused = api.get(path, user=COUNTY_ADMIN)
            assert refused.status_code == 403, path
            assert refused.get_json()["field"] == "county"
        assert api.get("/api/v1/stats/summary", user="admin").get_json()["total_cases"] == 5
        listed = api.get("/api/v1/cases?limit=50", user=COUNTY_ADMIN).get_json()["items"]
        assert {c["case_no"] for c in listed} == set(cases[COUNTY])
        assert api.get(f"/api/v1/cases/{cases[OTHER_COUNTY][0]}", user=COUNTY_ADMIN).status_code == 404
        # acting is not a county administrator's: its own county's case is still refused
        acted = api.post(f"/api/v1/cases/{cases[COUNTY][1]}/actions", user=COUNTY_ADMIN, json={"action": "accept"})
        assert acted.status_code == 403


def test_the_staff_pages_name_the_role_and_it_belongs_to_a_county(client):  # noqa: F811
    from delegation.errors import Invalid
    from delegation.staff import create_account

    log_in(client, "admin")
    page = client.get(f"/admin/users?q={COUNTY_ADMIN}").get_data(as_text=True)
    row = re.search(rf"<td>{COUNTY_ADMIN}</td>.*?</tr>", page, re.S)
    assert row and "<td>县级管理员</td>" in row.group(0)
    with client.application.app_context():
        from app.extensions import db

        create_account("county-admin-2", "第二位县级管理员", f"{OTHER_COUNTY}-bureau", "county_admin", "a-long-password")
        with pytest.raises(Invalid) as refused:  # a county role, not in a city organisation
            create_account("county-admin-3", "市里的县级管理员", "360700-bureau", "county_admin", "a-long-password")
        assert refused.value.field == "role"
        db.session.commit()


def test_the_county_admin_reads_the_reference_data_in_force_from_its_menu(client):  # noqa: F811
    """The versions of the city's reference data in force on its node: read-only, linked from its top bar, and none
    of the city administrator's tabs beside it."""
    log_in(client, COUNTY_ADMIN)
    desk = client.get("/dashboard").get_data(as_text=True)
    bar = desk[desk.index('data-testid="desks"'):desk.index("</nav>")]
    assert 'href="/admin/reference-data"' in bar and "参考数据" in bar
    r = client.get("/admin/reference-data")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert 'data-testid="reference-version-credit"' in page and "信用记录与黑名单" in page
    assert 'href="/admin/catalog"' not in page and 'href="/admin/users"' not in page  # no city admin's tabs
    assert "<form" not in page.split("</header>", 1)[1]  # nothing to change there
    assert client.get("/lang/en?next=/admin/reference-data").status_code in (302, 303)
    assert "Reference data" in client.get("/dashboard").get_data(as_text=True)


def test_the_citywide_statistics_page_answers_the_county_admin_for_its_county_as_the_api_does(client):  # noqa: F811
    from tests.integration.test_citywide import ITEM, _body

    competent = "360702"
    with client.application.app_context():
        api = Api(client.application.test_client())
        r = api.post("/api/v1/citywide/cases", user=f"window-{COUNTY}", json=_body(ITEM, competent))
        assert r.status_code == 201, r.get_json()
        api.act(r.get_json()["case_no"], f"window-{COUNTY}", "accept")
        by_api = [row["county"] for row in api.get("/api/v1/citywide/statistics", user=COUNTY_ADMIN).get_json()]
        every = [row["county"] for row in api.get("/api/v1/citywide/statistics", user="admin").get_json()]
    assert by_api == [COUNTY] and set(every) == {COUNTY, competent}
    log_in(client, COUNTY_ADMIN)
    r = client.get("/citywide/statistics")
    assert r.status_code == 200
    shown = re.findall(r'data-testid="citywide-row-([^"]+)"><td>([^<]*)</td><td>(\d+)</td>', r.get_data(as_text=True))
    assert shown == [(COUNTY, "宁都县", "1")]
