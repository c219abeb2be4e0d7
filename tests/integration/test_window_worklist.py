"""The window's worklist (issue 14): queues with counts, the city's reasons on a returned case, open 容缺
commitments with the days left, who holds each case now by name and its time left, search by case number, credit
code, phone and a part of a name (scoped to the clerk's county), the warning/overdue filter, both sort orders with
pages forward and back, and the counter of what needs the clerk."""
from __future__ import annotations

import re

import pytest

from tests.integration.pages import client, log_in  # noqa: F401  (client: the page-client fixture)

WINDOW = "window-360730"


def _cases(app):
    """A case in each place of its life at 360730 with applicants of their own, and one at 360731."""
    from app.extensions import db, utcnow
    from delegation.workflow import Action, Mode, State
    from tests.integration import factories

    with app.app_context():
        made = {
            "submitted": factories.make_case(State.SUBMITTED, Mode.DIRECT),
            "returned": factories.make_case(State.RETURNED, Mode.FORWARD_ONLY),
            "city": factories.make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY),
            "county": factories.make_case(State.COUNTY_REVIEW, Mode.DIRECT),
            "decided": factories.make_case(State.DECIDED, Mode.DIRECT),
            "other_county": factories.make_case(State.SUBMITTED, Mode.DIRECT, county="360731"),
        }
        commitment = factories.submitted(Mode.DIRECT, commitment=True)
        factories._apply(commitment, factories.window(), Action.ACCEPT_WITH_COMMITMENT, utcnow(), commitment_days=2)
        made["commitment"] = commitment
        for n, (key, case) in enumerate(made.items()):
            case.applicant_name = f"宁都{key}示范有限公司"
            case.applicant_id_code = f"91360730MA{n:07d}X"[:18]
            case.applicant_phone = f"1390797{n:04d}"
        made["other_county"].applicant_id_code = made["submitted"].applicant_id_code
        out = {k: {"case_no": c.case_no, "id_code": c.applicant_id_code, "phone": c.applicant_phone,
                   "reasons": list(c.return_reasons or []), "department": c.department_code}
               for k, c in made.items()}
        db.session.commit()
        return out


def _rows(page: str) -> list[str]:
    return re.findall(r'data-testid="case-row" data-case-no="([^"]+)"', page)


def _row(page: str, case_no: str) -> str:
    start = page.index(f'data-case-no="{case_no}"')
    return page[start:page.index("</tr>", start)]


def test_queues_count_and_list_each_place_of_a_case(client, app):
    made = _cases(app)
    log_in(client, WINDOW)
    page = client.get("/window").get_data(as_text=True)
    counts = dict(re.findall(r'data-testid="count-(\w+)">(\d+)<', page))
    assert counts["submitted"] == "1" and counts["returned"] == "1" and counts["handout"] == "1"
    assert counts["commitment"] == "1" and counts["in_progress"] == "3" and counts["all"] == "6"  # not 360731's
    returned = client.get("/window?queue=returned").get_data(as_text=True)
    assert _rows(returned) == [made["returned"]["case_no"]]
    assert made["returned"]["reasons"] and all(r in _row(returned, made["returned"]["case_no"])
                                               for r in made["returned"]["reasons"])
    progress = client.get("/window?queue=in_progress").get_data(as_text=True)
    assert set(_rows(progress)) == {made[k]["case_no"] for k in ("city", "county", "commitment")}
    holder = re.search(r'data-testid="row-holder">([^<]*)<', _row(progress, made["city"]["case_no"])).group(1)
    assert holder and "-" not in holder and "@" not in holder  # the department's name, not its code
    assert "宁都县行政审批局" in _row(progress, made["county"]["case_no"])
    assert re.search(r"剩\d+个工作(日|小时)", _row(progress, made["county"]["case_no"]))
    commitment = client.get("/window?queue=commitment").get_data(as_text=True)
    assert re.search(r"容缺补交至 \d{4}-\d\d-\d\d（剩\d个工作日）", _row(commitment, made["commitment"]["case_no"]))
    needs = re.search(r'data-testid="needs-me-total">(\d+)<', page).group(1)
    assert needs == "3"  # the return, the decision to hand out, the commitment due within three working days


@pytest.mark.parametrize("what", ["id_code", "phone", "case_no", "name_part", "item"])
def test_search_finds_the_case_in_the_county_only(client, app, what):
    made = _cases(app)
    log_in(client, WINDOW)
    query = {"id_code": made["submitted"]["id_code"], "phone": made["submitted"]["phone"],
             "case_no": made["submitted"]["case_no"], "name_part": "submitted示范", "item": "市场主体"}[what]
    page = client.get("/window", query_string={"queue": "all", "q": query}).get_data(as_text=True)
    rows = _rows(page)
    assert made["submitted"]["case_no"] in rows and made["other_county"]["case_no"] not in rows
    if what != "item":
        assert rows == [made["submitted"]["case_no"]]
    wildcard = client.get("/window", query_string={"queue": "all", "q": "%"}).get_data(as_text=True)
    assert _rows(wildcard) == []  # a wildcard is a character like any other


def test_a_search_from_any_queue_looks_through_all_the_countys_cases(client, app):
    """The desk opens on 待受理 and its search form carries that queue: a clerk looking up a case by its credit code
    must find it wherever it is now (here in county review), under 全部."""
    made = _cases(app)
    log_in(client, WINDOW)
    page = client.get("/window", query_string={"queue": "submitted", "q": made["county"]["id_code"], "due": "",
                                               "sort": "registered"}).get_data(as_text=True)
    assert _rows(page) == [made["county"]["case_no"]]
    assert re.search(r'data-testid="queue-all" aria-current="page"', page)


def test_overdue_filter_and_both_sorts_page_forward_and_back(client, app):
    from datetime import timedelta

    import app.web.window as window
    from app.extensions import db, utcnow
    from delegation.models import Case

    made = _cases(app)
    with app.app_context():
        case = db.session.query(Case).filter_by(case_no=made["county"]["case_no"]).one()
        case.due_flag, case.due_at = "overdue", utcnow() - timedelta(days=3)
        db.session.commit()
    log_in(client, WINDOW)
    page = client.get("/window?queue=all&due=overdue").get_data(as_text=True)
    assert _rows(page) == [made["county"]["case_no"]] and "超期" in _row(page, made["county"]["case_no"])
    old = window.PAGE_SIZE
    window.PAGE_SIZE = 2
    try:
        for sort in ("registered", "deadline"):
            seen, url = [], f"/window?queue=all&sort={sort}"
            pages = []
            while url:
                page = client.get(url).get_data(as_text=True)
                pages.append(_rows(page))
                seen += pages[-1]
                nxt = re.search(r'href="([^"]+)" data-testid="next-page"', page)
                url = nxt.group(1).replace("&amp;", "&") if nxt else None
            assert len(seen) == len(set(seen)) == 6, (sort, pages)
            if sort == "deadline":
                assert seen[0] == made["county"]["case_no"]  # the overdue one first
            prev = re.search(r'href="([^"]+)" data-testid="prev-page"', page).group(1).replace("&amp;", "&")
            assert _rows(client.get(prev).get_data(as_text=True)) == pages[-2], sort
    finally:
        window.PAGE_SIZE = old
