"""Requests a CSCF answers itself, as a peer's monitoring or a third-party UA sends them (issue 14).

* OPTIONS whose Request-URI is the node's own address (a sipsak / SIPp ping), or with Max-Forwards 0:
  200 with Allow, Accept and Supported (RFC 3261 §11.2, §16.3 item 3), at the P-CSCF whether the sender is
  registered or not, and at the I- and S-CSCF;
* a REGISTER requiring an extension the S-CSCF does not know: 420 with Unsupported (§10.3 step 2, §8.2.2.3).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ims.cscf.lab import sip_address
from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, Response, parse_message
from tests.cscf.lab import Lab

MONITOR = Address("127.0.1.200", 5099)  # an address no UE registered from


def _request(method: str, uri: str, *, max_forwards: int = 70, extra: str = "", to: str = "") -> Request:
    msg = parse_message((
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {MONITOR.host}:{MONITOR.port};branch=z9hG4bK-{method}-1;rport\r\n"
        f"Max-Forwards: {max_forwards}\r\nFrom: <sip:monitor@{MONITOR.host}>;tag=m1\r\nTo: <{to or uri}>\r\n"
        f"Call-ID: ping-1@{MONITOR.host}\r\nCSeq: 1 {method}\r\n"
        f"Contact: <sip:monitor@{MONITOR.host}:{MONITOR.port}>\r\n"
        f"{extra}Content-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def _answer(lab: Lab, node: str, req: Request) -> Response:
    app = {"pcscf": lab.pcscf, "icscf": lab.icscf, "scscf": lab.scscf}[node]
    out = [a.message for a in app.receive(req, MONITOR, 0.0)
           if isinstance(a, SendMessage) and isinstance(a.message, Response) and a.message.status > 100]
    assert len(out) == 1, out
    return out[0]


def _own_uri(lab: Lab, node: str, user: str = "") -> str:
    addr = sip_address(lab.topo.node(node))
    return f"sip:{user + '@' if user else ''}{addr.host}:{addr.port}"


@pytest.mark.parametrize("node", ["pcscf", "icscf", "scscf"])
@pytest.mark.parametrize("user", ["", "sipp"])  # sipsak: no user part; SIPp: sip:[service]@host:port
def test_rfc3261_11_options_to_the_cscf_itself_is_answered_200(tmp_path: Path, node: str, user: str) -> None:
    lab = Lab(tmp_path)
    resp = _answer(lab, node, _request("OPTIONS", _own_uri(lab, node, user)))
    assert resp.status == 200, resp.reason
    assert "INVITE" in resp.allow and "OPTIONS" in resp.allow
    assert resp.get("accept") == "application/sdp" and resp.to.tag
    if node == "pcscf":
        assert "sec-agree" in resp.supported


def test_rfc3261_16_3_item_3_options_with_max_forwards_0_is_answered_not_483(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    domain = lab.topo.domains[0].name
    resp = _answer(lab, "pcscf", _request("OPTIONS", f"sip:bob@{domain}", max_forwards=0))
    assert resp.status == 200 and "INVITE" in resp.allow
    invite = _answer(lab, "pcscf", _request("INVITE", f"sip:bob@{domain}", max_forwards=0))
    assert invite.status == 483  # only OPTIONS may be answered in its stead


def test_options_for_a_user_from_an_unregistered_ue_is_still_refused(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    domain = lab.topo.domains[0].name
    assert _answer(lab, "pcscf", _request("OPTIONS", f"sip:bob@{domain}")).status == 403


def test_rfc3261_10_3_step_2_register_requiring_an_unknown_extension_gets_420(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    domain = lab.topo.domains[0].name
    req = _request("REGISTER", f"sip:{domain}", extra="Require: path, foo-unknown\r\n", to=f"sip:alice@{domain}")
    resp = _answer(lab, "scscf", req)
    assert resp.status == 420
    assert resp.get("unsupported") == "foo-unknown"
    assert not lab.queries  # refused before any MAR to the HSS
