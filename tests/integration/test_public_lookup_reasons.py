"""Issue 14, public pages: the applicant's lookup says why a case was refused or denied and what must be corrected,
in plain Chinese; the public home page carries no developer links (Swagger, OpenAPI, node status), which stay
reachable at their own addresses."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tests.integration.support import ENTERPRISE
from tests.integration.test_public_pages import CST, REVIEWER, WINDOW, application, client, lookup  # noqa: F401


def _case(application, *steps) -> dict:  # noqa: F811
    """A direct-mode case created at the window, then taken through `steps` ((username, action, payload), …)."""
    from app.extensions import db
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Item, User

    def actor(username):
        return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())

    with application.app_context():
        item = db.session.execute(sa.select(Item).filter_by(mode="direct", limit_unit="working_days")
                                  ).unique().scalars().first()
        now = datetime(2026, 3, 2, 10, tzinfo=CST)
        materials = [m for m in item.materials]
        case = cases.create_case(actor(WINDOW), item.code, dict(ENTERPRISE),
                                 [{"code": m.code, "present": True} for m in materials], now=now)
        for username, action, payload in steps:
            cases.perform(actor(username), case.case_no, action, payload, now=now)
        db.session.commit()
        return {"case_no": case.case_no, "query_code": case.query_code,
                "materials": {m.code: m.name for m in materials}}


def test_lookup_of_a_refused_case_shows_the_reason_and_where_to_apply(application, client):  # noqa: F811
    case = _case(application, (WINDOW, "refuse", {"reason": "申请事项不属于本机关职权范围",
                                                 "redirect": "请向市市场监督管理局申请"}))
    page = lookup(client, case["case_no"], case["query_code"]).get_data(as_text=True)
    assert "不予受理" in page
    assert "申请事项不属于本机关职权范围" in page and "请向市市场监督管理局申请" in page
    assert "不予受理的理由" in page


def test_lookup_of_a_case_awaiting_correction_lists_what_to_correct(application, client):  # noqa: F811
    first = _case(application)  # the item's materials, to name one in the notice
    code, name = next(iter(first["materials"].items()))
    case = _case(application, (WINDOW, "request_correction",
                               {"items": [{"material_code": code, "problem": "营业执照复印件模糊，请提供清晰件"}]}))
    page = lookup(client, case["case_no"], case["query_code"]).get_data(as_text=True)
    assert "需补正的材料" in page
    assert name in page and "营业执照复印件模糊，请提供清晰件" in page
    assert code not in page.replace(case["case_no"], "")  # the material's name, not its code


def test_lookup_of_a_denied_case_shows_the_reasons(application, client):  # noqa: F811
    case = _case(application, (WINDOW, "accept", {}), (REVIEWER, "review", {"opinion": "不符合条件"}),
                 (REVIEWER, "deny", {"reasons": ["经营场所不符合消防安全要求"], "opinion": "不予许可"}))
    page = lookup(client, case["case_no"], case["query_code"]).get_data(as_text=True)
    assert "不予许可的理由" in page and "经营场所不符合消防安全要求" in page


def test_public_home_has_no_developer_links(client):  # noqa: F811
    page = client.get("/").get_data(as_text=True)
    for gone in ("/api/v1/docs", "/api/v1/openapi.json", "Swagger", "OpenAPI", 'data-testid="node-info"'):
        assert gone not in page, gone
    for href in ('href="/guide"', 'href="/lookup"', 'href="/public/spot-checks"', 'href="/login"'):
        assert href in page, href
    assert client.get("/api/v1/docs").status_code == 200  # still at its own address
    assert client.get("/api/v1/openapi.json").status_code == 200
