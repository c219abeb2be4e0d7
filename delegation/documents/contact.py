"""The lines an organisation prints on what it issues: the window's address, telephone and office hours, the
prefix of its document numbers and the remedies against its decisions. Set by the administrator
(`flask --app wsgi orgs contact`), seeded for the demo organisations."""
from __future__ import annotations

import sqlalchemy as sa

from delegation import limits
from delegation.errors import Invalid, NotFound
from delegation.models import Org
from persistence import db

# column: (its bound, its Chinese name for an error)
FIELDS = {
    "address": (200, "地址"),
    "phone": (40, "电话"),
    "office_hours": (100, "办公时间"),
    "doc_prefix": (20, "文号前缀"),
    "review_authority": (100, "行政复议机关"),
    "court": (100, "行政诉讼法院"),
}
OFFICE_HOURS = "周一至周五 9:00—12:00，13:00—17:00（法定节假日除外）"


def set_contact(org_code: str, values: dict[str, str | None]) -> Org:
    """Set the given lines (an empty string clears one); a bad value is refused by its field, nothing changes."""
    org = db.session.execute(sa.select(Org).filter_by(code=org_code)).scalar_one_or_none()
    if org is None:
        raise NotFound("unknown_org", f"没有编码为 {org_code} 的机构", f"no organisation {org_code}", field="org")
    clean = {}
    for key, value in values.items():
        if key not in FIELDS:
            raise Invalid("unknown_field", f"未知字段 {key}", f"unknown field {key}", field=key)
        if value is None:
            continue
        limit, title = FIELDS[key]
        value = value.strip()
        if len(value) > limit:
            raise Invalid("too_long", f"{title}不能超过 {limit} 个字", f"{key} is limited to {limit} characters",
                          field=key)
        if limits.has_control_chars(value) or "\n" in value or "\r" in value:
            raise Invalid("control_chars", f"{title}只能是一行文字", f"{key} must be one line of text", field=key)
        clean[key] = value or None
    for key, value in clean.items():
        setattr(org, key, value)
    db.session.flush()
    return org


def seed_defaults(orgs: dict[str, Org], city_code: str) -> None:
    """Demo lines for the organisations that have none yet (an administrator's value is never overwritten)."""
    for org in orgs.values():
        division = org.division
        county_name = division.name
        if org.level == "city":
            lines = {"address": f"{county_name}政务服务中心", "phone": "0797-8999000", "office_hours": OFFICE_HOURS,
                     "doc_prefix": "赣市行审许" if org.kind == "city_bureau" else None,
                     "review_authority": f"{county_name}人民政府", "court": f"{county_name}章贡区人民法院"}
        else:
            short = county_name[:-1] if len(county_name) > 2 and county_name[-1] in "区县市" else county_name
            zone = division.kind == "zone"
            lines = {"address": f"{county_name}政务服务中心一楼市县同权窗口",
                     "phone": f"0797-8{division.code[3:6]}{'1' if zone and division.code.endswith('rj') else '0'}00",
                     "office_hours": OFFICE_HOURS, "doc_prefix": f"{short}行审许",
                     "review_authority": f"{county_name}管理委员会" if zone else f"{county_name}人民政府",
                     "court": None if zone else f"{county_name}人民法院"}
        for key, value in lines.items():
            if getattr(org, key) is None and value is not None:
                setattr(org, key, value)
