"""The XML form of an exchange envelope (exchange-v1, "The XML form"), signed with XML Signature.

Public API::

    encode(env: Envelope) -> bytes                       # unsigned, XSD-validated UTF-8 XML
    sign(env: Envelope, private_key, node_id: str) -> bytes
    verify(data: bytes, trusted_certs: Callable[[str], Iterable[bytes | str | x509.Certificate]],
           expected_to_node: str | None = None) -> tuple[Envelope, bytes]
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
    MATERIAL  = {"code": str, "name": str, "core": bool, "present": bool, "files": [sha256 hex, ...]}

    case.forward          {"item": ITEM, "applicant": APPLICANT,
                           "acceptance": {"org": str, "by": str, "at": datetime,
                                          "commitment"?: {"deadline": date, "missing_materials": [code, ...]}},
                           "review"?: {"opinion": str, "recommendation": "approve" | "deny", "by": str, "at": datetime},
                           "materials": [MATERIAL, ...] (1..n), "due_at"?: datetime, "comment"?: str}
    case.supplement       {"materials": [MATERIAL, ...] (1..n), "comment"?: str}
    case.return           {"reasons": [str, ...] (1..n), "by": str, "at": datetime}
    case.decision         {"decision": "approve" | "deny", "reasons": [str, ...], "certificate_no"?: str,
                           "valid_from"?: date, "valid_until"?: date, "decided_by": str, "decided_at": datetime}
    supervision.push      {"item": ITEM, "applicant": APPLICANT, "accepting_org": str, "accepted_at": datetime,
                           "decision": "approve" | "deny", "certificate_no"?: str, "valid_from"?: date,
                           "valid_until"?: date, "deciding_org": str, "decided_at": datetime,
                           "responsible_parties": [{"role": "accept" | "review" | "decide" | "supervise",
                                                    "org": str, "person"?: str}, ...] (1..n)}
    supervision.claim     {"by": str, "at": datetime}
    supervision.feedback  {"kind": "inspection" | "rectification" | "penalty" | "no_issue", "date": date,
                           "result": str, "comment"?: str, "decision_no"?: str, "amount"?: decimal string,
                           "rectification_ordered"?: bool, "feedback_id"?: UUID str, "supervision_done"?: bool}
    delegation.change     {"item_code": str, "division": 6-digit str, "action": "grant" | "revoke",
                           "mode"?: ITEM mode, "effective_at": datetime, "reason": str}
    receipt               {"status": "accepted" | "rejected", "reason_code"?: str, "reason"?: str,
                           "received_sha256": 64 lower-case hex}

Header co-constraints checked here (XSD 1.0 cannot): the Body child matches Header/Type; ``case.*`` and
``supervision.*`` messages carry CaseNo and Sequence; a receipt carries InReplyTo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration

from .envelope import Attachment, Envelope
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

_VERIFY_CONFIG = SignatureConfiguration(
    # We pass the trust-store certificate explicitly (x509_cert=...), which signxml uses instead of any
    # certificate in the message; there is no CA chain to build for self-signed node certificates.
    require_x509=False,
    # Signature must be a direct child of the root: with Reference URI="" it then covers the whole document.
    location="./",
    expect_references=1,
    signature_methods=frozenset({SIGNATURE_ALG}),
    digest_algorithms=frozenset({DIGEST_ALG}),
)


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
            _group("applicant", "Applicant", *_APPLICANT),
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
        ),
    ),
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
        ),
    ),
    "supervision.claim": ("SupervisionClaim", (_el("by", "By"), _el("at", "At"))),
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
# Types that belong to a case and are applied in per-case Sequence order.
CASE_TYPES = frozenset(t for t in BODIES if t.startswith(("case.", "supervision.")))


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
    out: dict[str, Any] = {}
    for f in fields:
        if f.kind == "list":
            container = element.find(_q(f.tag)) if f.tag else element
            items = [] if container is None else container.findall(_q(f.item))
            out[f.key] = [_read(i, f.fields) if f.fields else (i.text or "") for i in items]
            continue
        if f.attr:
            raw = element.get(f.tag)
            if raw is not None:
                out[f.key] = _parse_scalar(raw, f.kind)
            continue
        child = element.find(_q(f.tag))
        if child is None:
            continue
        out[f.key] = _read(child, f.fields) if f.kind == "group" else _parse_scalar(child.text or "", f.kind)
    return out


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
    tag = etree.QName(element).localname
    if etree.QName(element).namespace != NS or tag not in _TYPE_BY_ELEMENT:
        raise InvalidEnvelope(f"unknown body element {element.tag!r}")
    type_ = _TYPE_BY_ELEMENT[tag]
    return type_, _read(element, BODIES[type_][1])


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


def _envelope_from_xml(root: etree._Element) -> Envelope:
    """Envelope from a schema-valid tree (the signed, verified one on the receiving side)."""
    header = root.find(_q("Header"))
    body_child = root.find(_q("Body"))[0]
    type_, body = body_from_xml(body_child)
    sender, recipient = header.find(_q("From")), header.find(_q("To"))

    def opt(tag: str) -> str | None:
        el = header.find(_q(tag))
        return None if el is None else (el.text or "")

    sequence = opt("Sequence")
    return Envelope(
        message_id=header.findtext(_q("MessageId")),
        type=header.findtext(_q("Type")),
        from_node=sender.get("node"),
        from_org=sender.get("org"),
        to_node=recipient.get("node"),
        to_org=recipient.get("org"),
        # fromisoformat (3.11) reads every offset form xs:dateTime allows, including "Z".
        created_at=datetime.fromisoformat(header.findtext(_q("CreatedAt")).strip()),
        body=body,
        case_no=opt("CaseNo"),
        sequence=None if sequence is None else int(sequence),
        in_reply_to=opt("InReplyTo"),
        attachments=[
            Attachment(a.get("name"), a.get("mediaType"), int(a.get("size")), a.get("sha256"))
            for a in root.iterfind(f"{_q('Attachments')}/{_q('Attachment')}")
        ],
    )


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
    """A parser that never loads DTDs, expands entities, touches the network or lifts size limits.

    A new one per call: lxml parsers are not safe to share between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        collect_ids=False,
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
    if any(True for _ in root.iter(etree.Entity)):
        raise ExchangeRejected(MALFORMED, "entity references are not allowed")
    return root


def encode(env: Envelope) -> bytes:
    """Unsigned XML form of `env`, validated against the XSD. Raises InvalidEnvelope when it does not fit."""
    root = _build(env)
    problem = _schema_error(root) or _co_constraint_error(root)
    if problem:
        raise InvalidEnvelope(f"{env.type} {env.message_id}: {problem}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def sign(env: Envelope, private_key: ec.EllipticCurvePrivateKey, node_id: str) -> bytes:
    """Signed XML form of `env`: enveloped XML Signature, exc-c14n, SHA-256, ECDSA-SHA256, KeyName=node_id."""
    if node_id != env.from_node:
        # Receivers pick the certificate from From/@node; a mismatch could never verify.
        raise InvalidEnvelope(f"node {node_id} cannot sign a message from {env.from_node}")
    # Re-parse the pretty-printed form so the whitespace that is signed is exactly what is written out.
    root = etree.fromstring(encode(env), _safe_parser())
    key_info = etree.Element(_ds("KeyInfo"), nsmap={"ds": DS_NS})
    etree.SubElement(key_info, _ds("KeyName")).text = node_id
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SIGNATURE_ALG,
        digest_algorithm=DIGEST_ALG,
        c14n_algorithm=C14N_ALG,
    )
    # A custom KeyInfo keeps signxml from adding KeyValue/X509Data: peers use their trust store, not the message.
    signed = signer.sign(root, key=private_key, key_info=key_info)
    problem = _schema_error(signed)
    if problem:  # pragma: no cover - would be a bug in signxml or in this module
        raise InvalidEnvelope(f"signed envelope does not match the schema: {problem}")
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _check_signature_shape(signature: etree._Element, sender: str) -> None:
    """Pin the SignedInfo to exchange-v1's profile: one Reference to the whole document, fixed algorithms.

    signxml checks the algorithms too; pinning the Reference and transforms here means only a signature over
    the entire Envelope (not some fragment of it) can ever be accepted.
    """
    ns = {"ds": DS_NS}

    def bad(why: str) -> ExchangeRejected:
        return ExchangeRejected(SIGNATURE_INVALID, f"signature does not follow exchange-v1: {why}")

    if signature.xpath("string(ds:SignedInfo/ds:CanonicalizationMethod/@Algorithm)", namespaces=ns) != C14N_ALG.value:
        raise bad("canonicalization must be exclusive c14n")
    if signature.xpath("string(ds:SignedInfo/ds:SignatureMethod/@Algorithm)", namespaces=ns) != SIGNATURE_ALG.value:
        raise bad("signature method must be ECDSA-SHA256")
    references = signature.findall("ds:SignedInfo/ds:Reference", ns)
    if len(references) != 1 or references[0].get("URI") != "":
        raise bad('exactly one Reference with URI="" is required')
    transforms = tuple(t.get("Algorithm") for t in references[0].findall("ds:Transforms/ds:Transform", ns))
    if transforms != TRANSFORMS:
        raise bad("transforms must be enveloped-signature then exclusive c14n")
    if references[0].xpath("string(ds:DigestMethod/@Algorithm)", namespaces=ns) != DIGEST_ALG.value:
        raise bad("digest must be SHA-256")
    key_name = signature.findtext("ds:KeyInfo/ds:KeyName", namespaces=ns)
    if key_name is not None and key_name.strip() != sender:
        raise bad(f"KeyName {key_name.strip()!r} does not match From/@node {sender!r}")


def _as_cert(cert: bytes | str | x509.Certificate) -> x509.Certificate:
    return cert if isinstance(cert, x509.Certificate) else load_cert(cert)


def verify(
    data: bytes,
    trusted_certs: Callable[[str], Iterable[bytes | str | x509.Certificate]],
    expected_to_node: str | None = None,
) -> tuple[Envelope, bytes]:
    """Verify a signed XML envelope and return (envelope, signed bytes).

    The envelope is built only from what the signature covers; the returned bytes are that content in
    exclusive canonical form (the signature removed). `trusted_certs(node_id)` gives the trust-store
    certificates of a node; only those of the node named in From/@node are tried. Every failure raises
    ExchangeRejected with a stable code.
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
    sender_el = root.find(f"{_q('Header')}/{_q('From')}")
    sender = sender_el.get("node") if sender_el is not None else None
    if not sender:
        raise ExchangeRejected(SCHEMA_INVALID, "Header/From/@node is missing")
    certs = [_as_cert(c) for c in trusted_certs(sender)]
    if not certs:
        raise ExchangeRejected(UNKNOWN_SENDER, f"no trusted certificate for node {sender}")
    _check_signature_shape(signature, sender)

    result = None
    failures: list[str] = []
    for cert in certs:
        try:
            result = XMLVerifier().verify(
                bytes(data), x509_cert=cert, parser=_safe_parser(), expect_config=_VERIFY_CONFIG
            )
            break
        except SignXMLException as exc:  # InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput
            # Messages from signxml describe the failure, never key bytes.
            failures.append(f"{type(exc).__name__}: {exc}")
    if result is None:
        raise ExchangeRejected(
            SIGNATURE_INVALID,
            f"signature does not verify with any of {len(certs)} trusted certificate(s) of node {sender}: "
            + "; ".join(failures),
        )

    signed = result.signed_xml
    if signed is None or signed.tag != _q("Envelope"):
        raise ExchangeRejected(SIGNATURE_INVALID, "the signature does not cover the Envelope")
    problem = _schema_error(signed)
    if problem:
        raise ExchangeRejected(SCHEMA_INVALID, f"envelope-v1.xsd: {problem}")
    problem = _co_constraint_error(signed)
    if problem:
        raise ExchangeRejected(SCHEMA_INVALID, problem)
    try:
        env = _envelope_from_xml(signed)
    except (ValueError, InvalidEnvelope) as exc:
        raise ExchangeRejected(SCHEMA_INVALID, str(exc)) from None
    if env.from_node != sender:  # cannot happen with URI="" covering the root; kept as a tripwire
        raise ExchangeRejected(SIGNATURE_INVALID, "signed From/@node differs from the one used to pick certificates")
    if expected_to_node is not None and env.to_node != expected_to_node:
        raise ExchangeRejected(WRONG_RECIPIENT, f"message is for node {env.to_node}, this is node {expected_to_node}")
    log.debug("verified %s %s from %s", env.type, env.message_id, env.from_node)
    return env, result.signed_data
