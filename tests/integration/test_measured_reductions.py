"""Issue 18, measured reductions: the materials, steps and time reductions are measured on each case — its own
material list and what it received, the steps on its timeline (a correction and a return count), the working days
it used — against the item's pre-reform baseline, the same from the cases and from the rollups; the API gives the
figures and the dashboard says how each is computed and over how many cases.

Items (baselines materials, steps, days as set here): D 林木采伐 direct (8, 5, 10; 4 required materials and the
optional authorisation letter), F 特种设备（起重机械） forward_only (10, 5, 15; 5 required and the letter).

 case item materials brought         timeline (Asia/Shanghai, March 2026)                        steps  working days
 P    D    all (4 required + letter) accept Mon 2, review, approve Thu 5                          3      3
 C    D    3 required, no letter     补正 Mon 2, resubmit + accept Tue 3, review, approve Fri 6   4      3
 R    F    all (5 required + letter) accept Mon 9, forward, 退回 Wed 11, resubmit Thu 12, approve   5      3
                                     Fri 13 (the return stopped the clock for Thu 12)

Steps: P 受理, 审核, 决定; C 一次性告知补正, 受理, 审核, 决定; R 受理, 转报, 退回, 转报, 决定.
Steps reduction (5−3)/5, (5−4)/5, (5−5)/5 → 0.2 (the catalogue's constants gave 0.4, 0.4, 0.2 → 0.3333).
Materials: required 4, 4, 5 → (8−4)/8, (8−4)/8, (10−5)/10 → 0.5; received 5, 4 (the corrected material and no
letter), 6 → mean 5.0. Time (10−3)/10, (10−3)/10, (15−3)/15 → 0.7333.
"""
from __future__ import annotations

import re
from datetime import date, datetime

import flask_babel
import pytest
import sqlalchemy as sa

from app.extensions import db
from delegation.models import Case, ItemMaterial
from supervision import rollup, statistics
from supervision.statistics import Filters
from tests.integration.pages import log_in
from tests.integration.support import COUNTY as A, Api, run_bus
from tests.integration.test_statistics import CST, at, create, do, item

NOW = datetime(2026, 4, 1, 10, tzinfo=CST)
MARCH = Filters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
BASELINES = {"D": (8, 5, 10), "F": (10, 5, 15)}
MEASURED = {
    "decided": 3, "materials_cases": 3, "steps_cases": 3, "time_cases": 3, "excluded_no_baseline": 0,
    "materials_reduction": 0.5, "materials_baseline_mean": 8.67, "materials_required_mean": 4.33,
    "materials_received_mean": 5.0,
    "steps_reduction": 0.2, "steps_baseline_mean": 5.0, "steps_taken_mean": 4.0,
    "time_reduction": 0.7333, "time_baseline_mean": 11.67, "time_used_mean": 3.0,
}


def prepare() -> None:
    for name, (materials, steps, days) in BASELINES.items():
        it = item(name)
        it.baseline_materials, it.baseline_steps, it.baseline_days = materials, steps, days
        it.limit_unit, it.county_step_limit, it.city_step_limit = "working_days", None, None
    db.session.commit()


def build() -> dict[str, Case]:
    prepare()
    c = {}
    c["P"] = create("D", A, at(2026, 3, 2, 10), 5)
    do(c["P"], f"window-{A}", "accept", at(2026, 3, 2, 10))
    do(c["P"], f"review-{A}", "review", at(2026, 3, 2, 11), opinion="材料齐全，符合条件")
    do(c["P"], f"review-{A}", "approve", at(2026, 3, 5, 15))

    it = item("D")
    required = [m.code for m in it.materials if m.required]
    c["C"] = create("D", A, at(2026, 3, 2, 9), 5)
    for m in c["C"].materials:  # brought only three of the required materials, not the letter
        m.present = m.code in required[:-1]
    db.session.commit()
    do(c["C"], f"window-{A}", "request_correction", at(2026, 3, 2, 9, 10),
       items=[{"material_code": required[-1], "problem": "未提交"}])
    do(c["C"], f"window-{A}", "resubmit", at(2026, 3, 3, 9), materials=[required[-1]])
    do(c["C"], f"window-{A}", "accept", at(2026, 3, 3, 9, 30))
    do(c["C"], f"review-{A}", "review", at(2026, 3, 3, 10), opinion="补正后材料齐全")
    do(c["C"], f"review-{A}", "approve", at(2026, 3, 6, 10))

    c["R"] = create("F", A, at(2026, 3, 9, 10), 10)
    do(c["R"], f"window-{A}", "accept", at(2026, 3, 9, 10))
    run_bus()
    do(c["R"], "city-approver", "return", at(2026, 3, 11, 10), reasons=["起重机械安装位置图不清晰"])
    run_bus()
    do(c["R"], f"window-{A}", "resubmit", at(2026, 3, 12, 10), materials=[c["R"].materials[0].code])
    run_bus()
    do(c["R"], "city-approver", "approve", at(2026, 3, 13, 11))
    run_bus()
    return c


@pytest.fixture
def measured(app):
    return build()


def test_the_cases_are_what_the_table_says(measured):
    c = measured
    assert [c[k].state for k in "PCR"] == ["decided", "decided", "decided"]
    assert [sum(m.required for m in c[k].materials) for k in "PCR"] == [4, 4, 5]
    assert [sum(m.present for m in c[k].materials) for k in "PCR"] == [5, 4, 6]
    actions = [e.action for e in c["R"].events]
    assert "return" in actions and actions.count("resubmit") == 1
    assert "request_correction" in [e.action for e in c["C"].events]


def _figures(filters=MARCH) -> dict:
    summary = statistics.summary(filters, now=NOW)
    return {k: summary[k] for k in MEASURED}


def test_each_reduction_is_measured_on_the_cases(measured):
    assert _figures() == MEASURED
    # one case at a time: the correction and the return are extra steps, the missing letter a material not received
    both = _figures(Filters(date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)))
    r = _figures(Filters(date_from=date(2026, 3, 9), date_to=date(2026, 3, 9)))
    assert (both["steps_taken_mean"], both["materials_received_mean"]) == (3.5, 4.5)  # P 3 and C 4; P 5 and C 4
    assert (r["steps_taken_mean"], r["steps_reduction"], r["materials_received_mean"]) == (5.0, 0.0, 6.0)
    by_mode = {row["key"]: row for row in statistics.breakdown("mode", MARCH, now=NOW)}
    assert by_mode["direct"]["steps_reduction"] == 0.3 and by_mode["forward_only"]["steps_reduction"] == 0.0


def test_the_rollups_give_the_measured_figures(measured):
    rollup.refresh()
    db.session.commit()
    assert not rollup.every_case_dirty()
    assert _figures() == MEASURED
    facts = {f.case_id: f for f in db.session.execute(sa.select(rollup.StatsCaseFact)).scalars()}
    p, c, r = (facts[measured[k].id] for k in "PCR")
    assert [(f.steps_taken_sum, f.materials_required_sum, f.materials_received_sum) for f in (p, c, r)] == [
        (3, 4, 5), (4, 4, 4), (5, 5, 6)]


def test_the_case_keeps_its_own_material_list(measured):
    """A material the item no longer requires still counted on the cases applied for under the old list."""
    rollup.refresh()
    db.session.commit()
    letterless = db.session.execute(sa.select(ItemMaterial).filter_by(item_id=item("D").id, required=True)
                                    .order_by(ItemMaterial.position.desc())).scalars().first()
    letterless.required = False
    db.session.commit()
    assert rollup.every_case_dirty()
    assert _figures() == MEASURED
    rollup.refresh()
    db.session.commit()
    assert _figures() == MEASURED


def test_the_api_and_the_dashboard_give_and_explain_the_figures(measured, client):
    api = Api(client)
    r = api.get("/api/v1/stats/summary?from=2026-03-01&to=2026-03-31", user="admin")
    assert r.status_code == 200, r.get_json()
    assert {k: r.get_json()[k] for k in MEASURED} == MEASURED
    log_in(client, "admin")
    page = client.get("/dashboard?from=2026-03-01&to=2026-03-31").get_data(as_text=True)

    def said(testid: str) -> str:
        found = re.search(rf'data-testid="{testid}">(.*?)</li>', page, re.S)
        assert found, testid
        return re.sub(r"<[^>]+>", "", found.group(1))

    materials, steps, time_ = said("reduction-materials"), said("reduction-steps"), said("reduction-time")
    assert "材料压减率 50.0%" in materials and "按 3 件" in materials
    assert "平均 4.3 件" in materials and "平均 8.7 件" in materials and "平均实收材料 5.0 件" in materials
    assert "环节压减率 20.0%" in steps and "按 3 件" in steps and "每次退回各计一个" in steps
    assert "平均 4.0 个" in steps and "平均 5.0 个" in steps
    assert "时间压减率 73.3%" in time_ and "平均 3.0 个工作日" in time_ and "平均 11.7 个工作日" in time_
    for figure in ("steps_taken_mean", "materials_received_mean", "time_used_mean"):  # the cases each is over
        listed = client.get(f"/dashboard/cases?figure={figure}&from=2026-03-01&to=2026-03-31").get_data(as_text=True)
        assert '<strong data-testid="case-total">3</strong>' in listed, figure
    client.get("/lang/en?next=/dashboard")
    flask_babel.refresh()  # the test's app context outlives the requests: forget the locale it cached
    english = client.get("/dashboard?from=2026-03-01&to=2026-03-31").get_data(as_text=True)
    assert "each return one more" in english and "a mean of 4.0" in english


def test_a_baseline_changed_later_governs_new_cases_only(measured):
    """A case is measured against the baselines of the catalogue it was registered under: a later version (a
    published catalogue change) moves no figure of the cases before it, and the cases after it use the new ones."""
    rollup.refresh()
    db.session.commit()
    it = item("D")
    it.baseline_materials, it.baseline_steps, it.baseline_days = 0, 3, 5  # materials: no baseline any more
    db.session.commit()
    for _ in range(2):  # read live, then from the refreshed rollups
        assert _figures() == MEASURED
        behind = statistics.cases_behind("materials_cases", MARCH, sa.true(), now=NOW)
        assert behind["total"] == 3
        rollup.refresh()
        db.session.commit()

    new = create("D", A, at(2026, 3, 16, 10), 5)  # 受理, 审核, 决定 in 3 working days
    do(new, f"window-{A}", "accept", at(2026, 3, 16, 10))
    do(new, f"review-{A}", "review", at(2026, 3, 16, 11), opinion="材料齐全，符合条件")
    do(new, f"review-{A}", "approve", at(2026, 3, 19, 15))
    alone = _figures(Filters(date_from=date(2026, 3, 16), date_to=date(2026, 3, 16)))
    assert (alone["materials_cases"], alone["excluded_no_baseline"]) == (0, 1)
    assert (alone["steps_baseline_mean"], alone["steps_reduction"]) == (3.0, 0.0)
    assert (alone["time_baseline_mean"], alone["time_reduction"]) == (5.0, 0.4)
    assert _figures()["materials_cases"] == 3 and _figures()["steps_cases"] == 4
