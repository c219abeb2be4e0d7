"""Case facts reported to the city (issue 18 part 2) over a real OpenSSH SFTP server: two county nodes (宁都县 360730,
章贡区 360702) and the city node (360700). Each county's refresh sends the facts of the cases accepted at its windows
(`stats.case_facts`); the city's figures then equal those of one node that ran the very same cases, a case
forwarded to the city counts once, a message delivered again or an older version arriving late changes nothing,
and a tampered message is refused."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.integration.support import ENTERPRISE, Node
from tests.integration.test_two_nodes import build_node, sftp  # noqa: F401  (the SFTP server fixture)

A, B, CITY = "360730", "360702", "360700"
COMMITMENT_ITEM = "GZ-LWPQ-001"  # 劳务派遣经营许可, direct, 告知承诺制 in the demo data


def _trust_all(tmp_path, apps: dict) -> None:
    for node in apps:  # the operators exchange certificates out of band
        (tmp_path / f"{node}.pem").write_bytes((tmp_path / f"instance-{node}" / "keys" / "node.crt").read_bytes())
    for node, app in apps.items():
        for peer in apps:
            if peer != node:
                result = app.test_cli_runner().invoke(args=["exchange", "trust", peer, str(tmp_path / f"{peer}.pem")])
                assert result.exit_code == 0, result.output


@pytest.fixture
def nodes(tmp_path, sftp):  # noqa: F811
    apps = {A: build_node(tmp_path, A, sftp), B: build_node(tmp_path, B, sftp),
            CITY: build_node(tmp_path, CITY, sftp, remote=[A, B])}
    _trust_all(tmp_path, apps)
    yield {code: Node(app) for code, app in apps.items()}
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def single(tmp_path, sftp):  # noqa: F811
    """One node hosting the city and every county: the reference computation."""
    app = build_node(tmp_path / "single", CITY, sftp)
    yield Node(app)
    with app.app_context():
        db.engine.dispose()


def refresh(node: Node) -> dict:
    with node.ctx():
        from supervision import rollup

        done = rollup.refresh()
        db.session.commit()
        return done


def pump(*nodes: Node, rounds=3):
    for _ in range(rounds):
        for node in nodes:
            refresh(node)
            node.exchange()


def differences(got: dict, want: dict) -> list:
    """Where two reports differ: (group, figure, got, want), for a readable failure."""
    out = [("summary", k, v, want["summary"].get(k)) for k, v in got["summary"].items() if want["summary"].get(k) != v]
    for dim, rows in want["by"].items():
        mine = {r["key"]: r for r in got["by"].get(dim, [])}
        for row in rows:
            other = mine.pop(row["key"], {})
            out += [(f"{dim}={row['key']}", k, other.get(k), v) for k, v in row.items() if other.get(k) != v]
        out += [(f"{dim}={key}", "total_cases", r["total_cases"], None) for key, r in mine.items()]
    return out


def figures(node: Node) -> dict:
    with node.ctx():
        from supervision.statistics import report

        return report(None, ("county", "mode", "state", "item", "month"))


class Scenario:
    """The same cases, acted on by the same users, whichever node hosts each county."""

    def __init__(self, hosts: dict[str, Node], city: Node, everyone: list[Node]):
        self.hosts, self.city, self.everyone = hosts, city, everyone

    def pump(self):
        pump(*self.everyone)

    def new(self, county: str, mode: str, index: int = 0) -> str:
        node = self.hosts[county]
        items = node.get(f"/api/v1/items?mode={mode}", f"window-{county}")
        item = items[index]
        body = {"item_code": item["code"], "applicant": ENTERPRISE,
                "materials": [{"code": m["code"], "present": True} for m in item["materials"]]}
        return node.post("/api/v1/cases", f"window-{county}", expect=201, **body)["case_no"]

    def act(self, county: str, case_no: str, role: str, action: str, **payload) -> dict:
        return self.hosts[county].act(case_no, f"{role}-{county}", action, **payload)

    def decide_direct(self, county: str, case_no: str, decision="approve"):
        self.act(county, case_no, "window", "accept")
        self.act(county, case_no, "review", "review", opinion="材料真实完整，符合条件")
        if decision == "approve":
            return self.act(county, case_no, "review", "approve", certificate_no=f"NO-{case_no}")
        return self.act(county, case_no, "review", "deny", reasons=["不符合法定条件"])

    def commitment(self, county: str) -> str:
        """A 容缺 case: accepted on commitment, its optional materials to follow."""
        node = self.hosts[county]
        item = next(i for mode in ("direct", "delegated_review", "forward_only")
                    for i in node.get(f"/api/v1/items?mode={mode}", f"window-{county}")
                    if i["allows_commitment"] and any(not m["core"] for m in i["materials"]))
        body = {"item_code": item["code"], "applicant": ENTERPRISE,
                "materials": [{"code": m["code"], "present": m["core"]} for m in item["materials"]]}
        case_no = node.post("/api/v1/cases", f"window-{county}", expect=201, **body)["case_no"]
        self.act(county, case_no, "window", "accept_with_commitment", commitment_days=5)
        self.pump()
        return case_no

    def rate_badly(self, county: str, case_no: str) -> None:
        """The applicant rates the concluded case 不满意 on the public lookup of the node that holds it."""
        node = self.hosts[county]
        with node.ctx():
            from delegation.models import Case

            code = db.session.execute(sa.select(Case.query_code).filter_by(case_no=case_no)).scalar_one()
        r = node.app.test_client().post(f"/api/v1/public/cases/{case_no}/rating",
                                        json={"query_code": code, "score": 2, "comment": "等了很久"})
        assert r.status_code == 201, r.get_json()

    def approve_on_commitment(self, county: str) -> str:
        """告知承诺: the window approves on the applicant's signed commitment (window-<county> holds the authority)."""
        item = next(i for i in self.hosts[county].get("/api/v1/items", f"window-{county}")
                    if i["code"] == COMMITMENT_ITEM)
        body = {"item_code": item["code"], "applicant": ENTERPRISE,
                "materials": [{"code": m["code"], "present": True} for m in item["materials"]]}
        case_no = self.hosts[county].post("/api/v1/cases", f"window-{county}", expect=201, **body)["case_no"]
        self.act(county, case_no, "window", "approve_on_commitment", commitment_signed=True, signer_name="李四")
        return case_no

    def time_passes(self, when) -> None:
        """The deadline job of every node runs at ``when``: nothing else happens."""
        for node in {id(n): n for n in (*self.hosts.values(), self.city)}.values():
            with node.ctx():
                from delegation import clock

                clock.sweep_flags(when)
                db.session.commit()
        self.pump()

    def play(self) -> dict:
        cases = {}
        # 宁都县: a direct case concluded, one only submitted, one denied; a delegated_review case approved by the
        # city and handed out; a forward_only case at the city
        cases["a_direct_done"] = c = self.new(A, "direct")
        self.decide_direct(A, c)
        self.act(A, c, "window", "hand_out", method="pickup")
        cases["a_direct_new"] = self.new(A, "direct", 1)
        cases["a_direct_denied"] = c = self.new(A, "direct")
        self.decide_direct(A, c, "deny")
        cases["a_review_done"] = c = self.new(A, "delegated_review")
        self.act(A, c, "window", "accept")
        self.act(A, c, "review", "review", opinion="经审核，符合许可条件", recommendation="approve")
        self.pump()
        self.city.act(c, "city-approver", "approve", certificate_no="赣特登2026-0101")
        self.pump()
        self.act(A, c, "window", "hand_out", method="pickup")
        cases["a_forward_at_city"] = c = self.new(A, "forward_only")
        self.act(A, c, "window", "accept")
        # 章贡区: a direct case decided, a delegated_review case in county review, a forward_only case concluded
        cases["b_direct_decided"] = c = self.new(B, "direct")
        self.decide_direct(B, c)
        cases["b_review_open"] = c = self.new(B, "delegated_review")
        self.act(B, c, "window", "accept")
        cases["b_forward_done"] = c = self.new(B, "forward_only")
        self.act(B, c, "window", "accept")
        self.pump()
        self.city.act(c, "city-approver", "approve", certificate_no="赣特登2026-0102")
        self.pump()
        self.act(B, c, "window", "hand_out", method="pickup")
        self.pump()
        return cases


def _stats_messages(node: Node) -> list:
    from exchange.models import OutboxMessage

    with node.ctx():
        rows = db.session.execute(sa.select(OutboxMessage).filter_by(type="stats.case_facts")
                                  .order_by(OutboxMessage.id)).scalars().all()
        return [(r.message_id, r.fmt, bytes(r.raw), r.state, r.to_node, r.to_org) for r in rows]


def test_the_citys_figures_across_nodes_equal_one_node_running_the_same_cases(nodes, single, sftp):  # noqa: F811
    city = nodes[CITY]
    across_nodes = Scenario({A: nodes[A], B: nodes[B]}, city, list(nodes.values()))
    one_node = Scenario({A: single, B: single}, single, [single])
    cases = across_nodes.play()
    one_node.play()

    across, alone = figures(city), figures(single)
    assert alone["summary"]["total_cases"] == 8 and alone["summary"]["concluded"] == 3
    diff = differences(across, alone)
    assert not diff, "\n".join(map(str, diff))
    assert across == alone
    by_county = {r["key"]: r["total_cases"] for r in across["by"]["county"]}
    assert by_county == {A: 5, B: 3}  # every case of both counties, the forwarded ones once
    with city.ctx():
        from delegation.models import Case

        held = set(db.session.execute(sa.select(Case.case_no)).scalars())
    assert {cases["a_review_done"], cases["a_forward_at_city"], cases["b_forward_done"]} <= held  # city's copies

    # the city reports nothing; each county reports to the city bureau, without personal data, every message
    # acknowledged; the city's own copies no longer count once the county's report arrived
    assert _stats_messages(city) == [] and _stats_messages(single) == []
    for county in (A, B):
        sent = _stats_messages(nodes[county])
        assert sent and {(to_node, to_org, state) for *_, state, to_node, to_org in sent} == {
            (CITY, f"{CITY}-bureau", "acknowledged")}
        for _, _, raw, *_ in sent:
            for private in (ENTERPRISE["name"], ENTERPRISE["id_code"], ENTERPRISE["phone"]):
                assert private.encode() not in raw
    refresh(city)
    assert figures(city) == alone

    # delivered again (a receipt lost): answered, nothing counted twice
    message_id, fmt, raw, *_ = _stats_messages(nodes[A])[-1]
    with city.ctx():
        from exchange.bus import get_bus

        get_bus().transport.publish(CITY, message_id, fmt, raw, [])
    city.exchange()
    assert figures(city) == alone

    # tampered on the way: refused (quarantined), the figures unchanged; the genuine copy still applies
    nodes[A].act(cases["a_direct_denied"], f"window-{A}", "hand_out", method="pickup")
    refresh(nodes[A])
    message_id, fmt, raw, state, *_ = _stats_messages(nodes[A])[-1]
    assert state == "queued" and b'value="1"' in raw
    with city.ctx():
        get_bus().transport.publish(CITY, message_id, fmt, raw.replace(b'"concluded"', b'"decided"', 1)
                                    if b'"concluded"' in raw else raw.replace(b">concluded<", b">decided<", 1), [])
    city.exchange()
    with city.ctx():
        from exchange.models import InboundMessage

        refused = db.session.execute(sa.select(InboundMessage).filter_by(state="quarantined")).scalars().all()
        assert [(r.reason_code, r.type) for r in refused] == [("signature_invalid", "stats.case_facts")]
    assert figures(city) == alone
    pump(*nodes.values())
    # (case numbers are per county and year: the single node gave the same case the same number)
    single.act(cases["a_direct_denied"], f"window-{A}", "hand_out", method="pickup")
    assert figures(city) == figures(single)

    # a 容缺 case at 宁都县; then weeks pass: each node's deadline job flags its open cases overdue, and nothing
    # else happens — on 章贡区's node (its case in county review) the job is all that touches the case
    later = datetime.now(timezone.utc) + timedelta(days=60)
    for scenario in (across_nodes, one_node):
        scenario.commitment(A)
        scenario.time_passes(later)
    across, alone = figures(city), figures(single)
    assert alone["summary"]["commitment_cases"] == 1 and alone["summary"]["overdue_now"] >= 3
    diff = differences(across, alone)
    assert not diff, "\n".join(map(str, diff))
    assert across == alone

    # 差评整改 and 告知承诺审批: the tasks of two bad ratings live at 宁都县 (one case decided there, one by the city:
    # its accepting window answers on the county's node), a commitment approval at 宁都县's window; the city's
    # dashboard counts them as one node does, now and once they are past due
    for scenario in (across_nodes, one_node):
        scenario.rate_badly(A, cases["a_direct_done"])
        scenario.rate_badly(A, cases["a_review_done"])
        approved = scenario.approve_on_commitment(A)
        scenario.pump()
    moments = (datetime.now(timezone.utc), later + timedelta(days=60))
    alone = [dashboard_moment(single, at) for at in moments]
    assert alone[0] == {"follow_ups": {"open": 2, "overdue": 0}, "commitments": {
        "approvals": 1, "verified": 0, "false": 0, "open": 1, "overdue": 0}}
    assert alone[1]["follow_ups"]["overdue"] == 2 and alone[1]["commitments"]["overdue"] == 1
    assert [dashboard_moment(city, at) for at in moments] == alone
    assert figures(city) == figures(single)
    # the county's window answers one rating and its regulator finds the commitment true: the city follows
    for node in (nodes[A], single):
        reply_follow_up(node, cases["a_direct_done"])
        node.post(f"/api/v1/window-decisions/commitment-checks/{approved}", f"reg-{A}", result="verified")
    pump(*nodes.values())
    assert [dashboard_moment(city, at) for at in moments] == [dashboard_moment(single, at) for at in moments]
    assert dashboard_moment(city, moments[1]) == {"follow_ups": {"open": 1, "overdue": 1}, "commitments": {
        "approvals": 1, "verified": 1, "false": 0, "open": 0, "overdue": 0}}
    # what the dashboard and the API show at the city (the moment of asking: now)
    page = _as(city, "admin").get("/dashboard").get_data(as_text=True)
    assert "未答复 1 件" in page and "告知承诺审批 1 件" in page
    with city.ctx():
        stats = city.api.get("/api/v1/window-decisions/stats", user="admin")
        assert stats.status_code == 200 and stats.get_json()["approvals"] == 1, stats.get_json()


def dashboard_moment(node: Node, at: datetime) -> dict:
    with node.ctx():
        from supervision import statistics

        return {"follow_ups": statistics.rating_follow_ups(at), "commitments": statistics.window_commitments(None, at)}


def reply_follow_up(node: Node, case_no: str) -> None:
    with node.ctx():
        from delegation import follow_up
        from delegation.actors import Actor
        from delegation.follow_up_models import RatingFollowUp
        from delegation.models import User

        task = db.session.execute(sa.select(RatingFollowUp).filter_by(case_no=case_no)).scalar_one()
        user = db.session.execute(sa.select(User).where(User.org.has(code=task.org_code))
                                  .order_by(User.id).limit(1)).scalar_one()
        follow_up.reply(Actor.for_user(user), task.id, "核实属实", "已整改", "已答复申请人")
        db.session.commit()


def _as(node: Node, username: str):
    from tests.integration.pages import log_in

    signed_in = node.app.test_client()
    log_in(signed_in, username)
    return signed_in


def test_an_older_version_arriving_late_never_replaces_a_newer_one(nodes, sftp):  # noqa: F811
    county, city = nodes[A], nodes[CITY]
    scenario = Scenario({A: county}, city, list(nodes.values()))
    case_no = scenario.new(A, "direct")
    pump(*nodes.values())
    scenario.act(A, case_no, "window", "accept")
    refresh(county)  # version 2: accepted
    scenario.act(A, case_no, "review", "review", opinion="材料真实完整，符合条件")
    scenario.act(A, case_no, "review", "approve", certificate_no="NDX-2026-0001")
    refresh(county)  # version 3: decided
    from exchange.models import OutboxMessage

    with county.ctx():
        older, newer = db.session.execute(sa.select(OutboxMessage).filter_by(type="stats.case_facts")
                                          .order_by(OutboxMessage.id.desc()).limit(2)).scalars().all()[::-1]
        from datetime import timedelta

        older.next_attempt_at = older.created_at + timedelta(days=1)  # held back, as by an outage
        older_id = older.id
        db.session.commit()
    for node in nodes.values():
        node.exchange()
    with city.ctx():
        from supervision.fact_report_models import StatsReportedFact

        fact = db.session.get(StatsReportedFact, case_no)
        assert (fact.version, fact.state, fact.decided, fact.approved) == (3, "decided", 1, 1)
    with county.ctx():
        older = db.session.get(OutboxMessage, older_id)
        older.next_attempt_at = older.created_at
        db.session.commit()
    for _ in range(2):
        for node in nodes.values():
            node.exchange()
    with county.ctx():
        assert db.session.get(OutboxMessage, older_id).state == "acknowledged"  # applied: accepted, then ignored
    with city.ctx():
        fact = db.session.get(StatsReportedFact, case_no)
        assert (fact.version, fact.state, fact.decided) == (3, "decided", 1)
    by_state = {r["key"]: r["total_cases"] for r in figures(city)["by"]["state"]}
    assert by_state == {"decided": 1}
