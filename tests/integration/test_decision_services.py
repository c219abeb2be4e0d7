"""The services the pages' orchestration moved into (delegation.intake, delegation.decisions), called as the API
or a job would call them: no HTTP, no page."""
from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation import decisions, intake
from delegation.errors import Invalid
from delegation.models import Case
from delegation.workflow import Mode, State
from tests.integration import factories
from tests.integration.support import ENTERPRISE

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _case_count() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar_one()


def test_register_with_files_attaches_each_file_and_names_the_refused_one(app):
    item = factories.item_of(Mode.DIRECT)
    first, second = item.materials[0].code, item.materials[-1].code
    materials = [{"code": m.code, "present": True} for m in item.materials]
    good = SimpleNamespace(filename="a.pdf", mimetype="application/pdf", stream=io.BytesIO(PDF))
    case = intake.register_with_files(factories.window(), item.code, dict(ENTERPRISE), materials,
                                      [(first, good), (second, None)])
    assert [f.material_code for f in case.files] == [first]
    db.session.rollback()
    before = _case_count()
    fake = SimpleNamespace(filename="b.pdf", mimetype="application/pdf", stream=io.BytesIO(b"not a pdf at all"))
    with pytest.raises(Invalid) as refused:
        intake.register_with_files(factories.window(), item.code, dict(ENTERPRISE), materials, [(second, fake)])
    assert refused.value.field == intake.file_field(second) == f"files.{second}"
    db.session.rollback()
    assert _case_count() == before


def test_review_and_decide_records_a_new_opinion_then_decides(app):
    case = factories.make_case(State.COUNTY_REVIEW, Mode.DIRECT)
    decided = decisions.review_and_decide(factories.reviewer(), case.case_no, "approve", "材料齐全，同意许可")
    assert decided.state == State.DECIDED
    assert decided.review_opinion == "材料齐全，同意许可"
    assert [e.action for e in decided.events][-2:] == ["review", "approve"]


def test_approve_batch_approves_what_the_rule_admits_and_reports_the_rest(app):
    forward_only = factories.make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY)
    reviewed = factories.make_case(State.CITY_REVIEW, Mode.DELEGATED_REVIEW)
    assert reviewed.review_recommendation == "approve"
    db.session.commit()
    ids = forward_only.id, reviewed.id
    results = decisions.approve_batch(factories.actor(factories.CITY),
                                      [forward_only.case_no, "NO-SUCH-CASE", reviewed.case_no],
                                      "批量准予许可", credit_marked=lambda id_code: False)
    assert [r.ok for r in results] == [False, False, True]
    assert decisions.FORWARD_ONLY in results[0].blockers
    assert results[1].error is not None and results[1].error.status == 404
    db.session.remove()  # what was committed, read afresh
    assert db.session.get(Case, ids[0]).state == State.CITY_REVIEW
    assert db.session.get(Case, ids[1]).state == State.DECIDED
    marked = factories.make_case(State.CITY_REVIEW, Mode.DELEGATED_REVIEW)
    db.session.commit()
    result, = decisions.approve_batch(factories.actor(factories.CITY), [marked.case_no], "批量准予许可",
                                      credit_marked=lambda id_code: True)
    assert result.blockers == [decisions.CREDIT_MARKED]
