"""What the applicant takes home (issue 16), read back from the PDFs as a person would read them (pdftotext,
pdfinfo from poppler-utils): the notices of each mode with the corrected wording, always in Chinese, on one page,
with the window's contact lines, a seal area and a 签收 line; the decision documents issued by the deciding level
in its own number series; the proof of service of a pickup and of a mailing."""
from __future__ import annotations

import re
import subprocess
import threading

import pytest
import sqlalchemy as sa

from app.extensions import db, utcnow
from delegation import engine
from delegation.documents.models import CaseDocument, ServiceRecord
from delegation.models import Case, Org
from delegation.workflow import Action, Mode, State
from tests.integration import factories
from tests.integration.pages import log_in
from tests.integration.support import COUNTY, PERSON, Api

WINDOW = f"window-{COUNTY}"
REVIEWER = f"review-{COUNTY}"
WRONG_ACCEPTANCE = "申请材料齐全、符合法定形式"  # what a 容缺 acceptance must not say


def pdf_text(data: bytes, tmp_path, name="doc") -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"[ \t\u3000]+", "", out.stdout.decode("utf-8"))  # CJK lines wrap anywhere: compare unspaced


def pdf_pages(data: bytes, tmp_path, name="doc") -> int:
    path = tmp_path / f"{name}-info.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, check=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def flat(text: str) -> str:
    return text.replace("\n", "")


def fetch(client, case_no: str, kind: str):
    r = client.get(f"/window/cases/{case_no}/notice/{kind}.pdf")
    assert r.status_code == 200, (kind, r.status_code)
    assert r.mimetype == "application/pdf"
    return r.data


@pytest.fixture
def window_client(client):
    log_in(client, WINDOW)
    return client


def _case(state: State, mode: Mode) -> Case:
    case = factories.make_case(state, mode)
    db.session.commit()
    return case


DECIDERS = {  # who decides, by name, as the acceptance notice says it (the demo organisations)
    Mode.DIRECT: "由宁都县行政审批局审查并作出决定",
    Mode.DELEGATED_REVIEW: "由宁都县行政审批局进行实质性审核后，报赣州市行政审批局",
    Mode.FORWARD_ONLY: "本窗口负责受理和送达，由赣州市行政审批局",
}


@pytest.mark.parametrize("mode", list(Mode))
def test_acceptance_notice_names_the_decider_and_fits_one_page(window_client, mode, tmp_path):
    case = _case(State.COUNTY_REVIEW if mode is not Mode.FORWARD_ONLY else State.FORWARDED, mode)
    data = fetch(window_client, case.case_no, "acceptance")
    text = flat(pdf_text(data, tmp_path))
    assert "受理通知书" in text and case.case_no in text and case.query_code in text
    assert DECIDERS[mode] in text
    if mode is not Mode.DIRECT:  # the city section that handles it, by name
        section = db.session.get(Org, db.session.execute(sa.select(Org.id).filter_by(code=case.department_code))
                                 .scalar_one())
        assert f"（{section.name}承办）" in text
    window = case.window_org
    for line in (window.address, window.phone, window.office_hours):
        assert line and line.replace(" ", "") in text
    assert "盖章处" in text and "签收" in text
    assert WRONG_ACCEPTANCE in text  # a complete acceptance says so
    assert pdf_pages(data, tmp_path) == 1

