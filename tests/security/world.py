"""One application and one database for the security suite: the seven roles signed in (a bearer token for the API,
a logged-in browser-like client for the pages), and real objects of two counties to fill every URL parameter with.

Built once per test module (on SQLite, like tests/conftest.py's `app`): a refused request changes nothing, so the
cells of the matrix can share it; `fingerprint()` says whether anything did change.

Own county 360730 (宁都县) is the county of the county-level users; 360702 (章贡区) is "another county"."""
from __future__ import annotations

import hashlib
import io
import re
import shutil
import sqlite3
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from tests.conftest import make_app

OWN, OTHER = "360730", "360702"
SCOPES = ("own", "other")
# Objects that do not exist (numbers of the other county's kind): another county's object must answer like these.
MISSING = {"case_no": f"{OTHER}-2026-999999", "decided_case_no": f"{OTHER}-2026-999998", "file_id": 999999,
           "push_id": 999999, "check_id": 999999, "entry_id": 999999, "follow_up_id": 999999,
           "licence_no": f"{OTHER}XK2026999999"}

# role -> demo account (password `demo`); anonymous has none
USERS = {
    "anonymous": None,
    "window": f"window-{OWN}",
    "reviewer": f"review-{OWN}",
    "county_regulator": f"reg-{OWN}",
    "city_approver": "city-approver",
    "city_regulator": "reg-city",
    "admin": "admin",
    "county_admin": f"admin-{OWN}",  # 县级管理员 (issue 18): its county's dashboard and cases, nothing else
}
ROLES = tuple(USERS)
STAFF = frozenset(ROLES) - {"anonymous"}
COUNTY_LEVEL = frozenset({"window", "reviewer", "county_regulator", "county_admin"})
CITY_LEVEL = frozenset({"city_approver", "city_regulator", "admin"})

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
APPLICANT = {"kind": "enterprise", "name": "赣州市矩阵测试有限公司", "id_code": "91350100M000100Y43",
             "phone": "0797-8123456"}
# Tables whose rows a refused request may legitimately touch: the attempt counters of the throttles.
VOLATILE_TABLES = frozenset({"rate_counter", "alembic_version"})


@dataclass
class World:
    app: object
    database: str  # the SQLite file
    tokens: dict = field(default_factory=dict)  # role -> bearer token
    pages: dict = field(default_factory=dict)  # role -> logged-in test client (anonymous: a fresh one)
    params: dict = field(default_factory=dict)  # scope -> {object name -> value}
    _csrf: dict = field(default_factory=dict)
    _reader: sqlite3.Connection | None = None
    _version: int | None = None
    _digests: dict = field(default_factory=dict)

    def api_client(self):
        return self.app.test_client()

    def csrf(self, role: str) -> str:
        """A CSRF token valid in this role's page session (read from a page that carries a form)."""
        if role not in self._csrf:
            self._csrf[role] = self._read_csrf(role)
        return self._csrf[role]

    def _read_csrf(self, role: str) -> str:
        client = self.pages[role]
        page = client.get("/login" if role == "anonymous" else "/", follow_redirects=True).get_data(as_text=True)
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert match, f"no CSRF token on the landing page of {role}"
        return match.group(1)

    def fingerprint(self) -> dict[str, str]:
        """table -> digest of all its rows, for every table a request could change. Taken around every refused
        cell, so kept cheap: the rows are read again only when SQLite says another connection has committed
        since the last reading (PRAGMA data_version)."""
        if self._reader is None:
            self._reader = sqlite3.connect(self.database, isolation_level=None)
        version = self._reader.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._version, self._digests = version, self._digest_all()
        return self._digests

    def _digest_all(self) -> dict[str, str]:
        conn = self._reader
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                 if n not in VOLATILE_TABLES]
        return {n: hashlib.sha256(repr(conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall()).encode())
                .hexdigest() for n in names}


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


# -- building the world ------------------------------------------------------------------------------------------

def _api(world: World):
    from tests.integration.support import Api

    return Api(world.app.test_client())


def _item(api, mode: str) -> dict:
    items = api.get(f"/api/v1/items?mode={mode}", user=USERS["window"]).get_json()
    # a department of the city-approver bureau's, with materials to upload against
    return next(i for i in items if i["materials"] and i["department_code"] != "360700-sec-ecology")


def _create(api, item: dict, county: str) -> str:
    body = {"item_code": item["code"], "applicant": APPLICANT,
            "materials": [{"code": m["code"], "present": True} for m in item["materials"]]}
    r = api.post("/api/v1/cases", user=f"window-{county}", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def _upload(api, case_no: str, material: str, county: str) -> int:
    r = api.post(f"/api/v1/cases/{case_no}/files", user=f"window-{county}",
                 data={"material_code": material, "file": (io.BytesIO(PDF), "matrix.pdf")},
                 content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def _county_objects(api, county: str) -> dict:
    """A forward_only case in city review (with an uploaded file and an acceptance notice), a direct case
    approved by the county (its supervision push received by the county's regulators) and a spot check of it."""
    from tests.integration.support import run_bus

    window, reviewer = f"window-{county}", f"review-{county}"
    forward = _item(api, "forward_only")
    forwarded = _create(api, forward, county)
    file_id = _upload(api, forwarded, forward["materials"][0]["code"], county)
    api.act(forwarded, window, "accept")
    run_bus()
    assert api.case(forwarded, "city-approver")["state"] == "city_review"

    direct = _item(api, "direct")
    decided = _create(api, direct, county)
    api.act(decided, window, "accept")
    api.act(decided, reviewer, "review", opinion="材料真实完整，符合条件")
    licence_no = api.act(decided, reviewer, "approve")["decision"]["certificate_no"]
    run_bus()
    pushes = api.get(f"/api/v1/supervision/pushes?case_no={decided}", user="admin").get_json()["items"]
    assert len(pushes) == 1, pushes

    check = _spot_check(api, county, [f"reg-{county}", "reg-city"])
    thread_no, consultation_file_id = _consultation(window, forwarded)
    return {"thread_no": thread_no, "consultation_file_id": consultation_file_id,
            "follow_up_id": _follow_up(api, direct, county),
            "case_no": forwarded, "file_id": file_id, "decided_case_no": decided, "push_id": pushes[0]["id"],
            "check_id": check["id"], "entry_id": check["entries"][0]["id"], "kind": "acceptance",
            "action": "accept", "intake_item": forward["code"], "material_code": forward["materials"][0]["code"],
            "delegation_item": direct["code"],  # revoked and restored by the admin cells: not the intake item
            "licence_no": licence_no}


def _consultation(window: str, case_no: str) -> tuple[str, int]:
    """A 会商 the county's window opened about its forwarded case, with a file, delivered to the city (issue 15)."""
    from werkzeug.datastructures import FileStorage

    from app.extensions import db
    from delegation import consultation
    from delegation.actors import Actor
    from delegation.models import User
    from tests.integration.support import run_bus

    actor = Actor.for_user(db.session.execute(sa.select(User).filter_by(username=window)).unique().scalar_one())
    thread = consultation.open_thread(actor, subject="矩阵测试", text="矩阵测试", case_no=case_no,
                                      files=[FileStorage(io.BytesIO(PDF), "matrix.pdf", content_type="application/pdf")])
    db.session.commit()
    run_bus()
    return thread.thread_no, thread.messages[0].files[0].id


def _follow_up(api, item: dict, county: str) -> int:
    """The 差评整改 task of a direct case of the county, concluded and rated 不满意 (issue 15): the county bureau's."""
    from app.extensions import db
    from delegation import ratings
    from delegation.follow_up_models import RatingFollowUp

    r = api.post("/api/v1/cases", user=f"window-{county}", json={
        "item_code": item["code"], "applicant": APPLICANT,
        "materials": [{"code": m["code"], "present": True} for m in item["materials"]]})
    assert r.status_code == 201, r.get_json()
    case_no, code = r.get_json()["case_no"], r.get_json()["query_code"]
    api.act(case_no, f"window-{county}", "accept")
    api.act(case_no, f"review-{county}", "review", opinion="材料真实完整，符合条件")
    api.act(case_no, f"review-{county}", "approve")
    api.act(case_no, f"window-{county}", "hand_out", method="pickup")
    ratings.rate(case_no, code, 2, "矩阵测试")
    db.session.commit()
    return db.session.execute(sa.select(RatingFollowUp.id).filter_by(case_no=case_no)).scalar_one()


def _spot_check(api, county: str, pool: list[str]) -> dict:
    r = api.post("/api/v1/spot-checks", user="admin",
                 json={"county": county, "mode": "direct", "count": 1, "seed": f"matrix-{county}-{len(pool)}",
                       "inspector_pool": pool})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _shared_objects(api) -> dict:
    """Objects of no county: a published spot check, an exchange message, a member of staff to administer."""
    from app.auth import hash_password
    from app.extensions import db
    from delegation.models import Org, User
    from exchange.models import OutboxMessage

    published = _spot_check(api, OWN, [f"reg-{c}" for c in ("360731", "360732")])
    assert api.post(f"/api/v1/spot-checks/{published['id']}/publish", user="admin").status_code == 200
    message = db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars().first()
    org = db.session.execute(sa.select(Org).filter_by(code=f"{OWN}-bureau")).scalar_one()
    target = User(username="matrix-target", display_name="矩阵测试对象", role="window", org_id=org.id,
                  password_hash=hash_password("matrix-target-password"))
    db.session.add(target)
    db.session.commit()
    return {"published_check_id": published["id"], "message_id": message.message_id, "direction": "out",
            "row_id": message.id, "user_id": target.id, "what_user": "deactivate", "dimension": "county",
            "username": target.username,
            "day": "2031-10-09", "year": 2031, "what_year": "complete", "code": "zh",
            "static": "css/app.css", "swagger": "swagger-ui.css"}


def build_world(sqlite_template, tmp_path) -> World:
    from app.auth import issue_token
    from app.extensions import db
    from delegation.models import User
    from tests.integration.pages import log_in

    target = tmp_path / "matrix.db"
    shutil.copy(sqlite_template, target)
    app = make_app(f"sqlite:///{target}", tmp_path / "instance")
    world = World(app, str(target))
    with app.app_context():
        api = _api(world)
        objects = {county: _county_objects(api, county) for county in (OWN, OTHER)}
        shared = _shared_objects(api)
        world.params = {"own": {**shared, **objects[OWN]}, "other": {**shared, **objects[OTHER]}}
        world.params["missing"] = {**world.params["other"], **MISSING}
        for role, username in USERS.items():
            if username:
                user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
                world.tokens[role] = issue_token(user)
        db.session.remove()
    for role, username in USERS.items():
        client = app.test_client()
        if username:
            log_in(client, username)
        world.pages[role] = client
    return world


def dispose(world: World) -> None:
    from app.extensions import db

    if world._reader is not None:
        world._reader.close()
    with world.app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def world(sqlite_template, tmp_path_factory):
    built = build_world(sqlite_template, tmp_path_factory.mktemp("security-world"))
    yield built
    dispose(built)
