"""case.forward's Citywide element (全市通办, issue 17): signed in XML and JSON, checked by xmlsec1 like every message,
converted between the two forms field for field; a County that is no division code is refused by both schemas."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from exchange import jsonform, keys, xmlform
from exchange.errors import InvalidEnvelope
from tests.unit.test_xml_envelope import CITY, COUNTY, make_envelope

COMPETENT = "360702"
CITYWIDE = {"county": COMPETENT, "org": f"{COMPETENT}-bureau"}


@pytest.fixture(scope="module")
def node_keys():
    return {node: keys.generate_node_key(node) for node in (COUNTY, COMPETENT, CITY)}


def _forward(citywide=CITYWIDE):
    env = make_envelope("case.forward")
    env.to_node, env.to_org = COMPETENT, f"{COMPETENT}-bureau"
    env.body["citywide"] = dict(citywide)
    return env


def _trust(node_keys):
    return lambda node: [keys.cert_pem(node_keys[node][1])] if node in node_keys else []


def test_citywide_forward_round_trips_in_both_forms_and_xmlsec1_verifies_it(node_keys, tmp_path):
    env = _forward()
    key = node_keys[COUNTY][0]
    signed = xmlform.sign(env, key, COUNTY)
    from lxml import etree

    ns = {"tq": "urn:tongquan:exchange:1"}
    assert etree.fromstring(signed).xpath("string(//tq:CaseForward/tq:Citywide/tq:Org)", namespaces=ns) \
        == f"{COMPETENT}-bureau"
    got, _ = xmlform.verify(signed, _trust(node_keys), COMPETENT)
    assert got.body["citywide"] == CITYWIDE and got == env
    via_json, _ = jsonform.verify(jsonform.sign(got, key, COUNTY), _trust(node_keys), COMPETENT)
    assert via_json.body["citywide"] == CITYWIDE and via_json == env
    if shutil.which("xmlsec1"):
        (tmp_path / "m.xml").write_bytes(signed)
        (tmp_path / "c.pem").write_bytes(keys.cert_pem(node_keys[COUNTY][1]))
        out = subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(tmp_path / "c.pem"),
                              str(tmp_path / "m.xml")], capture_output=True, text=True)
        assert out.returncode == 0 and "OK" in out.stderr + out.stdout, out.stderr


@pytest.mark.parametrize("bad", [{"county": "章贡区", "org": "360702-bureau"}, {"county": COMPETENT}])
def test_a_citywide_element_the_schema_refuses_is_never_signed(node_keys, bad):
    env = _forward(bad)
    with pytest.raises(InvalidEnvelope):
        xmlform.sign(env, node_keys[COUNTY][0], COUNTY)
    with pytest.raises(InvalidEnvelope):
        jsonform.sign(env, node_keys[COUNTY][0], COUNTY)
