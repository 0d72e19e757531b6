"""The stateful proxy core and registrar with user agents, in memory (RFC 3261 §16, §10)."""

from __future__ import annotations

from ims.sip.events import Address
from ims.sip.message import Request
from ims.sip.proxy import Forward, ProxyCore, Reject, Target
from ims.sip.registrar import LocationService, Registrar
from ims.sip.uacore import CallAnswered, CallEnded, CallFailed, IncomingCall, Registered, UserAgent
from ims.sip.uri import SipURI
from tests.sip.harness import Net

DOMAIN = "example.com"
P = Address("10.0.0.10", 5060)


def _lab(n_bobs: int = 1, parallel: bool = True) -> tuple[Net, ProxyCore, UserAgent, list[UserAgent]]:
    net = Net()
    location = LocationService()
    registrar = Registrar([DOMAIN, P.host], location)

    def route(req: Request) -> Forward | Reject:
        bindings = location.lookup(req.uri.aor, net.now)
        if not bindings:
            return Reject(404 if req.uri.aor not in ("sip:carol@example.com",) else 480)
        return Forward([Target(b.uri, q=b.q or 1.0) for b in bindings], parallel=parallel)

    def local(req: Request, source: Address, now: float):
        return registrar.handle(req, now) if req.method == "REGISTER" else None

    proxy = ProxyCore(local=P, domain=DOMAIN, route=route, local_requests=local)
    net.add("proxy", P, proxy)
    alice = UserAgent(SipURI.parse(f"sip:alice@{DOMAIN}"), SipURI.parse("sip:alice@10.0.0.1"),
                      Address("10.0.0.1", 5060), outbound_proxy=P)
    net.add("alice", Address("10.0.0.1", 5060), alice)
    bobs = []
    for i in range(n_bobs):
        addr = Address(f"10.0.0.{20 + i}", 5060)
        bob = UserAgent(SipURI.parse(f"sip:bob@{DOMAIN}"), SipURI.parse(f"sip:bob@{addr.host}"), addr,
                        outbound_proxy=P)
        net.add(f"bob{i}", addr, bob)
        net.run(bob.register(SipURI.parse(f"sip:{DOMAIN}"), 600, net.now), bob)
        assert net.of(f"bob{i}", Registered)
        bobs.append(bob)
    return net, proxy, alice, bobs


def test_16_call_through_proxy_with_record_route() -> None:
    net, proxy, alice, (bob,) = _lab()
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    (inc,) = net.of("bob0", IncomingCall)
    assert inc.request.get("record-route") == "<sip:10.0.0.10:5060;lr>"
    assert len(inc.request.vias) == 2 and inc.request.max_forwards == 69
    net.run(bob.answer(call_id, net.now), bob)
    assert net.of("alice", CallAnswered)
    net.run(bob.bye(call_id, net.now), bob)  # BYE from the callee follows the route set back
    assert net.of("alice", CallEnded)[0].by_remote
    # the ACK and BYE went through the proxy (loose routing)
    hops = [(src.host, dst.host, data.split(b" ", 1)[0]) for src, dst, data in net.wire]
    assert ("10.0.0.1", "10.0.0.10", b"ACK") in hops and ("10.0.0.10", "10.0.0.20", b"ACK") in hops
    assert ("10.0.0.20", "10.0.0.10", b"BYE") in hops


def test_16_7_parallel_fork_first_2xx_wins_and_cancels_the_other() -> None:
    net, proxy, alice, bobs = _lab(2)
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    assert len(net.of("bob0", IncomingCall)) == 1 and len(net.of("bob1", IncomingCall)) == 1
    net.run(bobs[1].ringing(call_id, net.now), bobs[1])
    net.run(bobs[0].ringing(call_id, net.now), bobs[0])
    net.run(bobs[0].answer(call_id, net.now), bobs[0])
    assert net.of("alice", CallAnswered)
    assert net.of("bob1", CallEnded)[0].reason == "cancelled"


def test_16_7_best_response_prefers_486_over_404_and_6xx_wins() -> None:
    net, proxy, alice, bobs = _lab(2)
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    net.run(bobs[0].reject(call_id, 486, net.now), bobs[0])
    net.run(bobs[1].reject(call_id, 503, net.now), bobs[1])
    assert [e.status for e in net.of("alice", CallFailed)] == [486]
    call2, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    net.run(bobs[0].reject(call2, 600, net.now), bobs[0])
    assert [e.status for e in net.of("alice", CallFailed)] == [486, 600]


def test_16_sequential_fork_tries_next_target() -> None:
    net, proxy, alice, bobs = _lab(2, parallel=False)
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    first = [n for n in ("bob0", "bob1") if net.of(n, IncomingCall)]
    assert len(first) == 1
    ua = bobs[int(first[0][-1])]
    net.run(ua.reject(call_id, 480, net.now), ua)
    other = "bob1" if first[0] == "bob0" else "bob0"
    assert net.of(other, IncomingCall)


def test_16_10_cancel_propagates_and_487() -> None:
    net, proxy, alice, (bob,) = _lab()
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    net.run(bob.ringing(call_id, net.now), bob)
    net.run(alice.cancel(call_id, net.now), alice)
    assert [e.status for e in net.of("alice", CallFailed)] == [487]
    assert net.of("bob0", CallEnded)[0].reason == "cancelled"


def test_unknown_user_404_and_unregistered_480() -> None:
    net, proxy, alice, _ = _lab(0)
    for target, code in (("nobody", 404), ("carol", 480)):
        _, acts = alice.invite(SipURI.parse(f"sip:{target}@{DOMAIN}"), net.now)
        net.run(acts, alice)
    assert [e.status for e in net.of("alice", CallFailed)] == [404, 480]


def test_16_3_max_forwards_zero_gives_483_and_loop_482() -> None:
    net, proxy, alice, (bob,) = _lab()
    _, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now, extra_headers=())
    acts[0].message.set("Max-Forwards", "0")
    net.run(acts, alice)
    assert [e.status for e in net.of("alice", CallFailed)] == [483]
    # A request that already carries our own Via with the same loop hash: loop.
    _, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    req = acts[0].message
    branch = f"z9hG4bK{ProxyCore._loop_hash(req)}.x0"
    req.add("Via", f"SIP/2.0/UDP 10.0.0.10:5060;branch={branch}")
    net.run(acts, alice)
    assert [e.status for e in net.of("alice", CallFailed)][-1] == 482


def test_16_8_timer_c_cancels_a_ringing_branch() -> None:
    net, proxy, alice, (bob,) = _lab()
    proxy.timer_c = 5.0
    call_id, acts = alice.invite(SipURI.parse(f"sip:bob@{DOMAIN}"), net.now)
    net.run(acts, alice)
    net.run(bob.ringing(call_id, net.now), bob)
    net.advance(6.0)
    assert [e.status for e in net.of("alice", CallFailed)] == [487]
