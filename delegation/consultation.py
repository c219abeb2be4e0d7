"""会商 (issue 15): a county window or reviewer asks the competent city department about an item (before any
application exists) or about a case, in a thread of messages with files.

- The thread travels as `consultation.open`, every later message (the city's reply, the county's follow-up, its
  closing) as `consultation.message`: signed, acknowledged and applied exactly once like the case messages. The
  exchange header's CaseNo carries the thread number and Sequence orders the thread's messages per sender, so a
  follow-up never overtakes its opening on the way.
- The city answers within CONSULTATION_REPLY_HOURS office hours (the working-day calendar); a thread still waiting
  past that reminds the department once (`remind_unanswered`, in the notification job); a follow-up starts a new
  limit. The opener is told of each reply, the department of each opening and follow-up (notification "consultation").
- Who sees a thread: the staff of its county (window and reviewers, as they see the county's cases), the city
  department it is addressed to, and the bureau's city approvers (who serve every department). Nobody else: every
  query goes through `_visible`.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

import sqlalchemy as sa

from delegation import clock, deadlines, grants
from delegation.actors import Actor, person_of
from delegation.cases import get_case
from delegation.consultation_models import ConsultationFile, ConsultationMessage, ConsultationThread
from delegation.errors import Conflict, Forbidden, Invalid, NotFound
from delegation.models import Org, User
from delegation.notifications import notify_holder, notify_users
from delegation.text_rules import required_text
from delegation.uploads import _display_name, read_checked
from delegation.workflow import Role
from exchange.bus import get_bus
from exchange.envelope import Attachment
from exchange.errors import ExchangeRejected
from exchange.handlers import applies, on_receipt
from exchange.outbox import enqueue
from persistence import db, utcnow

log = logging.getLogger(__name__)

SUBJECT_MAX = 100
TEXT_MAX = 2000
FILES_MAX = 5
FILE_BYTES_MAX = 10 * 1024 * 1024
LIST_LIMIT = 200
COUNTY_ROLES = (Role.WINDOW, Role.REVIEWER)


# -- who sees what ---------------------------------------------------------------------------------------------

def _visible(actor: Actor):
    if actor.role in COUNTY_ROLES:
        return ConsultationThread.county_code == actor.division_code
    if actor.role is Role.CITY_APPROVER:
        if actor.org_kind == "city_section":
            return ConsultationThread.to_org == actor.org_code
        return ConsultationThread.to_org.in_(sa.select(Org.code).where(Org.level == "city"))
    return sa.false()


def may_open(actor: Actor) -> bool:
    return actor.role in COUNTY_ROLES


def threads(actor: Actor, *, case_no: str | None = None, limit: int = LIST_LIMIT) -> list[ConsultationThread]:
    """The actor's threads, those waiting for an answer first, newest activity first."""
    query = sa.select(ConsultationThread).where(_visible(actor))
    if case_no is not None:
        query = query.where(ConsultationThread.case_no == case_no)
    waiting_first = sa.case((ConsultationThread.state == "waiting", 0), else_=1)
    return list(db.session.execute(query.order_by(waiting_first, ConsultationThread.last_at.desc(),
                                                  ConsultationThread.id.desc()).limit(limit)).scalars())


def unanswered_count(actor: Actor) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(ConsultationThread)
                              .where(_visible(actor), ConsultationThread.state == "waiting")).scalar_one()


def get_thread(actor: Actor, thread_no: str, for_update: bool = False) -> ConsultationThread:
    query = sa.select(ConsultationThread).where(ConsultationThread.thread_no == (thread_no or "")[:40],
                                                _visible(actor))
    if for_update:
        query = query.with_for_update()
    thread = db.session.execute(query).scalar_one_or_none()
    if thread is None:
        raise NotFound("thread_not_found", f"会商 {thread_no} 不存在", f"consultation {thread_no} not found",
                       field="thread_no")
    return thread


def file_of(actor: Actor, thread_no: str, file_id: int) -> ConsultationFile:
    thread = get_thread(actor, thread_no)
    found = db.session.execute(
        sa.select(ConsultationFile).join(ConsultationMessage, ConsultationMessage.id == ConsultationFile.message_id)
        .where(ConsultationFile.id == file_id, ConsultationMessage.thread_id == thread.id)).scalar_one_or_none()
    if found is None:
        raise NotFound("file_not_found", "文件不存在", "file not found", field="file")
    return found


def overdue(thread: ConsultationThread, now: datetime | None = None) -> bool:
    return thread.state == "waiting" and thread.reply_due_at is not None and (now or utcnow()) > thread.reply_due_at


def may_reply(actor: Actor, thread: ConsultationThread) -> bool:
    return actor.role is Role.CITY_APPROVER and thread.state != "closed" and not thread.rejected_reason


def may_follow_up(actor: Actor, thread: ConsultationThread) -> bool:
    return actor.role in COUNTY_ROLES and thread.state != "closed" and not thread.rejected_reason


# -- opening and writing -----------------------------------------------------------------------------------------

def _read_files(files) -> list[tuple[str, str, bytes]]:
    """(display name, actual media type, bytes) of each upload, checked by content like the case materials."""
    files = [f for f in (files or []) if f is not None and getattr(f, "filename", None)]
    if len(files) > FILES_MAX:
        raise Invalid("too_many_files", f"每条消息最多附 {FILES_MAX} 个文件", f"at most {FILES_MAX} files a message",
                      field="files")
    limit = min(get_bus().settings.max_upload_bytes, FILE_BYTES_MAX)
    out = []
    for f in files:
        try:
            data, media_type = read_checked(f.stream, f.content_type or "", limit)
        except Invalid as exc:
            raise Invalid(exc.code, f"{_display_name(f.filename)}：{exc.zh}", f"{f.filename}: {exc.en}",
                          field="files") from None
        out.append((_display_name(f.filename), media_type, data))
    return out


def _store(files: list[tuple[str, str, bytes]]) -> list[Attachment]:
    blobs = get_bus().blobs
    return [Attachment(name=name, media_type=media_type, size=len(data), sha256=blobs.put(data))
            for name, media_type, data in files]


def _reply_due(now: datetime) -> datetime:
    hours = get_bus().settings.consultation_reply_hours
    return deadlines.add_office_hours(clock.load_calendar(), now, hours, clock.office_hours())


def _department(code: str | None, field: str = "to_org") -> Org:
    """The city organisation addressed, which a node this one can reach must host."""
    org = db.session.execute(sa.select(Org).where(Org.code == (code or "").strip()[:40])).scalar_one_or_none()
    bus = get_bus()
    if org is None or org.level != "city":
        raise Invalid("org_unknown", f"市级部门 {code} 不存在", f"no city department {code}", field=field)
    if org.node_id != bus.node_id and not bus.trust.knows(org.node_id):
        raise Invalid("org_not_hosted", f"{org.name}所在的节点未接入交换，无法会商",
                      f"no node this one exchanges with hosts {org.code}", field=field)
    return org


def open_choices(actor: Actor) -> dict:
    """What the opening form offers by name: the items delegated to the actor's county, and the city departments
    a node this one exchanges with hosts. Nothing for staff who do not open threads (the city answers them)."""
    if not may_open(actor):
        return {"items": [], "departments": []}
    items = [(v["item_code"], v["item_name"]) for v in grants.states(county=actor.division_code, only="granted")]
    bus = get_bus()
    departments = [(o.code, o.name) for o in db.session.execute(
        sa.select(Org).where(Org.level == "city").order_by(Org.code)).scalars()
        if o.node_id == bus.node_id or bus.trust.knows(o.node_id)]
    return {"items": items, "departments": departments}


def _subject_item(actor: Actor, item_code: str | None, case_no: str | None):
    """(item code, item name, case number or None): from the case when one is named, which must be the county's."""
    case_no = (case_no or "").strip()[:40]
    if case_no:
        try:
            case = get_case(actor, case_no)
        except NotFound:
            raise Invalid("case_unknown", f"本县没有办件 {case_no}", f"your county has no case {case_no}",
                          field="case_no") from None
        return case.item, case.case_no
    if not (item_code or "").strip():
        raise Invalid("required", "请选择事项或填写办件编号", "an item or a case number is required", field="item_code")
    item = grants.find_item(item_code, field="item_code")
    if not grants.state(item, grants.find_county(actor.division_code))["granted"]:
        raise Invalid("item_not_delegated", f"事项 {item.code} 未下放到本县", f"item {item.code} is not delegated to "
                      "your county", field="item_code")
    return item, None


def open_thread(actor: Actor, *, subject: str | None, text: str | None, item_code: str | None = None,
                case_no: str | None = None, to_org: str | None = None, files=(), now: datetime | None = None
                ) -> ConsultationThread:
    if not may_open(actor):
        raise Forbidden("role_forbidden", "只有县级窗口和审批人员可以发起会商",
                        "only county window staff and reviewers open a consultation")
    now = now or utcnow()
    subject = required_text(subject, SUBJECT_MAX, "subject", "会商主题")
    text = required_text(text, TEXT_MAX, "text", "会商内容")
    item, case_no = _subject_item(actor, item_code, case_no)
    department = _department(to_org if (to_org or "").strip() else item.department_code)
    attachments = _store(_read_files(files))
    thread = ConsultationThread(
        thread_no=f"HS-{uuid.uuid4().hex}", subject=subject, item_code=item.code, item_name=item.name,
        case_no=case_no, county_code=actor.division_code, from_org=actor.org_code, from_node=get_bus().node_id,
        to_org=department.code, to_node=department.node_id, opened_by=actor.label, opener_username=actor.username,
        opened_at=now, state="waiting", reply_due_at=_reply_due(now), last_at=now)
    db.session.add(thread)
    body = {"subject": subject, "item_code": item.code, "item_name": item.name, "case_no": case_no, "text": text,
            "opened_by": actor.label, "opened_at": now, "reply_due_at": thread.reply_due_at}
    sent = enqueue("consultation.open", from_org=actor.org_code, to_node=department.node_id, to_org=department.code,
                   body=body, case_no=thread.thread_no, attachments=attachments)
    _record(thread, sent.message_id, "open", text, actor.label, actor.org_code, now, attachments)
    return thread


def post(actor: Actor, thread_no: str, kind: str | None, text: str | None, files=(),
         now: datetime | None = None) -> ConsultationMessage:
    """The city's reply, or the county's follow-up or closing."""
    now = now or utcnow()
    if kind not in ("reply", "follow_up", "close"):
        raise Invalid("kind_unknown", "消息类型无效", "kind must be reply, follow_up or close", field="kind")
    thread = get_thread(actor, thread_no, for_update=True)
    allowed = may_reply(actor, thread) if kind == "reply" else may_follow_up(actor, thread)
    if thread.state == "closed" or thread.rejected_reason:
        raise Conflict("thread_closed", "会商已结束，不能再发消息", "the consultation is closed", field="kind")
    if not allowed:
        raise Forbidden("role_forbidden", "市级部门答复，县级追问或结束会商",
                        "the city department replies; the county follows up or closes")
    text = required_text(text or ("会商结束" if kind == "close" else ""), TEXT_MAX, "text", "消息内容")
    attachments = _store(_read_files(files))
    due = _reply_due(now) if kind == "follow_up" else None
    body = {"kind": kind, "text": text, "by": actor.label, "at": now, "reply_due_at": due}
    to_node, to_org = (thread.from_node, thread.from_org) if kind == "reply" else (thread.to_node, thread.to_org)
    sent = enqueue("consultation.message", from_org=actor.org_code, to_node=to_node, to_org=to_org, body=body,
                   case_no=thread.thread_no, attachments=attachments)
    _advance(thread, kind, now, due)
    return _record(thread, sent.message_id, kind, text, actor.label, actor.org_code, now, attachments)


def _advance(thread: ConsultationThread, kind: str, at: datetime, due: datetime | None) -> None:
    thread.state = {"reply": "answered", "follow_up": "waiting", "close": "closed"}[kind]
    thread.reply_due_at = due if kind == "follow_up" else None
    thread.reminded_at = None
    thread.last_at = at


def _record(thread, message_id, kind, text, by_label, by_org, at, attachments) -> ConsultationMessage:
    message = ConsultationMessage(message_id=message_id, kind=kind, text=text, by_label=by_label[:200],
                                  by_org=by_org, at=at)
    message.files = [ConsultationFile(original_name=a.name, media_type=a.media_type, size=a.size, sha256=a.sha256)
                     for a in attachments]
    thread.messages.append(message)
    db.session.flush()
    return message


# -- the reply limit -----------------------------------------------------------------------------------------------

def remind_unanswered(now: datetime | None = None, limit: int = 500) -> dict:
    """Remind, once per reply limit, the departments this node hosts of each thread still waiting past it."""
    now = now or utcnow()
    hosted = sa.select(Org.code).where(Org.node_id == get_bus().node_id)
    rows = db.session.execute(
        sa.select(ConsultationThread)
        .where(ConsultationThread.state == "waiting", ConsultationThread.reply_due_at < now,
               ConsultationThread.reminded_at.is_(None), ConsultationThread.to_org.in_(hosted))
        .order_by(ConsultationThread.id).limit(limit).with_for_update(skip_locked=True)).scalars().all()
    for thread in rows:
        thread.reminded_at = now
        notify_holder(thread.to_org, "consultation", f"会商答复已超时：{thread.subject}"[:200],
                      f"{person_of(thread.opened_by)} 发起的会商（{thread.item_name}）应于 {_local(thread.reply_due_at)} 前答复，"
                      f"请尽快答复。", case_no=thread.case_no, now=now)
    return {"consultations_reminded": len(rows)}


def _local(moment: datetime) -> str:
    return f"{deadlines.to_local(moment):%Y-%m-%d %H:%M}"


# -- applying what arrives -----------------------------------------------------------------------------------------

def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _org_here(code: str) -> Org | None:
    return db.session.execute(sa.select(Org).where(Org.code == code)).scalar_one_or_none()


@applies("consultation.open")
def apply_open(env, attachments) -> None:
    sender, recipient = _org_here(env.from_org), _org_here(env.to_org)
    if recipient is None or recipient.level != "city" or recipient.node_id != get_bus().node_id:
        raise ExchangeRejected("wrong_recipient", f"no city department {env.to_org} on this node")
    if sender is None or sender.node_id != env.from_node or sender.level != "county":
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} is not a county organisation of {env.from_node}")
    body = env.body
    thread = _thread(env.case_no)
    if thread is None:
        thread = ConsultationThread(
            thread_no=env.case_no, subject=body["subject"][:200], item_code=body["item_code"],
            item_name=body["item_name"], case_no=body.get("case_no"), county_code=sender.division_code,
            from_org=sender.code, from_node=env.from_node, to_org=recipient.code, to_node=env.to_node,
            opened_by=body["opened_by"], opened_at=_at(body["opened_at"]), state="waiting",
            reply_due_at=_at(body["reply_due_at"]), last_at=_at(body["opened_at"]))
        db.session.add(thread)
    elif (thread.from_org, thread.to_org) != (env.from_org, env.to_org):
        raise ExchangeRejected("thread_conflict", f"thread {env.case_no} is between other organisations")
    if not _known(env.message_id):  # on a node that hosts both ends the opener wrote it already
        _record(thread, env.message_id, "open", body["text"], body["opened_by"], env.from_org,
                _at(body["opened_at"]), env.attachments)
    notify_holder(thread.to_org, "consultation", f"新的会商：{thread.subject}"[:200],
                  f"{person_of(thread.opened_by)} 就 {thread.item_name} 发起会商，请于 {_local(thread.reply_due_at)} 前答复。",
                  case_no=thread.case_no)


@applies("consultation.message")
def apply_message(env, attachments) -> None:
    body = env.body
    thread = _thread(env.case_no, lock=True)
    if thread is None:
        raise ExchangeRejected("unknown_thread", f"consultation {env.case_no} is unknown here")
    kind = body["kind"]
    # the department, or its bureau, whose city approvers serve every department (as for case.return)
    department = _org_here(thread.to_org)
    city_orgs = {thread.to_org} | ({department.parent.code} if department and department.parent else set())
    city_side = env.from_org in city_orgs and env.from_node == thread.to_node
    # any window or bureau of the thread's county (a reviewer follows up a thread the window opened)
    sender = _org_here(env.from_org)
    county_side = (sender is not None and sender.level == "county" and sender.division_code == thread.county_code
                   and sender.node_id == env.from_node == thread.from_node)
    if not ((kind == "reply" and city_side) or (kind != "reply" and county_side)):
        raise ExchangeRejected("sender_not_allowed", f"{env.from_org} may not send a {kind} in {env.case_no}")
    if kind == "follow_up" and not body.get("reply_due_at"):  # the schema cannot say "required for a follow-up"
        raise ExchangeRejected("schema_invalid", "a follow_up carries ReplyDueAt, its new reply limit")
    if not _known(env.message_id):
        if thread.state == "closed":
            raise ExchangeRejected("thread_closed", f"consultation {env.case_no} is closed")
        _advance(thread, kind, _at(body["at"]), _at(body.get("reply_due_at")))
        _record(thread, env.message_id, kind, body["text"], body["by"], env.from_org, _at(body["at"]),
                env.attachments)
    if kind == "reply":
        _tell_opener(thread, f"会商已答复：{thread.subject}", f"{person_of(body['by'])} 答复：{body['text'][:200]}")
    elif kind == "follow_up":
        notify_holder(thread.to_org, "consultation", f"会商追问：{thread.subject}"[:200],
                      f"{person_of(body['by'])} 追问：{body['text'][:200]}", case_no=thread.case_no)


@on_receipt("consultation.open")
def open_acknowledged(outbox_row, status: str) -> None:
    """A department's node that refuses the thread (e.g. it no longer hosts the department) closes it here, with
    the reason on the thread page, rather than leaving the county waiting for an answer that cannot come."""
    if status == "accepted":
        return
    thread = _thread(outbox_row.case_no, lock=True)
    if thread is not None:
        log.warning("consultation %s refused by node %s: %s", thread.thread_no, outbox_row.to_node,
                    outbox_row.receipt_reason)  # the peer's words are for the administrator, in English
        thread.rejected_reason = "对方节点未接收此会商（该市级部门已不在对方节点办理），请改用其他方式联系市级部门"
        thread.state, thread.reply_due_at = "closed", None
        _tell_opener(thread, f"会商被拒收：{thread.subject}", thread.rejected_reason)


@on_receipt("consultation.message")
def message_acknowledged(outbox_row, status: str) -> None:
    """A reply, follow-up or close the other side refused (the thread was closed there first): the side that sent
    it is told, rather than believing it answered."""
    if status == "accepted":
        return
    thread = _thread(outbox_row.case_no)
    if thread is None:
        return
    log.warning("consultation message %s refused by node %s: %s", outbox_row.message_id, outbox_row.to_node,
                outbox_row.receipt_reason)
    text = f"对方未接收本条会商消息（会商已由对方关闭）：{thread.subject}"
    if outbox_row.to_org == thread.from_org:  # the city's reply to the county
        notify_holder(thread.to_org, "consultation", f"会商答复未送达：{thread.subject}"[:200], text,
                      case_no=thread.case_no)
    else:
        _tell_opener(thread, f"会商消息未送达：{thread.subject}", text)


def _tell_opener(thread: ConsultationThread, title: str, body: str) -> None:
    """The opener, where this node hosts their account; else every user of the opening organisation here."""
    if thread.opener_username:
        users = db.session.execute(sa.select(User).where(User.username == thread.opener_username,
                                                         User.is_active.is_(True))).unique().scalars().all()
        notify_users(users, "consultation", title[:200], body, case_no=thread.case_no)
    else:
        notify_holder(thread.from_org, "consultation", title[:200], body, case_no=thread.case_no)


def _thread(thread_no: str | None, lock: bool = False) -> ConsultationThread | None:
    query = sa.select(ConsultationThread).where(ConsultationThread.thread_no == thread_no)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def _known(message_id: str) -> bool:
    return db.session.execute(sa.select(ConsultationMessage.id)
                              .where(ConsultationMessage.message_id == message_id)).first() is not None
