"""The case page (办件详情): header, deadline with its pauses, responsible parties, the timeline of every event,
the exchange messages of the case, supervision feedback, materials with their files, and links to the desk work
page of the user's role. Also the pieces the review and city desks share: loading a visible case, the file
download route (/cases/<case_no>/files/<id>), the materials-with-files listing and the county opinion (the commit
and rollback rule of the pages is app/web/unit_of_work.py).

Who sees what:
- the page and the files: whoever `cases.get_case(actor, no)` admits (another county's case is a 404);
- the exchange messages of the case: administrators, county reviewers and city approvers (the window does not
  read the bus; regulators cannot see cases at all);
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
from app.web.common import _, _l, action_label
from delegation.errors import DomainError
from delegation.workflow import Action, Mode, Role, State, SuspensionKind, allowed_actions

bp = Blueprint("web_case", __name__)
register_page_errors(bp)

# Timeline lines that are not workflow actions (intake, routing, the bus, supervision).
EVENT_LABEL = {
    "submit": _l("登记申请"), "route": _l("转县级审批"), "forward": _l("转报市级"), "receive": _l("市级收到转报件"),
    "receive_supplement": _l("收到补交材料"), "receive_return": _l("县级收到市级退回"),
    "receive_decision": _l("收到审批结果"), "forward_rejected": _l("市级拒收转报"),
    "forward_acknowledged": _l("市级已签收"), "supervision_claim": _l("监管部门认领"),
    "supervision_feedback": _l("监管结果反馈"), "supervision_closed": _l("监管办结"),
}
SUSPENSION_LABEL = {kind.value: kind.label for kind in SuspensionKind}
RECOMMENDATION_LABEL = {"approve": _l("同意"), "deny": _l("不同意")}
PARTY_LABEL = {"accepting": _l("受理（首问负责）"), "reviewing": _l("审核"), "deciding": _l("决定"),
               "answers_for_review": _l("对审核负责"), "answers_for_result": _l("对审批结果负责"),
               "supervising": _l("监管"), "hands_out": _l("出件")}
DIRECTION_LABEL = {"in": _l("收到"), "out": _l("发出")}
MESSAGE_ROLES = {Role.ADMIN, Role.REVIEWER, Role.CITY_APPROVER}
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


def my_actions(case) -> list[str]:
    return [a.value for a in allowed_actions(State(case.state), actor().role, Mode(case.mode))]


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
        return credit.warnings_for(case.applicant_id_code)
    except DomainError:
        return []


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

    county_name = db.session.execute(sa.select(Division.name).filter_by(code=case.county_code)).scalar()
    return {"case": case, "materials": materials_with_files(case), "warnings": credit_warnings(case),
            "county_name": county_name or case.county_code,
            "opinion": county_opinion(case), "actions": my_actions(case),
            "suspension_label": SUSPENSION_LABEL, "recommendation_label": RECOMMENDATION_LABEL,
            "inline_types": INLINE_TYPES}


# -- the pages ------------------------------------------------------------------------------------------------

def _timeline(case) -> list[dict]:
    from supervision.push_queries import is_supervision_line, sees_supervision

    names = org_names(ev.actor_org for ev in case.events)
    supervision_shown = sees_supervision(actor(), case)
    rows = []
    for ev in case.events:
        if is_supervision_line(ev.action) and not supervision_shown:
            rows.append(_line_without_details(ev, names))  # that supervision happened, not what it found
            continue
        data = ev.data or {}
        reasons = data.get("reasons") or []
        items = data.get("items") or []
        rows.append({
            "at": ev.at, "action": ev.action, "label": event_label(ev.action), "who": ev.actor,
            "username": ev.actor_username, "org": names.get(ev.actor_org, ev.actor_org),
            "from_state": ev.from_state, "to_state": ev.to_state, "comment": ev.comment,
            "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)],
            "notice_items": [i for i in items if isinstance(i, dict)],
            "opinion": data.get("opinion"), "recommendation": data.get("recommendation"),
            "kind": data.get("kind"), "expected_end": data.get("expected_end"),
            "certificate_no": data.get("certificate_no"), "reason": data.get("reason"),
        })
    return rows


def _line_without_details(ev, names: dict) -> dict:
    return {"at": ev.at, "action": ev.action, "label": event_label(ev.action), "who": ev.actor,
            "username": ev.actor_username, "org": names.get(ev.actor_org, ev.actor_org),
            "from_state": ev.from_state, "to_state": ev.to_state, "comment": None, "reasons": [], "notice_items": []}


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
    if actor().role not in MESSAGE_ROLES:
        return None
    from exchange import operations

    rows, _next = operations.message_log(case_no=case.case_no, limit=200)
    return rows


def _supervision(case) -> list[dict] | None:
    from app.api.supervision_api import case_views

    try:
        return case_views(actor(), case.case_no)
    except DomainError:
        return None


@bp.get("/cases/<case_no>")
@requires(lambda u: True)
def show(case_no: str):
    from delegation.clock import deadline_details

    case = load_case(case_no)
    return render_template(
        "case/show.html", **page_context(case), **_parties(case), deadline=deadline_details(case),
        pauses=_pauses(case), timeline=_timeline(case), messages=_messages(case), supervision=_supervision(case),
        direction_label=DIRECTION_LABEL, work_url=work_page_url(case))


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
