"""Electronic licences (电子证照): what an approval yields, numbered in the issuing authority's own series.

An approval issues the licence in its own transaction (`issue`, called by the approve effect): the number (typed by
the approver, or the next of the authority's series), the validity from the item's certificate template, and what
the licence states, frozen in a `Licence` row. The issuing authority is the organisation that decided — the county
bureau for direct items, the city department for the other modes — and the node that decided keeps the row, signs
the PDF (delegation/licence_signing.py) and answers /verify/<licence no>. The validity dates travel to the
accepting county on the decision message (ValidFrom/ValidUntil).

A licence can be revoked by the city administrator with a reason (and, after a spot-check finding of an illegal
approval, with the finding as its ground: supervision/licence_revocation.py). Service functions flush; callers
commit."""
from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from typing import Callable

import sqlalchemy as sa

from delegation.actors import Actor
from delegation.deadlines import SHANGHAI
from delegation.documents.authorities import deciding_org
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.licence_models import Licence, LicenceSeries  # noqa: F401  (LicenceSeries: its table)
from delegation.models import Case, Item, Org
from delegation.orgs import find_org, get_org
from delegation.workflow import Role
from exchange.bus import get_bus
from exchange.envelope import Attachment
from persistence import db, utcnow

DEFAULT_TITLE = "行政许可证"
# The fields a template may add to the ones every licence prints (number, holder, item, authority, validity).
OPTIONAL_FIELDS = {"holder_id": "统一社会信用代码 / 身份证件号码", "legal_basis": "许可依据",
                   "conditions": "许可条件", "case_no": "办件编号"}
LICENCE_NO_MAX = 60
REASON_MAX = 500
# What /verify/<no> accepts before it looks anything up (a typed number may hold Chinese, e.g. 赣特登2026-0001).
LICENCE_NO_RE = re.compile(r"^[^\s/\\\x00-\x1f\x7f]{1,60}$")

# A licence number is read aloud, typed into /verify and printed: the issuer's division code, XK, the year and a
# six-digit sequence (360730XK2026000001), with no organisation code in it.
SERIES_RE = re.compile(r"^[0-9A-Z]+XK[0-9]{10}$")
_SERIES_UPSERT = sa.text(
    "INSERT INTO licence_series (issuer_code, year, last) VALUES (:issuer_code, :year, 1) "
    "ON CONFLICT (issuer_code, year) DO UPDATE SET last = licence_series.last + 1 RETURNING last"
).columns(last=sa.Integer)


def next_number(issuer: Org, year: int) -> str:
    """The next number of the authority's year. One upsert: its row lock holds a concurrent approval of the same
    authority until this transaction ends, and a rollback returns the number (no duplicate, no gap). One issuing
    authority per division (its approval bureau), so the division code names the series."""
    last = db.session.execute(_SERIES_UPSERT, {"issuer_code": issuer.code, "year": year}).scalar_one()
    return f"{issuer.division_code.replace('-', '').upper()}XK{year}{last:06d}"


def add_months(start: date, months: int) -> date:
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def validity(item: Item, start: date) -> date | None:
    """The last day of validity of a licence valid from `start` (5 years from 2026-12-03: 2031-12-02); None for
    an item whose licence does not expire (0 months, 长期有效)."""
    months = item.validity_months or 0
    if months <= 0:
        return None
    return date.fromordinal(add_months(start, months).toordinal() - 1)


TITLE_MAX = 100
VALIDITY_MONTHS_MAX = 1200


def set_template(item_code: str, title: str, fields: list[str], validity_months: int) -> Item:
    """An item's licence template: its title, the optional rows it prints and its validity (0: 长期有效)."""
    item = db.session.execute(sa.select(Item).filter_by(code=item_code)).unique().scalar_one_or_none()
    if item is None:
        raise NotFound("item_not_found", f"没有事项 {item_code}", f"no item {item_code}", field="item_code")
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise Invalid("invalid_licence_title", f"证照名称不能超过{TITLE_MAX}字",
                      f"the title is at most {TITLE_MAX} characters", field="title")
    unknown = [f for f in fields if f not in OPTIONAL_FIELDS]
    if unknown:
        raise Invalid("invalid_licence_fields",
                      f"证照栏目 {'、'.join(unknown)} 不存在，可选：{'、'.join(OPTIONAL_FIELDS)}",
                      f"unknown licence fields {', '.join(unknown)}; known: {', '.join(OPTIONAL_FIELDS)}",
                      field="fields")
    if not 0 <= validity_months <= VALIDITY_MONTHS_MAX:
        raise Invalid("invalid_validity_months", f"有效期月数应在 0 到 {VALIDITY_MONTHS_MAX} 之间（0 为长期有效）",
                      f"validity months must be 0 to {VALIDITY_MONTHS_MAX} (0: no expiry)", field="validity_months")
    item.licence_title, item.licence_fields = title, list(dict.fromkeys(fields))
    item.validity_months = validity_months
    return item


def template_fields(item: Item) -> list[str]:
    return [f for f in (item.licence_fields or []) if f in OPTIONAL_FIELDS]


def issue(case: Case, actor: Actor, typed_no: str | None, now: datetime) -> Licence:
    """Issue the licence of an approval: number, validity and content, on the case and in a Licence row."""
    typed_no = (typed_no or "").strip() or None
    issuer, _section = deciding_org(case)  # the authority the decision document names, never a section
    start = now.astimezone(SHANGHAI).date()
    if typed_no is not None:
        _check_typed(typed_no)
    number = typed_no or next_number(issuer, start.year)
    item = case.item
    licence = Licence(
        licence_no=number, case_no=case.case_no, title=item.licence_title or DEFAULT_TITLE, item_code=item.code,
        item_name=item.name, holder_kind=case.applicant_kind, holder_name=case.applicant_name,
        holder_id_code=case.applicant_id_code, issuer_code=issuer.code, issuer_name=issuer.name,
        fields=template_fields(item), extra={"legal_basis": item.legal_basis or "", "conditions": item.conditions or ""},
        valid_from=start, valid_until=validity(item, start), issued_at=now,
    )
    db.session.add(licence)
    case.certificate_no, case.valid_from, case.valid_until = number, licence.valid_from, licence.valid_until
    return licence


def _check_typed(number: str) -> None:
    if len(number) > LICENCE_NO_MAX or not LICENCE_NO_RE.match(number):
        raise Invalid("invalid_certificate_no", f"证书编号不能超过{LICENCE_NO_MAX}字，且不能含空格或斜杠",
                      f"certificate_no must be at most {LICENCE_NO_MAX} characters without spaces or slashes",
                      field="certificate_no")
    if SERIES_RE.search(number):  # the series' own shape: a typed one would take a number the series will give
        raise Invalid("certificate_no_reserved", "证书编号不能采用系统编号格式（行政区划代码+XK+年份+六位序号），请留空由系统编号",
                      "certificate_no must not take the series' own form (<division code>XK<year><6 digits>); leave it blank",
                      field="certificate_no")
    if db.session.execute(sa.select(Licence.id).where(Licence.licence_no == number)).first() is not None:
        raise Conflict("certificate_no_taken", f"证书编号 {number} 已被使用，请核对或留空由系统编号",
                       f"certificate number {number} is already used; check it or leave it blank",
                       field="certificate_no")


def find(licence_no: str, for_update: bool = False) -> Licence | None:
    """A licence this node issued (a copy received from the issuing node is not answered for here)."""
    if not licence_no or len(licence_no) > LICENCE_NO_MAX:
        return None
    query = sa.select(Licence).where(Licence.licence_no == licence_no, Licence.received_pdf_sha256.is_(None))
    if for_update:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def of_case(case_no: str) -> Licence | None:
    return db.session.execute(sa.select(Licence).where(Licence.case_no == case_no)).scalar_one_or_none()


def status(licence: Licence, today: date) -> str:
    """valid, expired, revoked (revocation wins) or not_yet_valid."""
    if licence.revoked_at is not None:
        return "revoked"
    if licence.valid_until is not None and today > licence.valid_until:
        return "expired"
    if today < licence.valid_from:
        return "not_yet_valid"
    return "valid"


def today_local(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


# -- the copy that travels to a window on another node ----------------------------------------------------------

PDF_MEDIA_TYPE = "application/pdf"
_renderer: Callable[[Licence], bytes] | None = None


def register_renderer(render: Callable[[Licence], bytes]) -> None:
    """The app shell says how a licence becomes its signed PDF (templates and the instance keys are its own)."""
    global _renderer
    _renderer = render


def travelling_copy(case: Case, to_node: str, this_node: str) -> list[Attachment]:
    """The signed PDF of an approval's licence, to go with case.decision to a window on another node (which has
    no key of the issuing authority); nothing when the window is on this node, which prints it itself."""
    licence = of_case(case.case_no) if case.decision == "approve" else None
    if licence is None or to_node == this_node or _renderer is None or licence.received_pdf_sha256:
        return []
    pdf = _renderer(licence)
    digest = get_bus().blobs.put(pdf)
    return [Attachment(name=f"licence-{digest[:12]}.pdf", media_type=PDF_MEDIA_TYPE, size=len(pdf), sha256=digest)]


def store_received(case: Case, issuer_code: str, attachments) -> Licence | None:
    """The accepting county's copy of a licence another node issued: what it states, and its signed PDF."""
    pdf = next((a for a in attachments if a.media_type == PDF_MEDIA_TYPE and a.name.startswith("licence-")), None)
    if pdf is None or not case.certificate_no or of_case(case.case_no) is not None:
        return None
    if db.session.execute(sa.select(Licence.id).where(Licence.licence_no == case.certificate_no)).first():
        return None  # a number this node gave itself: its own licence stays the one it answers for
    issuer = find_org(issuer_code)
    item = case.item
    licence = Licence(
        licence_no=case.certificate_no, case_no=case.case_no, title=item.licence_title or DEFAULT_TITLE,
        item_code=item.code, item_name=item.name, holder_kind=case.applicant_kind, holder_name=case.applicant_name,
        holder_id_code=case.applicant_id_code, issuer_code=issuer_code,
        issuer_name=issuer.name if issuer else issuer_code, fields=[], extra={},
        valid_from=case.valid_from or case.decided_at.astimezone(SHANGHAI).date(), valid_until=case.valid_until,
        issued_at=case.decided_at, received_pdf_sha256=pdf.sha256)
    db.session.add(licence)
    return licence


# -- revocation ---------------------------------------------------------------------------------------------------

def require_city_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN or actor.org_level != "city":
        raise Forbidden("role_forbidden", "只有市行政审批局管理员可以撤销证照",
                        "only the city administrator may revoke a licence")


def revoke(actor: Actor, licence_no: str, reason: str, finding_ref: str | None = None,
           now: datetime | None = None) -> Licence:
    """撤销: the city administrator revokes a licence this node issued, with a reason (and the spot-check finding
    it rests on, "spot-check-entry:<id>"). The /verify page then says 已撤销 with the date."""
    from delegation.grants import _finding_ref  # one rule for finding references (delegation revocations too)

    require_city_admin(actor)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("required", "请填写撤销证照的理由", "the reason is required", field="reason")
    if len(reason) > REASON_MAX:
        raise Invalid("too_long", f"理由不能超过{REASON_MAX}字", f"the reason is longer than {REASON_MAX}",
                      field="reason")
    finding_ref = _finding_ref(finding_ref)
    licence = find((licence_no or "").strip(), for_update=True)
    if licence is None:
        raise NotFound("licence_not_found", f"本节点未签发证照 {licence_no}（证照由作出决定的节点签发和撤销）",
                       f"this node issued no licence {licence_no} (the deciding node issues and revokes it)",
                       field="licence_no")
    if licence.revoked_at is not None:
        raise Conflict("licence_already_revoked",
                       f"证照 {licence.licence_no} 已于 {licence.revoked_at.astimezone(SHANGHAI):%Y-%m-%d} 撤销",
                       f"licence {licence.licence_no} is already revoked", field="licence_no")
    licence.revoked_at, licence.revoked_reason = now or utcnow(), reason
    licence.revoked_by, licence.finding_ref = actor.label, finding_ref
    db.session.flush()
    return licence


# -- what the licence and its public page say -----------------------------------------------------------------------

def zh_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def validity_text(licence: Licence) -> str:
    if licence.valid_until is None:
        return f"自{zh_date(licence.valid_from)}起长期有效"
    return f"{zh_date(licence.valid_from)}至{zh_date(licence.valid_until)}"


def masked_id(licence: Licence) -> str:
    """An enterprise's credit code is public; a person's ID number shows its first 6 and last 4 characters."""
    code = licence.holder_id_code or ""
    if licence.holder_kind == "enterprise" or len(code) < 10:
        return code
    return code[:6] + "*" * (len(code) - 10) + code[-4:]


def public_holder(licence: Licence) -> str:
    """The holder as the public page shows it: an enterprise in full, a person by the family name only."""
    if licence.holder_kind == "enterprise":
        return licence.holder_name
    name = licence.holder_name or ""
    return name[:1] + "*" * max(1, len(name) - 1)


def document(licence: Licence) -> dict:
    """What the PDF prints, in Chinese whatever the reader's interface language."""
    rows = [("证照编号", licence.licence_no), ("持证主体", licence.holder_name)]
    if "holder_id" in licence.fields:
        rows.append((OPTIONAL_FIELDS["holder_id"], masked_id(licence)))
    rows += [("许可事项", licence.item_name), ("有效期限", validity_text(licence))]
    for key in ("legal_basis", "conditions"):
        if key in licence.fields and (licence.extra or {}).get(key):
            rows.append((OPTIONAL_FIELDS[key], licence.extra[key][:300]))
    if "case_no" in licence.fields:
        rows.append((OPTIONAL_FIELDS["case_no"], licence.case_no))
    return {"title": licence.title, "rows": rows, "issuer": licence.issuer_name,
            "issued": zh_date(licence.issued_at.astimezone(SHANGHAI).date()), "licence_no": licence.licence_no}


STATUS_ZH = {"valid": "有效", "expired": "已过期", "revoked": "已撤销", "not_yet_valid": "尚未生效"}


def public_view(licence: Licence, today: date) -> dict:
    """What anyone may read about a licence: no ID number, no phone, no reason text (it may name people)."""
    state = status(licence, today)
    return {"licence_no": licence.licence_no, "title": licence.title, "holder": public_holder(licence),
            "item": licence.item_name, "issuer": licence.issuer_name, "valid_from": zh_date(licence.valid_from),
            "valid_until": zh_date(licence.valid_until) if licence.valid_until else "长期有效",
            "status": state, "status_zh": STATUS_ZH[state],
            "revoked_on": zh_date(licence.revoked_at.astimezone(SHANGHAI).date()) if licence.revoked_at else None}
