"""Issue 18, measured steps across nodes: the county node's copy of a case the city handled counts the same steps
as one node does (test_measured_reductions, test_statistics) — the city's return reaches it as receive_return, its
decision as receive_decision, and neither is counted twice or missed. County 宁都县 and the city over SFTP.

 forward_only, returned once:  受理, 转报, 退回, 转报 again, 决定 → 5
 delegated_review:             受理, 审核, 转报 (the review forwards), 批准 → 4
"""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from tests.integration.test_two_nodes import COUNTY, nodes, pump, sftp  # noqa: F401  (fixtures)
from tests.integration.support import Node


def _baselines(node: Node, codes) -> None:
    from delegation.models import Item

    with node.ctx():
        for item in db.session.execute(sa.select(Item).where(Item.code.in_(codes))).unique().scalars():
            item.baseline_materials, item.baseline_steps, item.baseline_days = 10, 5, 20
        db.session.commit()


def test_the_county_node_counts_the_steps_one_node_counts(nodes, sftp):  # noqa: F811
    county, city = Node(nodes[0]), Node(nodes[1])
    window, reviewer = f"window-{COUNTY}", f"review-{COUNTY}"
    with county.ctx():
        fo_item, dr_item = county.api.item("forward_only"), county.api.item("delegated_review")
    _baselines(county, [fo_item["code"], dr_item["code"]])
    with county.ctx():
        fo = county.api.create(fo_item)["case_no"]
        dr = county.api.create(dr_item)["case_no"]
    county.act(fo, window, "accept")
    county.act(dr, window, "accept")
    county.act(dr, reviewer, "review", opinion="经审核，符合条件", recommendation="approve")
    pump(county, city)
    city.act(fo, "city-approver", "return", reasons=["场地平面图比例不符"])
    pump(county, city)
    county.act(fo, window, "resubmit", materials=[fo_item["materials"][0]["code"]])
    pump(county, city)
    city.act(fo, "city-approver", "approve")
    city.act(dr, "city-approver", "approve")
    pump(county, city)
    assert county.case(fo, window)["state"] == county.case(dr, window)["state"] == "decided"

    for mode, steps in (("forward_only", 5.0), ("delegated_review", 4.0)):
        with county.ctx():  # the county node has no city-level account for the API: its statistics directly
            from supervision.statistics import Filters, summary

            figures = summary(Filters(mode=mode))
        assert (figures["steps_cases"], figures["steps_taken_mean"], figures["steps_reduction"]) == \
            (1, steps, round((5 - steps) / 5, 4)), mode
