"""The window's search by a short part of an applicant's name (issue 14): one or two characters match the name's
beginning (张三 finds 张三 and 张三丰商行, not 宁都县张三贸易), three and more anywhere in the name; on PostgreSQL a
two-character search is answered by the trigram index from the cases whose name starts so, instead of reading every
case (LIKE '%张三%' has no trigram to look up)."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import cases
from delegation.models import Case
from delegation.worklist import search_clause, worklist
from tests.e2e.desk_support import credit_code
from tests.integration.factories import item_of, window
from delegation.workflow import Mode

NAMES = ("张三", "张三丰商行", "宁都县张三贸易有限公司", "李四商店")
OTHERS = 60  # cases whose names hold neither 张三 nor its start


def _register(names) -> None:
    item = item_of(Mode.DIRECT)
    materials = [{"code": m.code, "present": True} for m in item.materials]
    for serial, name in enumerate(names, start=100):
        cases.create_case(window(), item.code, {"kind": "enterprise", "name": name, "id_code": credit_code(serial),
                                                "phone": "0797-8123456"}, materials)
    db.session.commit()


def _found(q: str) -> set[str]:
    return {c.applicant_name for c in worklist(window(), "all", q=q, limit=50).rows}


def test_a_short_name_part_matches_the_start_and_a_longer_one_anywhere(app):
    _register(NAMES)
    assert _found("张三") == {"张三", "张三丰商行"}
    assert _found("张") == {"张三", "张三丰商行"}
    assert _found("张三贸") == {"宁都县张三贸易有限公司"}
    assert _found("都县张三") == {"宁都县张三贸易有限公司"}
    assert _found("张三丰") == {"张三丰商行"}
    assert _found("三丰") == set()  # two characters from the middle: not a name's start


@pytest.mark.postgresql
def test_a_two_character_search_reads_only_the_names_that_start_so(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the trigram index is PostgreSQL's")
    _register(NAMES + tuple(f"赣州市第{n}贸易有限公司" for n in range(OTHERS)))
    compiled = sa.select(Case.id).where(search_clause("张三")).compile(db.engine)
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a table this small would be read whole anyway
    plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", compiled.params).scalar_one()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    scans = [n for n in _nodes(plan[0]["Plan"]) if n.get("Index Name") == "ix_case_file_applicant_name_trgm"]
    assert scans, json.dumps(plan, ensure_ascii=False)[:2000]
    read = sum(n["Actual Rows"] for n in scans)
    assert read <= 2, f"the index gave {read} candidate cases of {OTHERS + len(NAMES)} for 张三"


def _nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def test_an_underscore_or_percent_in_the_search_is_a_character_of_the_name(app):
    _register(("甲_乙商行", "甲丙乙商行", "丁%戊商店", "丁己戊商店"))
    assert _found("甲_乙") == {"甲_乙商行"}  # three characters: anywhere in the name
    assert _found("甲_") == {"甲_乙商行"}  # two: the name's start
    assert _found("丁%戊") == {"丁%戊商店"}
    assert _found("%己戊") == set()  # not a wildcard before 己戊
