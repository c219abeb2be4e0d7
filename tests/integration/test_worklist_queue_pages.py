"""A queue of several states (在办: the county bureau's, the city's, suspended cases) pages as one list in either
order (issue 14): each case once, in the order asked, and back again — while each state is read as its own index
range and merged (delegation/worklist.py), which keeps the queue fast at a million cases."""
from __future__ import annotations

import re
from datetime import timedelta

from tests.integration.pages import client, log_in  # noqa: F401  (client: the page-client fixture)

WINDOW = "window-360730"


def _in_progress(app) -> list[tuple[str, int, object]]:
    """Seven open cases of 360730 in three states, their deadlines interleaved across the states."""
    from app.extensions import db, utcnow
    from delegation.workflow import Mode, State
    from tests.integration import factories

    now = utcnow()
    made = []
    with app.app_context():
        for n, (state, mode) in enumerate([(State.COUNTY_REVIEW, Mode.DIRECT), (State.CITY_REVIEW, Mode.FORWARD_ONLY),
                                           (State.SUSPENDED, Mode.DIRECT), (State.COUNTY_REVIEW, Mode.DIRECT),
                                           (State.CITY_REVIEW, Mode.FORWARD_ONLY), (State.SUSPENDED, Mode.DIRECT),
                                           (State.CITY_REVIEW, Mode.FORWARD_ONLY)]):
            case = factories.make_case(state, mode)
            case.due_at = now + timedelta(days=(n * 5) % 7 + 1, minutes=n)  # not the registration order
            made.append(case)
        factories.make_case(State.SUBMITTED, Mode.DIRECT)  # another queue's
        db.session.commit()
        return [(c.case_no, c.id, c.due_at) for c in made]


def _walk(client, url: str) -> list[list[str]]:
    pages = []
    while url:
        page = client.get(url).get_data(as_text=True)
        pages.append(re.findall(r'data-testid="case-row" data-case-no="([^"]+)"', page))
        nxt = re.search(r'href="([^"]+)" data-testid="next-page"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    prev = re.search(r'href="([^"]+)" data-testid="prev-page"', page)
    back = client.get(prev.group(1).replace("&amp;", "&")).get_data(as_text=True) if prev else ""
    pages.append(re.findall(r'data-testid="case-row" data-case-no="([^"]+)"', back))
    return pages


def test_a_queue_of_several_states_pages_in_order_both_ways(client, app):
    import app.web.window as window

    made = _in_progress(app)
    log_in(client, WINDOW)
    expected = {"registered": [no for no, _, _ in sorted(made, key=lambda m: -m[1])],
                "deadline": [no for no, _, _ in sorted(made, key=lambda m: (m[2], m[1]))]}
    old = window.PAGE_SIZE
    window.PAGE_SIZE = 3
    try:
        for sort, order in expected.items():
            *pages, back = _walk(client, f"/window?queue=in_progress&sort={sort}")
            assert [no for p in pages for no in p] == order, sort
            assert [len(p) for p in pages] == [3, 3, 1]
            assert back == pages[-2], sort  # the previous page from the last is the one before it
    finally:
        window.PAGE_SIZE = old
