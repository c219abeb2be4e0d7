"""What the window prints for the applicant, as PDF (WeasyPrint): the notices (受理通知书, 一次性告知书, 不予受理通知书),
the decision document (准予/不予行政许可决定书) and the proof of service (送达回证).

Each exists only once the case has reached the point where it was issued. Everything printed is read from the
case as the domain recorded it (the decision document from its frozen content); nothing is decided here. The
legal wording is in app/templates/documents/, plain Chinese an administrator can read; documents are always in
Chinese, whatever language the clerk's interface speaks."""
from __future__ import annotations

from datetime import datetime

from flask import Response, render_template
from flask_babel import force_locale

from app.web.common import _l, local_time
from delegation import limits
from delegation.documents import authorities, decisions as decision_documents, service
from delegation.workflow import MODE_ZH, Mode

KINDS = ("acceptance", "correction", "refusal", "decision", "service")
# the titles of the links on the window's page (in the clerk's language); the documents print their own
TITLES = {"acceptance": _l("受理通知书"), "correction": _l("一次性告知书"), "refusal": _l("不予受理通知书"),
          "grant": _l("准予行政许可决定书"), "denial": _l("不予行政许可决定书"), "service": _l("送达回证")}
ORDER = {"correction": 0, "acceptance": 1, "refusal": 1, "decision": 2, "service": 3}


def available_notices(case) -> list[tuple[str, str]]:
    """(kind, title) of the documents this case has, in the order they were issued."""
    out = []
    if case.accepted_at is not None:
        out.append(("acceptance", TITLES["acceptance"]))
    if case.correction_history:
        out.append(("correction", TITLES["correction"]))
    if case.state == "refused":
        out.append(("refusal", TITLES["refusal"]))
    document = decision_documents.of_case(case) if case.decision else None
    if document is not None:
        out.append(("decision", TITLES[document.kind]))
    if case.handout_method and service.of_case(case) is not None:
        out.append(("service", TITLES["service"]))
    return [(kind, str(title)) for kind, title in sorted(out, key=lambda pair: ORDER[pair[0]])]


def _last_event(case, action: str):
    return next((e for e in reversed(case.events) if e.action == action), None)


def _limit_text(case) -> str:
    if case.item.kind == "instant":
        return "即办件，当场办结"
    if case.limit_unit == "hours":
        return f"{case.promised_limit} 个工作小时"
    return f"{case.promised_limit} 个工作日"


def _route_text(case) -> str:
    """Who decides, by name: the county bureau for a direct item, the city for the other two modes."""
    org, section = authorities.deciding_org(case)
    city = f"{org.name}（{section.name}承办）" if section else org.name
    if case.mode is Mode.DIRECT:
        return f"本事项为直接下放事项，由{org.name}审查并作出决定，审批结果由本窗口送达。"
    if case.mode is Mode.DELEGATED_REVIEW:
        bureau = authorities.county_bureau(case)
        return f"本事项为下放实质性审核权事项，由{bureau.name}进行实质性审核后，报{city}作出决定，审批结果由本窗口送达。"
    return f"本事项实行服务窗口前移，本窗口负责受理和送达，由{city}审查并作出决定。"


def _common(case, kind: str, title: str, date: str) -> dict:
    window = case.window_org
    return {"kind": kind, "title": title, "case_no": case.case_no, "date": date, "doc_no": None,
            "issuer_heading": None, "sealed_by": window.name, "contact": authorities.contact_lines(window),
            "verify_label": "查询码", "verify_code": case.query_code, "applicant_name": case.applicant_name,
            "applicant_id_code": case.applicant_id_code, "item_name": case.item.name, "item_code": case.item.code,
            "mode_title": MODE_ZH[case.mode]}


def notice_context(case, kind: str) -> dict | None:
    """What the document states, or None when the case has no such document."""
    if kind not in dict(available_notices(case)):
        return None
    if kind == "decision":
        return _decision_context(case)
    if kind == "service":
        return _service_context(case)
    if kind == "acceptance":
        ctx = _common(case, kind, "受理通知书", local_time(case.accepted_at, "%Y-%m-%d"))
        ctx.update(
            materials=[m for m in case.materials if m.present],
            committed=[m for m in case.materials if m.committed],
            commitment_deadline=local_time(case.commitment_deadline) if case.commitment_deadline else None,
            due_at=local_time(case.due_at) if case.due_at else None,
            limit_text=_limit_text(case), statutory_limit=case.item.statutory_limit,
            provisional=case.due_basis == "weekends_only", route_text=_route_text(case),
        )
        return ctx
    if kind == "correction":
        notice = (case.correction_history or [])[-1]
        event = _last_event(case, "request_correction")
        at = datetime.fromisoformat(notice["at"]) if notice.get("at") else None
        ctx = _common(case, kind, "一次性告知书", local_time(at, "%Y-%m-%d") if at else "")
        by_code = {m.code: m for m in case.materials}
        ctx.update(items=_notice_items(notice.get("items", []), by_code),
                   note=_capped(event.comment if event is not None else ""))
        return ctx
    event = _last_event(case, "refuse")
    ctx = _common(case, kind, "不予受理通知书", local_time(event.at, "%Y-%m-%d") if event is not None else "")
    ctx.update(reason=_capped(case.refusal_reason), redirect=_capped(case.refusal_redirect),
               materials=[m for m in case.materials if m.present],
               review_authority=authorities.review_authority(case.window_org),
               court=authorities.court(case.window_org))
    return ctx


def _decision_context(case) -> dict:
    document = decision_documents.of_case(case)
    d = document.content
    return {"kind": document.kind, "title": d["title"], "case_no": d["case_no"], "doc_no": d["doc_no"],
            "date": d["decided_date"], "issuer_heading": d["issuer"], "sealed_by": d["issuer"], "contact": [],
            "verify_label": "验证码", "verify_code": d["verify_code"], "d": d}


def _service_context(case) -> dict:
    record = service.of_case(case)
    document = decision_documents.of_case(case)
    served = []
    if document is not None:
        served.append(f"{document.content['title']}（{document.doc_no}）")
    if case.decision == "approve" and case.certificate_no:
        served.append(f"行政许可证件（证书编号 {case.certificate_no}）")
    ctx = _common(case, "service", "送达回证", local_time(record.served_at, "%Y-%m-%d"))
    ctx.update(s=record, served_documents=served or ["审批结果"], served_at=local_time(record.served_at),
               place=case.window_org.address or case.window_org.name, verify_label="验证码",
               verify_code=record.verify_code)
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
        items.append({"name": "", "core": False,
                      "problem": f"……另有 {len(entries) - limits.NOTICE_ITEMS_MAX} 项超出告知书可列的上限，未列出"})
    return items


def render_pdf(html: str) -> bytes:
    import weasyprint  # heavy: only when a document is asked for

    return weasyprint.HTML(string=html).write_pdf()


def render_document(case, kind: str) -> bytes | None:
    """The document's PDF, in Chinese whatever the interface language; None when the case has no such document."""
    with force_locale("zh"):
        ctx = notice_context(case, kind)
        if ctx is None:
            return None
        template = f"documents/{ctx['kind'] if kind == 'decision' else kind}.html"
        return render_pdf(render_template(template, **ctx))


def render_notice(case, kind: str) -> Response | None:
    body = render_document(case, kind)
    if body is None:
        return None
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{kind}-{case.case_no}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response
