"""The desks' remaining gaps found trying them as a window clerk (issue 14): a refused intake is shown again on a
GET (post/redirect/get) with everything typed and chosen; only the steps the domain allows are offered (补交材料,
出件); the public lookup raises no deadline flag on a concluded case; the review and city pages list materials
instead of embedding every PDF."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from delegation.models import Item
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (client: the page-client fixture)
from tests.integration.test_window_desk import (COMMITMENT, DIRECT, ENTERPRISE_ID, FORWARD_ONLY, TINY_PDF, act,
                                                case_count, db_case)

WINDOW = "window-360730"


def _drafts(page: str, code: str) -> list[str]:
    return re.findall(rf'name="draft" value="([0-9a-f]{{32}})" checked data-testid="draft-{code}"', page)


def test_a_refused_intake_redirects_to_a_page_that_reloads_with_everything_kept(client):
    log_in(client, WINDOW)
    path = f"/window/new/{DIRECT}"
    r = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "applicant_kind": "enterprise", "applicant_name": "",
        "id_code": ENTERPRISE_ID, "phone": "0797-8123456", "address": "赣州市宁都县梅江镇", "present": ["M02"],
        "agent_name": "李四", "file_0": (io.BytesIO(TINY_PDF), "营业执照.pdf", "application/pdf")})
    # the browser is sent to a GET: reloading it shows the page again and never asks to send the form again
    assert r.status_code == 303, r.status_code
    location = r.headers["Location"]
    assert location.split("?")[0].endswith(path) and location.endswith("#error-summary")
    assert case_count(client) == 0
    for _ in range(2):  # the first view and a reload
        page = client.get(location.split("#")[0])
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'id="error-summary"' in html and "请填写申请人名称" in html
        assert 'value="0797-8123456"' in html and 'value="赣州市宁都县梅江镇"' in html and 'value="李四"' in html
        assert re.search(r'value="M02"[^>]*checked', html) and re.search(r'value="M01"[^>]*checked', html)
        assert len(_drafts(html, "M01")) == 1 and "营业执照.pdf" in html
    # sent again from that page with the name: the case has the held file, the kept input is used up
    token = _drafts(html, "M01")[0]
    kept = re.search(r'name="kept" value="([0-9a-f]{32})"', html).group(1)
    r = client.post(path, data={"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise",
                                "applicant_name": "赣州示范贸易有限公司", "id_code": ENTERPRISE_ID,
                                "phone": "0797-8123456", "present": ["M02"], "draft": [token], "kept": kept})
    assert r.status_code == 302 and "/window/cases/" in r.headers["Location"]
    assert case_count(client) == 1
    assert "请填写申请人名称" not in client.get(location.split("#")[0]).get_data(as_text=True)


def test_another_clerks_kept_intake_is_not_shown(client):
    log_in(client, WINDOW)
    path = f"/window/new/{DIRECT}"
    r = client.post(path, data={"csrf_token": csrf_token(client, path), "applicant_kind": "enterprise",
                                "applicant_name": "", "id_code": ENTERPRISE_ID, "phone": "13800000000"})
    location = r.headers["Location"].split("#")[0]
    other = client.application.test_client()
    log_in(other, "window-360702")
    page = other.get(location)
    if page.status_code == 200:  # the item is delegated there too: an empty form, nothing of the other clerk's
        assert "13800000000" not in page.get_data(as_text=True)
    else:
        assert page.status_code == 404


# -- only what the domain allows is offered: 补交材料 and 出件 (delegation.case_rules) ------------------------------

def _build(client, item_code: str, present, steps) -> str:
    """A case of `item_code` registered with `present`, taken through `steps` ((username | None, action, payload);
    None runs the exchange bus) by the domain's services, as the users and the bus would."""
    from app.extensions import db
    from delegation import cases
    from tests.integration import factories
    from tests.integration.support import ENTERPRISE, run_bus

    with client.application.app_context():
        item = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one()
        case = cases.create_case(factories.window(), item_code, dict(ENTERPRISE),
                                 [{"code": m.code, "present": m.code in present} for m in item.materials])
        case_no = case.case_no
        db.session.commit()
        for username, action, payload in steps:
            if username is None:
                run_bus()
            else:
                cases.perform(factories.actor(username), case_no, action, payload)
                db.session.commit()
        db.session.remove()
    return case_no


def _api_act(client, case_no, action, **payload):
    from tests.integration.support import Api

    with client.application.app_context():
        return Api(client.application.test_client()).post(
            f"/api/v1/cases/{case_no}/actions", user=WINDOW, json={"action": action, **payload})


def _offered(page: str) -> set[str]:
    return set(re.findall(r'actions/([a-z_]+)"', page))


def _choices(page: str, name: str) -> list[str]:
    form = page[page.index(f"actions/{name}\""):]
    form = form[:form.index("</form>")]
    return re.findall(r'name="materials"[^>]*value="([^"]+)"', form) or re.findall(
        r'value="([^"]+)"[^>]*name="materials"', form)


TO_THE_CITY = [(WINDOW, "accept", {}), (None, None, None)]
DECIDED_BY_CITY = [(None, None, None), ("city-approver", "approve", {}), (None, None, None)]


def test_hand_out_waits_for_an_open_commitment_and_only_its_materials_are_offered(client):
    # 电梯 (delegated review, 容缺): M01–M04 core, M05 and M06 non-core required, M07 optional
    steps = [(WINDOW, "accept_with_commitment", {}),
             ("review-360730", "review", {"opinion": "符合条件", "recommendation": "approve"}), *DECIDED_BY_CITY]
    case_no = _build(client, COMMITMENT, ["M01", "M02", "M03", "M04"], steps)
    log_in(client, WINDOW)
    path = f"/window/cases/{case_no}"
    page = client.get(path).get_data(as_text=True)
    assert "hand_out" not in _offered(page)  # the commitment is open: 出件 cannot be done
    assert "容缺承诺的材料尚未补齐" in page  # and the page says why
    assert sorted(_choices(page, "supply_materials")) == ["M05", "M06"]  # not the optional M07
    r = _api_act(client, case_no, "supply_materials", materials=["M07"])
    assert r.status_code == 409 and r.get_json()["code"] == "supply_not_possible"
    act(client, case_no, "supply_materials", materials=["M05", "M06"])
    page = client.get(path).get_data(as_text=True)
    assert "hand_out" in _offered(page) and "supply_materials" not in _offered(page)


def test_no_supply_after_a_decision_without_commitment_nor_to_a_returned_forward(client):
    # 起重机械 (forward only): M01–M05 core and required, M06 optional and not brought
    decided = _build(client, FORWARD_ONLY, ["M01", "M02", "M03", "M04", "M05"], TO_THE_CITY + DECIDED_BY_CITY[1:])
    returned = _build(client, FORWARD_ONLY, ["M01", "M02", "M03", "M04", "M05"],
                      TO_THE_CITY + [("city-approver", "return", {"reasons": ["扫描件不清晰"]}), (None, None, None)])
    log_in(client, WINDOW)
    for case_no, state in ((decided, "decided"), (returned, "returned")):
        assert db_case(client, case_no)["state"] == state
        page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
        assert "supply_materials" not in _offered(page), state
        r = _api_act(client, case_no, "supply_materials", materials=["M06"])
        assert r.status_code == 409 and r.get_json()["code"] == "supply_not_possible", (state, r.get_json())
        assert db_case(client, case_no)["materials"]["M06"] == (False, False)
    assert "resubmit" in _offered(client.get(f"/window/cases/{returned}").get_data(as_text=True))


def test_materials_supplied_while_the_city_holds_the_case_reach_it(client):
    from app.extensions import db
    from exchange.models import OutboxMessage

    suspend = ("city-approver", "suspend", {"kind": "expert_review", "expected_end": "2030-01-01"})
    suspended = _build(client, FORWARD_ONLY, ["M01", "M02", "M03", "M04", "M05"], TO_THE_CITY + [suspend])
    forwarded = _build(client, FORWARD_ONLY, ["M01", "M02", "M03", "M04", "M05"], [(WINDOW, "accept", {})])
    log_in(client, WINDOW)
    for case_no, state in ((forwarded, "forwarded"), (suspended, "suspended")):
        assert db_case(client, case_no)["state"] == state
        assert "supply_materials" in _offered(client.get(f"/window/cases/{case_no}").get_data(as_text=True))
        act(client, case_no, "supply_materials", materials=["M06"])
        with client.application.app_context():
            sent = db.session.execute(sa.select(OutboxMessage.id).filter_by(case_no=case_no, type="case.supplement")
                                      ).first()
            db.session.remove()
        assert sent is not None, state


# -- English mode: no Chinese punctuation around translated words ---------------------------------------------------

FULL_WIDTH = "（）：，。、；"
CJK = re.compile(r"[\u3400-\u9fff]")


def _visible(page: str) -> str:
    main = page[page.index("<main"):page.rindex("</main>")]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).replace("&#34;", '"').replace("&#39;", "'")


def _stray_punctuation(text: str) -> list[str]:
    """Full-width punctuation that is not part of Chinese data (特种设备使用登记（起重机械） stays as it is): a bracket
    must hold Chinese on its inner side, any other mark needs Chinese on both sides."""
    def chinese(char: str) -> bool:
        return bool(char) and (bool(CJK.match(char)) or char in FULL_WIDTH)

    stray = []
    for match in re.finditer(f"[{FULL_WIDTH}]", text):
        left, right = text[:match.start()].rstrip()[-1:], text[match.end():].lstrip()[:1]
        ok = {"（": chinese(right), "）": chinese(left)}.get(match.group(), chinese(left) and chinese(right))
        if not ok:
            stray.append(text[max(0, match.start() - 30):match.end() + 30])
    return stray


def test_window_pages_in_english_have_no_chinese_punctuation_nor_emoji(client):
    log_in(client, WINDOW)
    client.get("/lang/en?next=/window")
    case_no = _build(client, COMMITMENT, ["M01", "M02", "M03", "M04"], [(WINDOW, "accept_with_commitment", {})])
    path = f"/window/new/{DIRECT}"
    r = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "applicant_kind": "enterprise", "applicant_name": "",
        "id_code": ENTERPRISE_ID, "phone": "0797-8123456", "agent_name": "Li Si",
        "file_0": (io.BytesIO(TINY_PDF), "licence.pdf", "application/pdf")})
    pages = {"intake refused": client.get(r.headers["Location"].split("#")[0]).get_data(as_text=True),
             "desk": client.get("/window?queue=commitment").get_data(as_text=True),
             "case": client.get(f"/window/cases/{case_no}").get_data(as_text=True),
             "pick item": client.get("/window/new").get_data(as_text=True)}
    assert "licence.pdf" in pages["intake refused"] and "Applicant name" in pages["intake refused"]
    for name, page in pages.items():
        assert '<html lang="en"' in page, name
        assert "📎" not in page, name
        assert _stray_punctuation(_visible(page)) == [], name


# -- one compact 待我处理 card on each desk ------------------------------------------------------------------------

@pytest.mark.parametrize("username,path", [(WINDOW, "/window"), ("review-360730", "/review"),
                                           ("city-approver", "/city")])
def test_each_desk_has_one_needs_me_card_holding_the_queues_and_consultations(client, username, path):
    log_in(client, username)
    page = client.get(path).get_data(as_text=True)
    assert page.count('data-testid="needs-me"') == 1, path
    card = page[page.index('data-testid="needs-me"'):]
    card = card[:card.index("</section>")]
    for part in ('data-testid="needs-me-total"', 'data-testid="consultation-desk"', "/consultations"):
        assert part in card, (path, part)
    if 'data-testid="assignment-queues"' in page:  # a user in a unit: its queues are in the card too
        assert 'data-testid="assign-count-mine"' in card and 'data-testid="stand-ins-link"' in card, path
    # nothing of it left as a card or a bare line of its own
    assert 'class="card assignment-queues"' not in page and 'class="desk-consultation"' not in page, path
