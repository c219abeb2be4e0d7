"""参考数据 (issue 18, part 3): the administrators see, per kind of reference data, the version in force on their
node, who published it and when, in Chinese and in English."""
from __future__ import annotations

import re

import sqlalchemy as sa

from tests.integration.pages import client, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY, PERSON, Api


def test_the_administrators_see_the_version_in_force(client):  # noqa: F811
    from app.extensions import db
    from delegation.models import Org

    with client.application.app_context():  # a county on a node of its own: the city publishes to it
        db.session.execute(sa.update(Org).where(Org.division_code == COUNTY, Org.level == "county")
                           .values(node_id=COUNTY))
        db.session.commit()
    log_in(client, "admin")
    page = client.get("/admin/reference-data").get_data(as_text=True)
    assert 'data-testid="admin-tab-versions" aria-current="page"' in page
    assert "信用记录与黑名单" in page and "尚无版本" in page and "本节点是市级节点" in page

    with client.application.app_context():
        r = Api(client).post("/api/v1/delegations/credit-records", user="admin",
                             json={"id_code": PERSON["id_code"], "name": PERSON["name"], "detail": "告知承诺不实"})
        assert r.status_code == 201, r.get_json()
    page = client.get("/admin/reference-data").get_data(as_text=True)
    assert 'data-testid="reference-version-credit">第 1 版' in page and "赣州市（本节点）" in page and "360700" not in page

    client.get("/lang/en?next=/admin/reference-data")
    english = client.get("/admin/reference-data").get_data(as_text=True)
    assert "Credit records and blacklist" in english and "Version 1" in english and "Reference data" in english


def test_the_case_page_shows_the_catalogue_version_the_case_was_registered_under(client):  # noqa: F811
    from datetime import datetime, timezone

    from app.extensions import db
    from delegation.reference_models import ReferenceVersion

    with client.application.app_context():
        api = Api(client.application.test_client())
        item = api.item("direct")
        before = api.create(item)["case_no"]  # before any publication: no version to show
        now = datetime.now(timezone.utc)
        db.session.add(ReferenceVersion(kind="catalogue", version=4, source_node="360700", published_at=now,
                                        applied_at=now))
        db.session.commit()
        case_no = api.create(item)["case_no"]
    log_in(client, "window-360730")
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert re.search(r"<dt>事项目录版本</dt><dd data-testid=\"catalogue-version\">第 4 版</dd>", page)
    assert 'data-testid="catalogue-version"' not in client.get(f"/cases/{before}").get_data(as_text=True)
    client.get(f"/lang/en?next=/cases/{case_no}")
    assert re.search(r"<dt>Catalogue version</dt><dd data-testid=\"catalogue-version\">Version 4</dd>",
                     client.get(f"/cases/{case_no}").get_data(as_text=True))
