"""A regulator presses the holder of an open case from its desk (issue 15): 在办督促 lists the open cases its
organisation will supervise once approved — a county regulator its county's direct cases, the city's regulator the
delegated ones — with who holds each by name; the case's page takes a 催办 that the holder hears at once, and says
who pressed whom by name. Another organisation's case is not found; a concluded case is not listed."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from delegation.models import Org, User
from delegation.notification_models import Notification
from delegation.workflow import Mode, State
from tests.integration.factories import make_case
from tests.integration.pages import client, csrf_token, log_in  # noqa: F401  (the page client fixture)
from tests.integration.support import COUNTY

OTHER = "360702"


def _cases(app) -> dict[str, str]:
    with app.app_context():
        made = {"direct": make_case(State.COUNTY_REVIEW, Mode.DIRECT).case_no,
                "forwarded": make_case(State.CITY_REVIEW, Mode.FORWARD_ONLY).case_no,
                "delegated": make_case(State.COUNTY_REVIEW, Mode.DELEGATED_REVIEW).case_no,
                "concluded": make_case(State.CONCLUDED, Mode.DIRECT).case_no,
                "other_county": make_case(State.COUNTY_REVIEW, Mode.DIRECT, county=OTHER).case_no}
        db.session.commit()
    return made


def _listed(client, url="/regulator/cases") -> set[str]:  # noqa: F811
    page = client.get(url)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    return {no for no in _ALL if f'data-case-no="{no}"' in text}


_ALL: set[str] = set()


def test_each_regulator_lists_the_open_cases_it_will_supervise(client):  # noqa: F811
    made = _cases(client.application)
    _ALL.clear()
    _ALL.update(made.values())
    log_in(client, f"reg-{COUNTY}")
    assert 'data-testid="open-supervised"' in client.get("/regulator").get_data(as_text=True)
    assert _listed(client) == {made["direct"]}
    page = client.get("/regulator/cases").get_data(as_text=True)
    with client.application.app_context():
        bureau = db.session.execute(sa.select(Org.name).filter_by(code=f"{COUNTY}-bureau")).scalar_one()
    assert bureau in page and f"{COUNTY}-bureau" not in page  # the holder by name, never its code
    assert _listed(client, f"/regulator/cases?q={made['direct']}") == {made["direct"]}
    assert _listed(client, "/regulator/cases?due=overdue") == set()  # nothing of it is overdue

    client.post("/logout", data={"csrf_token": csrf_token(client, "/regulator")})
    log_in(client, "reg-city")
    assert _listed(client) == {made["forwarded"], made["delegated"]}
    assert client.get(f"/regulator/cases/{made['direct']}").status_code == 404  # a county regulator's case


def test_a_regulator_presses_the_holder_from_the_case_page(client):  # noqa: F811
    made = _cases(client.application)
    log_in(client, f"reg-{COUNTY}")
    url = f"/regulator/cases/{made['direct']}"
    page = client.get(url).get_data(as_text=True)
    assert 'data-testid="remind-form"' in page and 'name="back" value="regulator"' in page
    r = client.post(f"/cases/{made['direct']}/remind",
                    data={"comment": "请加快审核", "back": "regulator", "csrf_token": csrf_token(client, url)})
    assert r.status_code == 303 and r.headers["Location"].endswith(url)  # back on the page it was pressed on
    with client.application.app_context():
        told = db.session.execute(sa.select(User.username).join(Notification, Notification.user_id == User.id)
                                  .where(Notification.case_no == made["direct"],
                                         Notification.kind == "reminder")).scalars().all()
        regulator = db.session.execute(sa.select(User).filter_by(username=f"reg-{COUNTY}")).unique().scalar_one()
        names = (regulator.display_name, regulator.org.name)
    assert f"review-{COUNTY}" in told  # the county bureau holds it: its reviewer hears at once
    page = client.get(url).get_data(as_text=True)
    assert "请加快审核" in page and all(name in page for name in names)
    assert f"reg-{COUNTY}" not in page and f"{COUNTY}-bureau" not in page and "1 次" in client.get(
        "/regulator/cases").get_data(as_text=True)
    assert client.get(f"/regulator/cases/{made['other_county']}").status_code == 404
    assert client.get(f"/regulator/cases/{made['concluded']}").status_code == 200  # its own, shown without the form
    assert 'data-testid="remind-form"' not in client.get(f"/regulator/cases/{made['concluded']}").get_data(as_text=True)


def test_only_a_regulator_has_the_list(client):  # noqa: F811
    log_in(client, f"window-{COUNTY}")
    assert client.get("/regulator/cases").status_code == 403
