"""The case page (办件详情): header, deadline with its pauses, responsible parties, the timeline of every event,
the exchange messages of the case, supervision feedback, materials with their files, and links to the desk work
page of the user's role. Also the pieces the review and city desks share: loading a visible case, the file
download route (/cases/<case_no>/files/<id>), the materials-with-files listing and the county opinion (the commit
and rollback rule of the pages is app/web/unit_of_work.py).

Everything is said in the page language with names: organisations and staff by name (never `360730-bureau` or
`org@node`), materials by name beside their code, and the lines the system wrote in Chinese (workflow notes, the
bus's supervision lines) read in the page language when rendered.

Who sees what:
- the page and the files: whoever `cases.get_case(actor, no)` admits (another county's case is a 404);
- the exchange messages of the case: administrators only (the staff who handle cases read the timeline; the bus's
  message types and delivery states are the administrator's to watch; regulators cannot see cases at all);
- supervision feedback, and what the timeline's supervision lines say: as `supervision.push_queries.sees_supervision`
  decides (the approvers who decided, admins), the rule of the supervision API too.
"""
from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, flash, render_template, url_for
from flask_login import current_user

from app.extensions import db
from app.web import register_page_errors, requires
from app.web.common import _, _l, action_label, peer_org, staff_name
from delegation.errors import DomainError
from delegation.workflow import Action, Mode, Role, State, SuspensionKind, allowed_actions

bp = Blueprint("web_case", __name__)
register_page_errors(bp)

# Timeline lines that are not workflow actions (intake, routing, the bus, supervision).
EVENT_LABEL = {
    # 材料邮寄 (issue 19, delegation/mailing.py)
    "originals_mailed": _l("邮寄原件"), "originals_received": _l("原件签收"), "originals_overdue": _l("原件邮寄逾期未签收"),
    "submit": _l("登记申请"), "route": _l("转县级审批"), "forward": _l("转报市级"), "receive": _l("市级收到转报件"),
    "receive_supplement": _l("收到补交材料"), "receive_return": _l("县级收到市级退回"),
    "receive_decision": _l("收到审批结果"), "forward_rejected": _l("市级拒收转报"),
    "forward_acknowledged": _l("市级已签收"), "supervision_claim": _l("监管部门认领"),
    "supervision_feedback": _l("监管结果反馈"), "supervision_closed": _l("监管办结"),
    "remind": _l("催办"),  # issue 15: delegation/reminders.py
    "claim": _l("领取"), "assign": _l("分派"), "release": _l("退回本单位"),  # issue 15: delegation/assignment.py
    "receive_transfer": _l("收到转办"),  # issue 15: delegation/transfer.py (the window's node learns of a 转办)
    "site_inspection": _l("现场踏勘记录"),  # issue 17: delegation/inspections.py
    "commitment_verification": _l("告知承诺核查"),  # issue 17: supervision/commitment_checks.py
}
SUSPENSION_LABEL = {kind.value: kind.label for kind in SuspensionKind}
RECOMMENDATION_LABEL = {"approve": _l("同意"), "deny": _l("不同意")}
PARTY_LABEL = {"accepting": _l("受理（首问负责）"), "reviewing": _l("审核"), "deciding": _l("决定"),
               "answers_for_review": _l("对审核负责"), "answers_for_result": _l("对审批结果负责"),
               "supervising": _l("监管"), "hands_out": _l("出件")}
DIRECTION_LABEL = {"in": _l("收到"), "out": _l("发出")}
MESSAGE_ROLES = {Role.ADMIN}
# The notes the system writes on the timeline (workflow.Transition.note, the bus's lines) are stored in Chinese, as
# the record is; they are read in the page language (tests/unit check that every workflow note is here).
SYSTEM_NOTE = {
    "转县级审批": _l("转县级审批"), "受理后自动转报市级": _l("受理后自动转报市级"),
    "市级收到转报件": _l("市级收到转报件"), "市级收到补交材料": _l("市级收到补交材料"),
    "县级收到市级退回": _l("县级收到市级退回"), "窗口收到审批结果，待出件": _l("窗口收到审批结果，待出件"),
    "市级已签收": _l("市级已签收"), "容缺承诺逾期未补齐材料": _l("容缺承诺逾期未补齐材料"), "监管已办结": _l("监管已办结"),
    "全市通办：转有权县级审批": _l("全市通办：转有权县级审批"), "有权县级收到全市通办件": _l("有权县级收到全市通办件"),
    "受理窗口已撤回申请": _l("受理窗口已撤回申请"), "受理窗口已终止办件": _l("受理窗口已终止办件"),
    "有权县级启动特别程序": _l("有权县级启动特别程序"), "有权县级收到补正材料": _l("有权县级收到补正材料"),
    "有权县级结束特别程序": _l("有权县级结束特别程序"),
}
MESSAGE_TYPE_LABEL = {
    "case.forward": _l("转报"), "case.supplement": _l("补交材料"), "case.return": _l("退回"),
    "case.decision": _l("审批结果"), "supervision.push": _l("监管推送"), "supervision.claim": _l("监管认领"),
    "supervision.feedback": _l("监管反馈"), "delegation.change": _l("下放调整"), "receipt": _l("回执"),
    "case.transfer": _l("转办"), "case.reminder": _l("催办"),  # issue 15
    "case.closure": _l("撤回或终止"), "case.suspension": _l("特别程序"),  # issue 17, 全市通办
    "supervision.commitment_result": _l("告知承诺核查"),  # issue 17
}
STEP_LABEL = {"county": _l("县级审核"), "city": _l("市级审查")}
CREDIT_KIND_LABEL = {"broken_commitment": _l("容缺承诺逾期未履行"), "false_commitment": _l("告知承诺不实（黑名单）"),
                     "penalty": _l("行政处罚")}
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg"}


# -- shared by the desks --------------------------------------------------------------------------------------

def actor():
    return current_user.actor


def load_case(case_no: str):
    """The case if this user may see it; anyone else gets the 404 page (another county's case looks absent)."""
    from delegation import cases

    try:
        return cases.get_case(actor(), case_no)
    except DomainError:
        abort(404)


# Rows whose guard depends on where the case stands, not on what the form brings: an action they refuse is not
# offered (a resume of a suspension the other level started). Guards about the input are the form's to explain.
_STANDING_GUARDS = frozenset({"suspended_here"})


def my_actions(case) -> list[str]:
    """What this user may do on the case now: its state's rows for the role and mode, less those a standing guard
    refuses, so that a page never offers a button that can only fail."""
    from delegation import engine
    from delegation.workflow import transitions_for

    me, state, mode = actor(), State(case.state), Mode(case.mode)
    offered = []
    for action in allowed_actions(state, me.role, mode):
        rows = [t for t in transitions_for(state, action) if t.role is me.role and mode in t.modes]
        if all(t.guard in _STANDING_GUARDS and not _guard_holds(engine.GUARDS[t.guard], case, me) for t in rows):
            continue
        offered.append(action.value)
    return offered


def _guard_holds(check, case, me) -> bool:
    try:
        check(case, me, {}, None)
    except DomainError:
        return False
    return True


def event_label(action: str) -> str:
    if action in EVENT_LABEL:
        return str(EVENT_LABEL[action])
    return action_label(action)


def flash_done(action: str, case_no: str) -> None:
    flash(_("%(case_no)s：%(action)s 已完成", case_no=case_no, action=event_label(action)), "info")


def lines(text: str | None) -> list[str]:
    """A multi-line field as a list of reasons: one per line, blanks dropped."""
    return [ln.strip() for ln in (text or "").splitlines() if ln.strip()]


def materials_with_files(case) -> list[dict]:
    files_by_code: dict[str, list] = {}
    for f in case.files:
        files_by_code.setdefault(f.material_code, []).append(f)
    rows = [{"material": m, "files": files_by_code.pop(m.code, [])} for m in case.materials]
    leftovers = [f for fs in files_by_code.values() for f in fs]
    if leftovers:
        rows.append({"material": None, "files": leftovers})
    return rows


def county_opinion(case) -> dict | None:
    """The county's review opinion as it travelled with the case: the latest review event (its comment/data), or
    the case's review columns (a city copy made from the forward carries those)."""
    for ev in reversed(case.events):
        if ev.action == Action.REVIEW.value:
            data = ev.data or {}
            return {"opinion": data.get("opinion") or ev.comment or case.review_opinion,
                    "recommendation": data.get("recommendation") or case.review_recommendation,
                    "by": ev.actor, "at": ev.at}
    if case.review_opinion:
        return {"opinion": case.review_opinion, "recommendation": case.review_recommendation,
                "by": case.reviewed_by, "at": case.reviewed_at}
    return None


def org_names(codes) -> dict[str, str]:
    from delegation.models import Org

    codes = {c for c in codes if c}
    if not codes:
        return {}
    return dict(db.session.execute(sa.select(Org.code, Org.name).where(Org.code.in_(codes))).all())


def credit_warnings(case) -> list[dict]:
    from supervision import credit

    try:
        found = credit.warnings_for(case.applicant_id_code)
    except DomainError:
        return []
    return [{**w, "kind_label": str(CREDIT_KIND_LABEL.get(w["kind"], w["kind_zh"]))} for w in found]


def work_page_url(case) -> str | None:
    """The desk page where this user acts on the case, when they have something to do on it."""
    if not my_actions(case):
        return None
    role = actor().role
    if role is Role.REVIEWER:
        return url_for("web_review.case", case_no=case.case_no)
    if role is Role.CITY_APPROVER:
        return url_for("web_city.case", case_no=case.case_no)
    if role is Role.WINDOW:
        for endpoint in ("web_window.case", "web_window.show", "web_window.work"):
            if endpoint in current_app.view_functions:
                return url_for(endpoint, case_no=case.case_no)
        return url_for("web_window.desk")
    return None


def page_context(case) -> dict:
    """What every page about one case shows around its forms."""
    from delegation.models import Division

    from delegation.clock import deadline_details

    county_name = db.session.execute(sa.select(Division.name).filter_by(code=case.county_code)).scalar()
    return {"case": case, "materials": materials_with_files(case), "warnings": credit_warnings(case),
            "county_name": county_name or case.county_code,
            "opinion": county_opinion(case), "actions": my_actions(case),
            "suspension_label": SUSPENSION_LABEL, "recommendation_label": RECOMMENDATION_LABEL,
            "inline_types": INLINE_TYPES, "timeline": _timeline(case), "deadline": deadline_details(case),
            "step_label": STEP_LABEL}


# -- the pages ------------------------------------------------------------------------------------------------

def _timeline(case) -> list[dict]:
    """Every line of the case's history in the page language, with names for people and organisations."""
    from supervision.push_queries import is_supervision_line, sees_supervision

    names = org_names({ev.actor_org for ev in case.events} | {peer_org(ev.actor) for ev in case.events}
                      | {peer_org((ev.data or {}).get("by")) for ev in case.events})
    materials = {m.code: m.name for m in case.materials}
    supervision_shown = sees_supervision(actor(), case)
    rows = []
    for ev in case.events:
        line = _line(ev, names)
        if is_supervision_line(ev.action) and not supervision_shown:
            rows.append(line)  # that supervision happened, not what it found
            continue
        data = ev.data or {}
        reasons = data.get("reasons") or []
        line.update({
            "comment": _comment(ev, data, names),
            "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)],
            "notice_items": [{**i, "material_name": materials.get(i.get("material_code"))}
                             for i in data.get("items") or [] if isinstance(i, dict)],
            "opinion": data.get("opinion"), "recommendation": data.get("recommendation"),
            "kind": _kind_label(ev.action, data.get("kind")), "expected_end": data.get("expected_end"),
            "certificate_no": data.get("certificate_no"), "reason": data.get("reason"),
            "decision_no": data.get("decision_no"), "amount": data.get("amount"),
            "rectification_ordered": bool(data.get("rectification_ordered")),
        })
        rows.append(line)
    return rows


def _line(ev, names: dict) -> dict:
    """A timeline line's who, where and what, without what it says (the line of supervision others may not read)."""
    return {"at": ev.at, "action": ev.action, "label": event_label(ev.action), "who": staff_name(ev.actor, names),
            "username": ev.actor_username,
            "org": names.get(ev.actor_org) or (_("对方单位") if ev.actor_org else ""),
            "from_state": ev.from_state, "to_state": ev.to_state, "comment": None, "reasons": [], "notice_items": []}


def _comment(ev, data: dict, names: dict) -> str | None:
    """What a line says: a person's own words as written; what the system wrote, in the page language."""
    from supervision.models import FeedbackKind

    comment = ev.comment or ""
    if ev.action == "supervision_claim" and data.get("by"):
        return _("监管部门已认领：%(by)s", by=staff_name(data["by"], names))
    if ev.action == "supervision_feedback" and data.get("kind") in FeedbackKind._value2member_map_:
        # written by the bus as 监管反馈（kind）：result[；监管已办结]: the regulator's result is what is theirs
        prefix, done = f"监管反馈（{FeedbackKind(data['kind']).title_zh}）：", "；监管已办结"
        result = comment[len(prefix):] if comment.startswith(prefix) else comment
        if data.get("supervision_done") and result.endswith(done):
            return result[:-len(done)] + "；" + _("监管已办结")
        return result or None
    if comment in SYSTEM_NOTE:
        note = str(SYSTEM_NOTE[comment])
        return None if note == event_label(ev.action) else note  # the step's own name says it already
    return comment or None


def _kind_label(action: str, kind) -> str | None:
    """The kind of a suspension or of a supervision feedback, by its title."""
    from supervision.models import FeedbackKind

    if not kind:
        return None
    if action.startswith("supervision_") and kind in FeedbackKind._value2member_map_:
        return str(FeedbackKind(kind).label)
    return str(SUSPENSION_LABEL.get(kind, kind))


def _pauses(case) -> list[dict]:
    """Suspensions and returns for correction, from the timeline: when the clock stopped and started again."""
    pauses, open_pause = [], None
    for ev in case.events:
        if ev.action in (Action.SUSPEND.value, Action.REQUEST_CORRECTION.value) or (
                ev.action == Action.RETURN.value and Mode(case.mode) is Mode.FORWARD_ONLY):
            data = ev.data or {}
            kind = data.get("kind")
            open_pause = {"start": ev.at, "end": None, "action": event_label(ev.action),
                          "kind": str(SUSPENSION_LABEL.get(kind, kind or "")), "expected_end": data.get("expected_end"),
                          "comment": ev.comment}
            pauses.append(open_pause)
        elif ev.action in (Action.RESUME.value, Action.RESUBMIT.value) and open_pause is not None:
            open_pause["end"] = ev.at
            open_pause = None
    return pauses


def _messages(case) -> list[dict] | None:
    """The case's exchange messages, for administrators only, their type and state in words."""
    if actor().role not in MESSAGE_ROLES:
        return None
    from app.web.admin import MESSAGE_STATE_LABEL
    from exchange import operations

    rows, _next = operations.message_log(case_no=case.case_no, limit=200)
    return [{**r, "type_label": str(MESSAGE_TYPE_LABEL.get(r["type"], r["type"] or "—")),
             "state_label": str(MESSAGE_STATE_LABEL.get(r["state"], r["state_label"]))} for r in rows]


def _supervision(case) -> list[dict] | None:
    from app.api.supervision_api import case_views
    from supervision.models import FeedbackKind

    try:
        views = case_views(actor(), case.case_no)
    except DomainError:
        return None
    codes = {v["supervising_org"] for v in views} | {peer_org(v["claimed_by"]) for v in views} | {
        peer_org(f["by"]) for v in views for f in v["feedback"]}
    names = org_names(codes)
    return [{**v, "supervising_org_name": names.get(v["supervising_org"]) or _("对方单位"),
             "claimed_by": staff_name(v["claimed_by"], names),
             "feedback": [{**f, "kind_label": str(FeedbackKind(f["kind"]).label), "by": staff_name(f["by"], names)}
                          for f in v["feedback"]]} for v in views]


@bp.get("/cases/<case_no>")
@requires(lambda u: True)
def show(case_no: str):
    case = load_case(case_no)
    return render_template(
        "case/show.html", **page_context(case), **_parties(case), pauses=_pauses(case), messages=_messages(case),
        supervision=_supervision(case), direction_label=DIRECTION_LABEL, work_url=work_page_url(case))


def _parties(case) -> dict:
    """Who answers for what on the case, with the names of every organisation the page mentions."""
    from delegation.responsibility import responsible_parties

    parties = responsible_parties(case)
    names = org_names([*parties.values(), case.department_code, case.decided_org])
    return {"parties": [(str(PARTY_LABEL.get(k, k)), v, names.get(v, v)) for k, v in parties.items()],
            "org_name": names}


@bp.get("/cases/<case_no>/files/<int:file_id>")
@requires(lambda u: True)
def file(case_no: str, file_id: int):
    """An uploaded file, streamed with its checked content type, only to users who may see the case."""
    record = next((f for f in load_case(case_no).files if f.id == file_id), None)
    if record is None:
        abort(404)
    return _file_response(record, _blob_path(record))


def _blob_path(record):
    """Where the file's bytes are; a 404 when the store has no such blob."""
    from exchange.bus import get_bus

    try:
        path = get_bus().blobs.path(record.sha256)
    except ValueError:
        abort(404)
    if not path.exists():
        abort(404)
    return path


def _file_response(record, path):
    def stream():
        with open(path, "rb") as fh:
            while chunk := fh.read(64 * 1024):
                yield chunk

    media_type = record.media_type if record.media_type in INLINE_TYPES else "application/octet-stream"
    disposition = "inline" if media_type in INLINE_TYPES else "attachment"
    response = Response(stream(), mimetype=media_type)
    response.headers["Content-Length"] = str(path.stat().st_size)
    response.headers["Content-Disposition"] = (f"{disposition}; filename=\"file-{record.id}\"; "
                                               f"filename*=UTF-8''{quote(record.original_name)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
