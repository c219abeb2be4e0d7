"""The catalogue published from the city is split by size (issue 18 review): a city import whose items carry long
texts (legal basis, conditions) goes out in as many publications as it takes, each one a county node can read in
either wire format (Catalogue/Csv ≤ 1,000,000 characters; a JSON message ≤ 1 MiB), together carrying every item.
An item too long for any publication refuses the import with its own clear reason, never a wrong one."""
from __future__ import annotations

import csv
import io
import re

import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.support import COUNTY, OTHER_COUNTY
from tests.integration.test_admin_pages import ITEM_HEADER, in_db, items_named


def _row(code: str, basis: str, material: str = "M01") -> str:
    return (f"{code},长文本事项{code},direct,360700-sec-market,promised,working_days,5,15,,,false,,3,4,8,不收费,"
            f"\"{basis}\",,{material},材料{material},true,true")


def _upload(client, body: bytes):  # noqa: F811
    token = csrf_token(client, "/admin/catalog")
    return client.post("/admin/catalog/import", data={"csrf_token": token,
                                                      "file": (io.BytesIO(body), "catalog.csv", "text/csv")},
                       content_type="multipart/form-data")


def _counties_on_their_own_nodes(client) -> None:  # noqa: F811
    """Two county nodes the city publishes to: one reads XML, the other JSON."""
    from app.extensions import db
    from delegation.models import Org
    from exchange.models import ExchangePeer

    def move():
        for county in (COUNTY, OTHER_COUNTY):
            db.session.execute(sa.update(Org).where(Org.division_code == county, Org.level == "county")
                               .values(node_id=county))
        db.session.add(ExchangePeer(node_id=OTHER_COUNTY, name="于都县", transport="local", fmt="json"))
        db.session.commit()
    in_db(client, move)


def _received(client) -> dict[str, list[set[str]]]:  # noqa: F811
    """Per county node, the item codes of each publication, as that node verifies and reads it."""
    from app.extensions import db
    from exchange import jsonform, xmlform
    from exchange.bus import get_bus
    from exchange.models import OutboxMessage

    def read():
        cert = (get_bus().keys_dir / "node.crt").read_bytes()
        out: dict[str, list[set[str]]] = {}
        for m in db.session.execute(sa.select(OutboxMessage).filter_by(type="reference.publish")
                                    .order_by(OutboxMessage.id)).scalars():
            form = jsonform if m.fmt == "json" else xmlform
            env, _ = form.verify(m.raw, lambda node: [cert], m.to_node)  # what the county's bus does first
            rows = csv.DictReader(io.StringIO(env.body["catalogue"]["csv"]))
            out.setdefault(m.to_node, []).append({r["item_code"] for r in rows})
        return out
    return in_db(client, read)


def test_a_catalogue_of_long_items_goes_out_in_publications_every_county_can_read(client):  # noqa: F811
    _counties_on_their_own_nodes(client)
    codes = [f"GZ-LONG-{n:03d}" for n in range(250)]
    basis = "《中华人民共和国行政许可法》第十二条规定的设定依据全文。" * 240  # ~6,500 characters an item
    body = ("\n".join([ITEM_HEADER, *(_row(code, basis) for code in codes)]) + "\n").encode()
    log_in(client, "admin")
    r = _upload(client, body)
    assert r.status_code == 200, re.sub(r"\s+", " ", r.get_data(as_text=True))[:2000]
    assert len(in_db(client, lambda: items_named("GZ-LONG-249"))) == 1
    received = _received(client)
    assert set(received) == {COUNTY, OTHER_COUNTY}
    for node, publications in received.items():
        assert len(publications) > 2  # 200 such items would not fit one message
        assert sorted(code for published in publications for code in published) == codes  # each item once


def test_an_item_too_long_for_any_publication_is_refused_saying_so(client):  # noqa: F811
    _counties_on_their_own_nodes(client)
    # a field the reader takes (≤ 131,072 characters), repeated on each material's line: 300,000 characters of CSV,
    # 900 kB of UTF-8, more than a JSON message carries
    rows = [_row("GZ-HUGE-001", "设定依据" * 25_000, material) for material in ("M01", "M02", "M03")]
    body = ("\n".join([ITEM_HEADER, *rows]) + "\n").encode()
    log_in(client, "admin")
    r = _upload(client, body)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "GZ-HUGE-001" in page and "无法发布到县级节点" in page and "未导入任何内容" in page
    assert "事项编码重复" not in page
    assert in_db(client, lambda: items_named("GZ-HUGE-001")) == [] and _received(client) == {}
