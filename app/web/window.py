"""The county window desk (县级窗口): the worklist of the county's cases (delegation.worklist: queues with counts,
search, filters, both sorts), intake of a new case (item, materials, several files per material, applicant, agent),
the case page with the window's actions (受理, 容缺受理, 一次性告知补正, 不予受理, 重新提交 and 补交材料 with files,
撤回, 出件) and the written notices as PDF (app.web.notices).

Nothing the clerk typed or chose is lost (issue 14): files on a refused form are held as drafts (delegation.drafts)
and shown as attached; a refused case action redirects back to the case (post/redirect/get) with its input and errors
stashed on the server. Every change goes through the domain's services (delegation.intake, delegation.uploads);
the view commits once after a successful call and rolls back on a DomainError. Scoping is the domain's: get_case
and the worklist see this county's cases only."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from flask_wtf.file import FileField, MultipleFileField
from werkzeug.datastructures import MultiDict
from sqlalchemy.orm import selectinload
from wtforms import (HiddenField, IntegerField, RadioField, SelectMultipleField, StringField, TextAreaField,
                     ValidationError)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from app.extensions import db, utcnow
from app.web import error_page, register_page_errors, requires
from app.web.common import _, _l, domain_message, keyset_after
from app.web.kept_forms import bounded_pairs, drafts_root, errors_of, replace_stash, restore_errors
from app.web.unit_of_work import page_unit
from delegation import case_rules, drafts, grants, limits, uploads, worklist
from delegation import intake as intake_service
from delegation.errors import DomainError, Invalid
from delegation.workflow import FINAL_STATES, Action, Mode, Role, State, allowed_actions
from exchange import field_rules

bp = Blueprint("web_window", __name__)
register_page_errors(bp)

PAGE_SIZE = 30
MODE_ORDER = (Mode.DIRECT, Mode.DELEGATED_REVIEW, Mode.FORWARD_ONLY)
# The desk's queues (delegation.worklist.QUEUE_STATES says what each lists): key, label.
QUEUES = (
    ("submitted", _l("待受理")), ("correction", State.CORRECTION_REQUESTED.label),
    ("returned", State.RETURNED.label), ("commitment", _l("容缺待补交")), ("in_progress", _l("在办")),
    ("handout", _l("待出件")), ("concluded", State.CONCLUDED.label), ("all", _l("全部")),
)
# The field rules of the API and the exchange XSD (exchange.field_rules): what the desk accepts can be forwarded.
PHONE = field_rules.anchored(field_rules.PHONE)
TRACKING = field_rules.anchored(field_rules.TRACKING_NO)


def _is_window(user) -> bool:
    return user.user.role == Role.WINDOW.value


def _actor():
    return current_user.actor


def _no_control_chars(form, field):
    if field.data and field_rules.has_control_chars(field.data):
        raise ValidationError(_("含有不可见的控制字符"))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        if self.data:
            known = {str(choice[0]) for choice in self.choices or []}
            for value in self.data:
                if value not in known:
                    raise ValidationError(_("无效的选择：%(value)s", value=value))


# -- forms ------------------------------------------------------------------------------------------------------

class IntakeForm(FlaskForm):
    """A new case: the applicant and the materials brought. File fields (file_0 … file_n, one per material in
    list order) are added per item by intake_form_for()."""

    applicant_kind = RadioField(_l("申请人类型"), choices=[SelectChoice("enterprise", _l("企业（法人或其他组织）")),
                                                         SelectChoice("individual", _l("个人"))],
                                default="enterprise", validators=[InputRequired(_l("请选择申请人类型"))])
    applicant_name = StringField(_l("申请人名称"), filters=[_strip],
                                 validators=[DataRequired(_l("请填写申请人名称")), Length(max=field_rules.NAME_MAX),
                                             _no_control_chars])
    id_code = StringField(_l("统一社会信用代码/证件号码"), filters=[_strip],
                          validators=[DataRequired(_l("请填写统一社会信用代码或身份证号码")),
                                      Length(max=field_rules.ID_CODE_INPUT_MAX)])
    id_check_override = StringField(_l("校验例外理由"), filters=[_strip],
                                    validators=[Optional(), Length(min=4, max=limits.REDIRECT_MAX),
                                                _no_control_chars])
    phone = StringField(_l("联系电话"), filters=[_strip],
                        validators=[DataRequired(_l("请填写联系电话")), Regexp(PHONE, message=_l("电话号码格式无效"))])
    address = StringField(_l("地址"), filters=[_strip], validators=[Optional(), Length(max=200), _no_control_chars])
    legal_representative = StringField(_l("法定代表人"), filters=[_strip],
                                       validators=[Optional(), Length(max=100), _no_control_chars])
    agent_name = StringField(_l("经办人姓名"), filters=[_strip], validators=[Optional(), Length(max=100), _no_control_chars])
    agent_id_code = StringField(_l("经办人身份证号码"), filters=[_strip], validators=[Optional(), Length(max=30)])
    agent_phone = StringField(_l("经办人电话"), filters=[_strip],
                              validators=[Optional(), Regexp(PHONE, message=_l("电话号码格式无效"))])
    # 帮办代办: the window's assistant taking the case (representation/_intake_assistant.html lists them)
    assisted_by = StringField(_l("帮办人员"), filters=[_strip], validators=[Optional(), Length(max=60)])
    # 全市通办: the county whose bureau decides (citywide/_intake_county.html offers them by name)
    competent_county = StringField(_l("有权审批的县（市、区）"), filters=[_strip], validators=[Optional(), Length(max=20)])
    present = MultiCheckboxField(_l("已收材料"), choices=[], validate_choice=False)
    # the intake service's fields → this form's (each material's file: its file_<n>, added by intake_form_for)
    field_map = {"applicant.id_code": "id_code", "applicant.name": "applicant_name",
                 "applicant.kind": "applicant_kind", "applicant.phone": "phone", "materials": "present",
                 "agent.id_code": "agent_id_code", "agent.name": "agent_name", "assisted_by": "assisted_by",
                 "competent_county": "competent_county"}

    def validate_id_code(self, field):
        """The check character, as the domain checks it (the server is authoritative; window.js only helps)."""
        from delegation.cases import check_applicant_id

        if self.applicant_kind.data not in ("enterprise", "individual"):
            return
        try:
            field.data = check_applicant_id(self.applicant_kind.data, field.data or "", self.id_check_override.data)
        except DomainError as exc:
            raise ValidationError(domain_message(exc)) from None

    def file_fields(self):
        return [self[name] for name in sorted((f.name for f in self if f.name.startswith("file_")),
                                              key=lambda n: int(n.split("_", 1)[1]))]


def intake_form_for(item, formdata=None):
    attrs: dict = {f"file_{pos}": MultipleFileField(_l("%(name)s（上传文件）", name=m.name))
                   for pos, m in enumerate(item.materials)}
    attrs["field_map"] = {**IntakeForm.field_map, **{intake_service.file_field(m.code): f"file_{pos}"
                                                     for pos, m in enumerate(item.materials)}}
    form_class = type("ItemIntakeForm", (IntakeForm,), attrs)
    form = form_class() if formdata is None else form_class(formdata=formdata)
    form.present.choices = [(m.code, m.name) for m in item.materials]
    return form


class CommentForm(FlaskForm):
    comment = TextAreaField(_l("备注"), filters=[_strip],
                            validators=[Optional(), Length(max=limits.COMMENT_MAX), _no_control_chars])


class AcceptForm(CommentForm):
    pass


class CommitmentForm(CommentForm):
    commitment_days = IntegerField(_l("承诺补交期限（工作日）"),
                                   validators=[InputRequired(_l("请填写承诺补交期限")),
                                               NumberRange(min=1, max=60, message=_l("应为1至60个工作日"))])


class CorrectionForm(FlaskForm):
    field_map = {"items": "materials"}  # the notice's items are the materials ticked
    materials = MultiCheckboxField(_l("需补正的材料"), choices=[])
    note = TextAreaField(_l("补正说明"), filters=[_strip],
                         validators=[DataRequired(_l("请填写补正说明")), Length(max=limits.COMMENT_MAX), _no_control_chars])


class RefuseForm(FlaskForm):
    field_map = {"redirect": "redirect_to"}
    reason = TextAreaField(_l("不予受理的理由"), filters=[_strip],
                           validators=[DataRequired(_l("请填写不予受理的理由")), Length(max=limits.COMMENT_MAX),
                                       _no_control_chars])
    redirect_to = StringField(_l("申请人可以去办理的地方"), filters=[_strip],
                              validators=[DataRequired(_l("请填写申请人可以去办理的地方")), Length(max=limits.REDIRECT_MAX),
                                          _no_control_chars])


class MaterialsForm(CommentForm):
    materials = MultiCheckboxField(_l("本次提交的材料"), choices=[])


class SupplyForm(CommentForm):
    materials = MultiCheckboxField(_l("补交的材料"), choices=[],
                                   validators=[DataRequired(_l("请选择补交的材料"))])


class WithdrawForm(FlaskForm):
    comment = TextAreaField(_l("撤回原因"), filters=[_strip],
                            validators=[DataRequired(_l("请填写撤回原因")), Length(max=limits.COMMENT_MAX), _no_control_chars])


class HandOutForm(CommentForm):
    method = RadioField(_l("出件方式"), choices=[SelectChoice("pickup", _l("申请人自取")),
                                                  SelectChoice("mail", _l("免费邮寄"))],
                        validators=[InputRequired(_l("请选择出件方式（自取或邮寄）"))])
    tracking_no = StringField(_l("快递单号"), filters=[_strip],
                              validators=[Optional(), Regexp(TRACKING, message=_l("快递单号格式无效"))])
    # "mail needs a tracking number and an address" is the domain's rule (delegation.case_rules.mail_gaps).
    # The proof of service (送达回证): the domain says which are needed (delegation.documents.service).
    recipient_name = StringField(_l("领取人/收件人姓名"), filters=[_strip], validators=[Optional(), Length(max=100)])
    recipient_id_code = StringField(_l("领取人身份证号码"), filters=[_strip], validators=[Optional(), Length(max=30)])
    recipient_phone = StringField(_l("收件人电话"), filters=[_strip], validators=[Optional(), Length(max=30)])
    address = StringField(_l("邮寄地址"), filters=[_strip], validators=[Optional(), Length(max=200)])

    def validate(self, extra_validators=None):
        """A mailed hand-out's waybill and address are named together: the domain's services stop at the first,
        and a clerk corrected one only to be told of the other. The rule and its messages are the domain's."""
        valid = super().validate(extra_validators)
        for gap in case_rules.mail_gaps(self.method.data, {"address": self.address.data,
                                                            "tracking_no": self.tracking_no.data}):
            field = self[gap.field]
            if not field.errors:
                field.errors = [*field.errors, domain_message(gap)]
                valid = False
        return valid


class UploadForm(FlaskForm):
    material_code = HiddenField(validators=[DataRequired()])
    file = FileField(_l("文件"), validators=[DataRequired(_l("请选择要上传的文件"))])


# Each window action: its form class and the payload the domain's effect reads (see delegation/cases.py).
ACTION_FORMS = {
    Action.ACCEPT: AcceptForm,
    Action.ACCEPT_WITH_COMMITMENT: CommitmentForm,
    Action.REQUEST_CORRECTION: CorrectionForm,
    Action.REFUSE: RefuseForm,
    Action.RESUBMIT: MaterialsForm,
    Action.SUPPLY_MATERIALS: SupplyForm,
    Action.WITHDRAW: WithdrawForm,
    Action.HAND_OUT: HandOutForm,
}
DONE = {
    Action.ACCEPT: State.ACCEPTED.label, Action.ACCEPT_WITH_COMMITMENT: _l("已容缺受理"),
    Action.REQUEST_CORRECTION: _l("已出具一次性告知书"), Action.REFUSE: _l("已出具不予受理通知书"),
    Action.RESUBMIT: _l("已重新提交"), Action.SUPPLY_MATERIALS: _l("已登记补交的材料"), Action.WITHDRAW: State.WITHDRAWN.label,
    Action.HAND_OUT: _l("已出件，办件办结"),
}


def _payload(action: Action, form, case) -> dict:
    if action is Action.ACCEPT:
        return {"comment": form.comment.data or ""}
    if action is Action.ACCEPT_WITH_COMMITMENT:
        return {"comment": form.comment.data or "", "commitment_days": form.commitment_days.data}
    if action is Action.REQUEST_CORRECTION:
        problems = {m.code: (request.form.get(f"problem_{m.code}") or "").strip()[:500] for m in case.materials}
        items = [{"material_code": code, "problem": problems.get(code, "")} for code in form.materials.data or []]
        return {"items": items, "comment": form.note.data}
    if action is Action.REFUSE:
        return {"reason": form.reason.data, "redirect": form.redirect_to.data, "comment": ""}
    if action in (Action.RESUBMIT, Action.SUPPLY_MATERIALS):
        return {"materials": list(form.materials.data or []), "comment": form.comment.data or ""}
    if action is Action.WITHDRAW:
        return {"comment": form.comment.data}
    if action is Action.HAND_OUT:
        return {"method": form.method.data, "tracking_no": form.tracking_no.data or None,
                "comment": form.comment.data or "", "recipient_name": form.recipient_name.data or None,
                "recipient_id_code": form.recipient_id_code.data or None,
                "recipient_phone": form.recipient_phone.data or None, "address": form.address.data or None}
    return {}


def _build_forms(case, posted: tuple[Action, FlaskForm] | None = None) -> dict:
    """The forms of the actions the window may take on the case now; the posted one keeps its input/errors."""
    actions = allowed_actions(case.state, Role.WINDOW, case.mode)
    forms = {}
    for action in actions:
        if action not in ACTION_FORMS or not _possible(action, case):
            continue
        if posted and posted[0] is action:
            forms[action.value] = posted[1]
            continue
        form = ACTION_FORMS[action](formdata=None)
        form.held, form.file_errors, form.problems = [], {}, {}
        _prepare(action, form, case)
        if action is Action.REQUEST_CORRECTION:
            form.materials.data = [m.code for m in case.materials if not m.present and m.required]
        if action is Action.RESUBMIT:
            form.materials.data = [i.get("material_code") for i in case.correction_items or []
                                   if i.get("material_code")]
        if action is Action.ACCEPT_WITH_COMMITMENT:
            form.commitment_days.data = case.item.commitment_days
        if action is Action.HAND_OUT:
            form.method.data = "pickup"
        forms[action.value] = form
    for action_value, form in forms.items():  # several forms on one page: ids stay unique
        for field in form:
            if field.type != "CSRFTokenField":
                field.id = f"{action_value}-{field.name}"
    return forms


def _possible(action: Action, case) -> bool:
    """Whether the action can succeed with the case's materials as they are: an impossible one is not offered
    (the domain's guards still decide; this only spares the clerk a button that can only fail)."""
    missing = [m for m in case.materials if m.required and not m.present]
    if action is Action.ACCEPT:
        return not missing
    if action is Action.ACCEPT_WITH_COMMITMENT:
        return bool(case.item.allows_commitment and missing and not any(m.core for m in missing))
    if action is Action.SUPPLY_MATERIALS:
        return bool(case_rules.suppliable(case))
    if action is Action.HAND_OUT:
        return not case_rules.outstanding(case)  # case_rules.check_hand_out: a 容缺 commitment still open
    return True


def _prepare(action: Action, form, case) -> None:
    if action is Action.REQUEST_CORRECTION:
        form.materials.choices = [(m.code, m.name) for m in case.materials]
    elif action is Action.RESUBMIT:  # a material on the notice may be present and still need fixing
        form.materials.choices = [(m.code, m.name) for m in case.materials]
    elif action is Action.SUPPLY_MATERIALS:
        form.materials.choices = [(m.code, m.name) for m in case_rules.suppliable(case)]


# -- the desk -----------------------------------------------------------------------------------------------------

@bp.get("/window")
@requires(_is_window)
def desk():
    args = _desk_args()
    page = worklist.worklist(_actor(), **args, limit=PAGE_SIZE)
    return render_template("window/desk.html", queues=QUEUES, args=args, page=page, rows=_desk_rows(page.rows),
                           counts=worklist.queue_counts(_actor(), utcnow()), cap=worklist.COUNT_CAP)


def _desk_args() -> dict:
    """The queue, search, filter, sort and page of the query string; unknown values are the defaults."""
    from app.web.common import int_arg

    queue = request.args.get("queue", "submitted")
    queue = "all" if queue == "recent" else queue  # the desk's former "recent" list is 全部 now
    q = (request.args.get("q") or "").strip()[:worklist.SEARCH_MAX] or None
    queue = "all" if q else queue  # a case looked up is found wherever it is now, not only in the queue on screen
    due = request.args.get("due")
    sort = request.args.get("sort")
    return {"queue": queue if queue in worklist.QUEUE_STATES else "submitted",
            "q": q,
            "due": due if due in ("warning", "overdue") else None,
            "sort": sort if sort in worklist.SORTS else "registered",
            "after": keyset_after(request.args), "before": int_arg(request.args, "before", 1, limits.INT_MAX)}


def _desk_rows(rows) -> list[dict]:
    """Each case with who holds it now (the organisation's name) and the time it has left."""
    from app.web.case_page import org_names

    now = utcnow()
    holders = {c.id: worklist.holder_code(c) for c in rows}
    names = org_names(set(holders.values()))
    # each wording translated once per page, not once per row (gettext and url_for were most of a page's time)
    words = {key: str(text) for key, text in _LEFT_WORDS.items()}
    link = url_for("web_window.case", case_no="~").rsplit("~", 1)[0]
    show = url_for("web_case.show", case_no="~").rsplit("~", 1)[0]
    rows_out = []
    for c in rows:
        committed = worklist.commitment_left(c, now)
        rows_out.append({
            "case": c, "url": link + c.case_no, "show": show + c.case_no, "holder": names.get(holders[c.id], ""),
            "left": _left_words(words, worklist.time_left(c, now)) or (words["paused"] if c.paused_at else None),
            "commitment_left": committed, "commitment_words": _left_words(words, _as_days(committed), late=True)})
    return rows_out


# time left in words: (unit, overdue) -> the wording; each formatted with n
_LEFT_WORDS = {("days", False): _l("剩%(n)s个工作日"), ("days", True): _l("超期%(n)s个工作日"),
               ("hours", False): _l("剩%(n)s个工作小时"), ("hours", True): _l("超期%(n)s小时"),
               ("late", True): _l("已逾期%(n)s个工作日"), "paused": _l("暂停计时")}


def _as_days(n):
    return None if n is None else (n, "days")


def _left_words(words: dict, left, late: bool = False) -> str | None:
    if left is None:
        return None
    n, unit = left
    key = ("late", True) if late and n < 0 else (unit, n < 0)
    return words[key] % {"n": abs(n)}


# -- a new case ---------------------------------------------------------------------------------------------------

def _delegated_items(division_code: str, q: str | None = None, code: str | None = None,
                     revoked_too: bool = False):
    """Active items delegated to this county and in effect now (a revocation counts from its effective time),
    as cases.create_case and the acceptance guard (grants.in_effect) see them; `revoked_too`: also those revoked
    since (an intake form opened before the revocation is answered by the domain, saying where to apply)."""
    from delegation.grants import in_effect
    from delegation.models import Delegation, Item

    query = (sa.select(Item, Delegation)
             .join(Delegation, sa.and_(Delegation.item_id == Item.id, Delegation.division_code == division_code))
             .where(Item.active.is_(True)))
    if code is not None:
        query = query.where(Item.code == code).options(selectinload(Item.materials))
    if q:
        query = query.where(sa.or_(Item.name.icontains(q, autoescape=True), Item.code.icontains(q, autoescape=True)))
    now = utcnow()
    return [item for item, row in db.session.execute(query.order_by(Item.code)).unique().all()
            if revoked_too or in_effect(row, now)]


@bp.get("/window/new")
@requires(_is_window)
def new_case():
    q = (request.args.get("q") or "").strip()[:100]
    items = _delegated_items(_actor().division_code, q)
    groups = [(mode, [i for i in items if i.mode == mode.value]) for mode in MODE_ORDER]
    return render_template("window/pick_item.html", q=q, groups=[g for g in groups if g[1]], found=len(items),
                           tags=_item_tags(items))


def _item_tags(items) -> dict[int, list[str]]:
    """What else a clerk must know of an item before choosing it: approved on a commitment or filed (issue 17's
    kinds), accepted here for another county (全市通办). Two queries for the whole list."""
    from delegation.citywide import citywide_item_ids
    from delegation.window_decision_models import ApprovalKind
    from delegation.window_decisions import kinds_by_item

    kinds, everywhere = kinds_by_item(i.id for i in items), citywide_item_ids()
    tags = {i.id: [str(ApprovalKind(kinds[i.id].kind).label)] if i.id in kinds else [] for i in items}
    for item_id in everywhere & tags.keys():
        tags[item_id].append(str(_l("全市通办")))
    return tags


def _item_or_404(item_code: str, revoked_too: bool = False):
    items = _delegated_items(_actor().division_code, code=item_code, revoked_too=revoked_too)
    if not items:
        abort(404)
    return items[0]


@bp.route("/window/new/<item_code>", methods=["GET", "POST"])
@requires(_is_window)
def intake(item_code: str):
    item = _item_or_404(item_code, revoked_too=True)
    if request.method == "POST":  # a body over the upload limit: the 413 handler below
        return _intake_post(item, intake_form_for(item))  # a revoked item: the domain refuses, input kept
    kept = _kept_intake(item)  # a refused form, shown again on its own address (post/redirect/get)
    if kept:
        return _intake_page(item, *kept)
    return _revoked_back_to_list(item) or _intake_page(item, intake_form_for(item), [])


def _revoked_back_to_list(item):
    """Revoked since the list was shown: the list again, saying where to apply instead."""
    try:
        grants.require_in_effect(item, _actor().division_code)
    except DomainError as exc:
        flash(domain_message(exc), "error")
        return redirect(url_for("web_window.new_case"))
    return None


def _intake_post(item, form):
    """Register the case with its files; when the form or a file is refused, the page again with what was typed
    and every good file held as a draft (shown as attached, kept while its box stays ticked)."""
    valid, accept = form.validate_on_submit(), bool(request.form.get("then_accept"))
    held = _held_files({m.code: field for m, field in zip(item.materials, form.file_fields())})
    if valid and not any(f.errors for f in form.file_fields()):
        with page_unit(form, page_level=None) as unit:
            case_no = intake_service.register_with_files(_actor(), item.code, *_intake_input(item, form, held),
                                                         accept=accept,
                                                         competent_county=form.competent_county.data).case_no
        if not unit.failed:
            done = _("已登记并受理办件 %(case_no)s", case_no=case_no) if accept else _("已登记办件 %(case_no)s", case_no=case_no)
            drafts.take(drafts_root(), _owner(), request.form.get("kept"))  # the refused form it came from
            return _finished(case_no, done, held)
        _say_refusal(item, form, accept, unit)
    return _back_to_intake(item, form, held)


def _back_to_intake(item, form, held):
    """A refused intake: what was typed, its errors and the held files kept on the server, and the clerk on the
    form's own address (post/redirect/get), opened at the error summary. The address names the kept input, so a
    reload shows the same form again instead of asking to send it."""
    root, owner = drafts_root(), _owner()
    drafts.take(root, owner, request.form.get("kept"))  # the earlier refusal this one replaces
    content = {"item": item.code, "drafts": [d.token for d in held],
               "data": bounded_pairs((k, v) for k, v in request.form.items(multi=True)
                                     if k not in ("csrf_token", "draft", "kept")), **errors_of(form)}
    kept = drafts.stash(root, owner, content)
    return redirect(url_for("web_window.intake", item_code=item.code, kept=kept, _anchor="error-summary"), 303)


def _kept_intake(item):
    """(form, held files) of the refused intake the address names, or None (the token is looked up in this
    clerk's own drafts only; a stale or foreign one shows the empty form)."""
    root, owner = drafts_root(), _owner()
    content = drafts.take(root, owner, request.args.get("kept"), keep=True)
    if not content or content.get("item") != item.code:
        return None
    form = restore_errors(intake_form_for(item, MultiDict([tuple(p) for p in content["data"]])), content)
    held = [d for d in (drafts.held_file(root, owner, t) for t in content.get("drafts", [])) if d]
    return form, held


def _say_refusal(item, form, accept: bool, unit) -> None:
    """A refusal no field of the form took is said at the top of the form. 登记并受理 of an incomplete application
    is told what this page can do (register it first), not the case page's 一次性告知 or 容缺 it does not have."""
    error = unit.error
    if isinstance(error, Invalid) and unit.field_for(error.field) is not None:
        return  # said beside its field
    missing = error.extra.get("missing") if accept and error.code == "materials_missing" else None
    if missing:
        names = "、".join(m.name for m in item.materials if m.code in missing)
        form.form_errors.append(_("材料不齐全：%(names)s。请点「登记办件」先登记，再在办件页出具一次性告知书或容缺受理。",
                                  names=names))
    else:
        form.form_errors.append(domain_message(error))


def _intake_page(item, form, held):
    by_code: dict = {}
    for draft in held:
        by_code.setdefault(draft.material_code, []).append(draft)
    return render_template("window/intake.html", item=item, form=form, held=by_code,
                           kept=request.args.get("kept") if request.method == "GET" else None)


# -- drafts: the files and the input of a refused form are never lost ---------------------------------------------

def _owner() -> int:
    return current_user.user.id


def _held_files(fields_by_code: dict) -> list:
    """The drafts the form still carries (their 'draft' box ticked) and every file chosen now, each checked alone:
    a refused file is said on its material's field and the good ones are held all the same."""
    root, owner = drafts_root(), _owner()
    held = [d for d in (drafts.held_file(root, owner, t) for t in request.form.getlist("draft")[:50])
            if d is not None and d.material_code in fields_by_code]
    limit = current_app.config["TONGQUAN"].max_upload_bytes
    for code, field in fields_by_code.items():
        for upload in request.files.getlist(field.name)[:20]:
            if not upload or not upload.filename:
                continue
            try:
                held.append(drafts.hold_file(root, owner, code, upload.filename, upload.mimetype, upload.stream, limit))
            except DomainError as exc:
                field.errors = [*field.errors, _("%(label)s：%(text)s", label=uploads._display_name(upload.filename),
                                                 text=domain_message(exc))]
    return held


def _finished(case_no: str, message: str, held):
    drafts.discard(drafts_root(), _owner(), [d.token for d in held])
    return _done(case_no, message)


def _done(case_no: str, message: str):
    """After a committed change: say so, and show the case (a reload does not post again)."""
    flash(message, "info")
    return redirect(url_for("web_window.case", case_no=case_no))


def _intake_input(item, form, held) -> tuple:
    """applicant, materials, files and ID-check override of the intake service, from the posted form and the
    files held for it (a material with a file was brought, ticked or not)."""
    applicant = {"kind": form.applicant_kind.data, "name": form.applicant_name.data, "id_code": form.id_code.data,
                 "phone": form.phone.data or None, "address": form.address.data,
                 "legal_representative": form.legal_representative.data,
                 "agent": {"name": form.agent_name.data, "id_code": form.agent_id_code.data,
                           "phone": form.agent_phone.data}, "assisted_by": form.assisted_by.data}
    present = set(form.present.data or []) | {d.material_code for d in held}
    materials = [{"code": m.code, "present": m.code in present} for m in item.materials]
    return applicant, materials, [(d.material_code, d) for d in held], form.id_check_override.data or None


def _too_large():
    from flask import current_app

    limit = current_app.config["TONGQUAN"].max_upload_bytes // (1024 * 1024)
    return error_page(413, _("文件过大"), _("上传的文件超过了 %(mb)s MB 的上限，请压缩或拆分后重新上传。", mb=limit))


@bp.errorhandler(413)
def _entity_too_large(_exc):
    return _too_large()


@bp.errorhandler(CSRFError)
def _stale_form(_exc):
    """A form sent without a valid token is no dead end: its session cookie ran out (30 minutes idle) or the page
    was opened in an earlier session. Back to the page it came from (through the login when signed out), where
    window.js puts an intake's typed text back; files have to be chosen again (no session held them)."""
    intake_form = request.endpoint == "web_window.intake"
    case_no = (request.view_args or {}).get("case_no")
    back = request.path if intake_form else url_for("web_window.case", case_no=case_no) if case_no \
        else url_for("web_window.desk")
    flash(_("会话已超时或页面已过期，未提交成功。已输入的文字已自动恢复，所选文件请重新选择。") if intake_form
          else _("会话已超时或页面已过期，未提交成功，请重新办理。"), "warning")
    if not current_user.is_authenticated:
        return redirect(url_for("web_login.login", next=back), 303)
    return redirect(back, 303)


# -- the intake page of one case ------------------------------------------------------------------------------------

def _load_case(case_no: str):
    from delegation.cases import get_case
    from delegation.errors import NotFound

    try:
        return get_case(_actor(), case_no)
    except NotFound:
        abort(404)


def _render_case(case, forms=None, status=200):
    from app.web.notices import available_notices
    from supervision import credit

    forms = forms if forms is not None else _build_forms(case)
    files = {}
    for f in case.files:
        files.setdefault(f.material_code, []).append(f)
    missing_noncore = [m for m in case.materials if not m.present and m.required and not m.core]
    missing_core = [m for m in case.materials if not m.present and m.required and m.core]
    upload_open = case.state in (State.SUBMITTED, State.CORRECTION_REQUESTED)
    # forward_only: the city sees only what is sent, so a core material without an electronic copy is said
    no_copy = [m for m in case.materials if m.core and m.code not in files] if case.mode is Mode.FORWARD_ONLY else []
    return render_template(
        "window/case.html", case=case, forms=forms, files=files, notices=available_notices(case),
        missing_noncore=missing_noncore, missing_core=missing_core, upload_open=upload_open, no_copy=no_copy,
        upload_form=UploadForm(formdata=None) if upload_open else None,
        credit_warnings=credit.warnings_for(case.applicant_id_code),
        # the same applicant's other open cases of the item: a second application of the same thing is often a
        # mistake (the clerk checks, and withdraws the extra one if need be)
        duplicates=[n for n in intake_service.open_duplicates(_actor(), case.item.code, case.applicant_id_code)
                    if n != case.case_no] if case.state not in FINAL_STATES else [],
        correction_items=_correction_items(case), hand_out_waits=_hand_out_waits(case),
    ), status


def _hand_out_waits(case) -> str | None:
    """Why a decided case is not handed out yet (the domain's words), said where 出件 would be."""
    if case.state is not State.DECIDED:
        return None
    try:
        case_rules.check_hand_out(case)
    except DomainError as exc:
        return domain_message(exc)
    return None


def _correction_items(case):
    by_code = {m.code: m.name for m in case.materials}
    return [{"name": by_code.get(i.get("material_code"), ""), "problem": i.get("problem", "")}
            for i in (case.correction_items or [])]


@bp.get("/window/cases/<case_no>")
@requires(_is_window)
def case(case_no: str):
    case_row = _load_case(case_no)
    return _render_case(case_row, _build_forms(case_row, _stashed_form(case_row)))


@bp.post("/window/cases/<case_no>/actions/<action>")
@requires(_is_window)
def act(case_no: str, action: str):
    action_enum, case_row = _window_action(action), _load_case(case_no)
    form = _posted_form(action_enum, case_row)  # its files checked alone, held as drafts (form.file_errors)
    valid, held = form.validate_on_submit(), _action_files(action_enum, case_row, form)
    if valid and not any(form.file_errors.values()):
        with page_unit(form) as unit:
            intake_service.act_with_files(_actor(), case_no, action, _payload(action_enum, form, case_row), _as_files(held))
        if not unit.failed:
            return _finished(case_no, str(DONE[action_enum]), held)
    return _back_to_case(case_no, action_enum, form, held)


def _as_files(held) -> list:
    return [(d.material_code, d) for d in held]


# The actions that take files: several per material, each checked alone (input name files-<material code>).
FILE_ACTIONS = (Action.RESUBMIT, Action.SUPPLY_MATERIALS)


def _action_files(action: Action, case, form) -> list:
    form.file_errors = {}
    if action not in FILE_ACTIONS:
        return []
    fields = {m.code: _FileErrors(f"files-{m.code}", form.file_errors.setdefault(m.code, []))
              for m in case.materials}
    return _held_files(fields)


class _FileErrors:
    """What _held_files needs of a field: the input's name and its list of errors."""

    def __init__(self, name: str, errors: list):
        self.name, self._errors = name, errors

    @property
    def errors(self):
        return list(self._errors)

    @errors.setter
    def errors(self, value):
        self._errors[:] = value


def _back_to_case(case_no: str, action: Action, form, held):
    """After a refused action: its input, errors and held files kept on the server, and the clerk back on the
    case's own address (post/redirect/get), opened at the error summary."""
    content = {"case_no": case_no, "action": action.value, "drafts": [d.token for d in held],
               "data": bounded_pairs((k, v) for k, v in request.form.items(multi=True)
                                     if k not in ("csrf_token", "draft")),
               **errors_of(form), "file_errors": form.file_errors}
    replace_stash("window_stash", content)
    return redirect(url_for("web_window.case", case_no=case_no, _anchor="error-summary"), 303)


def _stashed_form(case):
    """The refused form of this case, as it was posted, with its errors (taken once), or None."""
    content = drafts.take(drafts_root(), _owner(), session.pop("window_stash", None))
    if not content or content.get("case_no") != case.case_no:
        return None
    action = next((a for a in ACTION_FORMS if a.value == content.get("action")), None)
    if action is None:
        return None
    form = ACTION_FORMS[action](formdata=MultiDict([tuple(p) for p in content["data"]]))
    _prepare(action, form, case)
    restore_errors(form, content)
    form.file_errors = content.get("file_errors", {})
    # 一次性告知: the problem typed beside each material is no form field, kept all the same
    form.problems = {k.removeprefix("problem_"): v for k, v in content["data"] if k.startswith("problem_")}
    root, owner = drafts_root(), _owner()
    form.held = [d for d in (drafts.held_file(root, owner, t) for t in content.get("drafts", [])) if d]
    return action, form


def _window_action(action: str) -> Action:
    """The window action a URL names; anything else is a 404."""
    try:
        action_enum = Action(action)
    except ValueError:
        abort(404)
    if action_enum not in ACTION_FORMS:
        abort(404)
    return action_enum


def _posted_form(action: Action, case):
    form = ACTION_FORMS[action]()
    _prepare(action, form, case)
    return form


@bp.post("/window/cases/<case_no>/files")
@requires(_is_window)
def upload(case_no: str):
    case_row, form = _load_case(case_no), UploadForm()  # a body over the upload limit: the 413 handler
    if not form.validate_on_submit() or form.material_code.data not in {m.code for m in case_row.materials}:
        flash(_("上传文件：请选择材料和要上传的文件"), "error")
        return redirect(url_for("web_window.case", case_no=case_no), 303)
    with page_unit(page_level=_flash_upload_error) as unit:  # every refusal of a file is said at the top
        uploads.attach(_actor(), case_no, form.material_code.data, *_file_of(form.file.data))
    if unit.failed:
        return redirect(url_for("web_window.case", case_no=case_no), 303)
    return _done(case_no, _("文件已上传"))


def _file_of(upload) -> tuple:
    """filename, claimed type and stream of an uploaded file, as uploads.attach takes them."""
    return upload.filename or "", upload.mimetype, upload.stream


def _flash_upload_error(message: str) -> None:
    flash(_("上传文件：%(message)s", message=message), "error")


# -- notices (PDF) ----------------------------------------------------------------------------------------------------

@bp.get("/window/cases/<case_no>/notice/<kind>.pdf")
@requires(_is_window)
def notice(case_no: str, kind: str):
    from app.web.notices import KINDS, render_notice

    if kind not in KINDS:
        abort(404)
    case_row = _load_case(case_no)
    response = render_notice(case_row, kind)
    if response is None:
        abort(404)
    return response
