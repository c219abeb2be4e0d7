"""催办 from the window's own case page (issue 15): the accepting window sees the reminders pressed so far on the
page it works the case from, presses the holder there, and comes back to that page; the holder hears at once."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from delegation.models import User
from delegation.notification_models import Notification
from delegation.workflow import Mode, State
from tests.integration.factories import make_case
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY


def test_the_window_case_page_shows_the_panel_and_its_reminder_reaches_the_holder(client):  # noqa: F811
    app = client.application
    with app.app_context():
        case_no = make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY).case_no
        db.session.commit()
    log_in(client, f"window-{COUNTY}")
    page_url = f"/window/cases/{case_no}"
    page = client.get(page_url).get_data(as_text=True)
    assert 'data-testid="remind-form"' in page and "暂无催办" in page
    r = client.post(f"/cases/{case_no}/remind",
                    data={"comment": "申请人来电询问进度", "back": "window", "csrf_token": csrf_token(client, page_url)})
    assert r.status_code == 303 and r.headers["Location"].endswith(page_url)
    with app.app_context():
        told = db.session.execute(sa.select(User.username).join(Notification, Notification.user_id == User.id)
                                  .where(Notification.case_no == case_no, Notification.kind == "reminder")).scalars()
        assert list(told) == ["city-approver"]
    page = client.get(page_url).get_data(as_text=True)
    assert page.count('data-testid="reminder-') == 1 and "申请人来电询问进度" in page
    assert "已催办" in page  # the flash, on the page the window came from


def test_a_concluded_case_shows_the_reminders_without_the_form(client):  # noqa: F811
    with client.application.app_context():
        case_no = make_case(State.CONCLUDED, Mode.DIRECT).case_no
        db.session.commit()
    log_in(client, f"window-{COUNTY}")
    page = client.get(f"/window/cases/{case_no}").get_data(as_text=True)
    assert 'data-testid="reminders"' in page and 'data-testid="remind-form"' not in page
