"""The county review desk and the city desk, driven through their pages as a browser would (cases are made through
the JSON API, as the window desk does)."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.integration.pages import client, csrf_token, log_in, refused  # noqa: F401  (client: the page-client fixture)

COUNTY, OTHER = "360730", "360731"  # 360721 is not a division of the demo data
WINDOW, REVIEWER, CITY = f"window-{COUNTY}", f"review-{COUNTY}", "city-approver"
ENTERPRISE = {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43",
              "phone": "0797-8123456"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# -- helpers (also used by test_case_page.py) ------------------------------------------------------------------

class Api:
    """The JSON API with bearer tokens, on a second test client of the same app (no shared cookies)."""

    def __init__(self, app):
        self.client = app.test_client()
        self.tokens: dict[str, str] = {}

    def _auth(self, user):
        if user not in self.tokens:
            r = self.client.post("/api/v1/auth/token", json={"username": user, "password": "demo"})
            assert r.status_code == 200, r.get_json()
            self.tokens[user] = r.get_json()["token"]
        return {"Authorization": f"Bearer {self.tokens[user]}", "Accept-Language": "zh-CN"}

    def item(self, mode, county=COUNTY):
        items = self.client.get(f"/api/v1/items?mode={mode}", headers=self._auth(f"window-{county}")).get_json()
        return items[0]

    def create(self, mode, county=COUNTY, accept=True, applicant=None, item=None):
        item = item or self.item(mode, county)
        body = {"item_code": item["code"], "applicant": applicant or ENTERPRISE,
                "materials": [{"code": m["code"], "present": True} for m in item["materials"]]}
        r = self.client.post("/api/v1/cases", json=body, headers=self._auth(f"window-{county}"))
        assert r.status_code == 201, r.get_json()
        case_no = r.get_json()["case_no"]
        if accept:
            self.act(case_no, f"window-{county}", "accept")
        return case_no

    def act(self, case_no, user, action, expect=200, **payload):
        r = self.client.post(f"/api/v1/cases/{case_no}/actions", json={"action": action, **payload},
                             headers=self._auth(user))
        assert r.status_code == expect, (action, r.get_json())
        return r.get_json()

    def upload(self, case_no, material_code, county=COUNTY, data=PDF, name="营业执照.pdf", mimetype="application/pdf"):
        r = self.client.post(f"/api/v1/cases/{case_no}/files", headers=self._auth(f"window-{county}"),
                             data={"material_code": material_code, "file": (io.BytesIO(data), name, mimetype)},
                             content_type="multipart/form-data")
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    def case(self, case_no, user=WINDOW):
        r = self.client.get(f"/api/v1/cases/{case_no}", headers=self._auth(user))
        assert r.status_code == 200, r.get_json()
        return r.get_json()


def login(client, username):
    log_in(client, username)


def logout(client):
    client.delete_cookie("session")


def post_form(client, path, page, data):
    """Submit a form of `page` (GET first for its CSRF token)."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def run_bus(app):
    from app.extensions import db
    from exchange.jobs import run_once

    with app.app_context():
        run_once(2)
        db.session.remove()


def db_case(app, case_no):
    from app.extensions import db
    from delegation.models import Case

    with app.app_context():
        case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
        snapshot = {c: getattr(case, c) for c in ("state", "review_opinion", "decision", "return_reasons",
                                                  "decision_reasons", "version")}
        db.session.remove()
        return snapshot


def make_overdue(app, case_no):
    """Time has passed: the deadline is behind us (the sweep would set the same flag)."""
    from app.extensions import db
    from delegation.models import Case

    with app.app_context():
        db.session.execute(sa.update(Case).where(Case.case_no == case_no).values(
            due_flag="overdue", due_at=datetime.now(timezone.utc) - timedelta(days=3)))
        db.session.commit()
        db.session.remove()


def text(r) -> str:
    return r.get_data(as_text=True)


# -- the review desk ----------------------------------------------------------------------------------------

def test_review_queue_shows_only_this_countys_cases_with_the_overdue_row_marked(client):
    app = client.application
    api = Api(app)
    late = api.create("direct")
    fresh = api.create("delegated_review")
    elsewhere = api.create("direct", county=OTHER)
    not_yet = api.create("direct", accept=False)  # submitted: the window still holds it
    make_overdue(app, late)
    login(client, REVIEWER)
    r = client.get("/review")
    assert r.status_code == 200
    page = text(r)
    assert late in page and fresh in page
    assert elsewhere not in page and not_yet not in page
    row = re.search(rf'<tr class="([^"]*)" data-testid="row-{late}"', page)
    assert row and "due-overdue" in row.group(1)
    assert "已超期" in page
    assert page.index(late) < page.index(fresh)  # oldest deadline first
    # filters: by due flag and by item
    page = text(client.get("/review?due=overdue"))
    assert late in page and fresh not in page
    item = api.item("delegated_review")
    page = text(client.get(f"/review?item={item['code']}"))
    assert fresh in page and late not in page
    # another county's case looks absent on the work page
    assert client.get(f"/review/cases/{elsewhere}").status_code == 404


def test_review_queue_pages_by_keyset_with_a_constant_number_of_queries(client):
    from app.extensions import db

    app = client.application
    api = Api(app)
    made = [api.create("direct") for _ in range(5)]
    login(client, REVIEWER)
    import app.web.review as review_module

    review_module.PAGE_SIZE, saved = 2, review_module.PAGE_SIZE
    try:
        seen, url, counts = [], "/review", []
        with app.app_context():
            engine = db.engine
        statements = []

        def count(*_args, **_kw):
            statements.append(1)

        sa.event.listen(engine, "before_cursor_execute", count)
        for _ in range(5):
            statements.clear()
            page = text(client.get(url))
            counts.append(len(statements))
            seen += [n for n in made if f'data-testid="row-{n}"' in page]
            nxt = re.search(r'<p class="pager"><a href="([^"]+)"', page)
            if not nxt:
                break
            url = nxt.group(1).replace("&amp;", "&")
            assert "after=" in url
        assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
        assert max(counts) - min(counts) <= 1  # the cursor lookup is the only extra query
        sa.event.remove(engine, "before_cursor_execute", count)
    finally:
        review_module.PAGE_SIZE = saved


def _review_desk_two_by_two(client) -> list[str]:
    """The case numbers of the review desk's rows, following its pager from the first page, two rows a page."""
    import app.web.review as review_module

    review_module.PAGE_SIZE, saved = 2, review_module.PAGE_SIZE
    try:
        order, url = [], "/review"
        for _ in range(10):
            page = text(client.get(url))
            order += re.findall(r'data-testid="row-([^"]+)"', page)
            nxt = re.search(r'<p class="pager"><a href="([^"]+)"', page)
            if not nxt:
                break
            url = nxt.group(1).replace("&amp;", "&")
    finally:
        review_module.PAGE_SIZE = saved
    return order


def test_review_queue_pages_in_deadline_order_across_ties_and_cases_without_a_deadline(client):
    """Page by page, the queue is the whole queue in deadline order: equal deadlines by case id, cases without a
    deadline last, none twice or skipped where a page boundary falls inside a tie or at the first open-ended case."""
    from app.extensions import db
    from delegation.models import Case

    app = client.application
    api = Api(app)
    made = [api.create("direct") for _ in range(6)]
    tie = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    deadlines = [datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc), tie, tie, tie, None, None]
    with app.app_context():
        for case_no, due in zip(made, deadlines):
            db.session.execute(sa.update(Case).where(Case.case_no == case_no).values(due_at=due))
        db.session.commit()
    login(client, REVIEWER)
    order = [n for n in _review_desk_two_by_two(client) if n in made]
    # made in id order; deadlines: first the earliest, then the three tied by id, then the two without one by id
    assert order == made


def test_review_queue_pages_merge_its_three_kinds_of_case_in_one_deadline_order(client):
    """The queue holds cases in review, returned by the city and suspended at the county; read as one range per
    kind and merged, page by page it is still one deadline order over all of them, none twice or skipped, and a
    case of another county or in another state is on no page."""
    from app.extensions import db
    from delegation.models import Case
    from delegation.workflow import Mode, State
    from tests.integration.factories import make_case

    app = client.application
    with app.app_context():
        kinds = [(State.COUNTY_REVIEW, Mode.DIRECT), (State.RETURNED, Mode.DELEGATED_REVIEW),
                 (State.SUSPENDED, Mode.DIRECT), (State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW),
                 (State.RETURNED, Mode.DELEGATED_REVIEW), (State.SUSPENDED, Mode.DELEGATED_REVIEW),
                 (State.COUNTY_REVIEW, Mode.DIRECT)]
        made = [make_case(state, mode).case_no for state, mode in kinds]
        other = [make_case(State.COUNTY_REVIEW, Mode.DIRECT, county="360702").case_no,
                 make_case(State.CITY_REVIEW, Mode.DELEGATED_REVIEW).case_no]
        # deadlines interleave the kinds; two without one come last by id
        days = [5, 1, 3, None, 2, 4, None]
        for case_no, day in zip(made, days):
            due = None if day is None else datetime(2026, 12, day, 9, 0, tzinfo=timezone.utc)
            db.session.execute(sa.update(Case).where(Case.case_no == case_no).values(due_at=due))
        db.session.commit()
    login(client, REVIEWER)
    order = _review_desk_two_by_two(client)
    expected = [made[i] for i in (1, 4, 2, 5, 0)] + [made[3], made[6]]
    assert [n for n in order if n in made or n in other] == expected


def test_direct_case_approved_on_the_review_page_shows_on_the_timeline(client):
    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    login(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    page = text(client.get(work))
    assert "审批决定" in page and 'data-testid="form-decide"' in page
    r = post_form(client, f"{work}/decide", work, {"decide-decision": "approve", "decide-opinion": "材料齐全，符合许可条件",
                                                  "decide-certificate_no": "NDX-2026-007"})
    assert r.status_code == 302, text(r)
    snap = db_case(app, case_no)
    assert snap["state"] == "decided" and snap["decision"] == "approve"
    page = text(client.get(f"/cases/{case_no}"))
    assert "准予许可" in page and "宁都县审批人员" in page and "review-360730" in page
    assert "材料齐全，符合许可条件" in page and "NDX-2026-007" in page


def test_decision_without_opinion_is_422_naming_the_field_and_changes_nothing(client):
    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    before = db_case(app, case_no)
    login(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    r = post_form(client, f"{work}/decide", work, {"decide-decision": "approve", "decide-opinion": "  "})
    r = refused(client, r, work)
    page = text(r)
    assert "审批意见" in page and "请填写审批意见" in page and "Traceback" not in page
    assert db_case(app, case_no) == before
    # a denial without reasons: the reasons field is named
    r = post_form(client, f"{work}/decide", work, {"decide-decision": "deny", "decide-opinion": "不符合条件"})
    r = refused(client, r, work)
    assert "不予许可须逐行写明全部理由" in text(r)
    assert "不符合条件" in text(r)  # the opinion typed is on the page again
    assert "不予许可须逐行写明全部理由" not in text(client.get(work))  # shown once: a reload is the clean page
    assert db_case(app, case_no) == before
    # a delegated case reviewed without a recommendation: named too
    other = api.create("delegated_review")
    work = f"/review/cases/{other}"
    page = text(client.get(work))  # sending the case to the city and issuing a one-time notice ask first
    for testid in ("form-review", "form-correction"):
        assert "data-confirm=" in re.search(rf'data-testid="{testid}".*?<form[^>]*>|<form[^>]*data-testid="{testid}"[^>]*>',
                                            page, re.S).group(0)
    r = post_form(client, f"{work}/review", work, {"review-opinion": "同意上报"})
    r = refused(client, r, work)
    assert "审核结论" in text(r)
    assert db_case(app, other)["state"] == "county_review"


def test_suspend_and_resume_with_reasons(client):
    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    login(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    r = post_form(client, f"{work}/suspend", work, {"suspend-kind": "site_inspection", "suspend-expected_end": "",
                                                   "suspend-comment": "需现场核查经营场所"})
    r = refused(client, r, work)
    assert "预计结束日期" in text(r)
    r = post_form(client, f"{work}/suspend", work, {"suspend-kind": "site_inspection",
                                                   "suspend-expected_end": "2030-01-15",
                                                   "suspend-comment": "需现场核查经营场所"})
    assert r.status_code == 302, text(r)
    assert db_case(app, case_no)["state"] == "suspended"
    assert case_no in text(client.get("/review"))  # still on the queue: the reviewer resumes it
    r = post_form(client, f"{work}/resume", work, {"resume-comment": "现场踏勘完毕"})
    assert r.status_code == 302
    assert db_case(app, case_no)["state"] == "county_review"
    page = text(client.get(f"/cases/{case_no}"))
    assert "需现场核查经营场所" in page and "现场踏勘完毕" in page and "现场踏勘" in page


def test_a_domain_error_is_shown_in_chinese_and_nothing_changes(client):
    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    login(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    page_token = csrf_token(client, work)
    api.act(case_no, REVIEWER, "review", opinion="同意")
    api.act(case_no, REVIEWER, "approve")  # decided meanwhile at another desk
    before = db_case(app, case_no)
    r = client.post(f"{work}/suspend", data={"csrf_token": page_token, "suspend-kind": "hearing",
                                             "suspend-expected_end": "2030-01-15", "suspend-comment": "听证"})
    r = refused(client, r, work)
    assert "不能执行启动特别程序" in text(r)
    assert db_case(app, case_no) == before


# -- the city desk ------------------------------------------------------------------------------------------

def test_delegated_case_reviewed_at_the_county_and_approved_at_the_city(client):
    app = client.application
    api = Api(app)
    case_no = api.create("delegated_review")
    login(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    r = post_form(client, f"{work}/review", work, {"review-opinion": "经审核，符合许可条件",
                                                  "review-recommendation": "approve"})
    assert r.status_code == 302, text(r)
    assert db_case(app, case_no)["state"] == "forwarded"
    run_bus(app)  # county and city share this node: the forward travels over the bus
    logout(client)
    login(client, CITY)
    page = text(client.get("/city"))
    assert case_no in page and "经审核，符合许可条件" in page
    dept = api.item("delegated_review")["department_code"]
    assert case_no in text(client.get(f"/city?department={dept}"))
    other_dept = "360700-sec-ecology" if dept != "360700-sec-ecology" else "360700-sec-market"
    assert case_no not in text(client.get(f"/city?department={other_dept}"))
    city_work = f"/city/cases/{case_no}"
    page = text(client.get(city_work))
    assert "县级审核意见" in page and "经审核，符合许可条件" in page and "同意" in page
    r = post_form(client, f"{city_work}/approve", city_work, {"approve-comment": "同意", "approve-certificate_no": ""})
    assert r.status_code == 302, text(r)
    assert db_case(app, case_no)["decision"] == "approve"
    run_bus(app)
    page = text(client.get(f"/cases/{case_no}"))
    assert "市级审批员" in page and "city-approver" in page and "准予许可" in page


def test_return_collects_every_reason_and_the_case_page_shows_them(client):
    app = client.application
    api = Api(app)
    case_no = api.create("delegated_review")
    api.act(case_no, REVIEWER, "review", opinion="同意", recommendation="approve")
    run_bus(app)
    login(client, CITY)
    city_work = f"/city/cases/{case_no}"
    r = post_form(client, f"{city_work}/return", city_work, {"return-reasons": "\n  \n"})
    r = refused(client, r, city_work)
    assert "退回的全部理由" in text(r)
    assert db_case(app, case_no)["state"] == "city_review"
    reasons = ["现场照片不清晰", "法定代表人身份证明缺少签字", "平面图未标注消防通道"]
    r = post_form(client, f"{city_work}/return", city_work, {"return-reasons": "\r\n".join(reasons) + "\r\n"})
    assert r.status_code == 302, text(r)
    assert db_case(app, case_no)["return_reasons"] == reasons
    run_bus(app)
    page = text(client.get(f"/cases/{case_no}"))
    for reason in reasons:
        assert reason in page
    logout(client)
    login(client, REVIEWER)
    page = text(client.get(f"/review/cases/{case_no}"))
    assert all(reason in page for reason in reasons) and 'data-testid="form-review"' in page


def test_deny_needs_reasons_and_records_all_of_them(client):
    app = client.application
    api = Api(app)
    case_no = api.create("forward_only")
    run_bus(app)
    login(client, CITY)
    city_work = f"/city/cases/{case_no}"
    r = post_form(client, f"{city_work}/deny", city_work, {"deny-reasons": ""})
    r = refused(client, r, city_work)
    assert "不予许可的理由" in text(r)
    r = post_form(client, f"{city_work}/deny", city_work, {"deny-reasons": "选址不符合规划\n安全间距不足"})
    assert r.status_code == 302
    assert db_case(app, case_no)["decision_reasons"] == ["选址不符合规划", "安全间距不足"]


def test_batch_approval_approves_the_eligible_and_reports_the_rest(client):
    app = client.application
    api = Api(app)
    good = [api.create("delegated_review") for _ in range(2)]
    for case_no in good:
        api.act(case_no, REVIEWER, "review", opinion="同意", recommendation="approve")
    disagreed = api.create("delegated_review")
    api.act(disagreed, REVIEWER, "review", opinion="场所面积不足", recommendation="deny")
    run_bus(app)
    login(client, CITY)
    page = text(client.get("/city"))
    for case_no in good:
        assert f'data-testid="pick-{case_no}"' in page
    assert f'data-testid="pick-{disagreed}"' not in page  # needs individual review: no checkbox
    r = post_form(client, "/city/batch-approve", "/city", {"case_no": [*good, disagreed], "batch-opinion": "同意",
                                                           "confirm": "1"})
    assert r.status_code == 200
    page = text(r)
    for case_no in good:
        assert re.search(rf'data-testid="result-{case_no}" data-ok="true"', page)
        assert db_case(app, case_no)["decision"] == "approve"
    assert re.search(rf'data-testid="result-{disagreed}" data-ok="false"', page)
    assert "县级审核结论不是同意" in page and "成功 2 件" in page
    assert db_case(app, disagreed)["state"] == "city_review"
    r = post_form(client, "/city/batch-approve", "/city", {})
    assert r.status_code == 422 and "请至少选择" in text(r)


@pytest.mark.parametrize("path", ["/review", "/city"])
def test_a_regulator_gets_403_on_the_desks(client, path):
    login(client, f"reg-{COUNTY}")
    r = client.get(path)
    assert r.status_code == 403 and "无权访问" in text(r)


def test_a_window_user_gets_403_on_the_review_and_city_desks(client):
    login(client, WINDOW)
    assert client.get("/review").status_code == 403
    assert client.get("/city").status_code == 403
    assert client.post("/city/batch-approve", data={"csrf_token": csrf_token(client, "/review")}).status_code == 403


def test_city_queue_costs_the_same_number_of_queries_for_one_case_or_many(client):
    from app.extensions import db

    app = client.application
    api = Api(app)

    def forward_one():
        case_no = api.create("delegated_review")
        api.act(case_no, REVIEWER, "review", opinion="同意", recommendation="approve")
        return case_no

    forward_one()
    run_bus(app)
    login(client, CITY)
    with app.app_context():
        engine = db.engine
    statements = []

    def count(*_args, **_kw):
        statements.append(1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        client.get("/city")
        one = len(statements)
        for _ in range(3):
            forward_one()
        run_bus(app)
        statements.clear()
        page = text(client.get("/city"))
        assert page.count('data-testid="pick-') == 4
        assert len(statements) == one
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_reviewer_issues_one_notice_listing_everything(client):
    app = client.application
    api = Api(app)
    case_no = api.create("direct")
    login(client, REVIEWER)
    work = f"/review/cases/{case_no}"
    r = post_form(client, f"{work}/correction", work, {"correction-problems": " \n "})
    r = refused(client, r, work)
    assert "需要补正的全部内容" in text(r)
    assert db_case(app, case_no)["state"] == "county_review"
    r = post_form(client, f"{work}/correction", work,
                  {"correction-problems": "营业执照复印件需加盖公章\n平面图需标注尺寸"})
    assert r.status_code == 302, text(r)
    assert db_case(app, case_no)["state"] == "correction_requested"
    page = text(client.get(f"/cases/{case_no}"))
    assert "营业执照复印件需加盖公章" in page and "平面图需标注尺寸" in page and "一次性告知补正" in page
