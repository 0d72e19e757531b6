"""SIP transports over real loopback sockets: framing, TCP reuse, TLS, MTU switch, SCTP availability."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from ims.net.sip import SipStack, TransportUnavailable, sctp_available
from ims.net.tls import client_context, self_signed, server_context
from ims.net.ua import UaDriver
from ims.sip.errors import SipParseError
from ims.sip.events import Address
from ims.sip.framing import PING, StreamFramer
from ims.sip.uacore import CallAnswered, IncomingCall, UserAgent
from ims.sip.uri import SipURI

OPTIONS = (b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
           b"To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nabcd")


def test_18_3_framer_splits_by_content_length_and_handles_keepalives() -> None:
    f = StreamFramer()
    assert f.feed(OPTIONS[:10]) == []
    assert f.feed(OPTIONS[10:] + b"\r\n\r\n" + OPTIONS[:50]) == [OPTIONS, PING]
    assert f.feed(OPTIONS[50:] + OPTIONS) == [OPTIONS, OPTIONS]
    with pytest.raises(SipParseError, match="Missing Content-Length"):
        StreamFramer().feed(OPTIONS.replace(b"Content-Length: 4\r\n", b""))


async def _pair(nursery: trio.Nursery, transport: str, tmp: Path) -> tuple[UaDriver, UaDriver]:
    drivers = []
    kwargs = {}
    if transport == "tls":
        crt, key = self_signed("127.0.3.31", tmp)
        kwargs = dict(tls_server_context=server_context(crt, key), tls_client_context=client_context(cafile=crt))
    for name, host in (("alice", "127.0.3.30"), ("bob", "127.0.3.31")):
        ua = UserAgent(SipURI.parse(f"sip:{name}@{host}"), SipURI.parse(f"sip:{name}@{host}"),
                       Address(host, 0, transport))
        stack = SipStack(ua, host=host, port=0, transports=("udp", "tcp", "tls") if transport == "tls"
                         else ("udp", "tcp"), **kwargs)
        await nursery.start(stack.run)
        port = stack.bound[transport]
        ua.local = Address(host, port, transport)
        ua.contact = SipURI.parse(f"sip{'s' if transport == 'tls' else ''}:{name}@{host}:{port};transport={transport}")
        drivers.append(UaDriver(ua, stack))
    return drivers[0], drivers[1]


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_call_over_each_transport(transport: str, tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        alice, bob = await _pair(nursery, transport, tmp_path)
        target = bob.ua.contact
        call_id, acts = alice.ua.invite(target, alice.now)
        await alice.do(acts)
        await bob.wait_for(IncomingCall)
        await bob.do(bob.ua.answer(call_id, bob.now))
        await alice.wait_for(CallAnswered)
        await bob.wait_for(CallAnswered)
        if transport != "udp":
            assert len(alice.stack._conns) == 1 and len(bob.stack._conns) == 1  # one connection, both ways
        nursery.cancel_scope.cancel()


async def test_18_1_1_large_request_switches_to_tcp(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        alice, bob = await _pair(nursery, "udp", tmp_path)
        call_id, acts = alice.ua.invite(bob.ua.contact, alice.now, body=b"v=0\r\n" + b"a=x\r\n" * 400,
                                        content_type="application/sdp")
        await alice.do(acts)
        inc = await bob.wait_for(IncomingCall)
        assert inc.request.top_via.transport == "TCP" and len(inc.request.body) > 1300
        nursery.cancel_scope.cancel()


async def test_sctp_is_reported_clearly_when_the_kernel_lacks_it() -> None:
    ok, why = sctp_available()
    if ok:
        pytest.skip("this kernel has SCTP; the unavailable path is not reachable")
    assert "SCTP is not supported by this kernel" in why
    ua = UserAgent(SipURI.parse("sip:a@127.0.3.32"), SipURI.parse("sip:a@127.0.3.32"), Address("127.0.3.32", 0))
    stack = SipStack(ua, host="127.0.3.32", port=0, transports=("udp", "sctp"))
    with pytest.raises(TransportUnavailable, match="SCTP is not supported"):
        await stack.run()


def test_sctp_transport_where_available() -> None:
    ok, why = sctp_available()
    if not ok:
        pytest.skip(f"SIP over SCTP needs kernel SCTP: {why}")


async def test_18_1_1_large_request_stays_on_udp_when_the_destination_has_no_tcp() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:  # UDP only: a TCP connect to this port is refused
            dest = Address(PEER, sock.getsockname()[1], "udp")
            big = parse_message(_options("z9hG4bKmtu", body=b"a=x\r\n" * 300))
            await stack.execute([SendMessage(big, dest)])
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
            assert len(data) > 1300 and b"Via: SIP/2.0/UDP " in data
            assert core.errors == [] and not stack._conns
        nursery.cancel_scope.cancel()
