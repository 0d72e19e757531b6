"""The BGCF (ims.cscf.bgcf): longest-prefix breakout to an MGCF, 404 without a route, 604 for non-numbers."""

from __future__ import annotations

import pytest

from ims.cscf.bgcf import Bgcf, BgcfConfig
from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, Response, parse_message

BGCF = Address("127.0.9.50", 5060)
MGCF_NY = Address("127.0.9.60", 5060)
MGCF_US = Address("127.0.9.61", 5060)
SCSCF = Address("127.0.9.30", 5060)


def bgcf() -> Bgcf:
    return Bgcf(BgcfConfig("ims.example.org", BGCF.host, BGCF.port,
                           routes=[("1", "mgcf-us", MGCF_US), ("1212", "mgcf-ny", MGCF_NY)]))


def invite(ruri: str) -> Request:
    msg = parse_message((
        f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.9.30:5060;branch=z9hG4bKb1\r\n"
        "Route: <sip:127.0.9.50:5060;lr>\r\nMax-Forwards: 68\r\nFrom: <sip:alice@ims.example.org>;tag=a\r\n"
        f"To: <{ruri}>\r\nCall-ID: bg1@x\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.9.100>\r\n"
        "Content-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


@pytest.mark.parametrize(("ruri", "dest"), [
    ("tel:+12125550100", MGCF_NY),                              # the longer prefix wins
    ("tel:+13125550100", MGCF_US),
    ("sip:+12125550100@ims.example.org;user=phone", MGCF_NY),   # RFC 3261 §19.1.6 user=phone
])
def test_ts_24_229_5_6_longest_prefix_picks_the_mgcf(ruri: str, dest: Address) -> None:
    out = bgcf().receive(invite(ruri), SCSCF, 0.0)
    sent = [a for a in out if isinstance(a, SendMessage) and isinstance(a.message, Request)]
    assert [(a.dest.host, a.dest.port) for a in sent] == [(dest.host, dest.port)]
    assert "record-route" not in sent[0].message


@pytest.mark.parametrize(("ruri", "status"), [("tel:+4930123456", 404), ("sip:bob@ims.example.org", 604)])
def test_no_route_is_404_and_no_number_604(ruri: str, status: int) -> None:
    b = bgcf()
    out = b.receive(invite(ruri), SCSCF, 0.0)
    finals = [a.message for a in out if isinstance(a, SendMessage) and isinstance(a.message, Response)
              and a.message.status >= 200]
    assert [r.status for r in finals] == [status]
    assert b.counters.get("no_route" if status == 404 else "no_number") == 1
