"""Redirect server (RFC 3261 §8.3.1, §21.3): 302 / 300 from the location service, 404 / 480."""

from __future__ import annotations

from ims.sip.events import Address
from ims.sip.message import Request, parse_message
from ims.sip.proxy import ProxyCore, Reject
from ims.sip.redirect import RedirectServer
from ims.sip.registrar import Binding, LocationService
from ims.sip.transaction import TransactionLayer
from ims.sip.events import ResponseReceived
from ims.sip.uri import SipURI

INVITE = (
    "INVITE sip:{user}@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:{user}@biloxi.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "Content-Length: 0\r\n\r\n")


def invite(user: str = "bob") -> Request:
    msg = parse_message(INVITE.format(user=user).encode())
    assert isinstance(msg, Request)
    return msg


def bind(loc: LocationService, uri: str, *, q: float | None = None, until: float = 3600.0) -> None:
    text = f"<{uri}>" + (f";q={q}" if q is not None else "")
    loc.put(Binding("sip:bob@biloxi.example.com", SipURI.parse(uri), text, until, "cid", 1, q))


def test_8_3_302_for_one_binding_with_expires() -> None:
    loc = LocationService()
    bind(loc, "sip:bob@192.0.2.4")
    resp = RedirectServer(loc).handle(invite(), 600.0)
    assert (resp.status, resp.reason) == (302, "Moved Temporarily")
    assert resp.to.tag and resp.cseq.method == "INVITE" and resp.top_via.branch == "z9hG4bK776asdhds"
    assert resp.get_all("contact") == ["<sip:bob@192.0.2.4>;expires=3000"]


def test_8_3_300_for_several_bindings_highest_q_first() -> None:
    loc = LocationService()
    bind(loc, "sip:bob@h-low", q=0.1)
    bind(loc, "sip:bob@h-high", q=0.9)
    resp = RedirectServer(loc).handle(invite(), 0.0)
    assert resp.status == 300
    assert [(str(c.uri), c.q) for c in resp.contacts] == [("sip:bob@h-high", 0.9), ("sip:bob@h-low", 0.1)]


def test_8_3_404_unknown_and_480_known_without_bindings() -> None:
    loc = LocationService(aors=["sip:carol@biloxi.example.com"])
    server = RedirectServer(loc)
    assert server.handle(invite("nobody"), 0.0).status == 404
    assert server.handle(invite("carol"), 0.0).status == 480
    bind(loc, "sip:bob@h", until=10.0)
    assert server.handle(invite(), 5.0).status == 302
    assert server.handle(invite(), 11.0).status == 480  # registered once, binding expired since


def test_8_3_known_aor_callback_and_clock() -> None:
    loc = LocationService()
    bind(loc, "sip:bob@h", until=10.0)
    now = [5.0]
    server = RedirectServer(loc, known_aor=lambda aor: aor.startswith("sip:bob@"), clock=lambda: now[0])
    assert server.handle(invite()).status == 302
    now[0] = 20.0
    assert server.handle(invite()).status == 480


def test_8_3_redirect_through_proxy_core_local_requests() -> None:
    """A node in redirect mode answers INVITEs itself through ``local_requests``."""
    loc = LocationService()
    bind(loc, "sip:bob@192.0.2.4")
    server = RedirectServer(loc)
    p = Address("10.0.0.10", 5060)
    core = ProxyCore(local=p, domain="biloxi.example.com", route=lambda r: Reject(500),
                     local_requests=lambda req, src, now: server.handle(req, now))
    client = TransactionLayer()
    req = invite()
    key, acts = client.send_request(req, p, 0.0)
    out = core.receive(parse_message(acts[0].message.to_bytes()), Address("10.0.0.1", 5060), 0.0)
    (sent,) = out
    finals = [a for a in client.receive(parse_message(sent.message.to_bytes()), p, 0.0)
              if isinstance(a, ResponseReceived)]
    assert [(f.response.status, str(f.response.contacts[0].uri)) for f in finals] == [(302, "sip:bob@192.0.2.4")]
