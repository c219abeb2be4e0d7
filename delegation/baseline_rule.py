"""只减不增 (issue 18): the reform's rule that an item's materials and time limit may only shrink against its
pre-reform baseline. A catalogue whose item requires more materials than `baseline_materials`, or promises a limit
longer than `baseline_days` working days, is refused at import naming the line and the column; an administrator may
let it in with a reason, and every such override is recorded (baseline_override, insert-only).

An item without a baseline (0) is not checked: there is nothing to compare it with. An hour-based limit is compared
in working days of the node's office hours (its office hours per day)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.office_hours import DEFAULT_OFFICE_HOURS, OfficeHours
from delegation.baseline_models import BaselineOverride
from delegation.errors import Invalid

if TYPE_CHECKING:
    from delegation.catalog_io import ItemSpec, RowError

MATERIALS, DAYS = "materials", "days"
RULE_ZH = {MATERIALS: "必交材料数不得多于改革前材料数", DAYS: "承诺时限不得长于改革前办理天数"}
RULE_EN = {MATERIALS: "required materials may not outnumber the pre-reform baseline",
           DAYS: "the promised limit may not exceed the pre-reform baseline days"}
REASON_MIN, REASON_MAX = 4, 500


@dataclass(frozen=True)
class Breach:
    item_code: str
    line: int  # the item's first line in the file
    rule: str  # MATERIALS or DAYS
    value: float  # required materials, or the promised limit in working days
    baseline: float


def limit_in_days(spec: "ItemSpec", office_hours: OfficeHours = DEFAULT_OFFICE_HOURS) -> float:
    if spec.limit_unit == "hours":
        return round(spec.promised_limit * 60 / office_hours.minutes_per_day, 2)
    return float(spec.promised_limit)


def breaches(specs: list["ItemSpec"], office_hours: OfficeHours = DEFAULT_OFFICE_HOURS) -> list[Breach]:
    """Every item of `specs` whose required materials or promised limit exceed its (non-zero) baseline."""
    found = []
    for s in specs:
        required = sum(1 for m in s.materials if m.required)
        if s.baseline_materials > 0 and required > s.baseline_materials:
            found.append(Breach(s.code, s.line, MATERIALS, required, s.baseline_materials))
        days = limit_in_days(s, office_hours)
        if s.baseline_days > 0 and days > s.baseline_days:
            found.append(Breach(s.code, s.line, DAYS, days, float(s.baseline_days)))
    return found


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def row_error(b: Breach) -> "RowError":
    """The breach as a catalogue error on the item's line, in the column that has to change."""
    from delegation.catalog_io import RowError

    if b.rule == MATERIALS:
        return RowError(b.line, "baseline_materials",
                        f"只减不增：事项“{b.item_code}”必交材料 {_number(b.value)} 项，多于改革前材料数"
                        f"（baseline_materials）{_number(b.baseline)} 项",
                        f"materials may only shrink: item {b.item_code} requires {_number(b.value)} materials, "
                        f"more than its baseline_materials ({_number(b.baseline)})")
    return RowError(b.line, "promised_limit",
                    f"只减不增：事项“{b.item_code}”承诺时限 {_number(b.value)} 个工作日，长于改革前办理天数"
                    f"（baseline_days）{_number(b.baseline)} 天",
                    f"time limits may only shrink: item {b.item_code} promises {_number(b.value)} working days, "
                    f"more than its baseline_days ({_number(b.baseline)})")


def check_reason(reason: str | None) -> str:
    """An override's reason: required, plain text of a sensible length."""
    text = " ".join((reason or "").split())
    if len(text) < REASON_MIN:
        raise Invalid("override_reason_required", f"突破“只减不增”须填写理由（至少 {REASON_MIN} 个字）",
                      f"an override of the only-shrink rule needs a reason (at least {REASON_MIN} characters)",
                      field="override_reason")
    if len(text) > REASON_MAX:
        raise Invalid("too_long", f"理由不能超过 {REASON_MAX} 个字", f"the reason is longer than {REASON_MAX} characters",
                      field="override_reason")
    return text


def record_overrides(session, found: list[Breach], user_id: int, reason: str) -> int:
    """Record each breach let in by `user_id` with `reason` (already checked); returns how many."""
    for b in found:
        session.add(BaselineOverride(item_code=b.item_code, rule=b.rule, value=b.value, baseline=b.baseline,
                                     reason=reason, user_id=user_id))
    session.flush()
    return len(found)


def recent_overrides(session, limit: int = 100) -> list:
    """The latest overrides first (the catalogue page lists them)."""
    import sqlalchemy as sa

    return session.execute(sa.select(BaselineOverride).order_by(BaselineOverride.created_at.desc(),
                                                                BaselineOverride.id.desc())
                           .limit(limit)).unique().scalars().all()


def import_file(session, path, divisions: list[str], *, override: tuple[int, str] | None = None) -> dict:
    """Read and import a catalogue file (`flask catalog import`, the administrator's upload): an item over its
    baseline refuses the whole file (CatalogError naming its line), unless `override` = (administrator's user id,
    checked reason), which lets it in and records each breach. Returns import_catalog's counts, and `overrides`
    (how many were recorded) with an override."""
    from delegation.catalog_io import import_catalog, read_catalog
    from delegation.clock import office_hours

    hours = office_hours()
    specs = read_catalog(path, office_hours=hours, over_baseline=override is not None)
    result = import_catalog(session, specs, divisions)
    if override is not None:
        user_id, reason = override
        result["overrides"] = record_overrides(session, breaches(specs, hours), user_id, reason)
    return result


def override_by(session, username: str | None, reason: str | None) -> tuple[int, str]:
    """The override of `flask catalog import --override-reason … --by ADMIN`: an active city administrator's
    account answers for it."""
    import sqlalchemy as sa

    from delegation.models import User
    from delegation.workflow import Role

    user = session.execute(sa.select(User).filter_by(username=username or "")).unique().scalar_one_or_none()
    if user is None or not user.is_active or user.role != Role.ADMIN.value:
        raise Invalid("override_by", f"突破“只减不增”须由在用的市级管理员账号负责（--by），“{username or ''}”不是",
                      f"an override needs an active city administrator's account (--by), not {username!r}",
                      field="by")
    return user.id, check_reason(reason)
