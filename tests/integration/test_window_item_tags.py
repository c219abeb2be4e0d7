"""The window's item list says what a clerk must know before choosing an item: approved on the applicant's
commitment (告知承诺制), filed rather than approved (备案), or accepted here for another county (全市通办)."""
from __future__ import annotations

import re

from tests.integration.pages import client, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY


def _tags(page: str, code: str) -> list[str]:
    line = re.search(rf'data-item-code="{code}".*?</li>', page, flags=re.S).group(0)
    return re.findall(r'data-testid="item-tag">([^<]+)<', line)


def test_the_item_list_names_each_items_way_of_approval(client):  # noqa: F811
    log_in(client, f"window-{COUNTY}")
    page = client.get("/window/new").get_data(as_text=True)
    assert _tags(page, "GZ-LWPQ-001") == ["告知承诺制"]
    assert _tags(page, "GZ-HPDJ-001") == ["豁免审批（备案）"]
    assert _tags(page, "GZ-CXYS-001") == ["全市通办"]
    assert _tags(page, "GZ-RLZY-001") == []  # an ordinary item carries none
