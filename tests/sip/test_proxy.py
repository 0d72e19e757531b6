"""The stateful proxy core (RFC 3261 §16) between scripted endpoints, in memory, on a fake clock.

Each endpoint is a bare :class:`TransactionLayer` (so the test decides every
response), or a full user agent for the end-to-end calls.  Messages travel as
bytes through ``tests.sip.harness.Net``.
"""

from __future__ import annotations

from typing import Any

from ims.sip.events import (
    Action,
    Address,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionKey,
)
from ims.sip.message import Request, Response, build_response, new_branch, new_tag, parse_message
from ims.sip.proxy import Forward, ProxyCore, Reject, Target
from ims.sip.registrar import LocationService, Registrar
from ims.sip.transaction import TransactionLayer
from ims.sip.uacore import CallAnswered, CallEnded, CallFailed, IncomingCall, Registered, UserAgent
from ims.sip.uri import SipURI
from tests.sip.harness import Net

DOMAIN = "example.com"
P = Address("10.0.0.10", 5060)
A = Address("10.0.0.1", 5060)
Q = Address("10.0.0.30", 5060)  # another proxy, for loops and spirals


class Phone:
    """A scripted SIP endpoint: a transaction layer; the test answers by hand."""

    def __init__(self) -> None:
        self.layer = TransactionLayer()

    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        return self.layer.receive(message, source, now)

    def next_deadline(self) -> float | None:
        return self.layer.next_deadline()

    def handle_timers(self, now: float) -> list[Action]:
        return self.layer.handle_timers(now)


def bob_addr(i: int) -> Address:
    return Address(f"10.0.0.{20 + i}", 5060)


class Lab:
    """Alice's phone, the proxy, and ``n`` phones registered for sip:bob@example.com."""

    def __init__(self, n: int = 1, *, parallel: bool = True, q: list[float] | None = None,
                 timer_c: float = 181.0, route: Any = None) -> None:
        self.net = Net()
        self.q = q or [1.0] * n

        def default_route(req: Request) -> Forward | Reject:
            if req.uri.aor != f"sip:bob@{DOMAIN}":
                return Reject(404, "Not Found", (("Warning", '399 p "no such user"'),))
            return Forward([Target(SipURI.parse(f"sip:bob@{bob_addr(i).host}"), q=self.q[i]) for i in range(n)],
                           parallel=parallel)

        self.proxy = ProxyCore(local=P, domain=DOMAIN, route=route or default_route, timer_c=timer_c)
        self.net.add("proxy", P, self.proxy)
        self.alice = Phone()
        self.net.add("alice", A, self.alice)
        self.bobs = [Phone() for _ in range(n)]
        for i, b in enumerate(self.bobs):
            self.net.add(f"bob{i}", bob_addr(i), b)
        self.q_phone = Phone()
        self.net.add("q", Q, self.q_phone)

    # -- Alice -------------------------------------------------------------
    def request(self, method: str = "INVITE", uri: str = f"sip:bob@{DOMAIN}", *, extra: tuple[tuple[str, str], ...] = (),
                max_forwards: str | None = "70") -> Request:
        h = [("Via", f"SIP/2.0/UDP {A.host}:{A.port};branch={new_branch()}")]
        if max_forwards is not None:
            h.append(("Max-Forwards", max_forwards))
        h += [("From", f"Alice <sip:alice@{DOMAIN}>;tag={new_tag()}"), ("To", f"Bob <sip:bob@{DOMAIN}>"),
              ("Call-ID", f"{new_tag()}@{A.host}"), ("CSeq", f"1 {method}"), ("Contact", f"<sip:alice@{A.host}>")]
        h += list(extra)
        return Request(method, uri, h)

    def send(self, req: Request) -> TransactionKey:
        key, acts = self.alice.layer.send_request(req, P, self.net.now)
        self.net.run(acts, self.alice)
        return key

    def alice_statuses(self) -> list[int]:
        return [e.response.status for e in self.net.of("alice", ResponseReceived)]

    def alice_finals(self) -> list[Response]:
        return [e.response for e in self.net.of("alice", ResponseReceived) if e.response.status >= 200]

    # -- Bob's phones -------------------------------------------------------
    def incoming(self, i: int, method: str = "INVITE") -> list[RequestReceived]:
        return [e for e in self.net.of(f"bob{i}", RequestReceived) if e.request.method == method]

    def cancels(self, i: int) -> list[CancelReceived]:
        """CANCELs that reached bob i (its transaction layer answered them 200, §9.2)."""
        return self.net.of(f"bob{i}", CancelReceived)

    def answer(self, i: int, status: int, *, headers: tuple[tuple[str, str], ...] = (), which: int = -1,
               method: str = "INVITE") -> Response:
        ev = self.incoming(i, method)[which]
        resp = build_response(ev.request, status, to_tag=f"bob{i}tag")
        if 180 <= status < 300:
            resp.add("Contact", f"<sip:bob@{bob_addr(i).host}>")
            for rr in ev.request.headers.get_raw("record-route"):  # §12.1.1: the UAS copies Record-Route
                resp.add("Record-Route", rr)
        for n, v in headers:
            resp.add(n, v)
        self.net.run(self.bobs[i].layer.send_response(ev.key, resp, self.net.now), self.bobs[i])
        return resp

    def wire(self, src: Address, dst: Address, method: str) -> list[Request | Response]:
        out = []
        for s, d, data in self.net.wire:
            if (s.host, d.host) == (src.host, dst.host) and data.startswith(method.encode() + b" "):
                out.append(parse_message(data))
        return out


# -- §16.6 forwarding ------------------------------------------------------------
def test_16_6_forwarded_copy_request_uri_max_forwards_record_route_via() -> None:
    lab = Lab()
    lab.send(lab.request())
    assert lab.alice_statuses() == [100]  # §16.2: 100 Trying at once
    (ev,) = lab.incoming(0)
    fwd = ev.request
    assert str(fwd.uri) == "sip:bob@10.0.0.20"
    assert fwd.max_forwards == 69
    assert fwd.get_all("record-route") == ["<sip:10.0.0.10:5060;lr>"]
    assert len(fwd.vias) == 2 and (fwd.vias[0].host, fwd.vias[0].port) == ("10.0.0.10", 5060)
    assert fwd.vias[0].branch.startswith("z9hG4bK") and fwd.vias[0].branch != fwd.vias[1].branch
    lab.answer(0, 180)
    ringing = lab.net.of("alice", ResponseReceived)[-1].response
    assert ringing.status == 180 and len(ringing.vias) == 1  # §16.7 item 3: our Via removed


def test_16_6_max_forwards_added_when_absent_and_483_at_zero() -> None:
    lab = Lab()
    lab.send(lab.request(max_forwards=None))
    assert lab.incoming(0)[0].request.max_forwards == 70
    lab.send(lab.request(max_forwards="0"))
    assert lab.alice_finals()[-1].status == 483
    assert len(lab.incoming(0)) == 1


def test_16_6_register_is_not_record_routed_and_non_invite_gets_no_100() -> None:
    lab = Lab()
    lab.send(lab.request("MESSAGE"))
    (ev,) = lab.incoming(0, "MESSAGE")
    assert ev.request.get("record-route") is None
    assert lab.alice_statuses() == []
    lab.answer(0, 200, method="MESSAGE")
    assert lab.alice_statuses() == [200]


def test_16_4_loose_route_to_us_is_removed_and_next_route_followed() -> None:
    lab = Lab()
    req = lab.request("BYE", "sip:bob@10.0.0.20",
                      extra=(("Route", "<sip:10.0.0.10:5060;lr>"), ("Route", "<sip:10.0.0.30;lr>")))
    lab.send(req)
    (ev,) = [e for e in lab.net.of("q", RequestReceived)]
    assert str(ev.request.uri) == "sip:bob@10.0.0.20"  # Request-URI untouched with loose routing
    assert ev.request.get_all("route") == ["<sip:10.0.0.30;lr>"]
    assert ev.request.get("record-route") is None  # in-dialog: no Record-Route


def test_16_4_strict_router_request_uri_fixup() -> None:
    lab = Lab()
    # The previous hop was a strict router: our Record-Route URI is the Request-URI and the
    # real target is the last Route value.
    req = lab.request("BYE", "sip:10.0.0.10:5060;lr", extra=(("Route", "<sip:bob@10.0.0.20>"),))
    lab.send(req)
    (ev,) = lab.incoming(0, "BYE")
    assert str(ev.request.uri) == "sip:bob@10.0.0.20" and ev.request.get("route") is None


def test_16_6_item_6_strict_next_hop_gets_route_as_request_uri() -> None:
    lab = Lab()
    req = lab.request("BYE", "sip:bob@10.0.0.20",
                      extra=(("Route", "<sip:10.0.0.10:5060;lr>"), ("Route", "<sip:10.0.0.30>")))
    lab.send(req)
    (ev,) = lab.net.of("q", RequestReceived)
    assert str(ev.request.uri) == "sip:10.0.0.30"
    assert ev.request.get_all("route") == ["<sip:bob@10.0.0.20>"]


def test_16_6_target_path_becomes_route_and_sets_next_hop() -> None:
    def route(req: Request) -> Forward:
        return Forward([Target(SipURI.parse("sip:bob@10.0.0.20"), path=("<sip:10.0.0.30;lr>",))])

    lab = Lab(route=route)
    lab.send(lab.request())
    (ev,) = lab.net.of("q", RequestReceived)  # went to the Path hop, not to the contact
    assert ev.request.get_all("route") == ["<sip:10.0.0.30;lr>"] and str(ev.request.uri) == "sip:bob@10.0.0.20"


def test_16_6_explicit_target_dest() -> None:
    def route(req: Request) -> Forward:
        return Forward([Target(SipURI.parse("sip:bob@somewhere.invalid"), dest=Address("10.0.0.21", 5060))])

    lab = Lab(2, route=route)
    lab.send(lab.request())
    assert not lab.incoming(0) and str(lab.incoming(1)[0].request.uri) == "sip:bob@somewhere.invalid"


# -- §16.3 validation ----------------------------------------------------------------
def test_16_3_item_5_proxy_require_unsupported_420() -> None:
    lab = Lab()
    lab.send(lab.request(extra=(("Proxy-Require", "foo, bar"),)))
    (final,) = lab.alice_finals()
    assert final.status == 420 and final.get("unsupported") == "foo, bar"
    assert not lab.incoming(0)


def test_16_3_item_2_unsupported_uri_scheme_416() -> None:
    lab = Lab()
    lab.send(lab.request("MESSAGE", "mailto:bob@example.com"))
    assert [r.status for r in lab.alice_finals()] == [416]


def test_16_3_item_4_loop_482_but_spiral_is_forwarded() -> None:
    def route(req: Request) -> Forward:
        # Everything for our domain goes to proxy Q, which sends it back: a loop.
        return Forward([Target(req.uri, dest=Q)])

    lab = Lab(route=route)
    lab.send(lab.request())
    (at_q,) = lab.net.of("q", RequestReceived)
    # Q forwards it back to P unchanged but for its own Via: P must see its own branch again.
    back = at_q.request.copy()
    back.add("Via", f"SIP/2.0/UDP {Q.host}:{Q.port};branch={new_branch()}", first=True)
    back.set("Max-Forwards", "68")
    _, acts = lab.q_phone.layer.send_request(back, P, lab.net.now)
    lab.net.run(acts, lab.q_phone)
    finals = [e.response.status for e in lab.net.of("q", ResponseReceived) if e.response.status >= 200]
    assert finals == [482] and lab.proxy.stats["loops"] == 1
    # A spiral: Q retargets (a different Request-URI), so P forwards it again.
    spiral = at_q.request.copy()
    spiral.uri = SipURI.parse("sip:bob-office@example.com")
    spiral.add("Via", f"SIP/2.0/UDP {Q.host}:{Q.port};branch={new_branch()}", first=True)
    _, acts = lab.q_phone.layer.send_request(spiral, P, lab.net.now)
    lab.net.run(acts, lab.q_phone)
    assert len(lab.net.of("q", RequestReceived)) == 2 and lab.proxy.stats["loops"] == 1


def test_16_5_reject_from_route_with_headers() -> None:
    lab = Lab()
    lab.send(lab.request(uri=f"sip:nobody@{DOMAIN}"))
    (final,) = lab.alice_finals()
    assert final.status == 404 and final.get("warning") == '399 p "no such user"' and final.to.tag


# -- §16.7 parallel forking, best response ---------------------------------------------
def _fork(statuses: list[int], **headers: tuple[tuple[str, str], ...]) -> Lab:
    lab = Lab(len(statuses))
    lab.send(lab.request())
    for i, status in enumerate(statuses):
        lab.answer(i, status, headers=headers.get(f"h{i}", ()))
    return lab


def test_16_7_best_response_486_beats_404() -> None:
    assert [r.status for r in _fork([404, 486]).alice_finals()] == [486]


def test_16_7_no_final_until_every_branch_answered() -> None:
    lab = Lab(2)
    lab.send(lab.request())
    lab.answer(0, 486)
    assert lab.alice_finals() == [] and lab.proxy.contexts() == 1
    lab.answer(1, 404)
    assert [r.status for r in lab.alice_finals()] == [486] and lab.proxy.contexts() == 0


def test_16_7_4xx_that_says_how_to_retry_is_preferred() -> None:
    lab = _fork([404, 484, 480])
    assert [r.status for r in lab.alice_finals()] == [484]


def test_16_7_lowest_class_wins_and_503_becomes_500() -> None:
    assert [r.status for r in _fork([503, 404]).alice_finals()] == [404]
    assert [r.status for r in _fork([503, 603]).alice_finals()] == [603]
    lab = _fork([503])
    (final,) = lab.alice_finals()
    assert (final.status, final.reason) == (500, "Server Internal Error")


def test_16_7_6xx_cancels_the_ringing_branches_and_wins() -> None:
    lab = Lab(3)
    lab.send(lab.request())
    lab.answer(0, 180)
    lab.answer(1, 486)
    lab.answer(2, 600)
    assert lab.alice_finals() == []  # bob0 still has to answer the CANCEL with 487
    (cancel,) = lab.cancels(0)
    assert cancel.cancel.top_via.branch == lab.incoming(0)[0].request.top_via.branch  # §9.1
    lab.answer(0, 487)
    assert [r.status for r in lab.alice_finals()] == [600]


def test_16_7_2xx_forwarded_at_once_and_other_branches_cancelled() -> None:
    lab = Lab(3)
    lab.send(lab.request())
    lab.answer(0, 486)
    lab.answer(1, 180)
    lab.answer(2, 200)
    assert [r.status for r in lab.alice_finals()] == [200]
    assert len(lab.cancels(1)) == 1 and not lab.cancels(0)
    lab.answer(1, 487)
    assert [r.status for r in lab.alice_finals()] == [200]  # no second final after the 2xx


def test_16_7_every_2xx_is_forwarded() -> None:
    lab = Lab(2)
    lab.send(lab.request())
    lab.answer(0, 200)
    lab.answer(1, 200)  # the CANCEL crossed bob1's 200
    assert [(r.status, r.to.tag) for r in lab.alice_finals()] == [(200, "bob0tag"), (200, "bob1tag")]


def test_16_7_item_7_challenges_are_aggregated() -> None:
    www = 'Digest realm="a.example.com", nonce="n1", algorithm=MD5'
    prx = 'Digest realm="b.example.com", nonce="n2", algorithm=MD5'
    lab = _fork([401, 407], h0=(("WWW-Authenticate", www),), h1=(("Proxy-Authenticate", prx),))
    (final,) = lab.alice_finals()
    assert final.status in (401, 407)
    assert final.headers.get_raw("WWW-Authenticate") == [www]
    assert final.headers.get_raw("Proxy-Authenticate") == [prx]


def test_16_7_branch_timeout_counts_as_408() -> None:
    lab = Lab(2)
    lab.net.drop = lambda data: data.startswith(b"INVITE sip:bob@10.0.0.21")  # bob1 never hears it
    lab.send(lab.request())
    lab.answer(0, 404)
    lab.net.advance(33.0, step=0.5)  # Timer B on the proxy's branch to bob1
    assert [r.status for r in lab.alice_finals()] == [404]


def test_16_7_all_branches_time_out_gives_408() -> None:
    lab = Lab(1)
    lab.net.drop = lambda data: data.startswith(b"INVITE sip:bob@10.0.0.")
    lab.send(lab.request())
    lab.net.advance(33.0, step=0.5)
    assert [r.status for r in lab.alice_finals()] == [408]


def test_transport_error_on_a_branch_is_503_and_sent_up_as_500() -> None:
    lab = Lab(1)
    lab.net.drop = lambda data: data.startswith(b"INVITE sip:bob@10.0.0.")
    lab.send(lab.request())
    lab.net.run(lab.proxy.transport_error(bob_addr(0), lab.net.now), lab.proxy)
    assert [r.status for r in lab.alice_finals()] == [500]


# -- sequential forking -------------------------------------------------------------------
def test_16_6_sequential_in_q_order_next_on_failure_stop_on_2xx() -> None:
    lab = Lab(3, parallel=False, q=[0.2, 0.9, 0.5])
    lab.send(lab.request())
    assert [len(lab.incoming(i)) for i in range(3)] == [0, 1, 0]  # highest q first
    lab.answer(1, 486)
    assert [len(lab.incoming(i)) for i in range(3)] == [0, 1, 1]
    lab.answer(2, 200)
    assert [len(lab.incoming(i)) for i in range(3)] == [0, 1, 1]  # a 2xx ends the search
    assert [r.status for r in lab.alice_finals()] == [200]


def test_16_6_sequential_next_target_after_timeout_and_best_of_all() -> None:
    lab = Lab(2, parallel=False, q=[1.0, 0.5])
    lab.net.drop = lambda data: data.startswith(b"INVITE sip:bob@10.0.0.20")
    lab.send(lab.request())
    assert not lab.incoming(1)
    lab.net.advance(33.0, step=0.5)  # Timer B on the first branch: 408, try the next one
    assert len(lab.incoming(1)) == 1
    lab.answer(1, 480)
    assert [r.status for r in lab.alice_finals()] == [480]


def test_16_7_sequential_6xx_stops_the_search() -> None:
    lab = Lab(2, parallel=False)
    lab.send(lab.request())
    lab.answer(0, 603)
    assert not lab.incoming(1) and [r.status for r in lab.alice_finals()] == [603]


# -- §16.10 CANCEL ---------------------------------------------------------------------------
def _cancel_for(req: Request) -> Request:
    h = [("Via", req.get_all("via")[0]), ("Max-Forwards", "70"), ("From", req.get("from") or ""),
         ("To", req.get("to") or ""), ("Call-ID", req.call_id), ("CSeq", f"{req.cseq.seq} CANCEL")]
    return Request("CANCEL", str(req.uri), h)


def test_16_10_cancel_answered_200_propagated_and_487_to_the_invite() -> None:
    lab = Lab(2)
    invite = lab.request()
    lab.send(invite)
    lab.answer(0, 180)
    lab.answer(1, 183)
    lab.send(_cancel_for(invite))
    cancel_answers = [e.response for e in lab.net.of("alice", ResponseReceived) if e.response.cseq.method == "CANCEL"]
    assert [r.status for r in cancel_answers] == [200]
    assert len(lab.cancels(0)) == 1 and len(lab.cancels(1)) == 1
    lab.answer(0, 487)
    lab.answer(1, 487)
    invite_finals = [r for r in lab.alice_finals() if r.cseq.method == "INVITE"]
    assert [r.status for r in invite_finals] == [487]


def test_16_10_cancel_before_any_ringing_487_at_once_and_late_ringing_branch_cancelled() -> None:
    lab = Lab(1)
    invite = lab.request()
    lab.send(invite)
    lab.send(_cancel_for(invite))
    assert [r.status for r in lab.alice_finals() if r.cseq.method == "INVITE"] == [487]
    assert not lab.cancels(0)  # §9.1: no CANCEL before a provisional response
    lab.answer(0, 180)  # bob0 rings after all: now the CANCEL goes out
    assert len(lab.cancels(0)) == 1
    assert [e.response.status for e in lab.net.of("alice", ResponseReceived)].count(180) == 0


def test_16_10_cancel_for_unknown_transaction_is_481() -> None:
    lab = Lab(1)
    lab.send(_cancel_for(lab.request()))
    assert [r.status for r in lab.alice_finals()] == [481]


# -- §16.8 Timer C -------------------------------------------------------------------------------
def test_16_8_timer_c_cancels_a_ringing_branch_and_answers_408() -> None:
    lab = Lab(1, timer_c=200.0)
    lab.send(lab.request())
    lab.answer(0, 180)
    lab.net.advance(150.0, step=5.0)
    lab.answer(0, 183)  # §16.7 item 2: a provisional response resets Timer C
    lab.net.advance(150.0, step=5.0)  # t=300: 350 would be the first expiry without the reset
    assert not lab.cancels(0) and lab.alice_finals() == []
    lab.net.advance(60.0, step=5.0)  # t=360 > 150 + 200
    assert len(lab.cancels(0)) == 1
    assert [r.status for r in lab.alice_finals()] == [408]
    lab.answer(0, 487)
    assert [r.status for r in lab.alice_finals()] == [408] and lab.proxy.stats["timer_c"] == 1


def test_16_8_default_timer_c_is_above_three_minutes() -> None:
    lab = Lab(1)
    assert lab.proxy.timer_c > 180.0
    lab.send(lab.request())
    lab.answer(0, 180)
    assert lab.proxy.next_deadline() == lab.net.now + lab.proxy.timer_c


# -- ACK for 2xx and stray 2xx, stateless ----------------------------------------------------------
def test_16_ack_for_2xx_forwarded_statelessly_along_route() -> None:
    lab = Lab(1)
    invite = lab.request()
    lab.send(invite)
    ok = lab.answer(0, 200)
    (final,) = lab.alice_finals()
    assert final.get_all("record-route") == ["<sip:10.0.0.10:5060;lr>"]
    h = [("Via", f"SIP/2.0/UDP {A.host}:{A.port};branch={new_branch()}"), ("Max-Forwards", "70"),
         ("Route", "<sip:10.0.0.10:5060;lr>"), ("From", invite.get("from") or ""), ("To", final.get("to") or ""),
         ("Call-ID", invite.call_id), ("CSeq", "1 ACK")]
    ack = Request("ACK", str(ok.contacts[0].uri), h)
    for _ in range(2):  # a retransmitted ACK goes out identically (same branch)
        lab.net.run([SendMessage(ack.copy(), P)], lab.alice)
    acks = lab.wire(P, bob_addr(0), "ACK")
    assert len(acks) == 2 and acks[0].top_via.branch == acks[1].top_via.branch
    assert acks[0].get("route") is None and acks[0].max_forwards == 69 and len(acks[0].vias) == 2
    assert lab.proxy.contexts() == 0


def test_16_7_stray_2xx_retransmission_forwarded_statelessly() -> None:
    lab = Lab(1)
    lab.send(lab.request())
    ok = lab.answer(0, 200)
    lab.net.advance(40.0, step=1.0)  # Timer M/L: every transaction of the call is gone
    assert len(lab.proxy.layer) == 0
    # bob0's UA core retransmits its 2xx (§13.3.1.4) as it never saw an ACK.
    (ev,) = lab.incoming(0)
    retrans = build_response(ev.request, 200, to_tag="bob0tag")
    lab.net.run([SendMessage(retrans, P)], lab.bobs[0])
    strays = lab.net.of("alice", StrayResponse)
    assert len(strays) == 1 and strays[0].response.status == 200 and len(strays[0].response.vias) == 1
    assert ok.status == 200


# -- local requests -------------------------------------------------------------------------------
def test_local_requests_answer_register_with_a_response_or_actions() -> None:
    lab = Lab(1)
    location = LocationService()
    registrar = Registrar([DOMAIN], location)

    def local(req: Request, source: Address, now: float) -> Any:
        if req.method == "REGISTER":
            return registrar.handle(req, now)
        if req.method == "OPTIONS":  # answered as actions: the core sends it on the server transaction
            return [SendMessage(build_response(req, 200, to_tag=new_tag()), source)]
        return None

    lab.proxy.local_requests = local
    reg = lab.request("REGISTER", f"sip:{DOMAIN}", extra=(("Expires", "600"),))
    reg.set("To", f"<sip:alice@{DOMAIN}>")
    lab.send(reg)
    (final,) = lab.alice_finals()
    assert final.status == 200 and [b.uri.host for b in location.lookup(f"sip:alice@{DOMAIN}", 0.0)] == [A.host]
    lab.send(lab.request("OPTIONS", f"sip:{DOMAIN}"))
    assert [r.status for r in lab.alice_finals()] == [200, 200] and not lab.incoming(0, "OPTIONS")
    # An INVITE is still proxied.
    lab.send(lab.request())
    assert len(lab.incoming(0)) == 1


# -- end to end with user agents ---------------------------------------------------------------------
def _ua_lab(n_bobs: int = 1) -> tuple[Net, ProxyCore, UserAgent, list[UserAgent]]:
    net = Net()
    location = LocationService()
    registrar = Registrar([DOMAIN, P.host], location)

    def route(req: Request) -> Forward | Reject:
        bindings = location.lookup(req.uri.aor, net.now)
        if not bindings:
            return Reject(480)
        return Forward([Target(b.uri, q=b.q or 1.0) for b in bindings])

    def local(req: Request, source: Address, now: float) -> Response | None:
        return registrar.handle(req, now) if req.method == "REGISTER" else None

    proxy = ProxyCore(local=P, domain=DOMAIN, route=route, local_requests=local)
    net.add("proxy", P, proxy)
    alice = UserAgent(SipURI.parse(f"sip:alice@{DOMAIN}"), SipURI.parse("sip:alice@10.0.0.1"), A, outbound_proxy=P)
    net.add("alice", A, alice)
    bobs = []
    for i in range(n_bobs):
        addr = bob_addr(i)
        bob = UserAgent(SipURI.parse(f"sip:bob@{DOMAIN}"), SipURI.parse(f"sip:bob@{addr.host}"), addr,
                        outbound_proxy=P)
        net.add(f"bob{i}", addr, bob)
        net.run(bob.register(SipURI.parse(f"sip:{DOMAIN}"), 600, net.now), bob)
        assert net.of(f"bob{i}", Registered)
        bobs.append(bob)
    return net, proxy, alice, bobs


def test_ua_call_through_proxy_ack_and_bye_follow_the_route_set() -> None:
    net, proxy, alice, (bob,) = _ua_lab()
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    (inc,) = net.of("bob0", IncomingCall)
    assert inc.request.get("record-route") == "<sip:10.0.0.10:5060;lr>"
    net.run(bob.answer(call_id, net.now), bob)
    assert net.of("alice", CallAnswered)
    net.run(bob.bye(call_id, net.now), bob)
    assert net.of("alice", CallEnded)[0].by_remote
    hops = [(src.host, dst.host, data.split(b" ", 1)[0]) for src, dst, data in net.wire]
    assert ("10.0.0.1", "10.0.0.10", b"ACK") in hops and ("10.0.0.10", "10.0.0.20", b"ACK") in hops
    assert ("10.0.0.20", "10.0.0.10", b"BYE") in hops and ("10.0.0.10", "10.0.0.1", b"BYE") in hops


def test_ua_fork_to_two_devices_first_answer_wins() -> None:
    net, proxy, alice, bobs = _ua_lab(2)
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    net.run(bobs[1].ringing(call_id, net.now), bobs[1])
    net.run(bobs[0].ringing(call_id, net.now), bobs[0])
    net.run(bobs[0].answer(call_id, net.now), bobs[0])
    assert net.of("alice", CallAnswered)
    assert net.of("bob1", CallEnded)[0].reason == "cancelled"


def test_ua_cancel_through_proxy_and_unregistered_480() -> None:
    net, proxy, alice, (bob,) = _ua_lab()
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    net.run(bob.ringing(call_id, net.now), bob)
    net.run(alice.cancel(call_id, net.now), alice)
    assert [e.status for e in net.of("alice", CallFailed)] == [487]
    assert net.of("bob0", CallEnded)[0].reason == "cancelled"
    _, acts = alice.invite(SipURI.parse(f"sip:carol@{DOMAIN}"), net.now)
    net.run(acts, alice)
    assert [e.status for e in net.of("alice", CallFailed)] == [487, 480]
