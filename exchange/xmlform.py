"""The XML form of an exchange envelope (exchange-v1, "The XML form"), signed with XML Signature.

Public API::

    encode(env: Envelope) -> bytes                       # unsigned, XSD-validated UTF-8 XML
    sign(env: Envelope, private_key, node_id: str) -> bytes   # ECDSA-SHA256 with a P-256 key, SM2-SM3 with SM2
    verify(data: bytes, trusted_certs: Callable[[str], Iterable[bytes | str | x509.Certificate]],
           expected_to_node: str | None = None,
           sig_alg: str | Callable[[str], str] = "ecdsa-p256") -> tuple[Envelope, bytes]
    body_to_xml(type: str, body: dict) -> lxml Element    # the Body's single child, e.g. <CaseForward>
    body_from_xml(element) -> tuple[str, dict]            # (message type, body dict)

Body dicts
----------
Bodies are JSON-native dicts so the JSON form can carry them unchanged: keys are snake_case, dates
(``YYYY-MM-DD``) and date-times (ISO 8601 *with* offset) are strings, amounts are decimal strings
(``"5000.00"``), flags are ``bool``. On encoding, ``date``/``datetime``/``Decimal`` values are accepted and
written in ISO form, but decoding always yields strings. An optional key that is absent on the wire is absent
from the dict (``None`` on encoding means absent); a list is always present on decoding (``[]`` if empty).
``?`` marks optional keys::

    ITEM      = {"code": str, "name": str, "mode": "direct" | "delegated_review" | "forward_only"}
    APPLICANT = {"kind": "enterprise" | "individual", "name": str, "id_code": str (18 chars), "phone"?: str}
    FORWARD_APPLICANT = APPLICANT + {"address"?: str (≤ 200), "legal_representative"?: str (≤ 100),
                                     "agent"?: {"name": str (≤ 100), "id_code"?: str (18 chars), "phone"?: str}}
    MATERIAL  = {"code": str, "name": str, "core": bool, "present": bool, "files": [sha256 hex, ...]}

    case.forward          {"item": ITEM, "applicant": FORWARD_APPLICANT,
                           "acceptance": {"org": str, "by": str, "at": datetime,
                                          "commitment"?: {"deadline": date, "missing_materials": [code, ...]}},
                           "review"?: {"opinion": str, "recommendation": "approve" | "deny", "by": str, "at": datetime},
                           "materials": [MATERIAL, ...] (1..n), "due_at"?: datetime, "comment"?: str,
                           "citywide"?: {"county": division code, "org": code},  (全市通办: to that county's org)
                           "site_inspections"?: {"records": [{"ref": UUID str, "org": code,
                               "inspectors": [str (≤ 100), ...] (1..10), "at": datetime, "place": str (≤ 200),
                               "findings": str, "conclusion": "conforms" | "rectify" | "nonconforming",
                               "recorded_by": str, "recorded_at": datetime, "photos": [sha256 hex, ...] (0..9)},
                               ...] (1..n)}}  (现场踏勘, issue 17)
    case.supplement       {"materials": [MATERIAL, ...] (1..n), "comment"?: str}
    case.return           {"reasons": [str, ...] (1..n), "by": str, "at": datetime}
    case.decision         {"decision": "approve" | "deny", "reasons": [str, ...], "certificate_no"?: str,
                           "valid_from"?: date, "valid_until"?: date, "decided_by": str, "decided_at": datetime,
                           "document"?: {"kind": "grant" | "denial", "year": "2026", "seq": "12",
                                         "number": str (e.g. 章贡行审许〔2026〕12号), "verify_code": code,
                                         "issuer": {"code": code, "name": str}, "undertaker"?: str,
                                         "review_authority": str, "court": str}}
    case.originals_mailed {"mailing_id": UUID str, "courier": str, "tracking_no": str,
                           "materials": [{"code": code, "name": str}, ...] (1..n), "mailed_by": str,
                           "mailed_at": datetime, "due_at": datetime}
    case.originals_received {"mailing_id": UUID str, "result": "complete" | "incomplete", "missing": [code, ...],
                           "damaged": [code, ...], "comment"?: str, "received_by": str, "received_at": datetime}
    case.transfer         {"from_org": code, "to_org": code, "reason": str, "by": str, "at": datetime}
    case.reminder         {"by": str, "at": datetime, "comment"?: str}
    case.closure          {"outcome": "withdrawn" | "terminated", "reason": str, "by": str, "at": datetime}
    case.suspension       {"event": "suspended" | "resumed", "kind"?: str, "expected_end"?: date, "by": str,
                           "at": datetime}
    supervision.push      {"item": ITEM, "applicant": APPLICANT, "accepting_org": str, "accepted_at": datetime,
                           "decision": "approve" | "deny" | "file" (an exempt item's filing, issue 17),
                           "certificate_no"?: str, "valid_from"?: date,
                           "valid_until"?: date, "deciding_org": str, "decided_at": datetime,
                           "responsible_parties": [{"role": "accept" | "review" | "decide" | "supervise",
                                                    "org": str, "person"?: str}, ...] (1..n),
                           "commitment"?: {"text": str, "signer": str (≤ 100), "signed_by": str,
                                           "signed_at": datetime, "verify_due_at": datetime}}  (告知承诺, issue 17)
    supervision.commitment_result {"result": "verified" | "false", "note"?: str, "by": str, "at": datetime}
    supervision.claim     {"by": str, "at": datetime}
    supervision.feedback  {"kind": "inspection" | "rectification" | "penalty" | "no_issue", "date": date,
                           "result": str, "comment"?: str, "decision_no"?: str, "amount"?: decimal string,
                           "rectification_ordered"?: bool, "feedback_id"?: UUID str, "supervision_done"?: bool}
    delegation.change     {"item_code": str, "division": 6-digit str, "action": "grant" | "revoke",
                           "mode"?: ITEM mode, "effective_at": datetime, "reason": str}
    consultation.open     {"subject": str, "item_code": code, "item_name": str, "case_no"?: str, "text": str,
                           "opened_by": str, "opened_at": datetime, "reply_due_at": datetime}
    consultation.message  {"kind": "reply" | "follow_up" | "close", "text": str, "by": str, "at": datetime,
                           "reply_due_at"?: datetime}
    stats.case_facts      {"facts": [{"case_no": str, "version": positive integer str, "applied_on": date,
                           "county": division code, "item_code": code, "mode": ITEM mode, "state": case state,
                           "due_flag"?: "warning" | "overdue", "commitment_deadline"?: datetime,
                           "follow_up_due"?: datetime, "commitment_check"?: "open" | "verified" | "false",
                           "check_due_at"?: datetime,
                           "figures": [{"name": str, "value": number str}, ...] (1..64)}, ...] (1..500)}  (issue 18)
    reference.publish     {"kind": "credit" | "holidays" | "catalogue", "version": positive integer str (grows per kind), "published_at": datetime,
                           "credit_records": [{"ref": positive integer str (the city's record id),
                               "kind": "broken_commitment" | "false_commitment" | "penalty", "blacklisted": bool,
                               "id_code": str (18 chars), "name": str, "case_no"?: str, "detail": str,
                               "recorded_by": str, "recorded_at": datetime, "expires_at": datetime,
                               "lifted"?: {"at": datetime, "by": str, "reason": str}}, ...] (0..100; 1..100 with
                               kind credit), "catalogue"?: {"csv": str (≤ 1,000,000)} (with kind catalogue),
                           "holidays"?: {"year": "YYYY", "complete": bool, "days": [{"date": date,
                               "workday": bool, "name": str (≤ 60)}, ...] (0..366)} (with kind holidays)}
                           (issue 18: reference data from the city; CaseNo is the stream REF-<kind>)
    receipt               {"status": "accepted" | "rejected", "reason_code"?: str, "reason"?: str,
                           "received_sha256": 64 lower-case hex}

Header co-constraints checked here (XSD 1.0 cannot): the Body child matches Header/Type; ``case.*`` and
``supervision.*`` (and ``consultation.*``: CaseNo is the thread number; ``reference.*``: the stream) messages carry CaseNo and Sequence; a
receipt carries InReplyTo.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

from .envelope import Attachment, Envelope, wire_values
from .errors import (
    MALFORMED,
    SCHEMA_INVALID,
    SIGNATURE_INVALID,
    UNKNOWN_SENDER,
    UNSIGNED,
    WRONG_RECIPIENT,
    ExchangeRejected,
    InvalidEnvelope,
)
from . import sm2
from .jsonschemas import fast_body
from .keys import load_cert

log = logging.getLogger(__name__)

NS = "urn:tongquan:exchange:1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SCHEMA_PATH = Path(__file__).with_name("schema") / "envelope-v1.xsd"

# The only algorithms exchange-v1 allows. Anything else is rejected before any cryptography runs.
C14N_ALG = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0  # http://www.w3.org/2001/10/xml-exc-c14n#
DIGEST_ALG = DigestAlgorithm.SHA256  # http://www.w3.org/2001/04/xmlenc#sha256
SIGNATURE_ALG = SignatureMethod.ECDSA_SHA256  # http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256
ENVELOPED_TRANSFORM = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
TRANSFORMS = (ENVELOPED_TRANSFORM, C14N_ALG.value)
_C14N_URI, _SIGNATURE_URI, _DIGEST_URI = C14N_ALG.value, SIGNATURE_ALG.value, DIGEST_ALG.value  # plain str
# SM2 with SM3 (peers agreed on `sm2-sm3`): neither W3C nor the IANA XML Security URI registry (RFC 9231) names SM2 or
# SM3; these are the identifiers of China E-Port's 2022 XML-signature profile, the Chinese government's large XML-DSig
# deployment with SM2 (exchange/schema/README.md, "Signature algorithms", says why these and not others).
SM2_SIGNATURE_URI = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
SM3_DIGEST_URI = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"

_ES256 = ec.ECDSA(hashes.SHA256())
_P256_BYTES = 32  # one coordinate of the raw r || s SignatureValue (RFC 6931 §2.3.6 / RFC 4050)

# The one SignedInfo exchange-v1 signs (per algorithm), in exclusive canonical form with DigestValue still to fill
# in. It is canonicalised once here, by lxml, the same code that canonicalises a received SignedInfo.
_DIGEST_MARK = "@DIGEST@"


def _signed_info_parts(signature_uri: str, digest_uri: str) -> tuple[str, str]:
    template = (
        f'<ds:SignedInfo xmlns:ds="{DS_NS}">'
        f'<ds:CanonicalizationMethod Algorithm="{C14N_ALG.value}"/>'
        f'<ds:SignatureMethod Algorithm="{signature_uri}"/>'
        '<ds:Reference URI="">'
        f'<ds:Transforms><ds:Transform Algorithm="{ENVELOPED_TRANSFORM}"/>'
        f'<ds:Transform Algorithm="{C14N_ALG.value}"/></ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{digest_uri}"/><ds:DigestValue>{_DIGEST_MARK}</ds:DigestValue>'
        "</ds:Reference></ds:SignedInfo>"
    )
    c14n = etree.tostring(etree.fromstring(template), method="c14n", exclusive=True, with_comments=False)
    head, tail = c14n.decode("ascii").split(_DIGEST_MARK)
    return head, tail


_SIGNED_INFO_HEAD, _SIGNED_INFO_TAIL = _signed_info_parts(_SIGNATURE_URI, _DIGEST_URI)
_SIGNATURE_HEAD = f'<ds:Signature xmlns:ds="{DS_NS}">'


@dataclass(frozen=True)
class _Profile:
    """What one agreed algorithm pins in a Signature: its URIs, digest, and how a trusted certificate checks it."""

    name: str
    signature_uri: str
    digest_uri: str
    digest: Callable[[bytes], bytes]
    head: str
    tail: str


_PROFILES = {
    sm2.ECDSA_P256: _Profile("ECDSA-SHA256/SHA-256", _SIGNATURE_URI, _DIGEST_URI,
                             lambda data: hashlib.sha256(data).digest(), _SIGNED_INFO_HEAD, _SIGNED_INFO_TAIL),
    sm2.SM2_SM3: _Profile("SM2-SM3/SM3", SM2_SIGNATURE_URI, SM3_DIGEST_URI, sm2.sm3,
                          *_signed_info_parts(SM2_SIGNATURE_URI, SM3_DIGEST_URI)),
}


def signed_info_c14n(digest: bytes, sig_alg: str = sm2.ECDSA_P256) -> bytes:
    """The canonical SignedInfo exchange-v1 signs for a document whose digest is `digest` (for auditors' tools)."""
    profile = _PROFILES[sig_alg]
    return f"{profile.head}{binascii.b2a_base64(digest, newline=False).decode('ascii')}{profile.tail}".encode("ascii")


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _ds(tag: str) -> str:
    return f"{{{DS_NS}}}{tag}"


# ---------------------------------------------------------------------------------------------- field mapping


@dataclass(frozen=True)
class Field:
    """One dict key mapped to an XML attribute, element, group of fields or repeated element.

    kind: "str" (text or attribute), "bool" (xs:boolean), "group" (nested dict from `fields`),
    "list" (list of `item` elements, optionally inside a `tag` wrapper; items are str, or dicts when
    `fields` is set).
    """

    key: str
    tag: str
    kind: str = "str"
    attr: bool = False
    optional: bool = False
    fields: tuple["Field", ...] = ()
    item: str = ""


def _el(key: str, tag: str, optional: bool = False, kind: str = "str") -> Field:
    return Field(key, tag, kind=kind, optional=optional)


def _at(key: str, name: str, kind: str = "str") -> Field:
    return Field(key, name, kind=kind, attr=True)


def _group(key: str, tag: str, *fields: Field, optional: bool = False) -> Field:
    return Field(key, tag, kind="group", optional=optional, fields=fields)


def _list(key: str, item: str, *fields: Field, wrapper: str = "", optional: bool = False) -> Field:
    # `optional` only matters with a wrapper: an optional wrapper is omitted when the list is empty.
    return Field(key, wrapper, kind="list", optional=optional, fields=fields, item=item)


_ITEM = (_at("code", "code"), _at("mode", "mode"), _el("name", "Name"))
_APPLICANT = (_at("kind", "kind"), _el("name", "Name"), _el("id_code", "IdCode"), _el("phone", "Phone", True))
# case.forward's applicant (tq:ForwardApplicant): what the window recorded at intake follows, each optional
_FORWARD_APPLICANT = _APPLICANT + (
    _el("address", "Address", True),
    _el("legal_representative", "LegalRepresentative", True),
    _group("agent", "Agent", _el("name", "Name"), _el("id_code", "IdCode", True), _el("phone", "Phone", True),
           optional=True),
)
_MATERIALS = _list(
    "materials",
    "Material",
    _at("code", "code"),
    _at("core", "core", "bool"),
    _at("present", "present", "bool"),
    _el("name", "Name"),
    _list("files", "FileSha256"),
    wrapper="Materials",
)
_DECISION_RESULT = (
    _el("certificate_no", "CertificateNo", True),
    _el("valid_from", "ValidFrom", True),
    _el("valid_until", "ValidUntil", True),
)

# message type -> (Body child element, its fields in XSD sequence order)
BODIES: dict[str, tuple[str, tuple[Field, ...]]] = {
    "case.forward": (
        "CaseForward",
        (
            _group("item", "Item", *_ITEM),
            _group("applicant", "Applicant", *_FORWARD_APPLICANT),
            _group(
                "acceptance",
                "Acceptance",
                _el("org", "Org"),
                _el("by", "By"),
                _el("at", "At"),
                _group(
                    "commitment",
                    "Commitment",
                    _el("deadline", "Deadline"),
                    _list("missing_materials", "MissingMaterial"),
                    optional=True,
                ),
            ),
            _group(
                "review",
                "Review",
                _el("opinion", "Opinion"),
                _el("recommendation", "Recommendation"),
                _el("by", "By"),
                _el("at", "At"),
                optional=True,
            ),
            _MATERIALS,
            _el("due_at", "DueAt", True),
            _el("comment", "Comment", True),
            _group("citywide", "Citywide", _el("county", "County"), _el("org", "Org"), optional=True),  # 全市通办
            _group(  # 现场踏勘 records (issue 17); the photos are the message's attachments, named by digest
                "site_inspections",
                "SiteInspections",
                _list(
                    "records",
                    "SiteInspection",
                    _at("ref", "ref"),
                    _el("org", "Org"),
                    _list("inspectors", "Inspector", wrapper="Inspectors"),
                    _el("at", "At"),
                    _el("place", "Place"),
                    _el("findings", "Findings"),
                    _el("conclusion", "Conclusion"),
                    _el("recorded_by", "RecordedBy"),
                    _el("recorded_at", "RecordedAt"),
                    _list("photos", "PhotoSha256"),
                ),
                optional=True,
            ),
        ),
    ),
    "case.supplement": ("CaseSupplement", (_MATERIALS, _el("comment", "Comment", True))),
    "case.return": (
        "CaseReturn",
        (_list("reasons", "Reason", wrapper="Reasons"), _el("by", "By"), _el("at", "At")),
    ),
    "case.decision": (
        "CaseDecision",
        (
            _el("decision", "Decision"),
            _list("reasons", "Reason", wrapper="Reasons", optional=True),
            *_DECISION_RESULT,
            _el("decided_by", "DecidedBy"),
            _el("decided_at", "DecidedAt"),
            _group(
                "document",
                "Document",
                # attributes in name order: the signed form is canonical (exclusive c14n sorts them)
                _at("kind", "kind"),
                _at("seq", "seq"),
                _at("year", "year"),
                _el("number", "Number"),
                _el("verify_code", "VerifyCode"),
                _group("issuer", "Issuer", _at("code", "code"), _el("name", "Name")),
                _el("undertaker", "Undertaker", True),
                _el("review_authority", "ReviewAuthority"),
                _el("court", "Court"),
                optional=True,
            ),
        ),
    ),
    # 材料邮寄 (issue 19): the paper originals mailed by the window, and the city signing for them
    "case.originals_mailed": (
        "CaseOriginalsMailed",
        (
            _el("mailing_id", "MailingId"),
            _el("courier", "Courier"),
            _el("tracking_no", "TrackingNo"),
            _list("materials", "Material", _at("code", "code"), _el("name", "Name"), wrapper="Materials"),
            _el("mailed_by", "MailedBy"),
            _el("mailed_at", "MailedAt"),
            _el("due_at", "DueAt"),
        ),
    ),
    "case.originals_received": (
        "CaseOriginalsReceived",
        (
            _el("mailing_id", "MailingId"),
            _el("result", "Result"),
            _list("missing", "Material", wrapper="Missing", optional=True),
            _list("damaged", "Material", wrapper="Damaged", optional=True),
            _el("comment", "Comment", True),
            _el("received_by", "ReceivedBy"),
            _el("received_at", "ReceivedAt"),
        ),
    ),
    # 转办 and cross-node 催办 (issue 15): the holder passed the case on; a reminder for the holder's node
    "case.transfer": (
        "CaseTransfer",
        (_el("from_org", "FromOrg"), _el("to_org", "ToOrg"), _el("reason", "Reason"), _el("by", "By"),
         _el("at", "At")),
    ),
    "case.reminder": ("CaseReminder", (_el("by", "By"), _el("at", "At"), _el("comment", "Comment", True))),
    # 全市通办 (issue 17): the accepting window's case was withdrawn or terminated; the competent county's copy too
    "case.closure": ("CaseClosure", (_el("outcome", "Outcome"), _el("reason", "Reason"), _el("by", "By"),
                                     _el("at", "At"))),
    # 全市通办 (issue 17): the competent county suspended the case (特别程序) or resumed it
    "case.suspension": ("CaseSuspension", (_el("event", "Event"), _el("kind", "Kind", True),
                                           _el("expected_end", "ExpectedEnd", True), _el("by", "By"),
                                           _el("at", "At"))),
    "supervision.push": (
        "SupervisionPush",
        (
            _group("item", "Item", *_ITEM),
            _group("applicant", "Applicant", *_APPLICANT),
            _el("accepting_org", "AcceptingOrg"),
            _el("accepted_at", "AcceptedAt"),
            _el("decision", "Decision"),
            *_DECISION_RESULT,
            _el("deciding_org", "DecidingOrg"),
            _el("decided_at", "DecidedAt"),
            _list(
                "responsible_parties",
                "Party",
                _at("role", "role"),
                _el("org", "Org"),
                _el("person", "Person", True),
                wrapper="ResponsibleParties",
            ),
            # 告知承诺 (issue 17): what the regulator verifies on its own node
            _group(
                "commitment",
                "Commitment",
                _el("text", "Text"),
                _el("signer", "Signer"),
                _el("signed_by", "SignedBy"),
                _el("signed_at", "SignedAt"),
                _el("verify_due_at", "VerifyDueAt"),
                optional=True,
            ),
        ),
    ),
    "supervision.claim": ("SupervisionClaim", (_el("by", "By"), _el("at", "At"))),
    "supervision.commitment_result": (
        "SupervisionCommitmentResult",
        (_el("result", "Result"), _el("note", "Note", True), _el("by", "By"), _el("at", "At")),
    ),
    "supervision.feedback": (
        "SupervisionFeedback",
        (
            _el("kind", "Kind"),
            _el("date", "Date"),
            _el("result", "Result"),
            _el("comment", "Comment", True),
            _el("decision_no", "DecisionNo", True),
            _el("amount", "Amount", True),
            _el("rectification_ordered", "RectificationOrdered", True, "bool"),
            _el("feedback_id", "FeedbackId", True),
            _el("supervision_done", "SupervisionDone", True, "bool"),
        ),
    ),
    "delegation.change": (
        "DelegationChange",
        (
            _el("item_code", "ItemCode"),
            _el("division", "Division"),
            _el("action", "Action"),
            _el("mode", "Mode", True),
            _el("effective_at", "EffectiveAt"),
            _el("reason", "Reason"),
        ),
    ),
    # 会商 (issue 15): Header/CaseNo is the thread number, so a thread's messages apply in Sequence order
    "consultation.open": (
        "ConsultationOpen",
        (
            _el("subject", "Subject"),
            _el("item_code", "ItemCode"),
            _el("item_name", "ItemName"),
            _el("case_no", "CaseNo", True),
            _el("text", "Text"),
            _el("opened_by", "OpenedBy"),
            _el("opened_at", "OpenedAt"),
            _el("reply_due_at", "ReplyDueAt"),
        ),
    ),
    "consultation.message": (
        "ConsultationMessage",
        (
            _el("kind", "Kind"),
            _el("text", "Text"),
            _el("by", "By"),
            _el("at", "At"),
            _el("reply_due_at", "ReplyDueAt", True),
        ),
    ),
    # issue 18: a county node's statistics facts of its cases, for the city's figures (no personal data)
    "stats.case_facts": (
        "StatsCaseFacts",
        (
            _list(
                "facts",
                "Fact",
                _at("case_no", "caseNo"),
                _at("version", "version"),
                _el("applied_on", "AppliedOn"),
                _el("county", "County"),
                _el("item_code", "ItemCode"),
                _el("mode", "Mode"),
                _el("state", "State"),
                _el("due_flag", "DueFlag", True),
                _el("commitment_deadline", "CommitmentDeadline", True),
                _el("follow_up_due", "FollowUpDue", True),
                _el("commitment_check", "CommitmentCheck", True),
                _el("check_due_at", "CheckDueAt", True),
                _list("figures", "Figure", _at("name", "name"), _at("value", "value")),
            ),
        ),
    ),
    # issue 18: reference data published by the city node to every county node; Header/CaseNo is the stream
    # (REF-<kind>), so a node applies one sender's publications of a kind in Sequence order
    "reference.publish": (
        "ReferencePublish",
        (
            _el("kind", "Kind"),
            _el("version", "Version"),
            _el("published_at", "PublishedAt"),
            _list(
                "credit_records",
                "CreditRecord",
                # attributes in canonical (alphabetical) order: the document signed is its own c14n form
                _at("blacklisted", "blacklisted", "bool"),
                _at("kind", "kind"),
                _at("ref", "ref"),
                _el("id_code", "IdCode"),
                _el("name", "Name"),
                _el("case_no", "CaseNo", True),
                _el("detail", "Detail"),
                _el("recorded_by", "RecordedBy"),
                _el("recorded_at", "RecordedAt"),
                _el("expires_at", "ExpiresAt"),
                _group("lifted", "Lifted", _el("at", "At"), _el("by", "By"), _el("reason", "Reason"), optional=True),
                wrapper="CreditRecords",
                optional=True,
            ),
            # kind catalogue: the items a city import changed, as the platform's catalogue CSV
            _group("catalogue", "Catalogue", _el("csv", "Csv"), optional=True),
            _group(  # kind holidays: one year of the holiday table, whole
                "holidays",
                "Holidays",
                _el("year", "Year"),
                _el("complete", "Complete", kind="bool"),
                _list("days", "Day", _at("date", "date"), _at("workday", "workday", "bool"), _el("name", "Name"),
                      wrapper="Days", optional=True),
                optional=True,
            ),
        ),
    ),
    "receipt": (
        "Receipt",
        (
            _el("status", "Status"),
            _el("reason_code", "ReasonCode", True),
            _el("reason", "Reason", True),
            _el("received_sha256", "ReceivedSha256"),
        ),
    ),
}
_TYPE_BY_ELEMENT = {element: type_ for type_, (element, _) in BODIES.items()}
# Types that belong to a case (or a consultation thread, whose number Header/CaseNo carries) and are applied in
# per-case Sequence order.
CASE_TYPES = frozenset(t for t in BODIES if t.startswith(("case.", "supervision.", "consultation.", "reference.")))


def _text(value: Any, kind: str, path: str) -> str:
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidEnvelope(f"{path}: expected a bool, got {type(value).__name__}")
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return str(value)
    raise InvalidEnvelope(f"{path}: expected a string, got {type(value).__name__}")


def _fill(parent: etree._Element, fields: tuple[Field, ...], data: dict[str, Any], path: str) -> None:
    if not isinstance(data, dict):
        raise InvalidEnvelope(f"{path}: expected an object, got {type(data).__name__}")
    # Unknown keys would be silently dropped on the wire; refuse them so a typo cannot lose data.
    unknown = set(data) - {f.key for f in fields}
    if unknown:
        raise InvalidEnvelope(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    for f in fields:
        value = data.get(f.key)
        where = f"{path}.{f.key}"
        if f.kind == "list":
            items = [] if value is None else value
            if not isinstance(items, list):
                raise InvalidEnvelope(f"{where}: expected a list")
            if f.tag and (items or not f.optional):
                container = etree.SubElement(parent, _q(f.tag))
            else:
                container = parent
            for i, item in enumerate(items):
                child = etree.SubElement(container, _q(f.item))
                if f.fields:
                    _fill(child, f.fields, item, f"{where}[{i}]")
                else:
                    child.text = _text(item, "str", f"{where}[{i}]")
            continue
        if value is None:
            if f.optional:
                continue
            raise InvalidEnvelope(f"{where}: required")
        if f.attr:
            parent.set(f.tag, _text(value, f.kind, where))
        elif f.kind == "group":
            _fill(etree.SubElement(parent, _q(f.tag)), f.fields, value, where)
        else:
            etree.SubElement(parent, _q(f.tag)).text = _text(value, f.kind, where)


def _read(element: etree._Element, fields: tuple[Field, ...]) -> dict[str, Any]:
    return _reader(fields)(element)


_READERS: dict[int, Callable[[etree._Element], dict[str, Any]]] = {}
_TRUE = ("true", "1")  # the two lexical forms of xs:boolean true


def _reader(fields: tuple[Field, ...]) -> Callable[[etree._Element], dict[str, Any]]:
    """A reader for one field table, as straight-line code: the loop over field specs and the qualified tag
    built per field cost more than reading the values (the tree is schema-valid: no checks needed here)."""
    reader = _READERS.get(id(fields))  # by identity: the field tables are module constants
    if reader is not None:
        return reader
    env: dict[str, Any] = {"T": _TRUE}
    lines = ["def read(el):", "    out = {}"]
    loose = [i for i, f in enumerate(fields) if f.kind == "list" and not f.tag]  # items without a wrapper
    if loose:
        # One pass over the children: the items of each unwrapped list gathered, every other element by tag (it
        # occurs at most once in a schema-valid tree).
        lines += ["    ch = {}", *(f"    l{i} = []" for i in loose), "    for c in el:", "        t = c.tag"]
        for n, i in enumerate(loose):
            lines += [f"        {'if' if n == 0 else 'elif'} t == {_q(fields[i].item)!r}:", f"            l{i}.append(c)"]
        lines += ["        else:", "            ch[t] = c"]
    elif any(not f.attr for f in fields):
        lines.append("    ch = {c.tag: c for c in el}")
    for i, f in enumerate(fields):
        key = repr(f.key)
        if f.attr:
            lines += [f"    v = el.get({f.tag!r})", "    if v is not None:",
                      f"        out[{key}] = v.strip() in T" if f.kind == "bool" else f"        out[{key}] = v"]
        elif f.kind == "list":
            item = repr(_q(f.item))
            if f.fields:
                env[f"r{i}"] = _reader(f.fields)
                value = f"r{i}(x)"
            else:
                value = '(x.text or "")'
            source = f"c.iterchildren({item})" if f.tag else f"l{i}"
            if f.tag:
                lines += [f"    c = ch.get({_q(f.tag)!r})",
                          f"    out[{key}] = [] if c is None else [{value} for x in {source}]"]
            else:
                lines += [f"    out[{key}] = [{value} for x in {source}]"]
        else:
            lines += [f"    c = ch.get({_q(f.tag)!r})", "    if c is not None:"]
            if f.kind == "group":
                env[f"r{i}"] = _reader(f.fields)
                lines.append(f"        out[{key}] = r{i}(c)")
            elif f.kind == "bool":
                lines.append(f'        out[{key}] = (c.text or "").strip() in T')
            else:
                lines.append(f'        out[{key}] = c.text or ""')
    lines.append("    return out")
    exec("\n".join(lines), env)  # noqa: S102 - source built from the field tables above only
    reader = _READERS[id(fields)] = env["read"]
    return reader


def _parse_scalar(raw: str, kind: str) -> Any:
    if kind == "bool":
        return raw.strip() in ("true", "1")  # the two lexical forms of xs:boolean true
    return raw


def body_to_xml(type: str, body: dict[str, Any]) -> etree._Element:
    """The Body's single child element for `type`, built from `body` (shape in the module docstring)."""
    if type not in BODIES:
        raise InvalidEnvelope(f"unknown message type {type!r}")
    tag, fields = BODIES[type]
    element = etree.Element(_q(tag), nsmap={None: NS})
    _fill(element, fields, body, type)
    return element


def body_from_xml(element: etree._Element) -> tuple[str, dict[str, Any]]:
    """(message type, body dict) from a Body child element. Assumes the element is schema-valid."""
    type_ = _TYPE_BY_QNAME.get(element.tag)
    if type_ is None:
        raise InvalidEnvelope(f"unknown body element {element.tag!r}")
    return type_, _reader(BODIES[type_][1])(element)


_TYPE_BY_QNAME = {_q(element): type_ for element, type_ in _TYPE_BY_ELEMENT.items()}


# ---------------------------------------------------------------------------------------------- fast text form
# Building ~80 lxml elements one SubElement at a time costs more than the rest of signing together. `_render`
# writes the same document as text, byte for byte what `etree.tostring(_build(env), pretty_print=True)` writes
# (tests/unit/test_xml_envelope.py compares the two on every message type), and the one parse that follows gives
# the tree that is validated, digested and written out. Anything it cannot write (a wrong type, a character XML
# cannot carry) goes the lxml way, which raises the error with its wording.

_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


class _CannotRender(Exception):
    pass


def _rtext(value: Any, kind: str) -> str:
    if kind == "bool":
        if value is True:
            return "true"
        if value is False:
            return "false"
        raise _CannotRender
    if type(value) is str:
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return str(value)
    raise _CannotRender


def _open_tag(tag: str, attrs: list[str]) -> str:
    return f"<{tag}{''.join(attrs)}"


def _escaper(table: dict[int, str]) -> Callable[[str], str]:
    """str.translate with `table`, only for the strings that need it: translate with a dict costs ~1.4 µs on a
    short Chinese string, the search that finds nothing to escape a tenth of that."""
    search = re.compile("[" + re.escape("".join(map(chr, table))) + "]").search

    def escape(value: str) -> str:
        return value.translate(table) if search(value) is not None else value

    return escape


class _Style:
    """How the text form is spelled: lxml's pretty print (`encode`) or exclusive c14n (what `sign` writes)."""

    def __init__(self, text: dict[int, str], attr: dict[int, str], canonical: bool) -> None:
        self.text, self.attr, self.canonical = _escaper(text), _escaper(attr), canonical

    def empty(self, head: str, tag: str) -> str:
        # c14n writes every element with a start and an end tag.
        return f"{head}></{tag}>" if self.canonical else f"{head}/>"


_PRETTY = _Style(_TEXT_ESCAPES, _ATTR_ESCAPES, False)
# Exclusive XML Canonicalization 1.0 (Canonical XML 1.0 §2.3 character escaping): text escapes & < > CR,
# attribute values & < " TAB LF CR; hexadecimal character references.
_CANONICAL = _Style(
    str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"}),
    str.maketrans({"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}),
    True,
)


def _render_fields(out: list[str], tag: str, fields: tuple[Field, ...], data: Any, indent: str,
                   style: _Style = _PRETTY) -> None:
    """Append element `tag` holding `data` by `fields`, pretty-printed as lxml does (attributes in field order,
    which the field tables keep sorted as c14n wants them)."""
    if type(data) is not dict or not _keys_of(fields).issuperset(data):
        raise _CannotRender
    attrs: list[str] = []
    inner: list[str] = []
    child_indent = indent + "  "
    te, ae = style.text, style.attr
    for f in fields:
        value = data.get(f.key)
        if f.kind == "list":
            items = [] if value is None else value
            if type(items) is not list:
                raise _CannotRender
            if f.tag and (items or not f.optional):
                if items:
                    wrapped: list[str] = []
                    _render_items(wrapped, f, items, child_indent + "  ", style)
                    inner.append(f"{child_indent}<{f.tag}>\n{''.join(wrapped)}{child_indent}</{f.tag}>\n")
                else:
                    inner.append(f"{child_indent}{style.empty('<' + f.tag, f.tag)}\n")
            else:
                _render_items(inner, f, items, child_indent, style)
            continue
        if value is None:
            if f.optional:
                continue
            raise _CannotRender
        if f.attr:
            attrs.append(f' {f.tag}="{ae(_rtext(value, f.kind))}"')
        elif f.kind == "group":
            _render_fields(inner, f.tag, f.fields, value, child_indent, style)
        else:
            inner.append(f"{child_indent}<{f.tag}>{te(_rtext(value, f.kind))}</{f.tag}>\n")
    head = _open_tag(tag, attrs)
    if inner:
        out.append(f"{indent}{head}>\n{''.join(inner)}{indent}</{tag}>\n")
    else:
        out.append(f"{indent}{style.empty(head, tag)}\n")


def _render_items(out: list[str], f: Field, items: list[Any], indent: str, style: _Style = _PRETTY) -> None:
    te = style.text
    for item in items:
        if f.fields:
            _render_fields(out, f.item, f.fields, item, indent, style)
        else:
            out.append(f"{indent}<{f.item}>{te(_rtext(item, 'str'))}</{f.item}>\n")


_KEYS: dict[int, frozenset[str]] = {}


def _keys_of(fields: tuple[Field, ...]) -> frozenset[str]:
    # By identity: the field tables are module constants, and hashing nested dataclasses costs more than this.
    keys = _KEYS.get(id(fields))
    if keys is None:
        keys = _KEYS[id(fields)] = frozenset(f.key for f in fields)
    return keys


def _render(env: Envelope, style: _Style = _PRETTY) -> str:
    """The pretty-printed unsigned document of `env`, without the XML declaration; _CannotRender if it cannot.

    With style=_CANONICAL the same document in exclusive canonical form: what `sign` writes and digests as is.
    """
    a = style.attr
    t = style.text
    c = style.canonical
    from_to = (
        f'    <From node="{a(_rtext(env.from_node, "str"))}" org="{a(_rtext(env.from_org, "str"))}"'
        f'{"></From>" if c else "/>"}\n'
        f'    <To node="{a(_rtext(env.to_node, "str"))}" org="{a(_rtext(env.to_org, "str"))}"'
        f'{"></To>" if c else "/>"}\n'
    )
    out = [
        f'<Envelope xmlns="{NS}" version="1">\n  <Header>\n'
        f"    <MessageId>{t(_rtext(env.message_id, 'str'))}</MessageId>\n"
        f"    <Type>{t(env.type)}</Type>\n"
        f"{from_to}"
        f"    <CreatedAt>{env.created_at.isoformat()}</CreatedAt>\n"
    ]
    if env.case_no is not None:
        out.append(f"    <CaseNo>{t(_rtext(env.case_no, 'str'))}</CaseNo>\n")
    if env.sequence is not None:
        out.append(f"    <Sequence>{_rtext(env.sequence, 'str')}</Sequence>\n")
    if env.in_reply_to is not None:
        out.append(f"    <InReplyTo>{t(_rtext(env.in_reply_to, 'str'))}</InReplyTo>\n")
    out.append("  </Header>\n  <Body>\n")
    tag, fields = BODIES[env.type]
    _render_fields(out, tag, fields, env.body, "    ", style)
    out.append("  </Body>\n")
    if env.attachments:
        out.append("  <Attachments>\n")
        for x in env.attachments:
            name = a(_rtext(x.name, "str"))
            media = a(_rtext(x.media_type, "str"))
            size, sha = _rtext(x.size, "str"), a(_rtext(x.sha256, "str"))
            if c:  # c14n: attributes sorted by name
                out.append(f'    <Attachment mediaType="{media}" name="{name}" sha256="{sha}" size="{size}">'
                           "</Attachment>\n")
            else:
                out.append(f'    <Attachment name="{name}" mediaType="{media}" size="{size}" sha256="{sha}"/>\n')
        out.append("  </Attachments>\n")
    out.append("</Envelope>")
    return "".join(out)


_XML_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"


# ---------------------------------------------------------------------------------------------- envelope


def _build(env: Envelope) -> etree._Element:
    root = etree.Element(_q("Envelope"), nsmap={None: NS}, version="1")
    header = etree.SubElement(root, _q("Header"))
    etree.SubElement(header, _q("MessageId")).text = env.message_id
    etree.SubElement(header, _q("Type")).text = env.type
    etree.SubElement(header, _q("From"), node=env.from_node, org=env.from_org)
    etree.SubElement(header, _q("To"), node=env.to_node, org=env.to_org)
    etree.SubElement(header, _q("CreatedAt")).text = env.created_at.isoformat()
    if env.case_no is not None:
        etree.SubElement(header, _q("CaseNo")).text = env.case_no
    if env.sequence is not None:
        etree.SubElement(header, _q("Sequence")).text = str(env.sequence)
    if env.in_reply_to is not None:
        etree.SubElement(header, _q("InReplyTo")).text = env.in_reply_to
    etree.SubElement(root, _q("Body")).append(body_to_xml(env.type, env.body))
    if env.attachments:
        attachments = etree.SubElement(root, _q("Attachments"))
        for a in env.attachments:
            etree.SubElement(
                attachments,
                _q("Attachment"),
                name=a.name,
                mediaType=a.media_type,
                size=str(a.size),
                sha256=a.sha256,
            )
    return root


_HEADER_TAGS = {_q(t): t for t in ("MessageId", "Type", "From", "To", "CreatedAt", "CaseNo", "Sequence", "InReplyTo")}
_Q_HEADER, _Q_BODY, _Q_ATTACHMENTS, _Q_ATTACHMENT, _Q_FROM = (
    _q(t) for t in ("Header", "Body", "Attachments", "Attachment", "From"))


def _envelope_from_xml(root: etree._Element) -> Envelope:
    """Envelope from a schema-valid tree (the signed, verified one on the receiving side)."""
    parts = {c.tag: c for c in root}
    header = {_HEADER_TAGS.get(c.tag): c for c in parts[_Q_HEADER]}
    type_, body = body_from_xml(parts[_Q_BODY][0])
    sender, recipient = header["From"], header["To"]

    def opt(tag: str) -> str | None:
        el = header.get(tag)
        return None if el is None else (el.text or "")

    sequence = opt("Sequence")
    attachments = parts.get(_Q_ATTACHMENTS)
    env = Envelope(
        message_id=header["MessageId"].text or "",
        type=header["Type"].text or "",
        from_node=sender.get("node"),
        from_org=sender.get("org"),
        to_node=recipient.get("node"),
        to_org=recipient.get("org"),
        # fromisoformat (3.11) reads every offset form xs:dateTime allows, including "Z".
        created_at=datetime.fromisoformat((header["CreatedAt"].text or "").strip()),
        body=body,
        case_no=opt("CaseNo"),
        sequence=None if sequence is None else int(sequence),
        in_reply_to=opt("InReplyTo"),
        attachments=[] if attachments is None else [
            Attachment(a.get("name"), a.get("mediaType"), int(a.get("size")), a.get("sha256"))
            for a in attachments.iterchildren(_Q_ATTACHMENT)
        ],
    )
    problem = _model_co_constraint_error(env, type_)
    if problem:
        raise InvalidEnvelope(problem)
    return env


def _model_co_constraint_error(env: Envelope, body_type: str | None = None) -> str | None:
    """What XSD 1.0 cannot say, checked on the model: the Body child matches Header/Type (`body_type`, the type
    of the Body element read, when there is one), case messages carry CaseNo and Sequence, a receipt InReplyTo."""
    type_ = env.type
    if body_type is not None and body_type != type_:
        return f"Body holds {BODIES[body_type][0]} but Header/Type is {type_}"
    if type_ in CASE_TYPES and (env.case_no is None or env.sequence is None):
        return f"{type_} requires Header/CaseNo and Header/Sequence"
    if type_ == "receipt" and env.in_reply_to is None:
        return "receipt requires Header/InReplyTo"
    return None


def _co_constraint_error(root: etree._Element) -> str | None:
    """What XSD 1.0 cannot say about a schema-valid envelope, or None when it is consistent."""
    header = root.find(_q("Header"))
    type_ = header.findtext(_q("Type"))
    body_tag = etree.QName(root.find(_q("Body"))[0]).localname
    if BODIES[type_][0] != body_tag:
        return f"Body holds {body_tag} but Header/Type is {type_}"
    if type_ in CASE_TYPES and (header.find(_q("CaseNo")) is None or header.find(_q("Sequence")) is None):
        return f"{type_} requires Header/CaseNo and Header/Sequence"
    if type_ == "receipt" and header.find(_q("InReplyTo")) is None:
        return "receipt requires Header/InReplyTo"
    return None


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    # The XSD imports the local xmldsig schema copy; the safe parser guarantees no network access.
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), _safe_parser()))


def _schema_error(root: etree._Element) -> str | None:
    try:
        # assertValid, not validate + error_log: the exception carries this call's errors, so concurrent
        # validations with the shared schema object cannot report each other's errors.
        _schema().assertValid(root)
    except etree.DocumentInvalid as exc:
        err = exc.error_log.last_error
        return f"line {err.line}: {err.message}" if err else str(exc)
    return None


def _safe_parser() -> etree.XMLParser:
    """This thread's parser that never loads DTDs, expands entities, touches the network or lifts size limits.

    One per thread, reused: lxml parsers are not safe to share between threads, and building one per message cost
    about as much as a tenth of the parse. A parse starts from a fresh state whatever the previous one did (lxml
    resets the parser context per document; errors are reported on the exception, never carried over).
    """
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = _new_safe_parser()
    return parser


_PARSERS = threading.local()


def _new_safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        collect_ids=False,
        # Comments are outside the signature (URI="" and exclusive c14n without comments): dropped while parsing,
        # so they can never split or reach the text of a signed element.
        remove_comments=True,
    )


def _parse_untrusted(data: bytes) -> etree._Element:
    if not isinstance(data, (bytes, bytearray)):
        raise ExchangeRejected(MALFORMED, "message must be bytes")
    # Refuse DOCTYPE before libxml2 even reads an internal subset (entity expansion, external DTD fetches).
    if b"<!DOCTYPE" in data:
        raise ExchangeRejected(MALFORMED, "DOCTYPE declarations are not allowed")
    try:
        root = etree.fromstring(bytes(data), _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ExchangeRejected(MALFORMED, f"not well-formed XML: {exc}") from None
    # Catches a DOCTYPE the byte scan missed (e.g. in a UTF-16 document) and unexpanded entity references.
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ExchangeRejected(MALFORMED, "DOCTYPE declarations are not allowed")
    # Entity references and processing instructions, in one pass over the tree. PIs: exchange-v1 has none.
    # Refusing them keeps the signed document and the Envelope element one and the same node-set (a PI beside
    # the root would be digested by some verifiers, not others).
    for node in root.iter(etree.Entity, etree.PI):
        if isinstance(node, etree._Entity):
            raise ExchangeRejected(MALFORMED, "entity references are not allowed")
        raise ExchangeRejected(MALFORMED, "processing instructions are not allowed")
    if root.getprevious() is not None or root.getnext() is not None:
        raise ExchangeRejected(MALFORMED, "processing instructions are not allowed")
    return root


def _validated(env: Envelope) -> tuple[etree._Element, bytes]:
    """(tree, its UTF-8 text without declaration) of `env`, schema-valid; InvalidEnvelope when it does not fit."""
    try:
        text = _render(env).encode("utf-8")
        root = etree.fromstring(text, _safe_parser())
    except (_CannotRender, UnicodeEncodeError, etree.XMLSyntaxError):
        root = _build(env)  # raises the precise error; a document it accepts would be a renderer bug
        text = etree.tostring(root, encoding="UTF-8", pretty_print=True)[: -1]  # pragma: no cover
        root = etree.fromstring(text, _safe_parser())  # pragma: no cover
    problem = _schema_error(root) or _co_constraint_error(root)
    if problem:
        raise InvalidEnvelope(f"{env.type} {env.message_id}: {problem}")
    return root, text


def encode(env: Envelope) -> bytes:
    """Unsigned XML form of `env`, validated against the XSD. Raises InvalidEnvelope when it does not fit."""
    return _XML_DECLARATION + _validated(env)[1] + b"\n"


def _c14n(element: etree._Element) -> bytes:
    """Exclusive XML canonicalization 1.0 without comments of `element` and its descendants, in context."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def _model_dict(env: Envelope) -> dict[str, Any]:
    """`env` as the JSON form's payload dict (exchange.jsonschemas checks it), body values in their lexical form."""
    d: dict[str, Any] = {
        "version": "1", "message_id": env.message_id, "type": env.type,
        "from": {"node": env.from_node, "org": env.from_org}, "to": {"node": env.to_node, "org": env.to_org},
        "created_at": env.created_at.isoformat(), "body": wire_values(env.body),
        "attachments": [{"name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256}
                        for a in env.attachments],
    }
    if env.case_no is not None:
        d["case_no"] = env.case_no
    if env.sequence is not None:
        d["sequence"] = env.sequence
    if env.in_reply_to is not None:
        d["in_reply_to"] = env.in_reply_to
    return d


def _canonical_document(env: Envelope) -> bytes:
    """The unsigned document of `env` in exclusive canonical form (UTF-8, no declaration), schema-valid.

    The model is checked by exchange.jsonschemas' compiled checks (fast_body), the simple types of envelope-v1.xsd and its
    co-constraints key for key (tests/unit/test_json_envelope.py holds the two to every simple-type case and
    test_xml_envelope.py checks the signed output against the XSD), then written straight in canonical form:
    no parse and no XSD run on the way out; dates, datetimes and Decimals are checked as the text written for them
    (envelope.wire_values). Anything those checks do not accept (a value out of bounds, a naive datetime) goes the
    XSD way, which accepts or raises InvalidEnvelope with its reason.
    """
    if _model_co_constraint_error(env) is None and fast_body(_model_dict(env)) is not None:
        try:
            return _render(env, _CANONICAL).encode("utf-8")
        except (_CannotRender, UnicodeEncodeError):  # pragma: no cover - the checks admit only renderable values
            pass
    root, _ = _validated(env)
    return _c14n(root)


def sign(env: Envelope, private_key, node_id: str) -> bytes:
    """Signed XML form of `env`: enveloped XML Signature, exc-c14n, SHA-256, ECDSA-SHA256, KeyName=node_id (with
    an SM2 key: SM3 and SM2-SM3, the SM2 profile's URIs).

    The document is written in exclusive canonical form (indented), so the Reference (URI="", enveloped-signature,
    exc-c14n) digests exactly its bytes; the Signature is appended as the last child of Envelope.
    """
    if node_id != env.from_node:
        # Receivers pick the certificate from From/@node; a mismatch could never verify.
        raise InvalidEnvelope(f"node {node_id} cannot sign a message from {env.from_node}")
    if sm2.is_private_key(private_key):  # the bus hands the key of the algorithm agreed with the recipient
        profile = _PROFILES[sm2.SM2_SM3]
    elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        profile = _PROFILES[sm2.ECDSA_P256]
    else:
        raise ValueError("exchange keys must be ECDSA P-256 or SM2")
    document = _canonical_document(env)
    digest = binascii.b2a_base64(profile.digest(document), newline=False).decode("ascii")
    signed_info = f"{profile.head}{digest}{profile.tail}"
    if profile is _PROFILES[sm2.SM2_SM3]:
        raw_value = sm2.sign(private_key, signed_info.encode("ascii"))
    else:
        r, s = decode_dss_signature(private_key.sign(signed_info.encode("ascii"), _ES256))
        raw_value = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    value = binascii.b2a_base64(raw_value, newline=False)
    # A KeyName only: no KeyValue or X509Data, peers use their trust store, never the message.
    signature = (
        f"{_SIGNATURE_HEAD}{signed_info}<ds:SignatureValue>{value.decode('ascii')}</ds:SignatureValue>"
        f"<ds:KeyInfo><ds:KeyName>{_escape_text(node_id)}</ds:KeyName></ds:KeyInfo></ds:Signature>"
    ).encode("ascii")
    closing = b"</Envelope>"
    if not document.endswith(closing):  # pragma: no cover - the root has the default namespace, no prefix
        raise InvalidEnvelope("unexpected serialisation of the Envelope element")
    # Right before the end tag, no whitespace after it: the enveloped-signature transform removes exactly the
    # Signature element, leaving the text the digest covered.
    return _XML_DECLARATION + document[: -len(closing)] + signature + closing


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_DS = {"ds": DS_NS}
_SIGNATURE_CHILDREN = (_ds("SignedInfo"), _ds("SignatureValue"), _ds("KeyInfo"))
_SIGNED_INFO_CHILDREN = (_ds("CanonicalizationMethod"), _ds("SignatureMethod"), _ds("Reference"))
_REFERENCE_CHILDREN = (_ds("Transforms"), _ds("DigestMethod"), _ds("DigestValue"))
_DS_TRANSFORM, _DS_KEY_NAME = _ds("Transform"), _ds("KeyName")


def _check_signature_shape(signature: etree._Element, sender: str,
                           profile: _Profile = _PROFILES[sm2.ECDSA_P256]) -> tuple[etree._Element, bytes, bytes]:
    """Pin the Signature to exchange-v1's profile: one Reference to the whole document, fixed algorithms, nothing
    else that could change what is digested or how (no InclusiveNamespaces, XPath, HMACOutputLength, Object).

    Returns (SignedInfo, raw SignatureValue, DigestValue).
    """

    def bad(why: str) -> ExchangeRejected:
        return ExchangeRejected(SIGNATURE_INVALID, f"signature does not follow exchange-v1: {why}")

    def children(element: etree._Element) -> tuple[str, ...]:
        return tuple(child.tag for child in element)

    tags = children(signature)
    if tags not in (_SIGNATURE_CHILDREN, _SIGNATURE_CHILDREN[:2]):
        raise bad("Signature must hold SignedInfo, SignatureValue and at most a KeyInfo")
    signed_info, signature_value = signature[0], signature[1]
    if children(signed_info) != _SIGNED_INFO_CHILDREN:
        raise bad("SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference")
    c14n_method, signature_method, reference = signed_info
    if c14n_method.get("Algorithm") != _C14N_URI or len(c14n_method):
        raise bad("canonicalization must be exclusive c14n")
    if signature_method.get("Algorithm") != profile.signature_uri or len(signature_method):
        # The algorithm is the one agreed with this sender, whatever the message names.
        raise bad(f"signature method must be {profile.name.split('/')[0]}, the algorithm agreed with node {sender}")
    if reference.get("URI") != "" or children(reference) != _REFERENCE_CHILDREN:
        raise bad('exactly one Reference with URI="" is required')
    transforms, digest_method, digest_value = reference
    if tuple(t.get("Algorithm") for t in transforms) != TRANSFORMS or any(
        t.tag != _DS_TRANSFORM or len(t) for t in transforms
    ):
        raise bad("transforms must be enveloped-signature then exclusive c14n")
    if digest_method.get("Algorithm") != profile.digest_uri or len(digest_method):
        raise bad(f"digest must be {profile.name.split('/')[1]}")
    key_name_el = next(signature[2].iterchildren(_DS_KEY_NAME), None) if len(tags) == 3 else None
    key_name = None if key_name_el is None else (key_name_el.text or "")
    if key_name is not None and key_name.strip() != sender:
        raise bad(f"KeyName {key_name.strip()!r} does not match From/@node {sender!r}")
    try:
        raw = _base64(signature_value.text)
        digest = _base64(digest_value.text)
    except ValueError:
        raise bad("SignatureValue and DigestValue must be base64") from None
    if len(signature_value) or len(digest_value):
        raise bad("SignatureValue and DigestValue hold text only")
    if len(raw) != 2 * _P256_BYTES:  # r || s of 32 bytes each, for SM2 as for P-256
        raise bad(f"an {profile.name.split('-')[0]} SignatureValue is {2 * _P256_BYTES} bytes, got {len(raw)}")
    if len(digest) != 32:
        raise bad(f"a {profile.name.split('/')[1]} DigestValue is 32 bytes, got {len(digest)}")
    return signed_info, raw, digest


def _base64(text: str | None) -> bytes:
    """xs:base64Binary: the alphabet, padding and XML whitespace (xmlsec1 breaks lines), nothing else."""
    compact = "".join((text or "").split())
    try:
        return binascii.a2b_base64(compact.encode("ascii"), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("not base64") from None


def _as_cert(cert: bytes | str | x509.Certificate) -> x509.Certificate:
    return cert if isinstance(cert, x509.Certificate) else _load_cert(cert)


@lru_cache(maxsize=256)
def _load_cert(pem: bytes | str) -> x509.Certificate:
    return load_cert(pem)


@lru_cache(maxsize=256)
def _p256_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey | None:
    """The certificate's public key when it is P-256 (else None), once per certificate."""
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm:  # an SM2 certificate of the same node: not for ECDSA
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1) else None


def _ecdsa_failure(cert: x509.Certificate, signed_info: bytes, der: bytes, now: datetime) -> str | None:
    """None when `der` is a valid ECDSA-SHA256 signature of `signed_info` by `cert`, else why not."""
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return (f"certificate (serial {cert.serial_number}) is not valid at {now.isoformat()} "
                f"({cert.not_valid_before_utc.isoformat()} – {cert.not_valid_after_utc.isoformat()})")
    key = _p256_key(cert)
    if key is None:
        return "certificate key is not ECDSA P-256"
    try:
        key.verify(der, signed_info, _ES256)
    except InvalidSignature:
        return "InvalidSignature: Signature verification failed"
    return None


def _sm2_failure(cert: x509.Certificate, signed_info: bytes, raw: bytes, now: datetime) -> str | None:
    """None when `raw` (r || s) is a valid SM2-SM3 signature of `signed_info` by `cert`, else why not."""
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return (f"certificate (serial {cert.serial_number}) is not valid at {now.isoformat()} "
                f"({cert.not_valid_before_utc.isoformat()} – {cert.not_valid_after_utc.isoformat()})")
    key = sm2.public_key(cert)
    if key is None:
        return "certificate key is not SM2"
    if not sm2.verify(key, signed_info, raw):
        return "InvalidSignature: Signature verification failed"
    return None


def verify(
    data: bytes,
    trusted_certs: Callable[[str], Iterable[bytes | str | x509.Certificate]],
    expected_to_node: str | None = None,
    sig_alg: str | Callable[[str], str] = sm2.ECDSA_P256,
) -> tuple[Envelope, bytes]:
    """Verify a signed XML envelope and return (envelope, signed bytes).

    The envelope is built only from what the signature covers; the returned bytes are that content in
    exclusive canonical form (the signature removed). `trusted_certs(node_id)` gives the trust-store
    certificates of a node; only those of the node named in From/@node are tried. `sig_alg` is the algorithm agreed
    with the sender (or gives it for a node id): the Signature must use exactly that one, whatever it names itself.
    Every failure raises ExchangeRejected with a stable code.

    XML-DSig core validation of exchange-v1's one profile, on the one parsed tree: SignedInfo canonicalised
    (exclusive c14n) and checked with ECDSA-SHA256 against the trust-store keys; then the Reference: the
    enveloped-signature transform (the Signature element removed, nothing else), exclusive c14n of the
    Envelope, SHA-256 compared with DigestValue. Only then is the tree validated against the XSD and read.
    """
    root = _parse_untrusted(data)
    if root.tag != _q("Envelope"):
        raise ExchangeRejected(SCHEMA_INVALID, f"root element is {root.tag}, expected {{{NS}}}Envelope")

    all_signatures = list(root.iter(_ds("Signature")))
    if not all_signatures:
        raise ExchangeRejected(UNSIGNED, "no ds:Signature in the message")
    # Exactly one signature, as the last child of Envelope. Anything else is a wrapping or confusion attempt.
    if len(all_signatures) != 1 or all_signatures[0].getparent() is not root or root[-1] is not all_signatures[0]:
        raise ExchangeRejected(SIGNATURE_INVALID, "the only ds:Signature must be the last child of Envelope")
    signature = all_signatures[0]

    # The claimed sender is read from the unverified tree only to pick which certificates to try.
    header_el = root.find(_Q_HEADER)
    sender_el = header_el.find(_Q_FROM) if header_el is not None else None
    sender = sender_el.get("node") if sender_el is not None else None
    if not sender:
        raise ExchangeRejected(SCHEMA_INVALID, "Header/From/@node is missing")
    certs = [_as_cert(c) for c in trusted_certs(sender)]
    if not certs:
        raise ExchangeRejected(UNKNOWN_SENDER, f"no trusted certificate for node {sender}")
    alg = sig_alg(sender) if callable(sig_alg) else sig_alg
    profile = _PROFILES[alg]
    signed_info, raw, digest = _check_signature_shape(signature, sender, profile)

    # SignatureValue over the canonical SignedInfo.
    signed_info_c14n = _c14n(signed_info)
    if alg == sm2.SM2_SM3:
        check = lambda cert: _sm2_failure(cert, signed_info_c14n, raw, now)  # noqa: E731
    else:
        der = encode_dss_signature(int.from_bytes(raw[:_P256_BYTES], "big"),
                                   int.from_bytes(raw[_P256_BYTES:], "big"))
        check = lambda cert: _ecdsa_failure(cert, signed_info_c14n, der, now)  # noqa: E731
    now = datetime.now(timezone.utc)
    failures: list[str] = []
    for cert in certs:  # several after a key rotation, or both kinds during a change of algorithm
        why = check(cert)
        if why is None:
            break
        failures.append(why)
    else:
        raise ExchangeRejected(
            SIGNATURE_INVALID,
            f"signature does not verify with any of {len(certs)} trusted certificate(s) of node {sender}: "
            + "; ".join(failures),
        )

    # The Reference: enveloped-signature transform, then exclusive c14n of the whole Envelope.
    tail = signature.tail
    root.remove(signature)  # lxml moves the tail with the element; the transform removes the element only
    if tail:
        before = root[-1] if len(root) else None
        if before is not None:
            before.tail = (before.tail or "") + tail
        else:
            root.text = (root.text or "") + tail
    signed_data = _c14n(root)
    if not hmac.compare_digest(profile.digest(signed_data), digest):
        raise ExchangeRejected(SIGNATURE_INVALID, "InvalidDigest: Digest mismatch for reference 0 (URI=\"\")")

    problem = _schema_error(root)
    if problem:
        raise ExchangeRejected(SCHEMA_INVALID, f"envelope-v1.xsd: {problem}")
    try:
        env = _envelope_from_xml(root)  # and the co-constraints XSD 1.0 cannot express, on the model
    except (ValueError, InvalidEnvelope) as exc:
        raise ExchangeRejected(SCHEMA_INVALID, str(exc)) from None
    if env.from_node != sender:  # cannot happen with URI="" covering the root; kept as a tripwire
        raise ExchangeRejected(SIGNATURE_INVALID, "signed From/@node differs from the one used to pick certificates")
    if expected_to_node is not None and env.to_node != expected_to_node:
        raise ExchangeRejected(WRONG_RECIPIENT, f"message is for node {env.to_node}, this is node {expected_to_node}")
    log.debug("verified %s %s from %s", env.type, env.message_id, env.from_node)
    return env, signed_data
