"""The decision document (准予/不予行政许可决定书) of a case: issued with the decision, in the same transaction,
numbered in the deciding authority's series; carried to the county window in the decision message.

Everything the document states is frozen in `CaseDocument.content` when it is issued, and the county builds its
copy with the same function from the message's fields and its own copy of the case, so both print the same."""
from __future__ import annotations

from datetime import datetime

from delegation.deadlines import SHANGHAI
from delegation.documents import numbering
from delegation.documents.authorities import Authority, issuer_of
from delegation.documents.models import CaseDocument
from delegation.models import Case
from persistence import db

TITLES = {"grant": "准予行政许可决定书", "denial": "不予行政许可决定书"}
KIND_OF_DECISION = {"approve": "grant", "deny": "denial"}


def _local_date(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def content(case: Case, kind: str, doc_no: str, verify_code: str, authority: Authority, decided_at: datetime,
            reasons: list[str], certificate_no: str | None) -> dict:
    """What the document says, from the case and the decision (the same on the city and the county node)."""
    return {
        "title": TITLES[kind], "kind": kind, "doc_no": doc_no, "case_no": case.case_no, "verify_code": verify_code,
        "issuer": authority.name, "issuer_code": authority.code, "undertaker": authority.undertaker,
        "review_authority": authority.review_authority, "court": authority.court,
        "applicant_name": case.applicant_name, "applicant_id_code": case.applicant_id_code,
        "item_name": case.item.name, "item_code": case.item.code, "mode": case.mode.value,
        "legal_basis": case.item.legal_basis or "",
        "accepted_date": _local_date(case.accepted_at) if case.accepted_at else "",
        "decided_date": _local_date(decided_at), "reasons": list(reasons or []),
        "certificate_no": certificate_no if kind == "grant" else None,
    }


def issue(case: Case, now: datetime) -> CaseDocument:
    """The decision document of the decision just taken: the next number of the issuer's year, a verification
    code, the frozen content. Called by the approve/deny effect, so it commits (or not) with the decision."""
    authority = issuer_of(case)
    kind = KIND_OF_DECISION[case.decision]
    year = now.astimezone(SHANGHAI).year
    seq = numbering.allocate(authority.code, year)
    number, code = numbering.doc_no(authority.prefix, year, seq), numbering.verify_code()
    document = CaseDocument(case_id=case.id, kind=kind, issuer_code=authority.code, year=year, seq=seq,
                            doc_no=number, verify_code=code, issued_at=now,
                            content=content(case, kind, number, code, authority, now, case.decision_reasons or [],
                                            case.certificate_no))
    db.session.add(document)
    return document


def of_case(case: Case) -> CaseDocument | None:
    import sqlalchemy as sa

    return db.session.execute(sa.select(CaseDocument).filter_by(case_id=case.id)).scalar_one_or_none()


# -- on the wire (case.decision "document") ------------------------------------------------------------------------

def to_wire(document: CaseDocument) -> dict:
    c = document.content
    return {"kind": document.kind, "number": document.doc_no, "year": str(document.year), "seq": str(document.seq),
            "verify_code": document.verify_code, "issuer": {"code": document.issuer_code, "name": c["issuer"]},
            "undertaker": c.get("undertaker"), "review_authority": c["review_authority"], "court": c["court"]}


def store_received(case: Case, wire: dict, decided_at: datetime) -> CaseDocument:
    """The county's copy of the document the deciding authority issued, as the decision message describes it."""
    authority = Authority(code=wire["issuer"]["code"], name=wire["issuer"]["name"], undertaker=wire.get("undertaker"),
                          prefix="", review_authority=wire["review_authority"], court=wire["court"])
    document = CaseDocument(case_id=case.id, kind=wire["kind"], issuer_code=authority.code, year=int(wire["year"]),
                            seq=int(wire["seq"]), doc_no=wire["number"], verify_code=wire["verify_code"],
                            issued_at=decided_at,
                            content=content(case, wire["kind"], wire["number"], wire["verify_code"], authority,
                                            decided_at, case.decision_reasons or [], case.certificate_no))
    db.session.add(document)
    return document
