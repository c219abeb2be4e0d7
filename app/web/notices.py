"""The window's written notices as PDF (WeasyPrint): 受理通知书, 一次性告知书, 不予受理通知书.

Each notice exists only once the case has reached the point where the window issued it: acceptance once the
case was accepted, the correction notice once a one-time notice was given, the refusal notice for a refused case.
Everything on a notice is read from the case as the domain recorded it; nothing is decided here."""
from __future__ import annotations

from flask import Response, render_template

from app.web.common import _, _l, local_time
from delegation import limits

KINDS = ("acceptance", "correction", "refusal")
TITLES = {"acceptance": _l("受理通知书"), "correction": _l("一次性告知书"), "refusal": _l("不予受理通知书")}


def available_notices(case) -> list[tuple[str, str]]:
    """(kind, title) of the notices this case has, in the order they were issued."""
    out = []
    if case.accepted_at is not None:
        out.append("acceptance")
    if case.correction_history:
        out.append("correction")
    if case.state == "refused":
        out.append("refusal")
    order = {"correction": 0, "acceptance": 1, "refusal": 1}
    return [(k, str(TITLES[k])) for k in sorted(out, key=order.get)]


def _last_event(case, action: str):
    return next((e for e in reversed(case.events) if e.action == action), None)


def _limit_text(case) -> str:
    if case.item.kind == "instant":
        return _("即办件，当场办结")
    if case.limit_unit == "hours":
        return _("%(n)s 个工作小时", n=case.promised_limit)
    return _("%(n)s 个工作日", n=case.promised_limit)


def notice_context(case, kind: str) -> dict | None:
    """What the notice states, or None when the case has no such notice."""
    if kind not in dict(available_notices(case)):
        return None
    by_code = {m.code: m for m in case.materials}
    ctx = {"case": case, "kind": kind, "title": str(TITLES[kind]), "window_name": case.window_org.name,
           "item_name": case.item.name, "mode": case.mode}
    if kind == "acceptance":
        ctx.update(
            date=local_time(case.accepted_at, "%Y-%m-%d"),
            materials=[m for m in case.materials if m.present],
            committed=[m for m in case.materials if m.committed],
            commitment_deadline=local_time(case.commitment_deadline) if case.commitment_deadline else None,
            due_at=local_time(case.due_at) if case.due_at else None,
            limit_text=_limit_text(case),
            statutory_limit=case.item.statutory_limit,
            provisional=case.due_basis == "weekends_only",
        )
    elif kind == "correction":
        notice = (case.correction_history or [])[-1]
        event = _last_event(case, "request_correction")
        from datetime import datetime

        at = datetime.fromisoformat(notice["at"]) if notice.get("at") else None
        ctx.update(date=local_time(at, "%Y-%m-%d") if at else "", items=_notice_items(notice.get("items", []), by_code),
                   note=_capped(event.comment if event is not None else ""),
                   present=[m for m in case.materials if m.present])
    else:
        event = _last_event(case, "refuse")
        ctx.update(date=local_time(event.at, "%Y-%m-%d") if event is not None else "",
                   reason=_capped(case.refusal_reason), redirect=_capped(case.refusal_redirect),
                   materials=[m for m in case.materials if m.present])
    return ctx


def _capped(text: str | None, limit: int = limits.NOTICE_TEXT_MAX) -> str:
    """A text as the notice prints it: what the input bounds allow; longer stored text is cut, visibly."""
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "……"


def _notice_items(entries: list[dict], by_code: dict) -> list[dict]:
    """The rows of a correction notice. The request bounds keep a notice to one row per material and a few more;
    the cap here guards the renderer against rows stored before those bounds (3,000 rows took 732 s to print)."""
    items = []
    for entry in entries[:limits.NOTICE_ITEMS_MAX]:
        material = by_code.get(entry.get("material_code"))
        items.append({"name": material.name if material else "", "core": bool(material and material.core),
                      "problem": _capped(entry.get("problem"), limits.PROBLEM_MAX)})
    if len(entries) > limits.NOTICE_ITEMS_MAX:
        items.append({"name": "", "core": False, "problem": _("……另有 %(n)s 项超出告知书可列的上限，未列出",
                                                               n=len(entries) - limits.NOTICE_ITEMS_MAX)})
    return items


def render_pdf(html: str) -> bytes:
    import weasyprint  # heavy: only when a notice is asked for

    return weasyprint.HTML(string=html).write_pdf()


def render_notice(case, kind: str) -> Response | None:
    ctx = notice_context(case, kind)
    if ctx is None:
        return None
    body = render_pdf(render_template(f"notices/{kind}.html", **ctx))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{kind}-{case.case_no}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response
