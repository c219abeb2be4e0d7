"""参考数据 (issue 18, part 3): the administrators see, per kind of reference data, the version in force on their
node, who published it and when, in Chinese and in English."""
from __future__ import annotations

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
