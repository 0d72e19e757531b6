"""Dialogs (RFC 3261 §12, §13.2.2.4): creation on both sides, route sets, CSeq rules, loose and strict routing, forks."""

from __future__ import annotations

import pytest

from ims.sip.dialog import Dialog, DialogSet, uri_address
from ims.sip.errors import SipError
from ims.sip.events import Address
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.uri import SipURI, parse_uri

INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP ss2.biloxi.example.com;branch=z9hG4bK721e4.1\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r\n"
    "Max-Forwards: 69\r\n"
    "Record-Route: <sip:ss2.biloxi.example.com;lr>\r\n"
    "Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com\r\n"
    "CSeq: 7 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com>\r\n"
    "Content-Length: 0\r\n\r\n")


def invite(text: str = INVITE) -> Request:
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def uac_invite() -> Request:
    """Alice's INVITE as she sent it (one Via, no Record-Route)."""
    return invite(INVITE.replace("Via: SIP/2.0/UDP ss2.biloxi.example.com;branch=z9hG4bK721e4.1\r\n", "")
                  .replace("Record-Route: <sip:ss2.biloxi.example.com;lr>\r\n", "")
                  .replace("Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n", ""))


def response(req: Request, status: int, tag: str | None, *, contact: str | None = "<sip:bob@192.0.2.4>",
             rr: tuple[str, ...] = ("<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>")) -> Response:
    resp = build_response(req, status, to_tag=tag)
    for r in rr:
        resp.add("Record-Route", r)
    if contact:
        resp.add("Contact", contact)
    return resp


# ---------------------------------------------------------------- creation (§12.1)


def test_12_1_2_uac_dialog_from_2xx_reverses_record_route() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "314159"))
    assert d.id == ("2xTb9vxSit55XU7p8@atlanta.example.com", "9fxced76sl", "314159")
    assert d.state == "confirmed"
    assert d.route_set == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]
    assert str(d.remote_target) == "sip:bob@192.0.2.4"
    assert d.local_seq == 7 and d.remote_seq is None  # §12.1.2: remote sequence number empty
    assert d.secure is False


def test_12_1_2_uac_dialog_needs_to_tag_and_contact() -> None:
    req = uac_invite()
    with pytest.raises(SipError):
        Dialog.from_uac_response(req, response(req, 180, None))
    with pytest.raises(SipError):
        Dialog.from_uac_response(req, response(req, 180, "x", contact=None))


def test_12_1_2_sips_request_uri_makes_a_secure_dialog() -> None:
    req = invite(INVITE.replace("INVITE sip:bob@", "INVITE sips:bob@"))
    assert Dialog.from_uac_response(req, response(req, 200, "t")).secure is True


def test_12_1_1_uas_dialog_keeps_record_route_order() -> None:
    req = invite()
    d = Dialog.from_uas_request(req, "8321234356")
    assert d.id == ("2xTb9vxSit55XU7p8@atlanta.example.com", "8321234356", "9fxced76sl")
    assert d.route_set == ["<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>"]
    assert str(d.remote_target) == "sip:alice@client.atlanta.example.com"
    assert d.remote_seq == 7 and d.local_seq == 0 and d.state == "early" and d.secure is False
    sips = invite(INVITE.replace("INVITE sip:bob@", "INVITE sips:bob@"))
    assert Dialog.from_uas_request(sips, "t", secure_transport=True).secure is True
    assert Dialog.from_uas_request(sips, "t", secure_transport=False).secure is False


def test_12_1_1_uas_dialog_needs_contact() -> None:
    req = invite(INVITE.replace("Contact: <sip:alice@client.atlanta.example.com>\r\n", ""))
    with pytest.raises(SipError) as exc:
        Dialog.from_uas_request(req, "t")
    assert exc.value.status == 400


# ---------------------------------------------------------------- requests within a dialog (§12.2.1)


def test_12_2_1_1_loose_routing_request_uri_is_remote_target() -> None:
    req = invite()
    d = Dialog.from_uas_request(req, "8321234356", state="confirmed")
    bye = d.create_request("BYE")
    assert bye.method == "BYE" and str(bye.uri) == "sip:alice@client.atlanta.example.com"
    assert [str(r) for r in bye.routes] == ["<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>"]
    assert bye.from_.tag == "8321234356" and bye.to.tag == "9fxced76sl"
    assert str(bye.from_.uri) == "sip:bob@biloxi.example.com" and str(bye.to.uri) == "sip:alice@atlanta.example.com"
    assert bye.call_id == req.call_id and str(bye.cseq) == "1 BYE" and bye.max_forwards == 70
    assert str(d.next_hop()) == "sip:ss2.biloxi.example.com;lr"


def test_12_2_1_1_local_cseq_grows_by_one_but_not_for_ack_and_cancel() -> None:
    req = uac_invite()
    ok = response(req, 200, "314159")
    d = Dialog.from_uac_response(req, ok)
    ack = d.create_ack(ok)
    assert str(ack.cseq) == "7 ACK"  # §13.2.2.4: the INVITE's CSeq number
    assert str(d.create_request("INFO").cseq) == "8 INFO"
    assert str(d.create_request("BYE").cseq) == "9 BYE"
    assert d.local_seq == 9


def test_12_2_1_1_strict_router_goes_into_the_request_uri() -> None:
    req = uac_invite()
    ok = response(req, 200, "314159", rr=("<sip:loose.example.com;lr>", "<sip:strict.example.com;method=INVITE>"))
    d = Dialog.from_uac_response(req, ok)
    assert d.route_set == ["<sip:strict.example.com;method=INVITE>", "<sip:loose.example.com;lr>"]
    bye = d.create_request("BYE")
    # The first (strict) route becomes the Request-URI, minus parameters not allowed there
    # (method, §19.1.1); the rest of the route set follows, then the remote target last.
    assert str(bye.uri) == "sip:strict.example.com"
    assert [str(r) for r in bye.routes] == ["<sip:loose.example.com;lr>", "<sip:bob@192.0.2.4>"]
    assert str(d.next_hop()) == "sip:strict.example.com;method=INVITE"
    assert uri_address(d.next_hop()) == Address("strict.example.com", 5060, "udp")


def test_12_2_1_1_no_route_set_sends_to_the_remote_target() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "t", rr=(), contact="<sip:bob@192.0.2.4:5070;transport=tcp>"))
    bye = d.create_request("BYE", body=b"hello", content_type="text/plain")
    assert bye.routes == [] and str(bye.uri) == "sip:bob@192.0.2.4:5070;transport=tcp"
    assert bye.body == b"hello" and bye.content_type == "text/plain" and bye.content_length == 5
    assert uri_address(d.next_hop()) == Address("192.0.2.4", 5070, "tcp")


# ---------------------------------------------------------------- requests received in a dialog (§12.2.2)


def _in_dialog(d: Dialog, method: str, seq: int, contact: str | None = None) -> Request:
    extra = f"Contact: {contact}\r\n" if contact else ""
    return invite(
        f"{method} sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.101;branch=z9hG4bK{method}{seq}\r\n"
        f"From: <sip:alice@atlanta.example.com>;tag={d.remote_tag}\r\n"
        f"To: <sip:bob@biloxi.example.com>;tag={d.local_tag}\r\nCall-ID: {d.call_id}\r\n"
        f"CSeq: {seq} {method}\r\n{extra}Content-Length: 0\r\n\r\n")


def test_12_2_2_lower_or_equal_cseq_is_rejected_500() -> None:
    d = Dialog.from_uas_request(invite(), "t", state="confirmed")
    for seq in (6, 7):
        with pytest.raises(SipError) as exc:
            d.on_request(_in_dialog(d, "BYE", seq))
        assert exc.value.status == 500 and "CSeq" in exc.value.reason
    d.on_request(_in_dialog(d, "ACK", 7))  # ACK keeps the INVITE's number
    d.on_request(_in_dialog(d, "BYE", 8))
    assert d.remote_seq == 8


def test_12_2_2_uac_dialog_takes_the_first_remote_cseq_whatever_it_is() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "t"))
    d.on_request(_in_dialog(d, "BYE", 1))  # remote sequence number was empty
    assert d.remote_seq == 1


def test_12_2_2_target_refresh_updates_the_remote_target() -> None:
    d = Dialog.from_uas_request(invite(), "t", state="confirmed")
    d.on_request(_in_dialog(d, "INVITE", 8, "<sip:alice@192.0.2.55:5080>"))
    assert str(d.remote_target) == "sip:alice@192.0.2.55:5080"
    d.on_request(_in_dialog(d, "INFO", 9, "<sip:alice@192.0.2.66>"))  # INFO is no target refresh
    assert str(d.remote_target) == "sip:alice@192.0.2.55:5080"


def test_12_2_1_2_responses_refresh_target_and_481_ends_the_dialog() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "t"))
    reinvite = d.create_request("INVITE")
    d.on_response(response(reinvite, 200, "t", contact="<sip:bob@192.0.2.77>", rr=("<sip:x.example;lr>",)))
    assert str(d.remote_target) == "sip:bob@192.0.2.77"
    assert d.route_set == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]  # unchanged
    d.on_response(response(d.create_request("INFO"), 481, "t", contact=None, rr=()))
    assert d.state == "terminated"


# ---------------------------------------------------------------- early dialogs and forks (§12.1.2, §13.2.2.4)


def test_13_2_2_4_early_dialog_confirmed_by_2xx_recomputes_route_set() -> None:
    req = uac_invite()
    ds = DialogSet(req)
    early = ds.on_response(response(req, 180, "b1", rr=("<sip:old.example;lr>",)))
    assert early is not None and early.state == "early" and early.route_set == ["<sip:old.example;lr>"]
    ok = ds.on_response(response(req, 200, "b1", contact="<sip:bob@192.0.2.5>"))
    assert ok is early and early.state == "confirmed" and ds.confirmed is early
    assert early.route_set == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]
    assert str(early.remote_target) == "sip:bob@192.0.2.5"


def test_12_1_2_forked_invite_creates_several_early_dialogs() -> None:
    req = uac_invite()
    ds = DialogSet(req)
    assert ds.on_response(build_response(req, 100)) is None  # 100 creates no dialog
    assert ds.on_response(response(req, 180, None)) is None  # neither does a 1xx without To tag
    d1 = ds.on_response(response(req, 180, "fork1", contact="<sip:bob@192.0.2.10>"))
    d2 = ds.on_response(response(req, 183, "fork2", contact="<sip:bob@192.0.2.11>"))
    assert d1 is not None and d2 is not None and d1 is not d2
    assert ds.on_response(response(req, 180, "fork1")) is d1  # same To tag: same dialog
    assert d1.state == d2.state == "early" and set(ds.dialogs) == {"fork1", "fork2"}
    assert d1.id != d2.id and d1.id[:2] == d2.id[:2]
    assert ds.on_response(response(req, 200, "fork2", contact="<sip:bob@192.0.2.11>")) is d2
    assert ds.confirmed is d2 and d2.state == "confirmed"
    # A later 2xx from the other fork makes a confirmed dialog the UA core must ACK and BYE.
    late = ds.on_response(response(req, 200, "fork3", contact="<sip:bob@192.0.2.12>"))
    assert late is not None and late.state == "confirmed" and ds.confirmed is d2
    assert set(map(id, ds.others())) == {id(d1), id(late)}
    assert ds.terminate_others() == [d1] and d1.state == "terminated" and late.state == "confirmed"


def test_13_2_2_3_non_2xx_final_ends_every_early_dialog() -> None:
    req = uac_invite()
    ds = DialogSet(req)
    d1 = ds.on_response(response(req, 180, "f1"))
    d2 = ds.on_response(response(req, 180, "f2"))
    assert ds.on_response(response(req, 486, "f2", contact=None, rr=())) is None
    assert d1 is not None and d2 is not None and d1.state == d2.state == "terminated"
    assert ds.confirmed is None


# ---------------------------------------------------------------- next hop without DNS


def test_uri_address_literals_transport_and_maddr() -> None:
    assert uri_address(SipURI.parse("sip:a@192.0.2.1")) == Address("192.0.2.1", 5060, "udp")
    assert uri_address(SipURI.parse("sips:a@192.0.2.1")) == Address("192.0.2.1", 5061, "tls")
    assert uri_address(SipURI.parse("sip:a@192.0.2.1:5080;transport=tcp")) == Address("192.0.2.1", 5080, "tcp")
    assert uri_address(SipURI.parse("sip:a@h.example;maddr=192.0.2.9")) == Address("192.0.2.9", 5060, "udp")
    assert uri_address(SipURI.parse("sip:a@[2001:db8::1]:5062")) == Address("2001:db8::1", 5062, "udp")
    with pytest.raises(SipError) as exc:
        uri_address(parse_uri("tel:+15551234567"))
    assert exc.value.status == 416


# ================================================================ UA core on dialogs (§13, §10.2): two UAs in memory

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from ims.sip.events import (  # noqa: E402
    RequestReceived, SendMessage, TimerConfig,
)
from ims.sip.headers import Challenge  # noqa: E402
from ims.sip.transaction import TransactionLayer  # noqa: E402
from ims.sip.uacore import (  # noqa: E402
    CallAnswered, CallEnded, CallFailed, CallProgress, IncomingCall, Registered, RegistrationFailed, UserAgent,
)

A_ADDR, B_ADDR, R_ADDR = Address("10.0.0.1", 5060), Address("10.0.0.2", 5060), Address("10.0.0.9", 5060)
TIMERS = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


class StubRegistrar:
    """A SipCore answering every request through ``callback(request) -> Response``."""

    def __init__(self, callback: Callable[[Request], Response]) -> None:
        self.layer = TransactionLayer(TIMERS)
        self.callback = callback
        self.seen: list[Request] = []

    def receive(self, message: Any, source: Address, now: float) -> list[Any]:
        out = []
        for a in self.layer.receive(message, source, now):
            if isinstance(a, RequestReceived):
                self.seen.append(a.request)
                out.extend(self.layer.send_response(a.key, self.callback(a.request), now))
            else:
                out.append(a)
        return out

    def next_deadline(self) -> float | None:
        return self.layer.next_deadline()

    def handle_timers(self, now: float) -> list[Any]:
        return self.layer.handle_timers(now)


class Lab:
    """Cores by address, a fake clock jumping from deadline to deadline, the wire log, app events."""

    def __init__(self) -> None:
        self.cores: dict[Address, Any] = {}
        self.now = 0.0
        self.wire: list[tuple[float, str, bytes]] = []  # (time, sender, bytes)
        self.events: list[tuple[float, str, Any]] = []
        self.drop: Callable[[bytes], bool] = lambda data: False

    def name(self, addr: Address) -> str:
        return {A_ADDR: "alice", B_ADDR: "bob", R_ADDR: "registrar"}[addr]

    def run(self, origin: Address, actions: list[Any]) -> None:
        queue = [(origin, a) for a in actions]
        while queue:
            src, a = queue.pop(0)
            if not isinstance(a, SendMessage):
                self.events.append((self.now, self.name(src), a))
                continue
            data = a.message.to_bytes()
            self.wire.append((self.now, self.name(src), data))
            if self.drop(data) or a.dest not in self.cores:
                continue
            queue.extend((a.dest, x) for x in self.cores[a.dest].receive(parse_message(data), src, self.now))

    def advance_to(self, until: float) -> None:
        while True:
            due = [(dl, addr) for addr, c in self.cores.items() if (dl := c.next_deadline()) is not None]
            if not due:
                break
            self.now, addr = min(due, key=lambda item: item[0])
            if self.now > until:
                break
            self.run(addr, self.cores[addr].handle_timers(self.now))
        self.now = until

    def of(self, who: str, kind: type) -> list[Any]:
        return [e for _, w, e in self.events if w == who and isinstance(e, kind)]

    def starts(self, who: str | None = None) -> list[str]:
        out = []
        for _, w, data in self.wire:
            if who is None or w == who:
                f = data.split(b"\r\n", 1)[0].decode().split(" ")
                out.append(f[1] if f[0] == "SIP/2.0" else f[0])
        return out

    def times(self, start: str, who: str) -> list[float]:
        return [round(t, 6) for t, w, data in self.wire if w == who and data.startswith(start.encode())]


def ua_pair(*, with_registrar: Callable[[Request], Response] | None = None,
            credentials: Any = None) -> tuple[Lab, UserAgent, UserAgent]:
    lab = Lab()
    alice = UserAgent(SipURI.parse("sip:alice@atlanta.example.com"), SipURI.parse("sip:alice@10.0.0.1"), A_ADDR,
                      None, credentials, timers=TIMERS)
    bob = UserAgent(SipURI.parse("sip:bob@biloxi.example.com"), SipURI.parse("sip:bob@10.0.0.2"), B_ADDR,
                    timers=TIMERS)
    lab.cores[A_ADDR], lab.cores[B_ADDR] = alice, bob
    if with_registrar is not None:
        lab.cores[R_ADDR] = StubRegistrar(with_registrar)
    return lab, alice, bob


def _ok_register(req: Request) -> Response:
    resp = build_response(req, 200, to_tag="reg")
    resp.add("Contact", f"{req.get('contact').split(';')[0]};expires=1800")  # type: ignore[union-attr]
    return resp


REGISTRAR_URI = SipURI.parse("sip:10.0.0.9")


def test_10_2_register_against_a_stub_registrar() -> None:
    lab, alice, _ = ua_pair(with_registrar=_ok_register)
    lab.run(A_ADDR, alice.register(REGISTRAR_URI, 3600, lab.now))
    (reg,) = lab.of("alice", Registered)
    assert reg.expires == 1800  # the registrar's choice, from our Contact's expires (§10.2.4)
    (sent,) = lab.cores[R_ADDR].seen
    assert sent.method == "REGISTER" and str(sent.uri) == "sip:10.0.0.9" and sent.expires == 3600
    assert str(sent.to.uri) == str(sent.from_.uri) == "sip:alice@atlanta.example.com"
    assert str(sent.contacts[0].uri) == "sip:alice@10.0.0.1"
    lab.run(A_ADDR, alice.register(REGISTRAR_URI, 0, lab.now))  # refresh/removal: same Call-ID, CSeq + 1
    first, second = lab.cores[R_ADDR].seen
    assert second.call_id == first.call_id and second.cseq.seq == first.cseq.seq + 1


def test_22_register_digest_retry_through_the_credentials_hook() -> None:
    asked: list[tuple[Challenge, Request]] = []

    def registrar(req: Request) -> Response:
        if not req.authorization:
            resp = build_response(req, 401, to_tag="reg")
            resp.add("WWW-Authenticate", 'Digest realm="atlanta.example.com", nonce="abc", algorithm=MD5')
            return resp
        return _ok_register(req)

    def hook(challenge: Challenge, request: Request) -> str:
        asked.append((challenge, request))
        return 'Digest username="alice", realm="atlanta.example.com", nonce="abc", uri="sip:10.0.0.9", response="00"'

    lab, alice, _ = ua_pair(with_registrar=registrar, credentials=hook)
    lab.run(A_ADDR, alice.register(REGISTRAR_URI, 600, lab.now))
    assert [e.expires for e in lab.of("alice", Registered)] == [1800]
    ((challenge, request),) = asked
    assert challenge.params["nonce"] == "abc" and request.method == "REGISTER"
    first, second = lab.cores[R_ADDR].seen
    assert second.authorization[0].params["username"] == "alice"
    assert second.cseq.seq == first.cseq.seq + 1 and second.call_id == first.call_id
    assert second.top_via.branch != first.top_via.branch  # a new transaction


def test_22_3_proxy_challenge_is_answered_in_proxy_authorization() -> None:
    def registrar(req: Request) -> Response:
        if req.get("proxy-authorization") is None:
            resp = build_response(req, 407, to_tag="p")
            resp.add("Proxy-Authenticate", 'Digest realm="p.example", nonce="n1"')
            return resp
        return _ok_register(req)

    lab, alice, _ = ua_pair(with_registrar=registrar, credentials=lambda c, r: 'Digest username="alice"')
    lab.run(A_ADDR, alice.register(REGISTRAR_URI, 600, lab.now))
    assert lab.of("alice", Registered) and lab.cores[R_ADDR].seen[1].get("authorization") is None


def test_10_2_registration_refused_and_timed_out() -> None:
    lab, alice, _ = ua_pair(with_registrar=lambda req: build_response(req, 403, to_tag="r"))
    lab.run(A_ADDR, alice.register(REGISTRAR_URI, 600, lab.now))
    assert [e.status for e in lab.of("alice", RegistrationFailed)] == [403]
    lab2, alice2, _ = ua_pair()  # nobody at the registrar's address
    lab2.run(A_ADDR, alice2.register(REGISTRAR_URI, 600, 0.0))
    lab2.advance_to(40.0)
    assert [e.status for e in lab2.of("alice", RegistrationFailed)] == [408]  # Timer F
    assert lab2.times("REGISTER", "alice") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


def _call(lab: Lab, alice: UserAgent) -> str:
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), lab.now, body=b"v=0\r\n",
                                 content_type="application/sdp")
    lab.run(A_ADDR, acts)
    return call_id


def test_13_call_answer_ack_bye_with_dialog_state() -> None:
    lab, alice, bob = ua_pair()
    call_id = _call(lab, alice)
    (inc,) = lab.of("bob", IncomingCall)
    assert inc.call_id == call_id and inc.request.body == b"v=0\r\n"
    lab.run(B_ADDR, bob.ringing(call_id, lab.now))
    assert [(e.call_id, e.status) for e in lab.of("alice", CallProgress)] == [(call_id, 180)]
    assert alice.calls[call_id].dialogs.dialogs[bob.calls[call_id].local_tag].state == "early"
    lab.run(B_ADDR, bob.answer(call_id, lab.now, body=b"v=0 answer\r\n", content_type="application/sdp"))
    assert lab.of("alice", CallAnswered)[0].response.body == b"v=0 answer\r\n"
    assert lab.of("bob", CallAnswered)  # the ACK arrived
    a_d, b_d = alice.calls[call_id].dialog, bob.calls[call_id].dialog
    assert a_d is not None and b_d is not None and a_d.state == b_d.state == "confirmed"
    assert a_d.id == (b_d.id[0], b_d.id[2], b_d.id[1])  # the same dialog seen from both ends
    lab.advance_to(40.0)
    assert lab.starts() == ["INVITE", "180", "200", "ACK"]  # the ACK stopped Bob's 2xx retransmissions
    lab.run(B_ADDR, bob.bye(call_id, lab.now))  # the callee hangs up this time
    assert lab.of("alice", CallEnded)[0].by_remote and not lab.of("bob", CallEnded)[0].by_remote
    assert lab.starts() == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    assert not alice.calls and not bob.calls


def test_13_3_1_4_uas_retransmits_2xx_t1_doubling_to_t2_and_byes_at_64_t1() -> None:
    lab, alice, bob = ua_pair()
    call_id = _call(lab, alice)
    lab.drop = lambda data: data.startswith(b"ACK")  # every ACK is lost
    lab.run(B_ADDR, bob.answer(call_id, lab.now))
    lab.advance_to(40.0)
    oks = [t for t, w, d in lab.wire if w == "bob" and d.startswith(b"SIP/2.0 200") and b"INVITE" in d]
    assert [round(t, 6) for t in oks] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    # The UAC core ACKs every 2xx it gets (§13.2.2.4), always the same ACK.
    acks = [d for _, w, d in lab.wire if w == "alice" and d.startswith(b"ACK")]
    assert len(acks) == len(oks) and len(set(acks)) == 1
    # 64*T1 = 32 s without an ACK: the UAS core ends the session with a BYE (§13.3.1.4).
    assert lab.times("BYE", "bob") == [32.0]
    assert [(e.by_remote, e.reason) for e in lab.of("bob", CallEnded)] == [(False, "no-ack")]
    assert lab.of("alice", CallEnded)[0].by_remote and not lab.of("bob", CallAnswered)


def test_13_3_1_4_a_late_ack_stops_the_retransmissions() -> None:
    lab, alice, bob = ua_pair()
    call_id = _call(lab, alice)
    lost = iter([True, True])
    lab.drop = lambda data: data.startswith(b"ACK") and next(lost, False)
    lab.run(B_ADDR, bob.answer(call_id, lab.now))
    lab.advance_to(60.0)
    assert lab.times("SIP/2.0 200", "bob") == [0.0, 0.5, 1.5]
    assert bob.calls[call_id].state == "confirmed" and len(lab.of("bob", CallAnswered)) == 1
    assert "BYE" not in lab.starts()


def test_13_3_1_4_2xx_retransmitted_end_to_end_even_over_tcp() -> None:
    lab = Lab()
    a_tcp, b_tcp = Address("10.0.0.1", 5060, "tcp"), Address("10.0.0.2", 5060, "tcp")
    alice = UserAgent(SipURI.parse("sip:alice@a.example"), SipURI.parse("sip:alice@10.0.0.1;transport=tcp"), a_tcp,
                      timers=TIMERS)
    bob = UserAgent(SipURI.parse("sip:bob@b.example"), SipURI.parse("sip:bob@10.0.0.2;transport=tcp"), b_tcp,
                    timers=TIMERS)
    lab.cores = {a_tcp: alice, b_tcp: bob}
    lab.name = lambda addr: "alice" if addr.host == "10.0.0.1" else "bob"  # type: ignore[method-assign]
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2;transport=tcp"), 0.0)
    lab.run(a_tcp, acts)
    lab.drop = lambda data: data.startswith(b"ACK")
    lab.run(b_tcp, bob.answer(call_id, 0.0))
    lab.advance_to(20.0)
    # Hops between the two UAs may be UDP, so the UAS core retransmits whatever its own transport.
    assert lab.times("SIP/2.0 200", "bob") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5]


def test_9_cancel_after_ringing_gives_487_and_ends_both_sides() -> None:
    lab, alice, bob = ua_pair()
    call_id = _call(lab, alice)
    lab.run(B_ADDR, bob.ringing(call_id, lab.now))
    lab.run(A_ADDR, alice.cancel(call_id, lab.now))
    assert [e.status for e in lab.of("alice", CallFailed)] == [487]
    assert [(e.by_remote, e.reason) for e in lab.of("bob", CallEnded)] == [(True, "cancelled")]
    assert lab.starts() == ["INVITE", "180", "CANCEL", "200", "487", "ACK"]
    assert not alice.calls and not bob.calls


def test_9_1_cancel_before_any_provisional_waits_for_one() -> None:
    lab, alice, bob = ua_pair()
    lab.drop = lambda data: data.startswith(b"SIP/2.0 100")  # no 100 Trying reaches Alice
    call_id = _call(lab, alice)
    assert alice.cancel(call_id, lab.now) == []  # §9.1: not before a provisional response
    lab.advance_to(0.3)
    assert "CANCEL" not in lab.starts()
    lab.run(B_ADDR, bob.ringing(call_id, lab.now))  # now the CANCEL goes
    assert [e.status for e in lab.of("alice", CallFailed)] == [487]
    assert lab.starts()[-4:] == ["CANCEL", "200", "487", "ACK"]


def test_13_reject_busy_486_is_acked_by_the_transaction() -> None:
    lab, alice, bob = ua_pair()
    call_id = _call(lab, alice)
    lab.run(B_ADDR, bob.reject(call_id, 486, lab.now))
    assert [(e.call_id, e.status) for e in lab.of("alice", CallFailed)] == [(call_id, 486)]
    assert lab.starts() == ["INVITE", "486", "ACK"]
    assert lab.of("bob", CallEnded) == [] and not bob.calls and not alice.calls


def test_13_2_2_4_second_fork_2xx_is_acked_then_byed() -> None:
    lab, alice, _ = ua_pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@biloxi.example.com"), 0.0)
    invite_ = acts[0].message
    out: list[Any] = []
    for tag, host in (("fork1", "10.0.0.21"), ("fork2", "10.0.0.22")):
        ok = build_response(invite_, 200, to_tag=tag)
        ok.add("Contact", f"<sip:bob@{host}>")
        out.append(alice.receive(ok, B_ADDR, 0.1))
    first, second = out
    assert [type(a).__name__ for a in first] == ["SendMessage", "CallAnswered"]
    assert first[0].message.method == "ACK" and first[0].dest == Address("10.0.0.21", 5060)
    sent = [(a.message.method, a.dest.host, a.message.to.tag) for a in second if isinstance(a, SendMessage)]
    assert sent == [("ACK", "10.0.0.22", "fork2"), ("BYE", "10.0.0.22", "fork2")]
    assert not any(isinstance(a, CallAnswered) for a in second)
    assert alice.calls[call_id].dialog.remote_tag == "fork1"  # type: ignore[union-attr]
    # The first fork's 2xx retransmitted: the same ACK again, no new event.
    ok1 = build_response(invite_, 200, to_tag="fork1")
    ok1.add("Contact", "<sip:bob@10.0.0.21>")
    again = alice.receive(ok1, B_ADDR, 0.6)
    assert [a.message.to_bytes() for a in again] == [first[0].message.to_bytes()]


def test_17_1_4_transport_error_fails_the_call_503() -> None:
    lab, alice, _ = ua_pair()
    call_id = _call(lab, alice)
    lab.run(A_ADDR, alice.transport_error(B_ADDR, lab.now))
    assert [(e.call_id, e.status) for e in lab.of("alice", CallFailed)] == [(call_id, 503)]


def test_12_2_2_in_dialog_request_for_unknown_dialog_is_481() -> None:
    lab, alice, bob = ua_pair()
    call_id = _call(lab, alice)
    lab.run(B_ADDR, bob.answer(call_id, lab.now))
    d = alice.calls[call_id].dialog
    assert d is not None
    stray = d.create_request("INFO")
    stray.set("Call-ID", "nobody@10.0.0.1")
    stray.add("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKstray", first=True)
    key, acts = alice.layer.send_request(stray, B_ADDR, lab.now)
    lab.run(A_ADDR, acts)
    assert lab.starts()[-1] == "481"


def test_8_2_2_2_merged_request_is_482() -> None:
    lab, alice, bob = ua_pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), 0.0)
    invite_ = acts[0].message
    lab.run(A_ADDR, acts)
    # The same INVITE arriving by a second path: same From tag/Call-ID/CSeq, another branch.
    copy = invite_.copy()
    copy.headers.pop_first_value("via")
    copy.add("Via", "SIP/2.0/UDP 10.0.0.30:5060;branch=z9hG4bKotherpath", first=True)
    out = bob.receive(copy, Address("10.0.0.30", 5060), 0.1)
    assert [a.message.status for a in out if isinstance(a, SendMessage)] == [482]
    assert len([e for e in lab.of("bob", IncomingCall)]) == 1
    # Once the first INVITE transaction is over, the identity is forgotten.
    lab.run(B_ADDR, bob.reject(call_id, 486, 0.2))
    lab.advance_to(60.0)
    assert not bob._merged and not bob._server


def test_13_2_2_4_early_forks_end_with_the_invite_transaction() -> None:
    lab, alice, _ = ua_pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@biloxi.example.com"), 0.0)
    invite_ = acts[0].message
    for status, tag in ((180, "fork1"), (183, "fork2"), (200, "fork2")):
        resp = build_response(invite_, status, to_tag=tag)
        resp.add("Contact", f"<sip:bob@10.0.0.{20 + int(tag[-1])}>")
        alice.receive(resp, B_ADDR, 0.1)
    ds = alice.calls[call_id].dialogs
    assert ds is not None and ds.dialogs["fork1"].state == "early" and ds.confirmed is ds.dialogs["fork2"]
    alice.handle_timers(0.1 + 64 * TIMERS.t1)  # Timer M ends the INVITE client transaction
    assert ds.dialogs["fork1"].state == "terminated" and ds.dialogs["fork2"].state == "confirmed"
    assert not alice._pending
