"""Reference data (the city, its counties, their organisations, the catalogue) and, apart from it, the demo
accounts. Idempotent. A production node takes the reference data only (`seed-reference`); its staff accounts
are created one by one with passwords of their own (`users create`, the administrator's page)."""
from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa

from delegation import window_decision_demo
from delegation.documents import contact
from delegation.models import Division, Org, User
from delegation.passwords import hash_password
from persistence import db

DIVISIONS_CSV = Path(__file__).parent / "data" / "ganzhou-divisions.csv"
CITY = "360700"
DEMO_PASSWORD = "demo"

COUNTY_ORGS = (("window", "市县同权窗口", "window"), ("bureau", "行政审批局", "approval_bureau"),
               ("industry", "行业主管部门", "industry_authority"))


def read_divisions(path: Path = DIVISIONS_CSV) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _get_or_add(model, key: dict, **values):
    row = db.session.execute(sa.select(model).filter_by(**key)).unique().scalar_one_or_none()
    if row is None:
        row = model(**key, **values)
        db.session.add(row)
        db.session.flush()
    return row


def _host(division_code: str, node_id: str, remote: set[str]) -> str:
    """Which node an organisation of this division lives on, seen from the node being seeded."""
    if division_code == node_id or division_code in remote:
        return division_code
    if node_id == CITY:
        return CITY  # the city node hosts every county that has no node of its own
    return CITY if division_code == CITY else division_code


def seed_orgs(node_id: str, divisions: list[dict], remote: set[str] = frozenset(),
              org_nodes: dict[str, str] | None = None) -> dict[str, Org]:
    from delegation.catalog_io import SECTIONS

    orgs: dict[str, Org] = {}
    city = next(d for d in divisions if d["kind"] == "city")
    if node_id not in {d["code"] for d in divisions}:
        node_id = CITY  # a node of single organisations (org_nodes) sees the layout the city node sees
    city_node = _host(CITY, node_id, remote)
    _get_or_add(Division, {"code": city["code"]}, name=city["name"], kind="city", parent_code=None)
    bureau = _get_or_add(Org, {"code": f"{CITY}-bureau"}, name=f"{city['name']}行政审批局", kind="city_bureau",
                         level="city", division_code=CITY, node_id=city_node)
    orgs[bureau.code] = bureau
    for code, name in SECTIONS.items():
        orgs[code] = _get_or_add(Org, {"code": code}, name=f"{city['name']}行政审批局{name}", kind="city_section",
                                 level="city", division_code=CITY, node_id=city_node, parent_id=bureau.id)
    orgs[f"{CITY}-industry"] = _get_or_add(Org, {"code": f"{CITY}-industry"}, name=f"{city['name']}行业主管部门",
                                           kind="industry_authority", level="city", division_code=CITY,
                                           node_id=city_node)
    for d in divisions:
        if d["kind"] == "city":
            continue
        _get_or_add(Division, {"code": d["code"]}, name=d["name"], kind=d["kind"], parent_code=d["parent"] or CITY)
        for suffix, label, kind in COUNTY_ORGS:
            code = f"{d['code']}-{suffix}"
            orgs[code] = _get_or_add(Org, {"code": code}, name=f"{d['name']}{label}", kind=kind, level="county",
                                     division_code=d["code"], node_id=_host(d["code"], node_id, remote))
    unknown = sorted(set(org_nodes or {}) - set(orgs))
    if unknown:
        raise ValueError(f"no organisation {', '.join(unknown)} in the demo data")
    for code, node in (org_nodes or {}).items():  # an organisation on a node of its own (e.g. a regulator system)
        orgs[code].node_id = node
    contact.seed_defaults(orgs, CITY)  # the lines their notices and documents print (issue 16)
    db.session.flush()
    return orgs


def seed_users(orgs: dict[str, Org], divisions: list[dict], node_id: str = CITY) -> int:
    password_hash = hash_password(DEMO_PASSWORD)  # one hash for every demo account: they share the password
    accounts = [("city-approver", "市级审批员", "city_approver", f"{CITY}-bureau"),
                ("reg-city", "市级监管员", "regulator", f"{CITY}-industry"),
                ("admin", "市行政审批局管理员", "admin", f"{CITY}-bureau")]
    for d in divisions:
        if d["kind"] == "city":
            continue
        accounts += [(f"window-{d['code']}", f"{d['name']}窗口人员", "window", f"{d['code']}-window"),
                     (f"review-{d['code']}", f"{d['name']}审批人员", "reviewer", f"{d['code']}-bureau"),
                     (f"reg-{d['code']}", f"{d['name']}监管人员", "regulator", f"{d['code']}-industry"),
                     (f"admin-{d['code']}", f"{d['name']}管理员", "county_admin", f"{d['code']}-bureau")]
    created = 0
    for username, name, role, org_code in accounts:
        if orgs[org_code].node_id != node_id:
            continue  # that organisation's staff log in to their own node
        if db.session.execute(sa.select(User.id).filter_by(username=username)).first():
            continue
        db.session.add(User(username=username, display_name=name, role=role, org_id=orgs[org_code].id,
                            password_hash=password_hash))
        created += 1
    db.session.flush()
    return created


def _reference(node_id: str, remote: set[str], org_nodes: dict[str, str] | None) -> tuple[dict, list, dict]:
    from delegation.catalog_io import DEMO_CATALOG, import_catalog, read_catalog

    divisions = read_divisions()
    org_nodes = dict(org_nodes or {})
    if node_id != CITY and node_id not in {d["code"] for d in divisions} and node_id not in org_nodes.values():
        raise ValueError(f"no division {node_id} in the reference data")
    orgs = seed_orgs(node_id, divisions, set(remote), org_nodes)
    counties = [d["code"] for d in divisions if d["kind"] != "city"]
    catalog = import_catalog(db.session, read_catalog(DEMO_CATALOG), counties, only_new=True)
    _demo_originals()
    window_decision_demo.seed_kinds(counties)  # 告知承诺 and 备案 items (issue 17)
    _demo_citywide()
    return orgs, divisions, catalog


# 材料邮寄 (issue 19): in the demo, the boiler registration's form and inspection certificate go to the city on paper,
# and the city decides only once they arrived (not the first item of its mode, which the tests' factories use)
DEMO_ORIGINALS = ("GZ-TZSB-003", ("M01", "M03"))


def _demo_originals() -> None:
    from delegation.models import Item

    code, materials = DEMO_ORIGINALS
    item = db.session.execute(sa.select(Item).filter_by(code=code)).unique().scalar_one_or_none()
    if item is None:
        return
    item.originals_before_decision = True
    for m in item.materials:
        m.originals_required = m.originals_required or m.code in materials


# 全市通办 (issue 17): the oversize-transport permit may be accepted at any county window for another county
DEMO_CITYWIDE = ("GZ-CXYS-001",)


def _demo_citywide() -> None:
    from delegation.citywide import set_flag
    from delegation.models import Item

    for item in db.session.execute(sa.select(Item).where(Item.code.in_(DEMO_CITYWIDE))).unique().scalars():
        set_flag(item, True)


def seed_reference(node_id: str, remote: set[str] = frozenset(), org_nodes: dict[str, str] | None = None) -> dict:
    """Seed the reference data node `node_id` holds, and no account. The city node hosts every county except
    those in `remote` (counties running their own node); a county node holds its own organisations, and knows the
    city's organisations as the peers it sends to. `org_nodes` puts single organisations on a node of their own
    (e.g. {"360700-industry": "360700-sj"}, the city regulator's system); give it alike on every node. The whole
    catalogue is on every node."""
    orgs, _divisions, catalog = _reference(node_id, remote, org_nodes)
    return {"node": node_id, "orgs": len(orgs), **catalog}


def seed_demo(node_id: str, remote: set[str] = frozenset(), org_nodes: dict[str, str] | None = None) -> dict:
    """The reference data (as seed_reference) and the demo accounts of the organisations this node hosts, all
    with the password `demo`: for development and tests only (the command refuses it in production)."""
    orgs, divisions, catalog = _reference(node_id, remote, org_nodes)
    users = seed_users(orgs, divisions, node_id)
    window_decision_demo.seed_authorities()  # window-360730 decides on the spot (issue 17)
    return {"node": node_id, "orgs": len(orgs), "users_created": users, **catalog}
