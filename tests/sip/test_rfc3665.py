"""RFC 3665 §3.1 session establishment replayed through the sans-IO user agent core.

Bob's side is fed the messages of RFC 3665 §3.1 as Bob receives them (after
the two proxies, with their Record-Route and Via), and his answers are
checked against the RFC's F8/F11 shapes; then Alice's side answers the RFC's
responses and her ACK/BYE are checked against F12/F15 (loose routing).
"""

from __future__ import annotations

from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, Response, parse_message
from ims.sip.uacore import CallAnswered, CallEnded, IncomingCall, UserAgent
from ims.sip.uri import SipURI

SDP_A = ("v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\n"
         "c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

F7_INVITE_AT_BOB = (  # RFC 3665 §3.1 F7: ss2 -> Bob
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


def test_rfc3665_3_1_bob_answers_f8_f11_and_receives_f12_ack_f13_bye() -> None:
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


def test_rfc3665_3_1_alice_acks_f12_and_byes_f15_with_loose_routing() -> None:
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
