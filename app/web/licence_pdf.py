"""The electronic licence (电子证照) as a signed PDF: WeasyPrint draws it (always in Chinese, whatever the reader's
interface language), with the authority's seal drawn in code (delegation/seal.py) and a QR code of its public
verification page; delegation/licence_signing.py then signs it with the authority's key (PAdES). Also the
staff's download from the case page, and the address the QR code leads to."""
from __future__ import annotations

import base64
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, has_request_context, render_template, request

from app.web import register_page_errors, requires
from delegation import licence_signing, licences
from delegation.seal import seal_svg

bp = Blueprint("web_licence", __name__)
register_page_errors(bp)


def verify_url(licence_no: str) -> str:
    base = current_app.config["TONGQUAN"].public_base_url
    if not base and has_request_context():
        base = request.url_root.rstrip("/")
    return f"{base}/verify/{quote(licence_no, safe='')}"


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def licence_pdf(licence) -> bytes:
    import segno

    from app.web.notices import render_pdf

    settings = current_app.config["TONGQUAN"]
    url = verify_url(licence.licence_no)
    html = render_template("licences/licence.html", doc=licences.document(licence), url=url,
                           qr=segno.make(url, error="m").svg_data_uri(scale=4, border=1),
                           seal=_data_uri(seal_svg(licence.issuer_name)))
    return licence_signing.sign_pdf(render_pdf(html), settings.keys_dir, settings.node_id, licence.issuer_code,
                                    licence.issuer_name, reason=f"签发{licence.title} {licence.licence_no}")


licences.register_renderer(licence_pdf)  # the copy that goes with case.decision to a window on another node


def _bytes(licence) -> bytes:
    """A licence this node issued is drawn and signed now; a copy another node issued is the PDF it sent."""
    if licence.received_pdf_sha256:
        from exchange.bus import get_bus

        return get_bus().blobs.get(licence.received_pdf_sha256)
    return licence_pdf(licence)


def pdf_response(licence) -> Response:
    response = Response(_bytes(licence), mimetype="application/pdf")
    name = quote(f"licence-{licence.licence_no}.pdf")
    response.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{name}"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/cases/<case_no>/licence.pdf")
@requires(lambda user: True)  # cases.get_case decides who sees the case
def download(case_no):
    from app.web.case_page import load_case

    case = load_case(case_no)  # another county's case: 404
    licence = licences.of_case(case.case_no) if case.decision == "approve" else None
    if licence is None:  # denied, undecided, or issued by another node that sent no copy
        abort(404)
    return pdf_response(licence)
