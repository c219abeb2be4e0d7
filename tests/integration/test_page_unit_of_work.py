"""The pages' unit of work (app/web/unit_of_work.page_unit): one commit on success; on a DomainError the work the
service had already flushed is rolled back and the message lands on the form field the error names (through the
form's field map), or on the page when no field matches."""
from __future__ import annotations

import sqlalchemy as sa
from flask import get_flashed_messages
from wtforms import Form, StringField

from delegation.errors import Conflict, Invalid


class ApplicantForm(Form):
    applicant_name = StringField()
    phone = StringField()


FIELDS = {"applicant.name": "applicant_name"}


def _item_name(code: str) -> str:
    from app.extensions import db
    from delegation.models import Item

    with db.engine.connect() as conn:  # what another connection sees: only committed work
        return conn.execute(sa.select(Item.name).where(Item.code == code)).scalar_one()


def _rename_first_item(new_name: str) -> str:
    """A service's change, flushed (so it is in the transaction, not only in the session)."""
    from app.extensions import db
    from delegation.models import Item

    item = db.session.execute(sa.select(Item).order_by(Item.code).limit(1)).unique().scalar_one()
    item.name = new_name
    db.session.flush()
    return item.code


def test_domain_error_rolls_back_flushed_work_and_lands_on_the_mapped_field(app):
    from app.extensions import db
    from app.web.unit_of_work import page_unit

    with app.test_request_context("/"):
        form = ApplicantForm(data={"applicant_name": "张三"})
        with page_unit(form, FIELDS) as unit:
            code = _rename_first_item("已被回滚的名称")
            raise Invalid("name_bad", "申请人名称无效", "the applicant name is invalid", field="applicant.name")
        assert unit.failed and unit.status == 422
        assert form.applicant_name.errors == ["申请人名称无效"]
        assert form.applicant_name.data == "张三"  # the user's input is kept for the re-rendered page
        assert not form.phone.errors
        assert get_flashed_messages() == []
    assert _item_name(code) != "已被回滚的名称"
    db.session.remove()
    assert db.session.execute(sa.text("SELECT 1")).scalar() == 1  # the session is usable after the rollback


def test_an_error_no_field_takes_is_said_on_the_page(app):
    from app.web.unit_of_work import page_unit

    with app.test_request_context("/"):
        form = ApplicantForm()
        with page_unit(form, FIELDS) as unit:
            raise Conflict("state_forbids", "当前状态不能办理", "not in this state", field="applicant.name")
        assert unit.status == 409
        assert not form.applicant_name.errors  # a Conflict concerns the action, not the input
        assert get_flashed_messages(with_categories=True) == [("error", "当前状态不能办理")]
        with page_unit(form, FIELDS, page_level="form") as unit:
            raise Invalid("bad", "无效", "invalid", field="unknown")
        assert form.form_errors == ["无效"]


def test_success_commits_once(app, monkeypatch):
    from app.extensions import db
    from app.web.unit_of_work import page_unit

    commits = []
    real_commit = db.session.commit
    monkeypatch.setattr(db.session, "commit", lambda: (commits.append(1), real_commit())[1])
    with app.test_request_context("/"):
        form = ApplicantForm()
        with page_unit(form, FIELDS) as unit:
            code = _rename_first_item("提交后的名称")
        assert not unit.failed
    assert commits == [1]
    assert _item_name(code) == "提交后的名称"
