"""The licence across two nodes (issue 16): the city decides, so the city issues the licence — its number in the
city department's series and its validity reach the county node on the decision message (ValidFrom/ValidUntil, in
JSON and in XML) with the PDF the city signed, which the county window prints; the city node answers
/verify for it."""
from __future__ import annotations

from datetime import date, timedelta

from delegation import licences
from tests.integration.pages import log_in
from tests.integration.support import Node
from tests.integration.test_licences import _pdftotext, _pyhanko_status
from tests.integration.test_two_nodes import CITY, COUNTY, nodes, pump, sftp  # noqa: F401  (fixtures)


def _approved_at_city(county: Node, city: Node, fmt: str) -> tuple[str, dict]:
    window = f"window-{COUNTY}"
    with county.ctx():
        item = county.api.item("forward_only")
        case_no = county.api.create(item)["case_no"]
    county.act(case_no, window, "accept")
    pump(county, city)
    decided = city.act(case_no, "city-approver", "approve")["decision"]
    pump(county, city)
    with city.ctx():
        from app.extensions import db
        from exchange.models import OutboxMessage

        sent = db.session.query(OutboxMessage).filter_by(case_no=case_no, type="case.decision").one()
        assert sent.fmt == fmt and sent.state == "acknowledged"
    return case_no, decided


def test_validity_dates_reach_the_county_node_on_the_decision_message(nodes, sftp, tmp_path):  # noqa: F811
    county, city = Node(nodes[0]), Node(nodes[1])
    window = f"window-{COUNTY}"
    for fmt in ("json", "xml"):
        if fmt == "xml":  # the city speaks XML to the county from now on
            result = nodes[1].test_cli_runner().invoke(args=[
                "exchange", "peer-set", COUNTY, "--transport", "sftp", "--format", "xml", "--host", "127.0.0.1",
                "--port", str(sftp.port), "--user", sftp.user, "--key", str(sftp.client_key),
                "--known-hosts", str(sftp.known_hosts), "--root", str(sftp.root)])
            assert result.exit_code == 0, result.output
        case_no, at_city = _approved_at_city(county, city, fmt)
        valid_from = date.fromisoformat(at_city["valid_from"])
        assert date.fromisoformat(at_city["valid_until"]) == licences.add_months(valid_from, 60) - timedelta(days=1)
        assert at_city["certificate_no"].startswith(f"360700XK{valid_from.year}")

        at_county = county.case(case_no, window)
        assert at_county["state"] == "decided"
        assert {k: at_county["decision"][k] for k in ("certificate_no", "valid_from", "valid_until")} == \
            {k: at_city[k] for k in ("certificate_no", "valid_from", "valid_until")}

        # the city issued it: the city answers for it, the county node has no licence of its own
        with city.ctx():
            page = city.api.client.get(f"/verify/{at_city['certificate_no']}")
            assert page.status_code == 200 and 'data-status="valid"' in page.get_data(as_text=True)
        with county.ctx():
            assert county.api.client.get(f"/verify/{at_city['certificate_no']}").status_code == 404
        with city.ctx():
            ca_pem = city.api.client.get("/verify/ca.pem").data

        # the county window prints the licence the city signed (the county has no key of the city's department)
        browser = nodes[0].test_client()
        with nodes[0].app_context():
            log_in(browser, window)
        pdf = browser.get(f"/cases/{case_no}/licence.pdf")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        status = _pyhanko_status(pdf.data, ca_pem)
        assert status.bottom_line and status.signing_cert.subject.native["organizational_unit_name"] == at_city["org"]
        text = _pdftotext(pdf.data, tmp_path)
        assert at_city["certificate_no"] in text.replace(" ", "") and "有效期限" in text
