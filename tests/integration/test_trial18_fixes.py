"""What a trial of issue 18's multi-node deployment found, as an operator, the city's statistics office and an API
client meet it: a county administrator created from the command line, every county (with zeros) in the county
breakdown of the API and its downloads, the city's case list explaining cases kept on county nodes, Chinese API
errors without English fragments, and the English dashboard without Chinese punctuation."""
from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
import sqlalchemy as sa

from tests.integration.pages import log_in
from tests.integration.support import COUNTY, OTHER_COUNTY, Api
from tests.integration.test_public_pages import application, client  # noqa: F401


def _counties(app) -> dict[str, str]:
    from app.extensions import db
    from delegation.models import Division

    with app.app_context():
        return dict(db.session.execute(sa.select(Division.code, Division.name)
                                       .where(Division.parent_code.is_not(None))).all())


# -- 3: the county administrator from the command line ---------------------------------------------------------

def test_users_create_makes_a_county_administrator_who_sees_its_dashboard(application, client):  # noqa: F811
    from app.extensions import db
    from delegation.models import User

    runner = application.test_cli_runner()
    result = runner.invoke(args=["users", "create", "ningdu.admin", "--org", f"{COUNTY}-bureau",
                                 "--role", "county_admin", "--generate"])
    assert result.exit_code == 0, result.output
    password = re.search(r"initial password: (\S+)", result.output).group(1)
    # a city organisation holds no county administrator: refused, naming the role, nothing created
    refused = runner.invoke(args=["users", "create", "city.countyadmin", "--org", "360700-bureau",
                                  "--role", "county_admin", "--generate"])
    assert refused.exit_code != 0 and "role:" in refused.output and "县级" in refused.output
    with application.app_context():
        assert db.session.execute(sa.select(User.role).filter_by(username="ningdu.admin")).scalar() == "county_admin"
        assert db.session.execute(sa.select(User.id).filter_by(username="city.countyadmin")).scalar() is None
    log_in(client, "ningdu.admin", password)
    assert client.get("/dashboard").status_code == 302  # the initial password is changed first
    from tests.integration.pages import csrf_token

    r = client.post("/account/password", data={"current_password": password, "new_password": "N1ngdu-admin",
                                               "confirm_password": "N1ngdu-admin",
                                               "csrf_token": csrf_token(client, "/account/password")})
    assert r.status_code == 302, r.get_data(as_text=True)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "县级管理员" in page and "于都县" not in page  # its own county's dashboard only


# -- 7: every county in the API's and the downloads' county breakdown ------------------------------------------

def test_the_county_breakdown_lists_every_county_like_the_ranking(application, client):  # noqa: F811
    counties = _counties(application)
    with application.app_context():
        api = Api(application.test_client())
        api.create(api.item("direct"), county=COUNTY)
        api.create(api.item("direct"), county=COUNTY)
        from app.extensions import db

        db.session.commit()
        r = api.get("/api/v1/stats/by/county", user="admin")
        assert r.status_code == 200, r.get_json()
        rows = {row["key"]: row for row in r.get_json()["rows"]}
        assert set(rows) == set(counties) and len(r.get_json()["rows"]) == len(counties)
        assert rows[COUNTY]["total_cases"] == 2
        assert rows[OTHER_COUNTY]["total_cases"] == 0 and rows[OTHER_COUNTY]["label"] == counties[OTHER_COUNTY]
        exported = api.get("/api/v1/stats/export.csv?by=county", user="admin").get_data(as_text=True)
        # a county administrator's breakdown stays its own county
        own = api.get("/api/v1/stats/by/county", user=f"admin-{COUNTY}").get_json()["rows"]
        assert [row["key"] for row in own] == [COUNTY]
    log_in(client, "admin")
    downloaded = client.get("/dashboard/export.csv?by=county").get_data(as_text=True)
    for body in (exported, downloaded):
        table = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
        by_code = {row[0]: row for row in table[1:] if row}
        assert set(by_code) == set(counties)
        assert by_code[OTHER_COUNTY][2] == "0"  # total_cases, the first figure
    workbook = client.get("/dashboard/export.xlsx").get_data()
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook))["按县区"]
    assert {row[0] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]} == set(counties)


# -- 6: the city's case list explains the cases kept on county nodes -------------------------------------------

def _reported_city(application):
    """The city node with 宁都县 on a node of its own that reported two direct cases; one forward_only case of
    宁都县 is held at the city too."""
    from app.extensions import db
    from delegation.models import Org
    from tests.integration.test_fact_reports import deliver, fact

    with application.app_context():
        db.session.execute(sa.update(Org).where(Org.division_code == COUNTY).values(node_id=COUNTY))
        db.session.commit()
        today = date.today()
        deliver(fact(f"{COUNTY}-2026-900001", 1, "concluded", today), fact(f"{COUNTY}-2026-900002", 1, "accepted",
                                                                             today))


def test_the_city_case_list_says_a_county_nodes_cases_are_kept_there(application, client):  # noqa: F811
    log_in(client, "admin")
    before = client.get(f"/dashboard/cases?figure=total_cases&county={COUNTY}").get_data(as_text=True)
    assert "仅列出您有权查看的办件。" in before and "县级节点" not in before  # no report: the text as it was
    _reported_city(application)
    page = client.get(f"/dashboard/cases?figure=total_cases&county={COUNTY}").get_data(as_text=True)
    note = re.search(r'data-testid="kept-on-county-nodes">(.*?)</p>', page, re.S)
    assert note and "宁都县" in note.group(1) and "县级节点" in note.group(1) and "上报" in note.group(1)
    assert "仅列出您有权查看的办件。" not in page
    # another county without reports keeps the plain text
    other = client.get(f"/dashboard/cases?figure=total_cases&county={OTHER_COUNTY}").get_data(as_text=True)
    assert 'data-testid="kept-on-county-nodes"' not in other and "仅列出您有权查看的办件。" in other
    client.get("/lang/en?next=/dashboard")
    english = client.get(f"/dashboard/cases?figure=total_cases&county={COUNTY}").get_data(as_text=True)
    note = re.search(r'data-testid="kept-on-county-nodes">(.*?)</p>', english, re.S).group(1)
    assert "county" in note and "县级节点" not in note


# -- 8: Chinese API errors without English fragments -----------------------------------------------------------

def test_a_refused_choice_reads_in_chinese(application):  # noqa: F811
    with application.app_context():
        api = Api(application.test_client())
        item = api.item("direct")
        body = {"item_code": item["code"], "applicant": {"kind": "alien", "name": "张三",
                                                          "id_code": "11010519491231002X", "phone": "13800000000"}}
        r = api.post("/api/v1/cases", user=f"window-{COUNTY}", json=body)
        assert r.status_code == 422
        said = r.get_json()["errors"]["applicant.kind"]
        assert said == ["应为以下之一：enterprise、individual"], said
        assert "Must be" not in r.get_json()["detail"]
        english = api.post("/api/v1/cases", user=f"window-{COUNTY}", json=body, lang="en").get_json()
        assert english["errors"]["applicant.kind"] == ["Must be one of: enterprise, individual."]


def _refusals():
    """What marshmallow's validators and fields say when they refuse a value (their own default messages)."""
    from marshmallow import ValidationError, fields, validate

    checks = [
        (validate.OneOf(["a", "b"]), "c"), (validate.Range(min=1, max=5), 9), (validate.Range(min=1), 0),
        (validate.Range(max=5), 9), (validate.Range(min=0, min_inclusive=False), 0),
        (validate.Range(max=5, max_inclusive=False), 5),
        (validate.Range(min=0, max=5, min_inclusive=False, max_inclusive=False), 5), (validate.Length(max=3), "abcd"),
        (validate.Length(min=3), "ab"), (validate.Length(2, 3), "a"), (validate.Length(equal=2), "a"),
        (validate.Email(), "x"), (validate.URL(), "x"), (validate.Regexp(r"\d+"), "x"), (validate.Equal(1), 2),
        (validate.NoneOf([1]), 1), (validate.ContainsOnly(["a"]), ["b"]), (validate.ContainsNoneOf(["a"]), ["a"]),
        (fields.Float().deserialize, "x"), (fields.Float().deserialize, "nan"), (fields.Dict().deserialize, 1),
        (fields.Email().deserialize, "x"), (fields.Url().deserialize, "x"), (fields.UUID().deserialize, "x"),
        (fields.DateTime().deserialize, "x"), (fields.Time().deserialize, "x"), (fields.Date().deserialize, "x"),
        (fields.Integer(strict=True).deserialize, 1.5), (fields.Nested({"a": fields.Integer()}).deserialize, 1),
        (fields.Decimal().deserialize, "x"), (fields.Boolean().deserialize, "x"),
        (fields.List(fields.Integer()).deserialize, 1),
        (fields.String().deserialize, b"\xff"),
    ]
    for check, value in checks:
        try:
            check(value)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, list) else [m for v in exc.messages.values() for m in v]
            yield from messages
        else:
            raise AssertionError(f"{check} accepted {value!r}")


def test_every_validator_message_reads_in_chinese():
    from app.errors import _zh

    english = [(m, _zh(m)) for m in _refusals() if re.search(r"\b(must|not|be|than|length|invalid|one|of)\b",
                                                             _zh(m), re.I)]
    assert english == []


# -- 9: the English dashboard's reductions ---------------------------------------------------------------------

def test_the_english_dashboard_explains_the_reductions_without_chinese_punctuation(client):  # noqa: F811
    log_in(client, "admin")
    client.get("/lang/en?next=/dashboard")
    page = client.get("/dashboard").get_data(as_text=True)
    for testid in ("reduction-materials", "reduction-steps", "reduction-time"):
        said = re.search(rf'data-testid="{testid}">(.*?)</li>', page, re.S).group(1)
        assert "：" not in said and "</strong>: " in said, said
