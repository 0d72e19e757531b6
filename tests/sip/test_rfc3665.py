"""RFC 3665 basic call flows replayed in memory.

§3.1 "Successful Session Establishment" (Alice calls Bob directly over TCP):
two bare ``TransactionLayer`` instances, one per UA, exchange the RFC's own
messages F1..F6 through a dict "transport"; a few lines of test code play each
UA core (dialogs from ``ims.sip.dialog``).  Every message on the wire is
compared with the RFC text, and the transaction and dialog states are checked
after each step.  The same flow also runs over UDP with the first INVITE lost,
so Timer A has to recover it.

§3.2 "Session Establishment Through Two Proxies": the ``UserAgent`` core at
each edge is fed the messages as the proxies deliver them (Record-Route, Via
stacks) and its answers are checked (route set, loose routing).

The RFC messages were reconstructed from the RFC text.  Two places where the
RFC is inconsistent with RFC 3261 are noted where they are compared: F4 and F5
drop the ``;transport=tcp`` of the Contact they target (§12.2.1.1 says the
Request-URI is the remote target, Contact included its parameters).
"""

from __future__ import annotations

from typing import Any

from ims.sip.dialog import Dialog, DialogSet
from ims.sip.events import (
    AckReceived, Address, RequestReceived, ResponseReceived, SendMessage, TimerConfig, TransactionTerminated,
)
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.transaction import TransactionLayer
from ims.sip.uacore import CallAnswered, CallEnded, IncomingCall, UserAgent
from ims.sip.uri import SipURI

# ---------------------------------------------------------------- RFC 3665 §3.1 messages

SDP_ALICE = ("v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\n"
             "c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
SDP_BOB = ("v=0\r\no=bob 2890844527 2890844527 IN IP4 client.biloxi.example.com\r\ns=-\r\n"
           "c=IN IP4 192.0.2.201\r\nt=0 0\r\nm=audio 3456 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

F1_INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 151\r\n\r\n" + SDP_ALICE)

F2_180 = (
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    " ;received=192.0.2.101\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\r\n"
    "Content-Length: 0\r\n\r\n")

F3_200 = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    " ;received=192.0.2.101\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 147\r\n\r\n" + SDP_BOB)

F4_ACK = (
    "ACK sip:bob@client.biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bd5\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 ACK\r\n"
    "Content-Length: 0\r\n\r\n")

F5_BYE = (
    "BYE sip:alice@client.atlanta.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7\r\n"
    "Max-Forwards: 70\r\n"
    "From: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 BYE\r\n"
    "Content-Length: 0\r\n\r\n")

F6_200 = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7\r\n"
    " ;received=192.0.2.201\r\n"
    "From: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 BYE\r\n"
    "Content-Length: 0\r\n\r\n")


def canonical(data: bytes | str, *, drop_uri_params: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """A message reduced to what RFC 3261 says is equal: start line, header values per name, body.

    Folding and header order between different names do not matter; Via values are
    compared parsed (transport, sent-by, parameters).
    """
    msg = parse_message(data.encode() if isinstance(data, str) else data)
    if isinstance(msg, Request):
        uri = msg.uri.copy()
        for p in drop_uri_params:
            uri.params.pop(p, None)
        start: tuple[Any, ...] = (msg.method, str(uri))
    else:
        start = (msg.status, msg.reason)
    headers: dict[str, list[Any]] = {}
    for name, value in msg.headers:
        headers.setdefault(name.lower(), []).append(" ".join(value.split()))
    headers["via"] = [(v.transport, v.host, v.port, sorted(v.params.items())) for v in msg.vias]
    return start, sorted(headers.items()), msg.body


class Wire:
    """The in-test transport: a dict from address to the layer bound there, plus a DNS dict."""

    def __init__(self, transport: str) -> None:
        self.alice = Address("192.0.2.101", 5060, transport)
        self.bob = Address("192.0.2.201", 5060, transport)
        self.hosts = {"client.atlanta.example.com": self.alice, "client.biloxi.example.com": self.bob,
                      "biloxi.example.com": self.bob}
        self.layers = {self.alice: TransactionLayer(TimerConfig()), self.bob: TransactionLayer(TimerConfig())}
        self.log: list[tuple[str, bytes]] = []  # (sender, bytes) in wire order
        self.lose: set[int] = set()  # indexes in ``log`` of datagrams to drop

    def name(self, addr: Address) -> str:
        return "alice" if addr == self.alice else "bob"

    def deliver(self, sender: Address, actions: list[Any], now: float) -> list[tuple[str, Any]]:
        """Carry every SendMessage as bytes; return the other actions as (owner, action)."""
        out: list[tuple[str, Any]] = []
        queue = [(sender, a) for a in actions]
        while queue:
            src, a = queue.pop(0)
            if not isinstance(a, SendMessage):
                out.append((self.name(src), a))
                continue
            data = a.message.to_bytes()
            self.log.append((self.name(src), data))
            if len(self.log) - 1 in self.lose:
                continue
            dest = self.hosts.get(a.dest.host, a.dest)
            queue.extend((dest, x) for x in self.layers[dest].receive(parse_message(data), src, now))
        return out

    def timers(self, now: float) -> list[tuple[str, Any]]:
        out = []
        for addr, layer in self.layers.items():
            dl = layer.next_deadline()
            if dl is not None and dl <= now:
                out.extend(self.deliver(addr, layer.handle_timers(now), now))
        return out

    def starts(self) -> list[str]:
        firsts = [d.split(b"\r\n", 1)[0].decode().split(" ") for _, d in self.log]
        return [f[1] if f[0] == "SIP/2.0" else f[0] for f in firsts]


def _one(events: list[tuple[str, Any]], who: str, kind: type) -> Any:
    (ev,) = [a for w, a in events if w == who and isinstance(a, kind)]
    return ev


def _replay_3_1(transport: str, lose_first_invite: bool = False) -> None:
    wire = Wire(transport)
    alice_layer, bob_layer = wire.layers[wire.alice], wire.layers[wire.bob]
    t = 0.0
    f1 = F1_INVITE if transport == "tcp" else F1_INVITE.replace("SIP/2.0/TCP", "SIP/2.0/UDP")
    if lose_first_invite:
        wire.lose.add(0)

    # F1 INVITE Alice -> Bob: Alice's TU hands the RFC's INVITE to her transaction layer.
    invite = parse_message(f1.encode())
    assert isinstance(invite, Request)
    ikey, acts = alice_layer.send_request(invite, wire.hosts["biloxi.example.com"], t)
    events = wire.deliver(wire.alice, acts, t)
    assert wire.log[0] == ("alice", f1.encode())  # sent exactly as written in the RFC
    if lose_first_invite:
        assert events == [] and alice_layer.get(ikey).state == "calling"
        t = alice_layer.next_deadline() or 0.0
        assert t == 0.5  # Timer A = T1
        events = wire.timers(t)
        assert wire.log[1] == ("alice", f1.encode())
    rr = _one(events, "bob", RequestReceived)
    skey = rr.key
    assert rr.request.body == SDP_ALICE.encode() and bob_layer.get(skey).state == "proceeding"
    assert alice_layer.get(ikey).state == "calling"

    # Bob's UA core: a dialog-to-be and F2 180 Ringing within 200 ms (so no 100 Trying).
    bob_tag = "8321234356"
    ringing = build_response(rr.request, 180, to_tag=bob_tag)
    ringing.add("Contact", "<sip:bob@client.biloxi.example.com;transport=tcp>")
    t += 0.1
    events = wire.deliver(wire.bob, bob_layer.send_response(skey, ringing, t), t)
    f2 = F2_180 if transport == "tcp" else F2_180.replace("SIP/2.0/TCP", "SIP/2.0/UDP")
    assert canonical(wire.log[-1][1]) == canonical(f2)
    alice_dialogs = DialogSet(invite)
    early = alice_dialogs.on_response(_one(events, "alice", ResponseReceived).response)
    assert early is not None and early.state == "early" and early.remote_tag == bob_tag
    assert alice_layer.get(ikey).state == "proceeding"
    bob_dialog = Dialog.from_uas_request(rr.request, bob_tag)

    # F3 200 OK with Bob's SDP.
    ok = build_response(rr.request, 200, to_tag=bob_tag)
    ok.add("Contact", "<sip:bob@client.biloxi.example.com;transport=tcp>")
    ok.set_body(SDP_BOB.encode(), "application/sdp")
    t += 2.0
    events = wire.deliver(wire.bob, bob_layer.send_response(skey, ok, t), t)
    f3 = F3_200 if transport == "tcp" else F3_200.replace("SIP/2.0/TCP", "SIP/2.0/UDP")
    assert canonical(wire.log[-1][1]) == canonical(f3)
    bob_dialog.state = "confirmed"
    assert bob_layer.get(skey).state == "accepted"  # RFC 6026
    got = _one(events, "alice", ResponseReceived).response
    assert alice_dialogs.on_response(got) is early and early.state == "confirmed"
    assert alice_layer.get(ikey).state == "accepted"
    assert str(early.remote_target) == "sip:bob@client.biloxi.example.com;transport=tcp" and early.route_set == []

    # F4 ACK: built by Alice's UA core from the dialog (§13.2.2.4), sent outside any transaction.
    ack = early.create_ack(got)
    ack.add("Via", f"SIP/2.0/{transport.upper()} client.atlanta.example.com:5060;branch=z9hG4bK74bd5", first=True)
    t += 0.1
    events = wire.deliver(wire.alice, [SendMessage(ack, wire.hosts[early.remote_target.host])], t)
    f4 = F4_ACK if transport == "tcp" else F4_ACK.replace("SIP/2.0/TCP", "SIP/2.0/UDP")
    assert canonical(wire.log[-1][1], drop_uri_params=("transport",)) == canonical(f4)
    ev = _one(events, "bob", AckReceived)  # ACK of a 2xx: Bob's UA core, not his transaction
    assert ev.request.cseq.seq == 1 and ev.request.to.tag == bob_tag
    bob_dialog.on_request(ev.request)

    # Both way RTP media... then F5 BYE Bob -> Alice, a new transaction from Bob's dialog.
    bye = bob_dialog.create_request("BYE")
    bye.add("Via", f"SIP/2.0/{transport.upper()} client.biloxi.example.com:5060;branch=z9hG4bKnashds7", first=True)
    t += 10.0
    bkey, acts = bob_layer.send_request(bye, wire.hosts[bob_dialog.remote_target.host], t)
    events = wire.deliver(wire.bob, acts, t)
    f5 = F5_BYE if transport == "tcp" else F5_BYE.replace("SIP/2.0/TCP", "SIP/2.0/UDP")
    assert canonical(wire.log[-1][1], drop_uri_params=("transport",)) == canonical(f5)
    brr = _one(events, "alice", RequestReceived)
    early.on_request(brr.request)
    assert early.remote_seq == 1

    # F6 200 OK from Alice; both dialogs end.
    events = wire.deliver(wire.alice, alice_layer.send_response(brr.key, build_response(brr.request, 200), t), t)
    f6 = F6_200 if transport == "tcp" else F6_200.replace("SIP/2.0/TCP", "SIP/2.0/UDP")
    assert canonical(wire.log[-1][1]) == canonical(f6)
    assert _one(events, "bob", ResponseReceived).response.status == 200
    early.terminate()
    bob_dialog.terminate()
    assert bob_layer.get(bkey).state == "completed" and alice_layer.get(brr.key).state == "completed"

    expected = ["INVITE", "180", "200", "ACK", "BYE", "200"]
    if lose_first_invite:
        expected.insert(0, "INVITE")
    assert wire.starts() == expected

    # Every transaction winds down on its timers: M and L (RFC 6026) for the INVITE,
    # K and J for the BYE (zero on TCP); nothing more goes on the wire.
    ended = [a.key for _, a in wire.timers(t + 64 * 0.5 + 1) if isinstance(a, TransactionTerminated)]
    assert set(ended) == {ikey, skey, bkey, brr.key}
    assert len(alice_layer) == len(bob_layer) == 0 and wire.starts() == expected


def test_rfc3665_3_1_successful_session_establishment_over_tcp() -> None:
    _replay_3_1("tcp")


def test_rfc3665_3_1_over_udp_with_the_first_invite_lost() -> None:
    _replay_3_1("udp", lose_first_invite=True)


def test_rfc3665_3_1_through_the_user_agent_core() -> None:
    """The same call between two ``UserAgent`` cores: INVITE/180/200/ACK/BYE/200 on the wire."""
    wire = Wire("tcp")
    alice = UserAgent(SipURI.parse("sip:alice@atlanta.example.com"),
                      SipURI.parse("sip:alice@client.atlanta.example.com;transport=tcp"), wire.alice)
    bob = UserAgent(SipURI.parse("sip:bob@biloxi.example.com"),
                    SipURI.parse("sip:bob@client.biloxi.example.com;transport=tcp"), wire.bob)
    cores = {wire.alice: alice, wire.bob: bob}
    log: list[bytes] = []
    app: list[tuple[str, Any]] = []

    def run(src: Address, actions: list[Any]) -> None:
        queue = [(src, a) for a in actions]
        while queue:
            s, a = queue.pop(0)
            if isinstance(a, SendMessage):
                log.append(a.message.to_bytes())
                d = wire.hosts.get(a.dest.host, a.dest)
                queue.extend((d, x) for x in cores[d].receive(parse_message(log[-1]), s, 0.0))
            else:
                app.append((wire.name(s), a))

    call_id, acts = alice.invite(SipURI.parse("sip:bob@biloxi.example.com"), 0.0, body=SDP_ALICE.encode(),
                                 content_type="application/sdp")
    run(wire.alice, acts)
    inc = _one(app, "bob", IncomingCall)
    assert inc.request.body == SDP_ALICE.encode() and inc.call_id == call_id
    run(wire.bob, bob.ringing(call_id, 0.0))
    run(wire.bob, bob.answer(call_id, 0.0, body=SDP_BOB.encode(), content_type="application/sdp"))
    assert _one(app, "alice", CallAnswered).response.body == SDP_BOB.encode()
    assert _one(app, "bob", CallAnswered)
    run(wire.bob, bob.bye(call_id, 0.0))
    assert _one(app, "alice", CallEnded).by_remote and not _one(app, "bob", CallEnded).by_remote
    firsts = [d.split(b"\r\n", 1)[0].decode().split(" ") for d in log]
    assert [f[1] if f[0] == "SIP/2.0" else f[0] for f in firsts] == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    # F5's CSeq: Bob's first request in the dialog is 1; F4's ACK keeps the INVITE's 1.
    assert b"CSeq: 1 BYE" in log[4] and b"CSeq: 1 ACK" in log[3]


# ---------------------------------------------------------------- RFC 3665 §3.2 at the edges (UA core)
SDP_A = ("v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\n"
         "c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

F7_INVITE_AT_BOB = (  # RFC 3665 §3.2 shape: the INVITE as ss2 hands it to Bob
    "INVITE sip:bob@client.biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1\r\n"
    "Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r\n"
    "Max-Forwards: 68\r\n"
    "Record-Route: <sip:ss2.biloxi.example.com;lr>\r\n"
    "Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP_A)}\r\n\r\n{SDP_A}").encode()


def _bob() -> UserAgent:
    return UserAgent(SipURI.parse("sip:bob@biloxi.example.com"),
                     SipURI.parse("sip:bob@client.biloxi.example.com;transport=tcp"),
                     Address("192.0.2.4", 5060, "tcp"))


def _sent(actions: list) -> list:  # type: ignore[type-arg]
    return [a.message for a in actions if isinstance(a, SendMessage)]


def test_rfc3665_3_2_bob_behind_two_proxies_answers_and_receives_ack() -> None:
    bob = _bob()
    ss2 = Address("192.0.2.222", 41000, "tcp")
    acts = bob.receive(parse_message(F7_INVITE_AT_BOB), ss2, 0.0)
    (inc,) = [a for a in acts if isinstance(a, IncomingCall)]
    call_id = inc.call_id
    (ringing,) = _sent(bob.ringing(call_id, 0.1))  # F8
    (ok,) = _sent(bob.answer(call_id, 0.2, body=b"v=0\r\n", content_type="application/sdp"))  # F11
    for resp in (ringing, ok):
        assert isinstance(resp, Response)
        assert [v.branch for v in resp.vias] == ["z9hG4bK721e4.1", "z9hG4bK2d4790.1", "z9hG4bK74bf9"]
        assert [str(r.uri) for r in resp.record_routes] == ["sip:ss2.biloxi.example.com;lr",
                                                            "sip:ss1.atlanta.example.com;lr"]
        assert resp.to.tag and resp.from_.tag == "9fxced76sl" and str(resp.cseq) == "1 INVITE"
        assert str(resp.contacts[0].uri) == "sip:bob@client.biloxi.example.com;transport=tcp"
    assert ringing.to.tag == ok.to.tag
    tag = ok.to.tag
    f14_ack = (
        "ACK sip:bob@client.biloxi.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.2\r\n"
        "Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.2;received=192.0.2.111\r\n"
        "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74b76;received=192.0.2.101\r\n"
        "Max-Forwards: 68\r\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
        f"To: Bob <sip:bob@biloxi.example.com>;tag={tag}\r\n"
        "Call-ID: 3848276298220188511@atlanta.example.com\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode()
    acts = bob.receive(parse_message(f14_ack), ss2, 0.3)
    assert any(isinstance(a, CallAnswered) for a in acts)
    # Bob hangs up (RFC 3665 §3.1 F16 direction): the BYE follows the route set.
    (bye,) = _sent(bob.bye(call_id, 1.0))
    assert isinstance(bye, Request) and bye.method == "BYE" and str(bye.uri) == \
        "sip:alice@client.atlanta.example.com;transport=tcp"
    assert [str(r) for r in bye.routes] == ["<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>"]
    assert bye.from_.tag == tag and bye.to.tag == "9fxced76sl" and bye.cseq.seq == 1


def test_rfc3665_3_2_alice_behind_two_proxies_acks_and_byes_with_loose_routing() -> None:
    alice = UserAgent(SipURI.parse("sip:alice@atlanta.example.com"),
                      SipURI.parse("sip:alice@client.atlanta.example.com;transport=tcp"),
                      Address("192.0.2.101", 5060, "tcp"), outbound_proxy=Address("192.0.2.111", 5060, "tcp"))
    call_id, acts = alice.invite(SipURI.parse("sip:bob@biloxi.example.com"), 0.0, body=SDP_A.encode(),
                                 content_type="application/sdp")
    (invite,) = _sent(acts)
    via = invite.get_all("via")[0]
    f9_ok = (  # RFC 3665 F10 as Alice receives it: only her Via left
        f"SIP/2.0 200 OK\r\nVia: {via};received=192.0.2.101\r\n"
        "Record-Route: <sip:ss2.biloxi.example.com;lr>\r\nRecord-Route: <sip:ss1.atlanta.example.com;lr>\r\n"
        f"From: {invite.get('from')}\r\nTo: Bob <sip:bob@biloxi.example.com>;tag=314159\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@client.biloxi.example.com;transport=tcp>\r\n"
        "Content-Length: 0\r\n\r\n").encode()
    acts = alice.receive(parse_message(f9_ok), Address("192.0.2.111", 5060, "tcp"), 0.5)
    assert any(isinstance(a, CallAnswered) for a in acts)
    (ack,) = _sent(acts)  # F12
    assert ack.method == "ACK" and str(ack.uri) == "sip:bob@client.biloxi.example.com;transport=tcp"
    assert [str(r) for r in ack.routes] == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]
    assert str(ack.cseq) == "1 ACK" and ack.to.tag == "314159"
    (bye,) = _sent(alice.bye(call_id, 2.0))  # F15
    assert str(bye.cseq) == "2 BYE" and [str(r) for r in bye.routes] == [str(r) for r in ack.routes]
    f16_ok = (f"SIP/2.0 200 OK\r\nVia: {bye.get_all('via')[0]}\r\nFrom: {bye.get('from')}\r\n"
              f"To: {bye.get('to')}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").encode()
    acts = alice.receive(parse_message(f16_ok), Address("192.0.2.111", 5060, "tcp"), 2.1)
    assert [a for a in acts if isinstance(a, CallEnded)][0].by_remote is False
