"""现场踏勘 records (issue 17): the organisation holding a case suspended for a site inspection records who went, when,
where, what was found, the conclusion and photographs (images only, checked by content, stored 0600 under their
digest, bounded); the record shows on the case page, its photos only to those who see the case; it travels with the
case's forward to the city. Bad input names its field and records nothing. Through the API and the case page."""
from __future__ import annotations

import io
import stat
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from delegation.deadlines import SHANGHAI
from delegation.inspection_models import SiteInspection
from delegation.models import Case, CaseEvent
from delegation.workflow import Mode, State
from persistence import utcnow
from tests.integration.factories import make_case
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY, OTHER_COUNTY, Api, Node
from tests.integration.test_two_nodes import nodes, pump, sftp  # noqa: F401  (two nodes over a real sshd)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(100))
PDF = b"%PDF-1.4\n%test\n"
REVIEWER = f"review-{COUNTY}"


def _when() -> str:
    return (utcnow() - timedelta(minutes=1)).isoformat()  # the factory's case was accepted a moment ago


def _form(**over):
    data = {"inspectors": ["李明", "王芳"], "inspected_at": _when(), "place": "宁都县梅江镇工业园 3 号厂房",
            "findings": "生产场所与申报一致，消防通道畅通", "conclusion": "conforms"}
    data.update(over)
    return data


def _post(api, case_no, user=REVIEWER, photos=(), **over):
    data = _form(**over)
    data["photos"] = [(io.BytesIO(content), name) for name, content in photos]
    return api.client.post(f"/api/v1/cases/{case_no}/inspections", data=data, content_type="multipart/form-data",
                           headers=api._headers(user, "zh-CN"))


def _suspended(mode=Mode.DIRECT, county=COUNTY) -> str:
    case = make_case(State.SUSPENDED, mode, county=county)  # suspended for a site inspection at the county bureau
    db.session.commit()
    return case.case_no


def _recorded(case_no: str) -> tuple[int, int]:
    db.session.expire_all()
    case = db.session.execute(sa.select(Case).filter_by(case_no=case_no)).unique().scalar_one()
    inspections = db.session.execute(sa.select(sa.func.count()).select_from(SiteInspection)
                                     .filter_by(case_id=case.id)).scalar_one()
    lines = db.session.execute(sa.select(sa.func.count()).select_from(CaseEvent)
                               .filter_by(case_id=case.id, action="site_inspection")).scalar_one()
    return inspections, lines


def test_the_holder_records_an_inspection_with_photos_that_only_those_who_see_the_case_can_view(app, client):
    api = Api(client)
    case_no = _suspended()
    r = _post(api, case_no, photos=[("厂房外景.png", PNG), ("车间.jpg", JPEG)])
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["inspectors"] == ["李明", "王芳"] and body["conclusion"] == "conforms"
    assert [p["media_type"] for p in body["photos"]] == ["image/png", "image/jpeg"]
    assert _recorded(case_no) == (1, 1)

    listed = api.get(f"/api/v1/cases/{case_no}/inspections", user=f"window-{COUNTY}").get_json()
    assert listed[0]["place"] == "宁都县梅江镇工业园 3 号厂房"
    photo = body["photos"][0]
    r = api.get(f"/api/v1/cases/{case_no}/inspections/photos/{photo['id']}", user=f"window-{COUNTY}")
    assert r.status_code == 200 and r.data == PNG and r.mimetype == "image/png"
    # another county's staff do not see the case, nor its photos
    r = api.get(f"/api/v1/cases/{case_no}/inspections/photos/{photo['id']}", user=f"window-{OTHER_COUNTY}")
    assert r.status_code == 404
    # stored under its digest, readable by the owner only
    from exchange.bus import get_bus

    path = get_bus().blobs.path(photo["sha256"])
    assert path.name == photo["sha256"] and stat.S_IMODE(path.stat().st_mode) == 0o600
    # the case is still suspended: recording changes no state
    assert api.case(case_no)["state"] == "suspended"


def test_recording_when_resuming_ends_the_suspension_in_the_same_step(app, client):
    api = Api(client)
    case_no = _suspended()
    r = _post(api, case_no, resume="true", conclusion="rectify", inspectors="李明、王芳，赵强")  # one field, as typed
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["inspectors"] == ["李明", "王芳", "赵强"]
    assert api.case(case_no)["state"] == "county_review"
    assert _recorded(case_no) == (1, 1)


def test_bad_input_names_its_field_and_records_nothing(app, client):
    api = Api(client)
    case_no = _suspended()
    cases = [
        ({"inspectors": []}, (), "inspectors"),
        ({"inspected_at": (utcnow() + timedelta(days=1)).isoformat()}, (), "inspected_at"),
        ({"inspected_at": "昨天"}, (), "inspected_at"),
        ({"place": "  "}, (), "place"),
        ({"findings": ""}, (), "findings"),
        ({"conclusion": "fine"}, (), "conclusion"),
        ({}, [("scan.pdf", PDF)], "photos"),  # a PDF is no photograph
        ({}, [("fake.png", b"GIF89a" + bytes(20))], "photos"),  # content checked, not the name
        ({}, [(f"p{i}.png", PNG) for i in range(10)], "photos"),  # at most 9
    ]
    for over, photos, field in cases:
        r = _post(api, case_no, photos=photos, resume="true", **over)
        assert r.status_code == 422, (over, r.get_json())
        assert r.get_json()["field"] == field, (over, r.get_json())
        assert r.get_json()["detail"] and "Traceback" not in r.get_json()["detail"]
    assert _recorded(case_no) == (0, 0)
    assert api.case(case_no)["state"] == "suspended"  # the resume asked for did not happen either


def test_only_the_holder_of_a_case_suspended_for_a_site_inspection_records_one(app, client):
    api = Api(client)
    case_no = _suspended()
    assert _post(api, case_no, user=f"window-{COUNTY}").status_code == 403  # the window does not hold it
    assert _post(api, case_no, user=f"review-{OTHER_COUNTY}").status_code == 404  # another county's case
    assert _post(api, case_no, user="city-approver").status_code == 404  # a direct case the city never sees
    other = make_case(State.COUNTY_REVIEW, Mode.DIRECT)
    db.session.commit()
    r = _post(api, other.case_no)
    assert r.status_code == 409 and r.get_json()["code"] == "not_site_inspection"
    api.act(other.case_no, REVIEWER, "suspend", kind="expert_review",
            expected_end=(utcnow() + timedelta(days=10)).date().isoformat())
    assert _post(api, other.case_no).status_code == 409  # an expert review is no site inspection
    assert _recorded(case_no) == (0, 0) and _recorded(other.case_no) == (0, 0)


def test_the_record_travels_with_the_forward_to_the_city(app, client):
    """A delegated-review case inspected at the county: the forward carries the record and its photos (the XML
    body validated against the XSD on sending), and the city approver sees them on its case."""
    api = Api(client)
    case_no = _suspended(Mode.DELEGATED_REVIEW)
    assert _post(api, case_no, photos=[("外景.png", PNG)], resume="true").status_code == 201
    api.act(case_no, REVIEWER, "review", opinion="经现场踏勘，符合条件", recommendation="approve")
    from exchange.models import OutboxMessage

    message = db.session.execute(sa.select(OutboxMessage).filter_by(type="case.forward", case_no=case_no)
                                 ).scalar_one()
    text = message.raw.decode()  # the signed XML, validated against the XSD when it was written
    assert "<SiteInspection " in text and "<PhotoSha256>" in text and "外景.png" in text
    assert len(message.attachments) == 1 + sum(1 for line in text.splitlines() if "<FileSha256>" in line) \
        or any(a["sha256"] in text for a in message.attachments)
    from tests.integration.support import run_bus

    run_bus()
    listed = api.get(f"/api/v1/cases/{case_no}/inspections", user="city-approver").get_json()
    assert len(listed) == 1 and listed[0]["photos"][0]["name"] == "外景.png"  # on one node: the very record


def test_the_case_page_shows_the_form_records_and_says_a_refusal(client):  # noqa: F811
    app = client.application
    with app.app_context():
        case_no = _suspended()
    local = (utcnow() - timedelta(minutes=1)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")  # datetime-local
    log_in(client, REVIEWER)
    for path in (f"/cases/{case_no}", f"/review/cases/{case_no}"):  # the case page and the desk's work page
        assert 'data-testid="inspection-form"' in client.get(path).get_data(as_text=True)
    token = csrf_token(client, f"/cases/{case_no}")
    form = {"inspectors": "李明、王芳", "inspected_at": local, "place": "宁都县梅江镇工业园",
            "findings": "场地与申报一致", "conclusion": "conforms", "csrf_token": token}
    r = client.post(f"/cases/{case_no}/inspections", data={**form, "place": ""},
                    content_type="multipart/form-data")
    assert r.status_code == 303
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "请填写踏勘地点" in page
    with app.app_context():
        assert _recorded(case_no) == (0, 0)
    r = client.post(f"/cases/{case_no}/inspections",
                    data={**form, "photos": [(io.BytesIO(PNG), "外景.png")]}, content_type="multipart/form-data")
    assert r.status_code == 303
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "现场踏勘记录已登记" in page and "场地与申报一致" in page and "符合要求" in page
    assert 'data-testid="inspection-photo"' in page
    with app.app_context():
        photo_id = db.session.execute(sa.text("SELECT id FROM site_inspection_photo")).scalar_one()
    r = client.get(f"/cases/{case_no}/inspections/photos/{photo_id}")
    assert r.status_code == 200 and r.data == PNG
    client.post("/logout", data={"csrf_token": csrf_token(client, f"/cases/{case_no}")})
    log_in(client, f"window-{OTHER_COUNTY}")
    assert client.get(f"/cases/{case_no}/inspections/photos/{photo_id}").status_code == 404


def test_the_record_and_its_photos_reach_a_separate_city_node_and_the_city_records_its_own(nodes, sftp):
    """County 360730 and the city on nodes of their own over SFTP: the county's record travels with the forward
    (XML), its photo as an attachment, not as a material file; the city records its own inspection there."""
    county, city = Node(nodes[0]), Node(nodes[1])
    window, reviewer = f"window-{COUNTY}", REVIEWER
    with county.ctx():
        item = county.api.item("delegated_review")
        case_no = county.api.create(item)["case_no"]
    county.act(case_no, window, "accept")
    county.act(case_no, reviewer, "suspend", kind="site_inspection",
               expected_end=(utcnow() + timedelta(days=10)).date().isoformat())
    with county.ctx():
        r = _post(county.api, case_no, photos=[("厂房外景.png", PNG)], resume="true")
        assert r.status_code == 201, r.get_json()
    county.act(case_no, reviewer, "review", opinion="经现场踏勘，符合条件", recommendation="approve")
    pump(county, city)

    at_city = city.case(case_no, "city-approver")
    assert at_city["state"] == "city_review"
    assert all(f["original_name"] != "厂房外景.png" for f in at_city["files"])  # a photo is no material file
    records = city.get(f"/api/v1/cases/{case_no}/inspections", "city-approver")
    assert [(r["inspectors"], r["place"], r["conclusion"]) for r in records] == [
        (["李明", "王芳"], "宁都县梅江镇工业园 3 号厂房", "conforms")]
    photo = records[0]["photos"][0]
    with city.ctx():
        r = city.api.get(f"/api/v1/cases/{case_no}/inspections/photos/{photo['id']}", user="city-approver")
        assert r.status_code == 200 and r.data == PNG

    # held at the city, the city records its own inspection there
    city.act(case_no, "city-approver", "suspend", kind="site_inspection",
             expected_end=(utcnow() + timedelta(days=10)).date().isoformat())
    with city.ctx():
        r = _post(city.api, case_no, user="city-approver", place="赣州市章贡区复核现场", conclusion="rectify")
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["org"].startswith("360700")
    assert len(city.get(f"/api/v1/cases/{case_no}/inspections", "city-approver")) == 2


def test_the_archive_of_a_concluded_case_keeps_its_inspection_and_photos(app, client):
    import json
    import zipfile

    from supervision.archive import ArchivePackage
    from tests.integration.support import run_bus

    api = Api(client)
    case_no = _suspended()
    assert _post(api, case_no, photos=[("厂房外景.png", PNG)], resume="true").status_code == 201
    api.act(case_no, REVIEWER, "review", opinion="经现场踏勘，符合条件")
    api.act(case_no, REVIEWER, "approve")
    api.act(case_no, f"window-{COUNTY}", "hand_out", method="pickup")
    run_bus(3)
    db.session.commit()
    assert app.test_cli_runner().invoke(args=["archive", "build"]).exit_code == 0
    package = db.session.execute(sa.select(ArchivePackage).filter_by(case_no=case_no)).scalar_one()
    from pathlib import Path

    with zipfile.ZipFile(Path(app.instance_path) / "archives" / package.file_name) as zf:
        record = json.loads(zf.read("documents/site-inspection-1.json"))
        assert record["place"] == "宁都县梅江镇工业园 3 号厂房" and record["inspectors"] == ["李明", "王芳"]
        assert zf.read("documents/site-inspection-1-photo-1.png") == PNG
