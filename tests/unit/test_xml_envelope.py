"""The XML form of the exchange envelope: schema, XML Signature, interop with xmlsec1, and hostile input."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import shutil
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import XMLSigner

from exchange import keys, xmlform
from exchange.envelope import MESSAGE_TYPES, Attachment, Envelope
from exchange.errors import ExchangeRejected, InvalidEnvelope

CITY, COUNTY, OTHER_COUNTY, REGULATOR = "360700", "360730", "360731", "360700-sj"
NS = {"tq": xmlform.NS, "ds": xmlform.DS_NS}

SCAN = hashlib.sha256(b"%PDF-1.7 business licence scan").hexdigest()
FORM = hashlib.sha256(b"%PDF-1.7 application form").hexdigest()
ATTACHMENTS = [
    Attachment("营业执照.pdf", "application/pdf", 30, SCAN),
    Attachment("申请表.pdf", "application/pdf", 25, FORM),
]
ITEM = {"code": "TZSB-0001", "name": "特种设备使用登记", "mode": "delegated_review"}
APPLICANT = {"kind": "enterprise", "name": "赣州某某机械有限公司", "id_code": "91360730MA39B2XK0T", "phone": "0797-8123456"}
MATERIALS = [
    {"code": "M01", "name": "营业执照", "core": True, "present": True, "files": [SCAN]},
    {"code": "M02", "name": "使用登记表", "core": True, "present": True, "files": [FORM, SCAN]},
    {"code": "M03", "name": "安全管理人员证书", "core": False, "present": False, "files": []},
]

# type -> (from node, to node, body): one realistic message per type, optional fields exercised.
SAMPLES: dict[str, tuple[str, str, dict]] = {
    "case.forward": (
        COUNTY,
        CITY,
        {
            "item": ITEM,
            # what the window recorded at intake (tq:ForwardApplicant), each optional
            "applicant": {**APPLICANT, "address": "江西省赣州市宁都县梅江镇建设路 8 号", "legal_representative": "陈建国",
                          "agent": {"name": "刘芳", "id_code": "11010519491231002X", "phone": "13907970001"}},
            "acceptance": {
                "org": "360730-window",
                "by": "李娜",
                "at": "2026-03-02T09:15:00+08:00",
                "commitment": {"deadline": "2026-03-16", "missing_materials": ["M03"]},
            },
            "review": {
                "opinion": "材料齐全，符合法定形式，建议准予登记。",
                "recommendation": "approve",
                "by": "王强",
                "at": "2026-03-03T16:40:00+08:00",
            },
            "materials": MATERIALS,
            "due_at": "2026-03-09T17:30:00+08:00",
            "comment": "容缺受理，申请人已签署承诺书。",
            # 现场踏勘 (issue 17): the photos are attachments of the message, named by digest
            "site_inspections": {"records": [{
                "ref": "3b241101-e2bb-4255-8caf-4136c566a962", "org": "360730-bureau", "inspectors": ["李明", "王芳"],
                "at": "2026-03-03T10:00:00+08:00", "place": "宁都县梅江镇工业园 3 号厂房",
                "findings": "生产场所与申报一致，消防通道畅通。", "conclusion": "conforms",
                "recorded_by": "王强 (review-360730)", "recorded_at": "2026-03-03T15:00:00+08:00", "photos": [SCAN],
            }]},
        },
    ),
    "case.supplement": (COUNTY, CITY, {"materials": [MATERIALS[2] | {"present": True, "files": [SCAN]}]}),
    "case.return": (
        CITY,
        COUNTY,
        {"reasons": ["使用登记表缺少单位公章", "设备出厂编号与监检证书不一致"], "by": "赵敏", "at": "2026-03-04T10:00:00+08:00"},
    ),
    "case.decision": (
        CITY,
        COUNTY,
        {
            "decision": "approve",
            "reasons": [],
            "certificate_no": "容3G赣B00123(26)",
            "valid_from": "2026-03-05",
            "valid_until": "2030-03-04",
            "decided_by": "市行政审批局 陈刚",
            "decided_at": "2026-03-05T11:20:00+08:00",
            "document": {  # the decision document the window hands out (issue 16)
                "kind": "grant", "year": "2026", "seq": "12", "number": "赣市行审许〔2026〕12号",
                "verify_code": "7KQ2MZ9P", "issuer": {"code": "360700-bureau", "name": "赣州市行政审批局"},
                "undertaker": "赣州市行政审批局市场准入审批科", "review_authority": "赣州市人民政府",
                "court": "赣州市章贡区人民法院",
            },
        },
    ),
    "case.originals_mailed": (  # 材料邮寄 (issue 19)
        COUNTY,
        CITY,
        {
            "mailing_id": "6f1c2a4e-7b9d-4c1e-9a3f-2d5e8b7c1a90",
            "courier": "中国邮政EMS",
            "tracking_no": "1178236549012",
            "materials": [{"code": "M01", "name": "特种设备使用登记表"}, {"code": "M02", "name": "营业执照"}],
            "mailed_by": "李娜",
            "mailed_at": "2026-03-02T15:00:00+08:00",
            "due_at": "2026-03-09T17:00:00+08:00",
        },
    ),
    "case.originals_received": (
        CITY,
        COUNTY,
        {
            "mailing_id": "6f1c2a4e-7b9d-4c1e-9a3f-2d5e8b7c1a90",
            "result": "incomplete",
            "missing": ["M02"],
            "damaged": ["M01"],
            "comment": "登记表原件水渍破损",
            "received_by": "赵敏",
            "received_at": "2026-03-04T10:00:00+08:00",
        },
    ),
    "case.transfer": (
        CITY,
        COUNTY,
        {
            "from_org": "360700-sec-market",
            "to_org": "360700-sec-trade",
            "reason": "本事项涉及食品经营，由商贸流通审批科办理",
            "by": "市级审批员 (city-approver)",
            "at": "2026-03-03T10:00:00+08:00",
        },
    ),
    "case.reminder": (
        COUNTY,
        CITY,
        {"by": "宁都县窗口人员 (window-360730)", "at": "2026-03-05T09:30:00+08:00", "comment": "申请人来电催问进度"},
    ),
    "case.closure": (  # 全市通办 (issue 17): the accepting window's case ended; the competent county's copy too
        COUNTY,
        CITY,
        {"outcome": "withdrawn", "reason": "申请人不再需要通行", "by": "宁都县窗口人员 (window-360730)",
         "at": "2026-03-05T10:00:00+08:00"},
    ),
    "case.suspension": (  # 全市通办 (issue 17): the competent county's 特别程序, told to the accepting window
        CITY,
        COUNTY,
        {"event": "suspended", "kind": "expert_review", "expected_end": "2026-03-20",
         "by": "章贡区审批人员 (review-360702)", "at": "2026-03-05T11:00:00+08:00"},
    ),
    "supervision.push": (
        CITY,
        REGULATOR,
        {
            "item": ITEM,
            "applicant": {k: v for k, v in APPLICANT.items() if k != "phone"},
            "accepting_org": "360730-window",
            "accepted_at": "2026-03-02T09:15:00+08:00",
            "decision": "approve",
            "certificate_no": "容3G赣B00123(26)",
            "valid_from": "2026-03-05",
            "deciding_org": "360700-xzspj",
            "decided_at": "2026-03-05T11:20:00+08:00",
            "responsible_parties": [
                {"role": "accept", "org": "360730-window", "person": "李娜"},
                {"role": "review", "org": "360730-xzspj", "person": "王强"},
                {"role": "decide", "org": "360700-xzspj", "person": "陈刚"},
                {"role": "supervise", "org": "360700-scjg"},
            ],
            "commitment": {  # 告知承诺 (issue 17)
                "text": "本单位郑重承诺：所填报信息真实有效，具备许可条件。",
                "signer": "张伟",
                "signed_by": "李娜 (window-360730)",
                "signed_at": "2026-03-05T11:20:00+08:00",
                "verify_due_at": "2026-04-02T11:20:00+08:00",
            },
        },
    ),
    "supervision.claim": (REGULATOR, CITY, {"by": "周伟", "at": "2026-03-06T08:50:00+08:00"}),
    "supervision.commitment_result": (
        REGULATOR,
        CITY,
        {"result": "false", "note": "现场核查无安全管理人员", "by": "周伟 (reg-city)", "at": "2026-03-20T10:00:00+08:00"},
    ),
    "supervision.feedback": (
        REGULATOR,
        CITY,
        {
            "kind": "penalty",
            "date": "2026-04-10",
            "result": "现场检查发现安全管理人员未持证上岗",
            "comment": "已责令限期改正",
            "decision_no": "赣市监罚〔2026〕12号",
            "amount": "5000.00",
        },
    ),
    "delegation.change": (
        CITY,
        COUNTY,
        {
            "item_code": "TZSB-0001",
            "division": COUNTY,
            "action": "grant",
            "mode": "delegated_review",
            "effective_at": "2026-01-01T00:00:00+08:00",
            "reason": "赣市府办字〔2025〕88号 第二批下放事项",
        },
    ),
    "consultation.open": (  # 会商 (issue 15): Header/CaseNo is the thread number
        COUNTY,
        CITY,
        {
            "subject": "特种设备使用登记：二手锅炉是否需要重新检验",
            "item_code": "TZSB-0001",
            "item_name": "特种设备使用登记",
            "case_no": "360730-2026-000123",
            "text": "申请人购入二手锅炉，原检验报告在有效期内，是否需要重新定期检验后再受理？",
            "opened_by": "李娜 (window-360730)",
            "opened_at": "2026-03-02T10:00:00+08:00",
            "reply_due_at": "2026-03-03T10:00:00+08:00",
        },
    ),
    "consultation.message": (
        CITY,
        COUNTY,
        {
            "kind": "follow_up",
            "text": "需要，检验机构出具的定期检验报告作为材料 M03 提交。",
            "by": "赵敏 (city-approver)",
            "at": "2026-03-02T15:00:00+08:00",
            "reply_due_at": "2026-03-04T15:00:00+08:00",
        },
    ),
    "stats.case_facts": (  # issue 18: a county node's statistics facts for the city, no personal data
        COUNTY,
        CITY,
        {"facts": [
            {"case_no": "360730-2026-000123", "version": "2", "applied_on": "2026-03-02", "county": "360730",
             "item_code": "GZ-JS-001", "mode": "direct", "state": "concluded",
             "figures": [{"name": "total_cases", "value": "1"}, {"name": "materials_sum", "value": "0.3333333333333333"},
                         {"name": "hours_sum", "value": "1.5e-05"}]},
            {"case_no": "360730-2026-000124", "version": "1", "applied_on": "2026-03-03", "county": "360730",
             "item_code": "GZ-JS-002", "mode": "forward_only", "state": "forwarded", "due_flag": "warning",
             "commitment_deadline": "2026-03-13T17:00:00+08:00",
             "figures": [{"name": "total_cases", "value": "1"}, {"name": "accepted", "value": "1"}]},
        ]},
    ),
    "reference.publish": (  # issue 18: the city's credit records, published to a county node
        CITY,
        COUNTY,
        {"kind": "credit", "version": "7", "published_at": "2026-03-02T10:00:00+08:00",
         "credit_records": [
             {"ref": "17", "kind": "false_commitment", "blacklisted": True, "id_code": "91360700MA35XXXX0X",
              "name": "赣州某某建设有限公司", "case_no": "360730-2026-000100", "detail": "告知承诺不实",
              "recorded_by": "市管理员 (admin)", "recorded_at": "2026-03-01T09:00:00+08:00",
              "expires_at": "2029-03-01T09:00:00+08:00",
              "lifted": {"at": "2026-03-02T09:30:00+08:00", "by": "市管理员 (admin)", "reason": "信用修复"}},
             {"ref": "18", "kind": "penalty", "blacklisted": False, "id_code": "360730199001011234",
              "name": "张三", "detail": "行政处罚", "recorded_by": "reg-city",
              "recorded_at": "2026-03-02T09:00:00+08:00", "expires_at": "2029-03-02T09:00:00+08:00"},
         ],
         # (the receiver reads the part of its Kind; the wire carries any, here all to check all)
         "catalogue": {"csv": "code,name\nGZ-TZSB-001,特种设备使用登记\n"},
         "holidays": {"year": "2027", "complete": True, "days": [
             {"date": "2027-02-06", "workday": True, "name": "春节调休上班"},
             {"date": "2027-02-08", "workday": False, "name": "春节"}]}},
    ),
    "receipt": (
        CITY,
        COUNTY,
        {"status": "rejected", "reason_code": "schema_invalid", "reason": "Sequence 缺失", "received_sha256": SCAN},
    ),
}


def make_envelope(type_: str) -> Envelope:
    sender, recipient, body = SAMPLES[type_]
    case = type_ in xmlform.CASE_TYPES
    return Envelope.new(
        type_,
        sender,
        f"{sender.split('-')[0]}-office",
        recipient,
        f"{recipient.split('-')[0]}-office",
        copy.deepcopy(body),
        case_no="360730-2026-000123" if case else None,
        sequence=3 if case else None,
        in_reply_to="0f8fad5b-d9cb-469f-a165-70867728950e" if type_ == "receipt" else None,
        attachments=ATTACHMENTS if type_ in ("case.forward", "case.supplement", "consultation.open") else (),
    )


@pytest.fixture(scope="module")
def node_keys():
    return {node: keys.generate_node_key(node) for node in (CITY, COUNTY, OTHER_COUNTY, REGULATOR)}


@pytest.fixture(scope="module")
def trust(node_keys):
    """Trust store callback: PEM bytes per node, as loaded from operator-exchanged files."""
    store = {node: [keys.cert_pem(cert)] for node, (_, cert) in node_keys.items() if node != OTHER_COUNTY}
    return lambda node: store.get(node, [])


def signed(env: Envelope, node_keys) -> bytes:
    return xmlform.sign(env, node_keys[env.from_node][0], env.from_node)


def rejected(code: str, data: bytes, trust, to: str | None = None) -> ExchangeRejected:
    with pytest.raises(ExchangeRejected) as info:
        xmlform.verify(data, trust, to)
    assert info.value.code == code, info.value.reason
    return info.value


def sign_raw(root: etree._Element, key, c14n=xmlform.C14N_ALG) -> bytes:
    """Sign an arbitrary tree with the production profile (bypassing encode's schema check)."""
    key_info = etree.Element(f"{{{xmlform.DS_NS}}}KeyInfo")
    etree.SubElement(key_info, f"{{{xmlform.DS_NS}}}KeyName").text = root.find("tq:Header/tq:From", NS).get("node")
    signer = XMLSigner(
        signature_algorithm=xmlform.SIGNATURE_ALG, digest_algorithm=xmlform.DIGEST_ALG, c14n_algorithm=c14n
    )
    return etree.tostring(signer.sign(root, key=key, key_info=key_info))


def require_xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        # Interop with an independent implementation is part of the contract: only a developer machine
        # without xmlsec1 may skip, never CI.
        if os.environ.get("CI"):
            pytest.fail("xmlsec1 is required in CI (apt-get install xmlsec1)")
        pytest.skip("xmlsec1 not installed")
    return path


# ------------------------------------------------------------------------------------------- round trips


def test_every_message_type_has_a_sample():
    assert set(SAMPLES) == set(MESSAGE_TYPES) == set(xmlform.BODIES)


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_round_trip_every_type(type_, node_keys, trust):
    env = make_envelope(type_)
    unsigned = xmlform.encode(env)
    assert b"Signature" not in unsigned
    data = signed(env, node_keys)

    got, signed_bytes = xmlform.verify(data, trust, env.to_node)

    assert got == env
    assert got.created_at.utcoffset().total_seconds() == 8 * 3600
    assert b"<Envelope" in signed_bytes and b"Signature" not in signed_bytes


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_body_mapping_round_trip(type_):
    body = SAMPLES[type_][2]
    element = xmlform.body_to_xml(type_, body)
    assert xmlform.body_from_xml(element) == (type_, body)


def test_signature_profile(node_keys):
    root = etree.fromstring(signed(make_envelope("case.return"), node_keys))
    sig = root[-1]
    assert sig.tag == f"{{{xmlform.DS_NS}}}Signature"
    assert sig.find("ds:SignedInfo/ds:Reference", NS).get("URI") == ""
    assert [t.get("Algorithm") for t in sig.findall(".//ds:Transform", NS)] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    assert sig.find(".//ds:DigestMethod", NS).get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert (
        sig.find(".//ds:SignatureMethod", NS).get("Algorithm")
        == "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    )
    assert [c.tag for c in sig.find("ds:KeyInfo", NS)] == [f"{{{xmlform.DS_NS}}}KeyName"]  # no certificate
    assert sig.findtext("ds:KeyInfo/ds:KeyName", namespaces=NS) == CITY


def test_encode_refuses_what_the_schema_refuses():
    env = make_envelope("case.decision")
    env.body["decision"] = "maybe"
    with pytest.raises(InvalidEnvelope, match="Decision"):
        xmlform.encode(env)
    env = make_envelope("case.decision")
    env.body["certficate_no"] = "typo"
    with pytest.raises(InvalidEnvelope, match="certficate_no"):
        xmlform.encode(env)
    env = make_envelope("case.return")
    env.sequence = None
    with pytest.raises(InvalidEnvelope, match="Sequence"):
        xmlform.encode(env)


def test_sign_refuses_another_nodes_identity(node_keys):
    env = make_envelope("case.forward")
    with pytest.raises(InvalidEnvelope):
        xmlform.sign(env, node_keys[CITY][0], CITY)


# ------------------------------------------------------------------------------------------- xmlsec1 interop


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_xmlsec1_verifies_what_we_sign(type_, node_keys, tmp_path):
    xmlsec1 = require_xmlsec1()
    env = make_envelope(type_)
    (tmp_path / "cert.pem").write_bytes(keys.cert_pem(node_keys[env.from_node][1]))
    (tmp_path / "msg.xml").write_bytes(signed(env, node_keys))
    run = subprocess.run(
        [xmlsec1, "--verify", "--pubkey-cert-pem", "cert.pem", "msg.xml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert (run.stdout + run.stderr).splitlines()[0].strip() == "OK"


def test_xmlsec1_rejects_a_tampered_message(node_keys, tmp_path):
    xmlsec1 = require_xmlsec1()
    data = signed(make_envelope("case.decision"), node_keys).replace(b"approve", b"deny")
    (tmp_path / "cert.pem").write_bytes(keys.cert_pem(node_keys[CITY][1]))
    (tmp_path / "msg.xml").write_bytes(data)
    run = subprocess.run(
        [xmlsec1, "--verify", "--pubkey-cert-pem", "cert.pem", "msg.xml"], cwd=tmp_path, capture_output=True
    )
    assert run.returncode != 0


SIGNATURE_TEMPLATE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
    <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>
    <ds:Reference URI="">
      <ds:Transforms>
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
      <ds:DigestValue/>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue/>
  <ds:KeyInfo><ds:KeyName>{node}</ds:KeyName></ds:KeyInfo>
</ds:Signature>"""


def test_we_accept_what_xmlsec1_signs(node_keys, trust, tmp_path):
    xmlsec1 = require_xmlsec1()
    env = make_envelope("case.forward")
    key, cert = node_keys[COUNTY]
    keys.write_private_key(tmp_path / "keys" / "key.pem", key)
    (tmp_path / "cert.pem").write_bytes(keys.cert_pem(cert))
    root = etree.fromstring(xmlform.encode(env))
    root.append(etree.fromstring(SIGNATURE_TEMPLATE.format(node=COUNTY)))
    (tmp_path / "template.xml").write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    run = subprocess.run(
        [xmlsec1, "--sign", "--privkey-pem", "keys/key.pem,cert.pem", "template.xml"],
        cwd=tmp_path, capture_output=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr.decode()

    got, _ = xmlform.verify(run.stdout, trust, CITY)
    assert got == env


# ------------------------------------------------------------------------------------------- rejections


def test_tampered_body_is_signature_invalid(node_keys, trust):
    data = signed(make_envelope("case.decision"), node_keys)
    assert b"<Decision>approve</Decision>" in data
    rejected("signature_invalid", data.replace(b"<Decision>approve</Decision>", b"<Decision>deny</Decision>"), trust)


def test_tampered_header_is_signature_invalid(node_keys, trust):
    data = signed(make_envelope("case.forward"), node_keys)
    rejected("signature_invalid", data.replace(b"<Sequence>3</Sequence>", b"<Sequence>4</Sequence>"), trust)


def test_unsigned_message(trust):
    rejected("unsigned", xmlform.encode(make_envelope("case.forward")), trust)


def test_signed_by_another_nodes_key(node_keys, trust):
    env = make_envelope("case.forward")  # claims to come from COUNTY
    as_other = dataclasses.replace(env, from_node=OTHER_COUNTY)
    # Signed with OTHER_COUNTY's key, then relabelled as coming from COUNTY (From/@node and KeyName).
    forged = xmlform.sign(as_other, node_keys[OTHER_COUNTY][0], OTHER_COUNTY)
    forged = forged.replace(f'node="{OTHER_COUNTY}"'.encode(), f'node="{COUNTY}"'.encode(), 1)
    forged = forged.replace(f"<ds:KeyName>{OTHER_COUNTY}<".encode(), f"<ds:KeyName>{COUNTY}<".encode())
    rejected("signature_invalid", forged, trust)

    # Signed properly by a node the trust store does not know at all.
    stranger = xmlform.sign(as_other, node_keys[OTHER_COUNTY][0], OTHER_COUNTY)
    rejected("unknown_sender", stranger, trust)

    # A county signing with its own key but claiming the city's identity.
    root = etree.fromstring(xmlform.encode(env))
    root.find("tq:Header/tq:From", NS).set("node", CITY)
    rejected("signature_invalid", sign_raw(root, node_keys[COUNTY][0]), trust)


def test_certificate_inside_the_message_is_never_trusted(node_keys, trust):
    """An attacker signs with their own key and ships their certificate in KeyInfo/X509Data."""
    attacker_key, attacker_cert = keys.generate_node_key(COUNTY)
    root = etree.fromstring(xmlform.encode(make_envelope("case.forward")))
    signer = XMLSigner(
        signature_algorithm=xmlform.SIGNATURE_ALG,
        digest_algorithm=xmlform.DIGEST_ALG,
        c14n_algorithm=xmlform.C14N_ALG,
    )
    data = etree.tostring(signer.sign(root, key=attacker_key, cert=[attacker_cert]))
    assert b"X509Certificate" in data
    rejected("signature_invalid", data, trust)


def test_old_certificate_still_verifies_after_rotation(node_keys):
    old_key, old_cert = node_keys[COUNTY]
    _, new_cert = keys.generate_node_key(COUNTY)
    env = make_envelope("case.supplement")
    got, _ = xmlform.verify(signed(env, node_keys), lambda n: [new_cert, old_cert] if n == COUNTY else [], CITY)
    assert got == env


def test_other_algorithms_are_refused(node_keys, trust):
    root = etree.fromstring(xmlform.encode(make_envelope("case.forward")))
    inclusive = sign_raw(root, node_keys[COUNTY][0], c14n="http://www.w3.org/2006/12/xml-c14n11")
    rejected("signature_invalid", inclusive, trust)


def test_signature_wrapping_never_yields_injected_content(node_keys, trust):
    env = make_envelope("case.decision")
    good = etree.fromstring(signed(env, node_keys))
    signature = good[-1]

    # 1. The signed envelope is tucked away inside an attacker envelope that carries the original signature.
    evil_env = make_envelope("case.decision")
    evil_env.body["decision"] = "deny"
    evil = etree.fromstring(xmlform.encode(evil_env))
    evil.find("tq:Header/tq:MessageId", NS).text = env.message_id
    hidden = etree.SubElement(evil.find("tq:Body/tq:CaseDecision", NS), "{urn:x}Hidden")
    hidden.append(copy.deepcopy(good))
    evil.append(copy.deepcopy(signature))
    rejected("signature_invalid", etree.tostring(evil), trust)

    # 2. Attacker root wraps the genuine signed envelope (signature still in place, but not at the root).
    wrapper = etree.Element("{urn:tongquan:exchange:1}Envelope", version="1")
    wrapper.append(copy.deepcopy(good))
    with pytest.raises(ExchangeRejected) as info:
        xmlform.verify(etree.tostring(wrapper), trust)
    assert info.value.code in ("signature_invalid", "schema_invalid")

    # 3. Injected unsigned content next to the signed content (a second Body, an extra Header field).
    evil_body = etree.fromstring(xmlform.encode(evil_env)).find("tq:Body", NS)
    injected = copy.deepcopy(good)
    injected.insert(1, evil_body)
    error = rejected("signature_invalid", etree.tostring(injected), trust)
    assert "Digest mismatch" in error.reason  # reached the cryptographic check, not a shape check

    # 4. Signature moved into the Body, the envelope otherwise genuine.
    moved = copy.deepcopy(good)
    moved.find("tq:Body", NS).append(moved[-1])
    rejected("signature_invalid", etree.tostring(moved), trust)

    # 5. A second signature (over another document) in front of the genuine one.
    doubled = copy.deepcopy(good)
    doubled.insert(len(doubled) - 1, copy.deepcopy(signature))
    rejected("signature_invalid", etree.tostring(doubled), trust)

    # 6. Comments are outside exclusive c14n: they may be inserted, but never reach the returned envelope.
    commented = etree.tostring(good).replace(b"<Decision>approve", b"<Decision>appr<!--deny-->ove")
    got, signed_bytes = xmlform.verify(commented, trust)
    assert got.body["decision"] == "approve" and b"deny" not in signed_bytes


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE Envelope [<!ENTITY x "boom">]>'
        b'<Envelope xmlns="urn:tongquan:exchange:1">&x;</Envelope>',
        b'<?xml version="1.0"?><!DOCTYPE Envelope SYSTEM "http://example.invalid/evil.dtd">'
        b'<Envelope xmlns="urn:tongquan:exchange:1"/>',
        b'<!DOCTYPE l [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>',
        b'<!DOCTYPE e [<!ENTITY f SYSTEM "file:///etc/passwd">]><e>&f;</e>',
        "<?xml version='1.0' encoding='UTF-16'?><!DOCTYPE e [<!ENTITY a 'x'>]><e>&a;</e>".encode("utf-16"),
        b"not xml at all",
        b"<Envelope xmlns='urn:tongquan:exchange:1'><Header>",
        b"",
    ],
)
def test_doctype_entities_and_garbage_are_malformed(payload, trust):
    rejected("malformed", payload, trust)


def test_doctype_in_a_signed_message_is_malformed(node_keys, trust):
    data = signed(make_envelope("supervision.claim"), node_keys)
    data = data.replace(b"?>", b'?>\n<!DOCTYPE Envelope [<!ENTITY who "x">]>', 1)
    rejected("malformed", data, trust)


def test_wrong_recipient(node_keys, trust):
    data = signed(make_envelope("case.forward"), node_keys)  # for CITY
    rejected("wrong_recipient", data, trust, to=OTHER_COUNTY)
    assert xmlform.verify(data, trust, CITY)[0].to_node == CITY


def test_schema_violation_in_a_validly_signed_message(node_keys, trust):
    root = etree.fromstring(xmlform.encode(make_envelope("case.forward")))
    root.find("tq:Body/tq:CaseForward/tq:Item", NS).set("mode", "anything_goes")
    error = rejected("schema_invalid", sign_raw(root, node_keys[COUNTY][0]), trust)
    assert "mode" in error.reason

    root = etree.fromstring(xmlform.encode(make_envelope("supervision.claim")))
    root.find("tq:Header/tq:Type", NS).text = "supervision.feedback"  # Body no longer matches Type
    rejected("schema_invalid", sign_raw(root, node_keys[REGULATOR][0]), trust)


# ------------------------------------------------------------------------------------------- keys


def test_private_key_file_is_private(tmp_path, node_keys):
    key, cert = node_keys[COUNTY]
    path = tmp_path / "secrets" / "node.key"
    keys.write_private_key(path, key, passphrase=b"correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert b"ENCRYPTED" in path.read_bytes()
    loaded = keys.load_private_key(path, b"correct horse")
    assert loaded.public_key().public_numbers() == cert.public_key().public_numbers()
    with pytest.raises(FileExistsError):  # never silently overwrite a key
        keys.write_private_key(path, key)
    assert keys.load_private_key(path, b"correct horse").private_numbers() == key.private_numbers()


def test_certificate_and_fingerprint(node_keys):
    _, cert = node_keys[CITY]
    assert cert.subject.rfc4514_string() == f"CN={CITY}"
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3652
    again = keys.load_cert(keys.cert_pem(cert))
    fp = keys.fingerprint(again)
    assert len(fp) == 95 and fp == fp.upper() and fp.count(":") == 31
    assert fp.replace(":", "").lower() == hashlib.sha256(again.public_bytes(Encoding.DER)).hexdigest()


# ------------------------------------------------------------------------------------------- fast paths (issue 7)


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_text_form_is_byte_for_byte_what_lxml_writes(type_):
    """sign/encode write the document as text; it must be exactly lxml's pretty print of the element tree."""
    env = make_envelope(type_)
    env.body = copy.deepcopy(env.body)
    expected = etree.tostring(xmlform._build(env), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    assert xmlform.encode(env) == expected


def test_text_form_escapes_like_lxml():
    env = make_envelope("case.forward")
    env.body["comment"] = 'a & b < c > d "e" \'f\' \r\n\tend'
    env.attachments = [dataclasses.replace(ATTACHMENTS[0], name='x&y<"z">\t\n\r.pdf')]
    expected = etree.tostring(xmlform._build(env), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    assert xmlform.encode(env) == expected


def test_control_characters_still_refused_with_lxmls_error():
    env = make_envelope("case.forward")
    env.body["comment"] = "控制字符\x01"
    with pytest.raises(ValueError):
        xmlform.encode(env)


def test_signed_info_we_sign_is_what_a_verifier_canonicalises(node_keys):
    data = signed(make_envelope("case.forward"), node_keys)
    root = etree.fromstring(data)
    signed_info = root.find("ds:Signature/ds:SignedInfo", NS)
    digest = signed_info.findtext("ds:Reference/ds:DigestValue", namespaces=NS)
    c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False).decode()
    assert c14n == f"{xmlform._SIGNED_INFO_HEAD}{digest}{xmlform._SIGNED_INFO_TAIL}"
    assert data.endswith(b"</ds:Signature></Envelope>")  # nothing after the Signature: the digest covers it all


def test_processing_instructions_are_malformed(node_keys, trust):
    data = signed(make_envelope("supervision.claim"), node_keys)
    rejected("malformed", data.replace(b"<Header>", b"<?evil x?><Header>", 1), trust)
    rejected("malformed", data.replace(b"?>\n", b"?>\n<?xml-stylesheet href='x'?>\n", 1), trust)


def test_inclusive_namespaces_or_extra_signature_parts_are_refused(node_keys, trust):
    good = etree.fromstring(signed(make_envelope("case.forward"), node_keys))
    for where in ("ds:SignedInfo/ds:CanonicalizationMethod", "ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]"):
        evil = copy.deepcopy(good)
        etree.SubElement(evil.find(f"ds:Signature/{where}", NS),
                         "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces", PrefixList="tq")
        rejected("signature_invalid", etree.tostring(evil), trust)
    evil = copy.deepcopy(good)
    etree.SubElement(evil.find("ds:Signature", NS), f"{{{xmlform.DS_NS}}}Object").text = "x"
    rejected("signature_invalid", etree.tostring(evil), trust)
    evil = copy.deepcopy(good)
    evil.find("ds:Signature/ds:SignatureValue", NS).text = "not base64!"
    rejected("signature_invalid", etree.tostring(evil), trust)


def test_whitespace_after_the_signature_is_signed_content(node_keys, trust):
    """The enveloped-signature transform removes the Signature element only, never the text after it."""
    data = signed(make_envelope("case.return"), node_keys)
    error = rejected("signature_invalid", data.replace(b"</ds:Signature></Envelope>", b"</ds:Signature>\n</Envelope>"),
                     trust)
    assert "Digest mismatch" in error.reason


def test_expired_certificate_is_not_used(node_keys):
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key, cert = node_keys[COUNTY]
    past = datetime.now(timezone.utc) - timedelta(days=30)
    expired = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.subject)
               .public_key(key.public_key()).serial_number(1).not_valid_before(past - timedelta(days=1))
               .not_valid_after(past).sign(key, hashes.SHA256()))
    data = signed(make_envelope("case.supplement"), node_keys)
    error = rejected("signature_invalid", data, lambda n: [expired] if n == COUNTY else [])
    assert "not valid at" in error.reason


# ------------------------------------------------------------------------------------------- sign without a parse (issue 7, round two)


def _unsigned_part(data: bytes) -> bytes:
    """The document of a signed message as the enveloped-signature transform sees it, without the declaration."""
    head = b"<?xml version='1.0' encoding='UTF-8'?>\n"
    assert data.startswith(head)
    start = data.index(b"<ds:Signature ")
    return data[len(head):start] + data[data.index(b"</ds:Signature>") + len(b"</ds:Signature>"):]


@pytest.mark.parametrize("type_", MESSAGE_TYPES)
def test_signed_document_is_its_own_canonical_form_and_schema_valid(type_, node_keys):
    """sign writes the document in exclusive c14n and digests its bytes; it must be exactly what a verifier's
    c14n of the parsed document gives, and valid against the XSD (sign no longer runs the XSD itself)."""
    document = _unsigned_part(signed(make_envelope(type_), node_keys))
    root = etree.fromstring(document)
    assert etree.tostring(root, method="c14n", exclusive=True, with_comments=False) == document
    assert xmlform._schema_error(root) is None
    assert xmlform._co_constraint_error(root) is None


def test_canonical_form_escapes_like_c14n(node_keys, trust):
    env = make_envelope("case.forward")
    env.body["comment"] = 'a & b < c > d "e" \'f\' \r\n\tend ]]> 中文'
    env.attachments = [dataclasses.replace(ATTACHMENTS[0], name='x&y<"z">\t\n\r.pdf')]
    data = signed(env, node_keys)
    document = _unsigned_part(data)
    assert etree.tostring(etree.fromstring(document), method="c14n", exclusive=True) == document
    back, _ = xmlform.verify(data, trust, env.to_node)
    assert back.body == env.body and back.attachments == env.attachments


def test_sign_with_dates_and_decimals_sends_their_text(node_keys, trust):
    """date and Decimal values in a body are checked and written as their ISO / plain text."""
    from datetime import date
    from decimal import Decimal

    env = make_envelope("supervision.feedback")
    env.body = dict(env.body, date=date(2026, 3, 2), amount=Decimal("5000.00"))
    back, _ = xmlform.verify(signed(env, node_keys), trust, env.to_node)
    assert back.body["date"] == "2026-03-02" and back.body["amount"] == "5000.00"


@pytest.mark.parametrize("breakage", ["no case number", "receipt without InReplyTo", "bad id code", "unknown key",
                                      "material codes twice", "control character"])
def test_sign_refuses_what_the_schema_refuses(breakage, node_keys):
    env = make_envelope("receipt" if breakage == "receipt without InReplyTo" else "case.forward")
    if breakage == "no case number":
        env.case_no = None
    elif breakage == "receipt without InReplyTo":
        env.in_reply_to = None
    elif breakage == "bad id code":
        env.body = dict(env.body, applicant=dict(env.body["applicant"], id_code="short"))
    elif breakage == "unknown key":
        env.body = dict(env.body, colour="red")
    elif breakage == "material codes twice":
        env.body = dict(env.body, materials=[env.body["materials"][0]] * 2)
    else:
        env.body = dict(env.body, comment="控制字符\x01")
    with pytest.raises(ValueError):  # InvalidEnvelope is a ValueError
        signed(env, node_keys)


def test_xsd_fallback_signs_the_same_bytes(node_keys):
    """The canonical text written directly and the c14n of the XSD-validated tree are the same document."""
    env = make_envelope("case.forward")
    root, _ = xmlform._validated(env)
    assert xmlform._render(env, xmlform._CANONICAL).encode() == xmlform._c14n(root)


def _as_the_workflow_builds_it(env: Envelope) -> Envelope:
    """delegation.messaging puts datetime objects in a case.forward's body (acceptance.at, due_at), not strings."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    cst = ZoneInfo("Asia/Shanghai")
    env.body["acceptance"]["at"] = datetime(2026, 3, 2, 9, 15, 4, 718764, tzinfo=ZoneInfo("UTC"))
    env.body["due_at"] = datetime(2026, 3, 9, 17, 30, tzinfo=cst)
    return env


def test_a_forward_with_datetime_values_is_signed_without_the_xsd_run(node_keys, trust, monkeypatch):
    """The compiled checks judge the body's datetimes in the text the wire carries: a real case.forward takes the
    fast way (it went the XSD way on every message), and the bytes are those the XSD way signs."""
    env = _as_the_workflow_builds_it(make_envelope("case.forward"))
    root, _ = xmlform._validated(env)
    expected = xmlform._c14n(root)

    def no_xsd_run(_env):
        raise AssertionError("sign ran the XSD for a body the compiled checks accept")

    monkeypatch.setattr(xmlform, "_validated", no_xsd_run)
    data = signed(env, node_keys)
    assert _unsigned_part(data) == expected
    back, _ = xmlform.verify(data, trust, env.to_node)
    assert back.body["acceptance"]["at"] == "2026-03-02T09:15:04.718764+00:00"
    assert back.body["due_at"] == "2026-03-09T17:30:00+08:00"


def test_a_naive_datetime_is_still_refused(node_keys):
    from datetime import datetime

    env = make_envelope("case.forward")
    env.body["due_at"] = datetime(2026, 3, 9, 17, 30)
    with pytest.raises(ValueError):
        signed(env, node_keys)


def test_refused_fast_checks_keep_no_frame_alive(node_keys):
    """A message the compiled checks refuse (here a bad id code: refused again by the XSD) must not leave the
    caller's objects reachable afterwards: a shared exception instance kept every frame it was raised through, so
    a long-running worker held the database objects of each such message for the life of the process."""
    import gc
    import weakref

    class Held:
        pass

    def sign_from_a_frame_holding(obj):
        env = make_envelope("case.forward")
        env.body = dict(env.body, applicant=dict(env.body["applicant"], id_code="short"))
        try:
            signed(env, node_keys)
        except ValueError:  # InvalidEnvelope: the message is refused, as it must be
            pass
        else:
            raise AssertionError("a bad id code was signed")
        return weakref.ref(obj)

    refs = [sign_from_a_frame_holding(Held()) for _ in range(3)]
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
