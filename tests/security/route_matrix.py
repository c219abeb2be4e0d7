"""The authorisation matrix: ONE table that says, for every route of the application (rule + method, as
`app.url_map` lists them), who may use it and what everybody else gets.

Reading an entry:
- `allow`: the roles that may use the route on their own organisation's objects ("public": everyone, signed in or
  not). Roles are those of world.USERS: anonymous, window, reviewer, county_regulator, city_approver,
  city_regulator, admin.
- Everyone else who is signed in gets one of `refused` (default 403; 404 where the object is simply not theirs to
  see). Anonymous callers get 401 from the API and a redirect to /login from a page.
- `scoped`: the URL (or the body) names an object of one county. Each cell is then tried on an object of the
  caller's own county (360730) and of another county (360702). On the other county's object only the roles in
  `other` may succeed (default: the city-level roles among `allow`, who serve every county); anyone else gets
  403 or 404, never 200, and nothing changes.
- `params`: which world object fills a URL parameter when it is not the one of the same name (world.py).
- `body`: the request a caller sends: a valid one, so that only the authorisation stands between a forbidden caller
  and the effect. A function of the scope's objects, or a dict.
- `ok`: what a permitted caller may get (default: 200 for GET; for a change 2xx, a redirect that is not to the login
  page, or 409/422 when the object's state or the minimal body does not suit).

A route in url_map without an entry here, or an entry without a route, fails the suite: a new route is classified
before it ships."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable

from tests.security.world import APPLICANT, CITY_LEVEL, OWN, PDF, ROLES, STAFF

PUBLIC = frozenset(ROLES)
CASE_READERS = frozenset({"window", "reviewer", "city_approver", "admin", "county_admin"})  # visible_filter
CASE_WORKERS = frozenset({"window", "reviewer", "city_approver"})  # who is assigned cases (delegation.assignment)
CITY_STAFF = frozenset({"city_approver", "city_regulator", "admin"})  # statistics and the dashboard
STATS_VIEWERS = CITY_STAFF | {"county_admin"}  # the dashboard and /api/v1/stats: a county admin its county's only
REGULATORS = frozenset({"county_regulator", "city_regulator"})
HIDDEN = frozenset({403, 404})
CHANGE_OK = frozenset({200, 201, 302, 303, 409, 422})
SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    allow: frozenset
    refused: frozenset = frozenset({403})
    scoped: bool = False
    other: frozenset | None = None
    params: dict = field(default_factory=dict)
    body: Callable | dict | None = None
    query: str = ""
    ok: frozenset | None = None
    multipart: bool = False

    def allowed(self, role: str, scope: str) -> bool:
        if scope == "own" or not self.scoped:
            return role in self.allow
        other = self.other if self.other is not None else self.allow & CITY_LEVEL
        return role in other

    def refusal(self, role: str, scope: str) -> frozenset:
        return HIDDEN if self.scoped and scope == "other" else self.refused


def route(*roles, **kw) -> Route:
    allow = PUBLIC if roles == ("public",) else frozenset().union(*(r if isinstance(r, frozenset) else {r}
                                                                  for r in roles))
    return Route(allow=allow, **kw)


def _of(*roles) -> frozenset:
    return frozenset(roles)


# -- request bodies (valid ones) ---------------------------------------------------------------------------------

def _case_create(p):
    return {"item_code": p["intake_item"], "applicant": APPLICANT, "materials": []}


def _credit_record(p):
    return {"id_code": APPLICANT["id_code"], "name": APPLICANT["name"], "case_no": p["decided_case_no"],
            "detail": "矩阵测试：告知承诺不实"}


def _intake(p):
    return {"item_code": p["intake_item"], **{f"applicant.{k}": v for k, v in APPLICANT.items()},
            "materials": [p["material_code"]], f"files.{p['material_code']}": (io.BytesIO(PDF), "matrix.pdf")}


def _upload(p):
    return {"material_code": p["material_code"], "file": (io.BytesIO(PDF), "matrix.pdf")}


def _inspection(p):
    return {"inspectors": "矩阵测试", "inspected_at": "2026-01-05T09:00", "place": "矩阵测试",
            "findings": "矩阵测试", "conclusion": "conforms"}


_DELEGATION = {"item_code": None, "county": OWN, "reason": "矩阵测试"}


def _delegation(p):
    return {**_DELEGATION, "item_code": p["delegation_item"]}


_FEEDBACK = {"kind": "inspection", "date": "2026-01-05", "result": "现场检查未发现问题"}
_SPOT_CHECK = {"county": OWN, "mode": "direct", "count": 1, "seed": "matrix-draw",
               "inspector_pool": [f"reg-{OWN}", "reg-city"]}

# -- THE TABLE ----------------------------------------------------------------------------------------------------

TABLE: dict[str, Route] = {
    # API: authentication and the catalogue
    "POST /api/v1/auth/token": route("public", body={}, ok=_of(422)),
    "GET /api/v1/items": route(STAFF),
    # API: cases
    "GET /api/v1/cases": route(STAFF),  # filtered: regulators get an empty list
    "POST /api/v1/cases": route("window", body=_case_create),
    "GET /api/v1/cases/<case_no>": route(CASE_READERS, refused=HIDDEN, scoped=True),
    "POST /api/v1/cases/<case_no>/actions": route("city_approver", refused=HIDDEN, scoped=True,
                                                  body={"action": "approve", "certificate_no": "MATRIX-1"}),
    "POST /api/v1/cases/<case_no>/files": route("window", refused=HIDDEN, scoped=True, body=_upload, multipart=True),
    # API: the pages' flows as one call (issue 13)
    "POST /api/v1/cases/intake": route("window", body=_intake, multipart=True),
    "POST /api/v1/cases/<case_no>/decide": route("reviewer", refused=HIDDEN, scoped=True,
                                                 body={"decision": "approve", "opinion": "矩阵测试"}),
    # API: 催办 (issue 15): the accepting window, the city administrator, the regulator supervising the item
    # (the world's case is forward_only: the city's regulators); the list, for whoever may read the case
    "POST /api/v1/cases/<case_no>/reminders": route("window", "admin", "city_regulator", refused=HIDDEN, scoped=True,
                                                    body={"comment": "矩阵测试"}),
    "GET /api/v1/cases/<case_no>/reminders": route(CASE_READERS, refused=HIDDEN, scoped=True),
    # API: 转办 (issue 15): the holder of the world's case (in city review: a city approver) passes it to another
    # section (422 when it is that section already); the county's roles and the admin hold no row for it
    "POST /api/v1/cases/<case_no>/transfer": route("city_approver", refused=HIDDEN, scoped=True,
                                                   body={"to_org": "360700-sec-ecology", "reason": "矩阵测试"}),
    # API: 现场踏勘 (issue 17): the holder of a case suspended for a site inspection (a county reviewer or a city
    # approver) records it (the world's case is in city review, not suspended: 409); the records and photos, for
    # whoever reads the case (the world holds no photo: 404 once the case is seen)
    "POST /api/v1/cases/<case_no>/inspections": route("reviewer", "city_approver", refused=HIDDEN, scoped=True,
                                                      body=_inspection, multipart=True),
    "GET /api/v1/cases/<case_no>/inspections": route(CASE_READERS, refused=HIDDEN, scoped=True),
    "GET /api/v1/cases/<case_no>/inspections/photos/<int:photo_id>": route(
        CASE_READERS, refused=HIDDEN, scoped=True, params={"photo_id": "file_id"}, ok=_of(404)),
    # API: 问责 (issue 17): the city administrator only; the world's row_id may name no record (404)
    "GET /api/v1/accountability": route("admin"),
    "GET /api/v1/accountability/<int:record_id>": route("admin", params={"record_id": "row_id"}, ok=_of(200, 404)),
    "POST /api/v1/accountability/<int:record_id>/handle": route("admin", params={"record_id": "row_id"},
                                                                body={"note": "矩阵测试"}, ok=CHANGE_OK | {404}),
    "POST /api/v1/accountability/<int:record_id>/proposal": route(
        "admin", params={"record_id": "row_id"}, body={"decision": "decline", "reason": "矩阵测试"},
        ok=CHANGE_OK | {404}),
    # API: 领取/分派 (issue 15): the staff who work cases (the world's case is at the city: the county's get 409,
    # the city approver claims it); who has it, for whoever may read the case
    "GET /api/v1/cases/<case_no>/assignment": route(CASE_READERS, refused=HIDDEN, scoped=True),
    "POST /api/v1/cases/<case_no>/assignment": route(CASE_WORKERS, refused=HIDDEN, scoped=True, body={}),
    "DELETE /api/v1/cases/<case_no>/assignment": route(CASE_WORKERS, refused=HIDDEN, scoped=True),
    "POST /api/v1/cases/batch-approve": route("city_approver", scoped=True,
                                              body=lambda p: {"case_nos": [p["case_no"]], "opinion": "矩阵测试"}),
    # API: 材料邮寄 (issue 19). The world's items need no originals (409 for the window); it holds no mailing, so
    # the city's receipt of one finds none (404), after the role and the county are checked
    "GET /api/v1/cases/<case_no>/originals": route(CASE_READERS, refused=HIDDEN, scoped=True),
    "POST /api/v1/cases/<case_no>/originals": route("window", refused=HIDDEN, scoped=True, ok=_of(409),
                                                    body={"courier": "EMS", "tracking_no": "EMS123456",
                                                          "materials": ["M01"]}),
    "POST /api/v1/cases/<case_no>/originals/<mailing_id>/receipt": route(
        "city_approver", refused=HIDDEN, scoped=True, params={"mailing_id": "case_no"}, ok=_of(404),
        body={"missing": []}),
    # API: delegations and credit records
    "GET /api/v1/delegations": route(STAFF, query=f"county={OWN}"),
    "GET /api/v1/delegations/history": route(STAFF, query=f"county={OWN}"),
    "POST /api/v1/delegations/revoke": route("admin", body=_delegation),
    "POST /api/v1/delegations/restore": route("admin", body=_delegation),
    # API: credit records' lifting and assistants (issue 17): the city administrators; a window reads its own
    # assistants. The world's row_id may name no credit record (404 once the role is admitted)
    "GET /api/v1/credit/records": route("admin"),
    "POST /api/v1/credit/records/<int:record_id>/lift": route("admin", params={"record_id": "row_id"},
                                                              body={"reason": "矩阵测试"}, ok=_of(200, 404)),
    "GET /api/v1/credit/assistants": route(STAFF),
    # API: 全市通办 (issue 17): a window registers for another county (the world's intake item is not flagged: 409)
    # and lists the counties; the administrator flags items; the figures for all staff but regulators
    "POST /api/v1/citywide/cases": route("window", body=lambda p: {**_case_create(p), "competent_county": "360702"}),
    "GET /api/v1/citywide/items/<item_code>/counties": route("window", params={"item_code": "intake_item"}),
    "PUT /api/v1/citywide/items/<item_code>": route("admin", params={"item_code": "intake_item"},
                                                    body={"citywide": False}),
    "GET /api/v1/citywide/statistics": route("window", "reviewer", "city_approver", "admin",
                                             "county_admin"),  # its own county's
    "PUT /api/v1/credit/assistants/<username>": route("admin", body={"assistant": True}),
    # API: 告知承诺, 即办件, 备案 decided at the window (issue 17 part A; the decisions are case actions): the items
    # for all staff; the administrator grants authorities; the regulators verify commitments (the world has none to
    # verify: 404 for them, 403 for the others before any look-up); the figures for the city level
    "GET /api/v1/window-decisions/items": route(STAFF),
    "PUT /api/v1/window-decisions/staff/<username>": route("admin", body={"authorities": []}),
    "GET /api/v1/window-decisions/commitment-checks": route(REGULATORS),
    "POST /api/v1/window-decisions/commitment-checks/<case_no>": route(REGULATORS, body={"result": "verified"},
                                                                       ok=CHANGE_OK | {404}),
    "GET /api/v1/window-decisions/stats": route(STATS_VIEWERS),
    "GET /api/v1/delegations/credit-records": route(STAFF, query=f"id_code={APPLICANT['id_code']}"),
    # issue 12 finding 3: a regulator records only against cases its organisation supervises (the direct case's
    # push goes to the county's regulators); free-standing records are the administrator's
    "POST /api/v1/delegations/credit-records": route("county_regulator", "admin", refused=HIDDEN, scoped=True,
                                                     body=_credit_record),
    # API: exchange operations (administrators)
    "GET /api/v1/exchange/messages": route("admin"),
    "GET /api/v1/exchange/messages/<any(in,out):direction>/<int:row_id>/raw": route("admin"),
    "GET /api/v1/exchange/dead-letters": route("admin"),
    "GET /api/v1/exchange/quarantine": route("admin"),
    "POST /api/v1/exchange/outbox/<message_id>/resend": route("admin"),
    # API: electronic licences (issue 16), the city administrator's (the admin cells revoke the world's licence)
    "GET /api/v1/licences/<licence_no>": route("admin"),
    "POST /api/v1/licences/<licence_no>/revoke": route("admin", body={"reason": "矩阵测试"}),
    "POST /api/v1/licences/revoke-for-finding": route("admin", body=lambda p: {"check_id": p["check_id"],
                                                                              "entry_id": p["entry_id"]}),
    # API: public services
    "POST /api/v1/public/cases/<case_no>/rating": route("public", body={}, ok=_of(422)),
    # API: spot checks (inspectors: the county's and the city's regulator are drawn for each county's check)
    "POST /api/v1/spot-checks": route("admin", body=_SPOT_CHECK),
    "GET /api/v1/spot-checks": route(REGULATORS, "admin"),
    "GET /api/v1/spot-checks/<int:check_id>": route(REGULATORS, "admin", refused=HIDDEN, scoped=True),
    "GET /api/v1/spot-checks/<int:check_id>/verify": route(REGULATORS, "admin", refused=HIDDEN, scoped=True),
    "POST /api/v1/spot-checks/<int:check_id>/entries/<int:entry_id>/finding": route(
        REGULATORS, "admin", refused=HIDDEN, scoped=True, body={"finding": "compliant", "note": "矩阵测试"}),
    "POST /api/v1/spot-checks/<int:check_id>/publish": route("admin", refused=HIDDEN, scoped=True),
    # API: statistics
    "GET /api/v1/stats/summary": route(STATS_VIEWERS),
    "GET /api/v1/stats/by/<dimension>": route(STATS_VIEWERS),
    "GET /api/v1/stats/export.csv": route(STATS_VIEWERS),
    "GET /api/v1/stats/export.xlsx": route(STATS_VIEWERS),
    # API: supervision (the direct case's push goes to the county's regulators)
    "GET /api/v1/supervision/alerts": route(STAFF),  # filtered to the caller's organisation
    "GET /api/v1/supervision/cases/<case_no>": route("reviewer", "admin", refused=HIDDEN, scoped=True,
                                                     params={"case_no": "decided_case_no"}),
    "GET /api/v1/supervision/pushes": route(REGULATORS, "admin"),
    "GET /api/v1/supervision/pushes/<int:push_id>": route("county_regulator", "admin", refused=HIDDEN, scoped=True),
    "POST /api/v1/supervision/pushes/<int:push_id>/claim": route("county_regulator", refused=HIDDEN, scoped=True),
    "POST /api/v1/supervision/pushes/<int:push_id>/feedback": route("county_regulator", refused=HIDDEN, scoped=True,
                                                                    body=_FEEDBACK),
    "POST /api/v1/supervision/pushes/<int:push_id>/close": route("county_regulator", refused=HIDDEN, scoped=True),
    # API documentation: public by design (the machines have no internet; the document describes no data)
    "GET /api/v1/docs": route("public"),
    "GET /api/v1/openapi.json": route("public"),
    "GET /api/v1/_swagger/<path:filename>": route("public", params={"filename": "swagger"}),

    # Pages: public
    "GET /": route("public", ok=_of(200, 302)),  # staff are sent on to their desk
    "GET /static/<path:filename>": route("public", params={"filename": "static"}),
    "GET /lang/<code>": route("public", ok=_of(302)),
    "GET /login": route("public", ok=_of(200, 302)),
    "POST /login": route("public", body={}, ok=_of(422)),
    "POST /logout": route("public", ok=_of(302)),
    "GET /guide": route("public"),
    "GET /guide/<item_code>": route("public", params={"item_code": "intake_item"}),
    "GET /lookup": route("public"),
    "POST /lookup": route("public", body={}, ok=_of(422)),
    "GET /lookup/<case_no>/rating": route("public"),
    "POST /lookup/<case_no>/rating": route("public", body={"score": "5"}, ok=_of(422)),
    "GET /public/spot-checks": route("public"),
    "GET /public/spot-checks/<int:check_id>": route("public", params={"check_id": "published_check_id"}),
    # Pages: the electronic licences' public check (issue 16); the applicant's download needs the query code
    "GET /verify/<licence_no>": route("public"),
    "GET /verify/ca.pem": route("public"),
    "POST /lookup/<case_no>/licence": route("public", body={}, ok=_of(404)),
    # Pages: one's own account (the current password is left out: a permitted caller gets the 422 form back)
    "GET /account/password": route(STAFF),
    "POST /account/password": route(STAFF, body={"new_password": "matrix-new-password-2",
                                                 "confirm_password": "matrix-new-password-2"}, ok=_of(422)),
    # Pages: one's own notifications and the addresses they also go to (issue 15)
    "GET /notifications": route(STAFF),
    "POST /notifications/read": route(STAFF, body={"all": "1"}),
    "GET /account/contact": route(STAFF),
    "POST /account/contact": route(STAFF, body={"email": "", "mobile": ""}),
    "POST /account/keep-alive": route(STAFF, body={}, ok=_of(204)),  # 继续登录 of the idle warning (issue 14)
    # Pages: 催办 from the case page, as the API's
    "POST /cases/<case_no>/remind": route("window", "admin", "city_regulator", refused=HIDDEN, scoped=True,
                                          body={"comment": "矩阵测试"}),
    # Pages: 转办 from the case page, as the API's
    "POST /cases/<case_no>/transfer": route("city_approver", refused=HIDDEN, scoped=True,
                                            body={"to_org": "360700-sec-ecology", "reason": "矩阵测试"}),
    # Pages: 领取/分派/退回本单位 from the case page, as the API's; one's own stand-ins (委托代办)
    "POST /cases/<case_no>/claim": route(CASE_WORKERS, refused=HIDDEN, scoped=True, body={}),
    "POST /cases/<case_no>/assign": route(CASE_WORKERS, refused=HIDDEN, scoped=True,
                                          body={"assignee": "city-approver"}),
    "POST /cases/<case_no>/release": route(CASE_WORKERS, refused=HIDDEN, scoped=True, body={}),
    "GET /work": route(CASE_WORKERS),
    "GET /stand-ins": route(CASE_WORKERS),
    "POST /stand-ins": route(CASE_WORKERS, body={"stand_in": "", "starts_on": "", "ends_on": ""}),
    "POST /stand-ins/<int:period_id>/cancel": route(CASE_WORKERS, params={"period_id": "file_id"}, body={}),
    # Pages: 会商 (issue 15): the county's window and reviewers open and follow up, the city department (and the
    # bureau's approvers, who serve every department) answers; a thread of another county is not there for a county
    "GET /consultations": route("window", "reviewer", "city_approver"),
    "POST /consultations": route("window", "reviewer", body=lambda p: {
        "item_code": p["intake_item"], "subject": "矩阵测试", "text": "矩阵测试"}),
    "GET /consultations/<thread_no>": route("window", "reviewer", "city_approver", refused=HIDDEN, scoped=True),
    "POST /consultations/<thread_no>/messages": route("window", "reviewer", refused=HIDDEN, scoped=True,
                                                      body={"kind": "follow_up", "text": "矩阵测试"}),
    "GET /consultations/<thread_no>/files/<int:file_id>": route(
        "window", "reviewer", "city_approver", refused=HIDDEN, scoped=True,
        params={"file_id": "consultation_file_id"}),
    # Pages: 差评整改 (issue 15): the unit that decided a badly rated case (the world's: the county bureau's
    # reviewers) replies; the other units' staff do not see the task, the other roles have no such list
    "GET /follow-ups": route("window", "reviewer", "city_approver"),
    "GET /follow-ups/<int:task_id>": route("reviewer", refused=HIDDEN, scoped=True,
                                           params={"task_id": "follow_up_id"}),
    "POST /follow-ups/<int:task_id>/reply": route("reviewer", refused=HIDDEN, scoped=True,
                                                  params={"task_id": "follow_up_id"},
                                                  body={"finding": "矩阵测试", "rectification": "矩阵测试",
                                                        "reply": "矩阵测试"}),
    "GET /healthz": route("public"),
    "GET /readyz": route("public"),
    "GET /metrics": route("public"),  # loopback callers only (the test client is one)
    # Pages: any member of staff who may see the case
    "GET /cases/<case_no>": route(CASE_READERS, refused=HIDDEN, scoped=True),
    "GET /cases/<case_no>/files/<int:file_id>": route(CASE_READERS, refused=HIDDEN, scoped=True),
    # the case page's 材料邮寄 forms (issue 19): as their API above
    "POST /cases/<case_no>/originals": route("window", refused=HIDDEN, scoped=True, ok=_of(409),
                                             body={"courier": "EMS", "tracking_no": "EMS123456", "materials": "M01"}),
    "POST /cases/<case_no>/originals/receipt": route("city_approver", refused=HIDDEN, scoped=True, ok=_of(404),
                                                     body={"mailing_id": "00000000-0000-0000-0000-000000000000"}),
    # a direct case approved by the county: its licence, for whoever may see that case (not the city sections)
    "GET /cases/<case_no>/licence.pdf": route("window", "reviewer", "admin", "county_admin", refused=HIDDEN,
                                              scoped=True, params={"case_no": "decided_case_no"}),
    # Pages: the county window
    "GET /window": route("window"),
    "GET /window/new": route("window"),
    "GET /window/new/<item_code>": route("window", params={"item_code": "intake_item"}),
    "POST /window/new/<item_code>": route("window", params={"item_code": "intake_item"},
                                          body={"applicant_kind": "enterprise", "applicant_name": APPLICANT["name"],
                                                "id_code": APPLICANT["id_code"]}),
    "GET /window/cases/<case_no>": route("window", refused=HIDDEN, scoped=True),
    "POST /window/cases/<case_no>/actions/<action>": route("window", refused=HIDDEN, scoped=True,
                                                           body={"comment": "矩阵测试"}),
    "POST /window/cases/<case_no>/files": route("window", refused=HIDDEN, scoped=True, body=_upload, multipart=True),
    "GET /window/cases/<case_no>/notice/<kind>.pdf": route("window", refused=HIDDEN, scoped=True),
    # Pages: the county reviewer
    "GET /review": route("reviewer"),
    "GET /review/cases/<case_no>": route("reviewer", refused=HIDDEN, scoped=True),
    "POST /review/cases/<case_no>/review": route("reviewer", refused=HIDDEN, scoped=True,
                                                 body={"review-opinion": "矩阵测试",
                                                       "review-recommendation": "approve"}),
    "POST /review/cases/<case_no>/decide": route("reviewer", refused=HIDDEN, scoped=True,
                                                 body={"decide-decision": "approve", "decide-opinion": "矩阵测试"}),
    "POST /review/cases/<case_no>/suspend": route("reviewer", refused=HIDDEN, scoped=True,
                                                  body={"suspend-kind": "expert_review",
                                                        "suspend-expected_end": "2031-01-01",
                                                        "suspend-comment": "矩阵测试"}),
    "POST /review/cases/<case_no>/resume": route("reviewer", refused=HIDDEN, scoped=True,
                                                 body={"resume-comment": "矩阵测试"}),
    "POST /review/cases/<case_no>/correction": route("reviewer", refused=HIDDEN, scoped=True,
                                                     body={"correction-problems": "矩阵测试"}),
    # Pages: the city approver
    "GET /city": route("city_approver"),
    "POST /city/batch-approve": route("city_approver", scoped=True, body=lambda p: {"case_no": p["case_no"]}),
    "GET /city/cases/<case_no>": route("city_approver", refused=HIDDEN, scoped=True),
    "POST /city/cases/<case_no>/approve": route("city_approver", refused=HIDDEN, scoped=True,
                                                body={"approve-comment": "矩阵测试"}),
    "POST /city/cases/<case_no>/deny": route("city_approver", refused=HIDDEN, scoped=True,
                                             body={"deny-reasons": "矩阵测试"}),
    "POST /city/cases/<case_no>/return": route("city_approver", refused=HIDDEN, scoped=True,
                                               body={"return-reasons": "矩阵测试"}),
    "POST /city/cases/<case_no>/suspend": route("city_approver", refused=HIDDEN, scoped=True,
                                                body={"suspend-kind": "expert_review",
                                                      "suspend-expected_end": "2031-01-01",
                                                      "suspend-comment": "矩阵测试"}),
    "POST /city/cases/<case_no>/resume": route("city_approver", refused=HIDDEN, scoped=True,
                                               body={"resume-comment": "矩阵测试"}),
    # Pages: regulators (a push is its supervising organisation's)
    "GET /regulator": route(REGULATORS),
    # 在办督促 (issue 15): the open cases a regulator will supervise; the world's case is forward_only: the city's
    "GET /regulator/cases": route(REGULATORS),
    "GET /regulator/cases/<case_no>": route("city_regulator", refused=HIDDEN, scoped=True),
    "GET /regulator/pushes/<int:push_id>": route("county_regulator", refused=HIDDEN, scoped=True),
    "POST /regulator/pushes/<int:push_id>/claim": route("county_regulator", refused=HIDDEN, scoped=True),
    "POST /regulator/pushes/<int:push_id>/feedback": route("county_regulator", refused=HIDDEN, scoped=True,
                                                           body=_FEEDBACK),
    "POST /regulator/pushes/<int:push_id>/close": route("county_regulator", refused=HIDDEN, scoped=True),
    # Pages: statistics for the city level
    "GET /dashboard": route(STATS_VIEWERS),
    "GET /dashboard/cases": route(STATS_VIEWERS),  # the cases behind a card, scoped to the viewer
    "GET /dashboard/export.csv": route(STATS_VIEWERS),
    "GET /dashboard/export.xlsx": route(STATS_VIEWERS),
    # Pages: administration
    "GET /admin": route("admin"),
    "GET /admin/catalog": route("admin"),
    "GET /admin/catalog/export.csv": route("admin"),
    "GET /admin/catalog/items/<code>": route("admin", params={"code": "intake_item"}),
    "POST /admin/catalog/import": route("admin", body={}),
    "GET /admin/delegations": route("admin"),
    "POST /admin/delegations/revoke": route("admin", body=_delegation),
    "POST /admin/delegations/restore": route("admin", body=_delegation),
    "GET /admin/holidays": route("admin"),
    "POST /admin/holidays/days": route("admin", body={"day": "2031-10-09", "kind": "holiday", "name": "矩阵测试"}),
    "POST /admin/holidays/days/<day>/delete": route("admin"),
    "POST /admin/holidays/years/<int:year>/<any(complete,reopen):what>": route("admin",
                                                                               params={"what": "what_year"}),
    "GET /admin/users": route("admin"),
    "POST /admin/users": route("admin", body={"username": "matrix-new", "display_name": "矩阵测试",
                                              "org": f"{OWN}-bureau", "role": "window",
                                              "password": "matrix-new-password-1"}),
    "POST /admin/users/<int:user_id>/<any(deactivate,reactivate):what>": route("admin",
                                                                               params={"what": "what_user"}),
    "POST /admin/users/<int:user_id>/password": route("admin", body={"password": "matrix-reset-password-1"}),
    "GET /admin/exchange": route("admin"),
    # Pages: 现场踏勘 from the case page, as the API's; a photograph for whoever reads the case (none in the world)
    "POST /cases/<case_no>/inspections": route("reviewer", "city_approver", refused=HIDDEN, scoped=True,
                                               body=_inspection, multipart=True),
    "GET /cases/<case_no>/inspections/photos/<int:photo_id>": route(
        CASE_READERS, refused=HIDDEN, scoped=True, params={"photo_id": "file_id"}, ok=_of(404)),
    # Pages: 问责 (issue 17), the city administrator's; the world's row_id may name no record (404)
    "GET /admin/accountability": route("admin"),
    "GET /admin/catalog/overrides": route("admin"),  # 只减不增 overrides (issue 18)
    "GET /admin/accountability/<int:record_id>": route("admin", params={"record_id": "row_id"}, ok=_of(200, 404)),
    "POST /admin/accountability/<int:record_id>/handle": route("admin", params={"record_id": "row_id"},
                                                               body={"note": "矩阵测试"}, ok=CHANGE_OK | {404}),
    "POST /admin/accountability/<int:record_id>/decline": route("admin", params={"record_id": "row_id"},
                                                                body={"reason": "矩阵测试"}, ok=CHANGE_OK | {404}),
    "GET /admin/accountability/<int:record_id>/accept": route("admin", params={"record_id": "row_id"},
                                                              ok=_of(200, 404)),
    "POST /admin/accountability/<int:record_id>/accept": route("admin", params={"record_id": "row_id"},
                                                               body={"confirm": "y"}, ok=CHANGE_OK | {404}),
    # Pages: credit records and assistants (issue 17). The world's row_id may name no credit record (404)
    "GET /admin/credit": route("admin"),
    "GET /admin/credit/<int:record_id>/lift": route("admin", params={"record_id": "row_id"}, ok=_of(200, 404)),
    "POST /admin/credit/<int:record_id>/lift": route("admin", params={"record_id": "row_id"},
                                                     body={"reason": "矩阵测试"}, ok=CHANGE_OK | {404}),
    "GET /admin/assistants": route("admin"),
    "POST /admin/assistants/<username>": route("admin", body={"assistant": "1"}),
    # Pages: 全市通办 (issue 17): the administrator's catalogue flag, the figures for all staff but regulators
    "GET /admin/citywide": route("admin"),
    "GET /admin/reference-data": route("admin", "county_admin"),  # a county admin reads its node's versions
    "POST /admin/citywide/<item_code>": route("admin", params={"item_code": "intake_item"}, body={"citywide": "0"}),
    "GET /citywide/statistics": route("window", "reviewer", "city_approver", "admin", "county_admin"),  # as the API
    # Pages: decided at the window (issue 17 part A): the window's on-the-spot decision on its county's case (the
    # world's case is in city review: refused on the page, 303), the regulators' commitment checks, the
    # administrator's authorities page
    "POST /window/cases/<case_no>/on-the-spot": route("window", refused=HIDDEN, scoped=True,
                                                      body={"action": "decide_instant"}),
    "GET /regulator/commitment-checks": route(REGULATORS),
    "POST /regulator/commitment-checks/<case_no>": route(REGULATORS, body={"result": "verified"}),
    "GET /admin/window-authorities": route("admin"),
    "POST /admin/window-authorities": route("admin", body={"username": "matrix-target"}),
    "POST /admin/exchange/outbox/<message_id>/resend": route("admin"),
    # Pages: the archive catalogue (issue 19). The world has no archive package: an integer that names none stands
    # in, so the administrator gets 404 and everyone else the 403 the role check gives before any look-up.
    "GET /admin/archives": route("admin"),
    "GET /admin/archives/<int:package_id>/package": route("admin", params={"package_id": "row_id"}, ok=_of(404)),
    "GET /admin/archives/<int:package_id>/dispose": route("admin", params={"package_id": "row_id"}, ok=_of(404)),
    "POST /admin/archives/<int:package_id>/dispose": route("admin", params={"package_id": "row_id"}, ok=_of(404),
                                                           body={"reason": "矩阵测试", "confirm": "y"}),
}

# Run after every other cell: they end the session or change what the others read.
LAST = ("POST /logout",)


# -- the route table of the application ----------------------------------------------------------------------------

def app_routes(app) -> dict[str, object]:
    """'METHOD rule' -> werkzeug Rule, for every method a route accepts (HEAD and OPTIONS are Flask's own)."""
    out = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - SKIPPED_METHODS):
            out[f"{method} {rule.rule}"] = rule
    return out


def is_api(key: str) -> bool:
    return key.split(" ", 1)[1].startswith("/api/")


def url_for_cell(rule, entry: Route, params: dict) -> str:
    values = {}
    for name in rule.arguments:
        source = entry.params.get(name, name)
        assert source in params, f"{rule.rule}: no world object for the parameter {name!r} ({source!r})"
        values[name] = params[source]
    path = rule.build(values, append_unknown=False)[1]
    return f"{path}?{entry.query}" if entry.query else path


def body_for_cell(entry: Route, params: dict):
    body = entry.body(params) if callable(entry.body) else entry.body
    return dict(body) if body is not None else None
