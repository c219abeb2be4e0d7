"""The public lookup raises no deadline flag (临近期限/超期) on a case that is over: a concluded case was late or not
when it was decided, and the applicant who has their result is not told it is overdue now (issue 14)."""
from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from tests.integration.support import ENTERPRISE
from tests.integration.test_public_pages import CST, REVIEWER, WINDOW, application, client, lookup  # noqa: F401


def _late_case(application, conclude: bool) -> tuple[str, str]:  # noqa: F811
    """A direct case accepted on 2 March, found overdue by the deadline job in June, then decided (and handed out)."""
    from app.extensions import db
    from delegation import cases
    from delegation.actors import Actor
    from delegation.models import Case, Item, User

    def actor(username):
        return Actor.for_user(db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one())

    with application.app_context():
        item = db.session.execute(sa.select(Item).filter_by(mode="direct", limit_unit="working_days")
                                  ).unique().scalars().first()
        start, late = datetime(2026, 3, 2, 10, tzinfo=CST), datetime(2026, 6, 1, 10, tzinfo=CST)
        case = cases.create_case(actor(WINDOW), item.code, dict(ENTERPRISE),
                                 [{"code": m.code, "present": True} for m in item.materials], now=start)
        cases.perform(actor(WINDOW), case.case_no, "accept", {}, now=start)
        db.session.commit()
        cases.sweep(now=late)
        steps = [(REVIEWER, "review", {"opinion": "符合条件"}), (REVIEWER, "approve", {})]
        if conclude:
            steps.append((WINDOW, "hand_out", {"method": "pickup"}))
        for username, action, payload in steps:
            cases.perform(actor(username), case.case_no, action, payload, now=late)
        db.session.commit()
        row = db.session.execute(sa.select(Case).filter_by(case_no=case.case_no)).unique().scalar_one()
        assert row.due_flag == "overdue"  # as the deadline job left it
        return case.case_no, case.query_code


def _due_cell(page: str) -> str:
    return re.search(r'data-testid="result-due">(.*?)</dd>', page, re.S).group(1)


def test_a_concluded_case_shows_its_deadline_without_a_flag(application, client):  # noqa: F811
    case_no, query_code = _late_case(application, conclude=True)
    cell = _due_cell(lookup(client, case_no, query_code).get_data(as_text=True))
    assert re.search(r"\d{4}", cell)  # the deadline itself is still shown
    assert "超期" not in cell and "临近" not in cell and "due-overdue" not in cell and "due-warning" not in cell


def test_an_open_case_keeps_its_flag(application, client):  # noqa: F811
    case_no, query_code = _late_case(application, conclude=False)
    cell = _due_cell(lookup(client, case_no, query_code).get_data(as_text=True))
    assert "due-overdue" in cell
