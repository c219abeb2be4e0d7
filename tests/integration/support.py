"""Helpers that speak to the platform the way its users and peers do: over HTTP, and through the bus."""
from __future__ import annotations

import contextlib

import sqlalchemy as sa

from app.extensions import db

ENTERPRISE = {"kind": "enterprise", "name": "赣州市示范贸易有限公司", "id_code": "91350100M000100Y43",
              "phone": "0797-8123456"}
PERSON = {"kind": "individual", "name": "张三", "id_code": "11010519491231002X", "phone": "13800000000"}
COUNTY = "360730"  # 宁都县
OTHER_COUNTY = "360731"  # 于都县


class Api:
    """A test client that logs in as the demo accounts (tokens cached per user)."""

    def __init__(self, client):
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            from app.auth import issue_token
            from delegation.models import User

            user = db.session.execute(sa.select(User).filter_by(username=username)).unique().scalar_one()
            self._tokens[username] = issue_token(user)
        return self._tokens[username]

    def _headers(self, user, lang):
        headers = {"Accept-Language": lang}
        if user:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return headers

    def get(self, path, user=None, lang="zh-CN", **kw):
        return self.client.get(path, headers=self._headers(user, lang), **kw)

    def post(self, path, user=None, json=None, lang="zh-CN", **kw):
        return self.client.post(path, headers=self._headers(user, lang), json=json, **kw)

    # -- shortcuts ------------------------------------------------------------------------------------------

    def item(self, mode: str, commitment: bool | None = None, unit: str | None = None) -> dict:
        items = self.get(f"/api/v1/items?mode={mode}", user=f"window-{COUNTY}").get_json()
        for it in items:
            if commitment is not None and it["allows_commitment"] != commitment:
                continue
            if commitment and not any(not m["core"] for m in it["materials"]):
                continue
            if unit and it["limit_unit"] != unit:
                continue
            return it
        raise AssertionError(f"no demo item of mode {mode} (commitment={commitment}, unit={unit})")

    def create(self, item: dict, county: str = COUNTY, present=None, applicant=None, expect=201, **extra):
        present = {m["code"] for m in item["materials"]} if present is None else set(present)
        body = {"item_code": item["code"], "applicant": applicant or ENTERPRISE,
                "materials": [{"code": m["code"], "present": m["code"] in present} for m in item["materials"]],
                **extra}
        r = self.post("/api/v1/cases", user=f"window-{county}", json=body)
        assert r.status_code == expect, r.get_json()
        return r.get_json()

    def act(self, case_no: str, user: str, action: str, expect=200, **payload):
        r = self.post(f"/api/v1/cases/{case_no}/actions", user=user, json={"action": action, **payload})
        assert r.status_code == expect, (action, user, r.status_code, r.get_json())
        return r.get_json()

    def case(self, case_no: str, user: str = f"window-{COUNTY}") -> dict:
        r = self.get(f"/api/v1/cases/{case_no}", user=user)
        assert r.status_code == 200, r.get_json()
        return r.get_json()


class Node:
    """One installation seen by its users: an API client and its exchange job, each in its own app context."""

    def __init__(self, app):
        self.app = app
        self.api = Api(app.test_client())

    @contextlib.contextmanager
    def ctx(self):
        with self.app.app_context():
            yield
            db.session.remove()

    def act(self, case_no, user, action, **payload):
        with self.ctx():
            return self.api.act(case_no, user, action, **payload)

    def case(self, case_no, user):
        with self.ctx():
            return self.api.case(case_no, user)

    def get(self, path, user, expect=200):
        with self.ctx():
            r = self.api.get(path, user=user)
            assert r.status_code == expect, r.get_json()
            return r.get_json()

    def post(self, path, user, expect=200, **body):
        with self.ctx():
            r = self.api.post(path, user=user, json=body)
            assert r.status_code == expect, r.get_json()
            return r.get_json()

    def exchange(self):
        with self.ctx():
            from exchange.jobs import run_once

            return run_once()

    def outbox(self):
        from exchange.models import OutboxMessage

        with self.ctx():
            return [(m.type, m.to_node, m.fmt, m.state) for m in
                    db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]


def run_bus(rounds: int = 2) -> dict:
    from exchange.jobs import run_once

    return run_once(rounds)
