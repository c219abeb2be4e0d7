"""Finding 8 of issue 12: what supervision found on a case (the regulator's internal comments, decision numbers,
penalty amounts, results) is shown by the case view — API and page — only to those whom
`GET /api/v1/supervision/cases/<no>` admits: the approvers who decided the case and the administrators."""
from __future__ import annotations

import json

import pytest

from tests.integration.test_review_city_pages import (CITY, REVIEWER, WINDOW, Api, client, login, logout, run_bus,
                                                      text)

__all__ = ["client"]

INTERNAL = "内部备注：负责人拒不配合，建议列入重点监管"
RECTIFICATION_NO = "赣宁市监改〔2026〕3号"
RECTIFICATION_RESULT = "责令限期七日疏通消防通道"
PENALTY_NO = "赣宁市监罚〔2026〕12号"
AMOUNT = "8888.00"
SUPERVISION_DETAILS = (INTERNAL, RECTIFICATION_NO, RECTIFICATION_RESULT, PENALTY_NO, AMOUNT)
REGULATOR = {"direct": "reg-360730", "forward_only": "reg-city"}
# who may see a case of each mode, and which of them the supervision view admits
REFUSED = {"direct": [WINDOW], "forward_only": [WINDOW, REVIEWER]}
ADMITTED = {"direct": [REVIEWER, "admin"], "forward_only": [CITY, "admin"]}


def get(api: Api, path: str, user: str):
    return api.client.get(path, headers=api._auth(user))


def post(api: Api, path: str, user: str, **body) -> dict:
    r = api.client.post(path, json=body, headers=api._auth(user))
    assert r.status_code in (200, 201), (path, r.get_json())
    return r.get_json()


def supervised(app, api: Api, mode: str) -> str:
    """A case of `mode`, approved; its regulator has claimed it and fed back an inspection with an internal
    comment, a rectification order and a penalty; everything has travelled back to the deciding node."""
    case_no = api.create(mode)
    if mode == "direct":
        api.act(case_no, REVIEWER, "review", opinion="材料齐全，符合条件")
        api.act(case_no, REVIEWER, "approve")
    else:
        run_bus(app)
        api.act(case_no, CITY, "approve")
    run_bus(app)
    regulator = REGULATOR[mode]
    (push,) = get(api, f"/api/v1/supervision/pushes?case_no={case_no}", regulator).get_json()["items"]
    base = f"/api/v1/supervision/pushes/{push['id']}"
    post(api, f"{base}/claim", regulator)
    post(api, f"{base}/feedback", regulator, kind="inspection", date="2026-01-05", result="现场检查，消防通道堵塞",
         comment=INTERNAL)
    post(api, f"{base}/feedback", regulator, kind="rectification", date="2026-01-05", result=RECTIFICATION_RESULT,
         decision_no=RECTIFICATION_NO)
    post(api, f"{base}/feedback", regulator, kind="penalty", date="2026-01-06", result="逾期未整改",
         decision_no=PENALTY_NO, amount=AMOUNT)
    run_bus(app)
    return case_no


def supervision_lines(case: dict) -> list[dict]:
    return [e for e in case["timeline"] if e["action"].startswith("supervision_")]


@pytest.mark.parametrize("mode", ["direct", "forward_only"])
def test_the_case_api_shows_supervision_only_to_whom_the_supervision_view_admits(client, mode):
    app = client.application
    api = Api(app)
    case_no = supervised(app, api, mode)
    for user in REFUSED[mode]:
        assert get(api, f"/api/v1/supervision/cases/{case_no}", user).status_code == 403, user
        r = get(api, f"/api/v1/cases/{case_no}", user)
        assert r.status_code == 200, user
        case = r.get_json()
        assert case["supervision"] == [], user
        lines = supervision_lines(case)
        # the timeline still tells that supervision happened, without what it found
        assert [e["action"] for e in lines] == ["supervision_claim"] + ["supervision_feedback"] * 3, user
        shown = json.dumps([case["supervision"], case["timeline"]], ensure_ascii=False)
        assert not [d for d in SUPERVISION_DETAILS if d in shown], (user, lines)
        # (penalties are on the applicant's credit record, which every window sees at intake, by design)
        assert INTERNAL not in text(r) and RECTIFICATION_NO not in text(r), user
    for user in ADMITTED[mode]:
        assert get(api, f"/api/v1/supervision/cases/{case_no}", user).status_code == 200, user
        case = api.case(case_no, user)
        feedback = case["supervision"][0]["feedback"]
        assert [f["kind"] for f in feedback] == ["inspection", "rectification", "penalty"], user
        assert feedback[0]["comment"] == INTERNAL and feedback[2]["amount"] == AMOUNT, user
        assert supervision_lines(case)[2]["data"]["decision_no"] == RECTIFICATION_NO, user


def test_the_case_page_shows_supervision_only_to_the_approvers(client):
    app = client.application
    case_no = supervised(app, Api(app), "direct")
    login(client, WINDOW)
    page = text(client.get(f"/cases/{case_no}"))
    assert 'data-testid="event-supervision_feedback"' in page  # the line is there, its content is not
    assert 'data-testid="supervision"' not in page
    assert RECTIFICATION_RESULT not in page and INTERNAL not in page and RECTIFICATION_NO not in page
    logout(client)
    login(client, REVIEWER)
    page = text(client.get(f"/cases/{case_no}"))
    assert 'data-testid="supervision"' in page
    assert RECTIFICATION_RESULT in page and INTERNAL in page and RECTIFICATION_NO in page
