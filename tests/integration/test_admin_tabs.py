"""Each tab of the administrator's pages is marked as the current one on its own page, those of the modules added
beside the admin blueprint (信用记录, 帮办人员, 问责记录, 当场审批权限, 全市通办) too."""
from __future__ import annotations

from app.web.admin import TABS
from tests.integration.pages import client, log_in  # noqa: F401  (the page client fixture)


def test_every_admin_tab_is_current_on_its_page(client):  # noqa: F811
    log_in(client, "admin")
    with client.application.test_request_context():
        from flask import url_for

        urls = [(endpoint, url_for(endpoint)) for endpoint, _label in TABS]
    for endpoint, url in urls:
        page = client.get(url)
        assert page.status_code == 200, url
        testid = f'data-testid="admin-tab-{endpoint.split(".")[1]}" aria-current="page"'
        assert testid in page.get_data(as_text=True), url
