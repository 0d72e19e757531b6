"""SIP transports and the SipStack driver over real loopback sockets.

User agents calling over UDP/TCP/TLS, the §18.1.1 MTU switch, SCTP availability; and the driver on a
fake core: bad input (400 / drop / 500 / disconnect), CRLF keep-alives, connection reuse, idle close,
stuck peers, timers, transport errors, TLS verification."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from ims.net import boundary
from ims.net.sip import SipStack, TransportUnavailable, sctp_available
from ims.net.tls import client_context, self_signed, server_context
from ims.net.ua import UaDriver
from ims.sip.events import Action, Address, SendMessage, TransactionTerminated
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.uacore import CallAnswered, IncomingCall, UserAgent
from ims.sip.uri import SipURI


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


SCTP_OK, SCTP_WHY = sctp_available()


@pytest.mark.skipif(SCTP_OK, reason="this kernel has SCTP; the unavailable path is not reachable")
async def test_sctp_is_reported_clearly_when_the_kernel_lacks_it() -> None:
    assert "SCTP is not supported by this kernel" in SCTP_WHY
    ua = UserAgent(SipURI.parse("sip:a@127.0.3.32"), SipURI.parse("sip:a@127.0.3.32"), Address("127.0.3.32", 0))
    stack = SipStack(ua, host="127.0.3.32", port=0, transports=("udp", "sctp"))
    with pytest.raises(TransportUnavailable, match="SCTP is not supported"):
        await stack.run()


@pytest.mark.skipif(not SCTP_OK, reason=f"SIP over SCTP needs kernel SCTP: {SCTP_WHY}")
async def test_rfc4168_call_over_sctp_where_the_kernel_has_it() -> None:
    async with trio.open_nursery() as nursery:
        drivers = []
        for name, host in (("alice", "127.0.3.33"), ("bob", "127.0.3.34")):
            ua = UserAgent(SipURI.parse(f"sip:{name}@{host}"), SipURI.parse(f"sip:{name}@{host}"),
                           Address(host, 0, "sctp"))
            stack = SipStack(ua, host=host, port=0, transports=("udp", "sctp"))
            await nursery.start(stack.run)
            ua.local = Address(host, stack.bound["sctp"], "sctp")
            ua.contact = SipURI.parse(f"sip:{name}@{host}:{stack.bound['sctp']};transport=sctp")
            drivers.append(UaDriver(ua, stack))
        alice, bob = drivers
        call_id, acts = alice.ua.invite(bob.ua.contact, alice.now)
        await alice.do(acts)
        await bob.wait_for(IncomingCall)
        await bob.do(bob.ua.answer(call_id, bob.now))
        await alice.wait_for(CallAnswered)
        assert list(alice.stack._conns)[0][2] == "sctp"
        nursery.cancel_scope.cancel()


# -- the driver on a fake core ------------------------------------------------------------------

HOST = "127.0.3.40"  # the stack under test
PEER = "127.0.3.41"  # raw sockets talking to it


def _options(branch: str = "z9hG4bK1", transport: str = "UDP", port: int = 5060, body: bytes = b"") -> bytes:
    return (f"OPTIONS sip:x@{HOST} SIP/2.0\r\nVia: SIP/2.0/{transport} {PEER}:{port};branch={branch};rport\r\n"
            f"From: <sip:a@{PEER}>;tag=1\r\nTo: <sip:x@{HOST}>\r\nCall-ID: c-{branch}\r\nCSeq: 1 OPTIONS\r\n"
            f"Max-Forwards: 70\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class FakeCore:
    """A SipCore that records what the driver hands it and answers as scripted."""

    def __init__(self) -> None:
        self.inbox_send, self.inbox = trio.open_memory_channel[tuple[Request | Response, Address]](100)
        self.errors: list[Address] = []
        self.lost: list[Address] = []
        self.deadline: float | None = None
        self.timer_actions: list[Action] = []
        self.fired: list[float] = []
        self.answer: Callable[[Request | Response, Address], list[Action]] | None = None

    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        self.inbox_send.send_nowait((message, source))
        return self.answer(message, source) if self.answer else []

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timers(self, now: float) -> list[Action]:
        self.fired.append(now)
        self.deadline = None
        actions, self.timer_actions = self.timer_actions, []
        return actions

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        self.errors.append(dest)
        return []

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        self.lost.append(dest)
        return []


def _ok(message: Request | Response, source: Address) -> list[Action]:
    assert isinstance(message, Request)
    return [SendMessage(build_response(message, 200), source)]


async def _stack(nursery: trio.Nursery, core: FakeCore, **kwargs: Any) -> SipStack:
    stack = SipStack(core, host=HOST, port=0, **kwargs)
    await nursery.start(stack.run)
    return stack


async def _udp_peer() -> trio.socket.SocketType:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((PEER, 0))
    return sock


async def test_udp_request_reaches_core_with_its_source_and_the_answer_comes_back() -> None:
    core = FakeCore()
    core.answer = _ok
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            await sock.sendto(_options(), (HOST, stack.bound["udp"]))
            with trio.fail_after(5):
                msg, source = await core.inbox.receive()
                data, _ = await sock.recvfrom(65535)
            assert isinstance(msg, Request) and msg.method == "OPTIONS"
            assert source == Address(PEER, sock.getsockname()[1], "udp")
            assert data.startswith(b"SIP/2.0 200 OK\r\n")
        nursery.cancel_scope.cancel()


async def test_malformed_readable_datagram_gets_400_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ims.net.sip")
    core = FakeCore()
    core.answer = _ok
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            bad = _options().replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS")
            await sock.sendto(bad, (HOST, stack.bound["udp"]))
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
            status_line = data.split(b"\r\n", 1)[0]
            assert status_line.startswith(b"SIP/2.0 400 ") and b"CSeq" in status_line
            assert b"Call-ID: c-z9hG4bK1" in data  # §8.2.6 copies what could be read
            assert stack.stats["parse_errors"] == 1 and core.inbox.statistics().current_buffer_used == 0
        nursery.cancel_scope.cancel()
    assert any("bad request" in r.getMessage() for r in caplog.records)


async def test_unreadable_datagrams_are_dropped_with_one_log_line_and_the_stack_keeps_serving(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ims.net.sip")
    core = FakeCore()
    core.answer = _ok
    junk = [b"", b"\x00" * 10, os.urandom(1400), b"SIP/2.0 200 OK\r\n\r\n", b"INVITE\r\n\r\n",
            b"ACK sip:x SIP/2.0\r\nVia: broken\r\n\r\n"]
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            for blob in junk:
                await sock.sendto(blob, (HOST, stack.bound["udp"]))
            await sock.sendto(_options(), (HOST, stack.bound["udp"]))
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
            # Datagrams are handled in order: the first answer is the good request's, so no junk was answered.
            assert data.startswith(b"SIP/2.0 200 OK\r\n")
        assert stack.stats["parse_errors"] == len(junk)
        nursery.cancel_scope.cancel()
    dropped = [r for r in caplog.records if "dropped unparseable" in r.getMessage()]
    assert len(dropped) == len(junk)


async def test_core_exception_answers_500_and_never_takes_the_stack_down() -> None:
    core = FakeCore()
    calls = 0

    def answer(message: Request | Response, source: Address) -> list[Action]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("core bug")
        return _ok(message, source)

    core.answer = answer
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            for branch in ("z9hG4bKa", "z9hG4bKb"):
                await sock.sendto(_options(branch), (HOST, stack.bound["udp"]))
            with trio.fail_after(5):
                first, _ = await sock.recvfrom(65535)
                second, _ = await sock.recvfrom(65535)
            assert first.startswith(b"SIP/2.0 500 ") and second.startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()


async def _tcp_client(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream(HOST, port, local_address=PEER)


async def _read_frames(stream: trio.abc.Stream, count: int) -> list[bytes]:
    from ims.sip.framing import StreamFramer

    framer, frames = StreamFramer(), []
    while len(frames) < count:
        data = await stream.receive_some(65536)
        assert data, "connection closed"
        frames += framer.feed(data)
    return frames


async def test_tcp_response_reuses_the_inbound_connection_18_2_2() -> None:
    core = FakeCore()
    core.answer = _ok
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        async with await _tcp_client(stack.bound["tcp"]) as client:
            # Two requests in one write, the second split: framing by Content-Length (§18.3).
            wire = _options("z9hG4bK1", "TCP", body=b"abcd") + _options("z9hG4bK2", "TCP")
            await client.send_all(wire[:-7])
            await client.send_all(wire[-7:])
            with trio.fail_after(5):
                frames = await _read_frames(client, 2)
                (m1, s1), (m2, s2) = await core.inbox.receive(), await core.inbox.receive()
            assert [f.split(b"\r\n", 1)[0] for f in frames] == [b"SIP/2.0 200 OK"] * 2
            assert s1 == s2 == Address(PEER, client.socket.getsockname()[1], "tcp")
            assert m1.body == b"abcd" and len(stack._conns) == 1
        nursery.cancel_scope.cancel()


async def test_rfc5626_crlf_keepalive_is_answered_with_crlf() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        async with await _tcp_client(stack.bound["tcp"]) as client:
            await client.send_all(b"\r\n\r\n")
            with trio.fail_after(5):
                assert await client.receive_some(100) == b"\r\n"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("garbage", [b"GARBAGE " * 20 + b"\r\n\r\n", b"X" * 70000,
                                     b"INVITE sip:x SIP/2.0\r\nContent-Length: huge\r\n\r\n"])
async def test_tcp_peer_sending_garbage_is_disconnected(garbage: bytes) -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        async with await _tcp_client(stack.bound["tcp"]) as client:
            try:
                await client.send_all(garbage)
            except trio.BrokenResourceError:
                pass  # closed while we were still writing: what we test for
            with trio.fail_after(5):
                while True:
                    try:
                        if await client.receive_some(65536) == b"":
                            break  # EOF: the stack closed the connection
                    except trio.BrokenResourceError:
                        break  # reset: closed with our bytes unread
        assert not stack._conns and stack.stats["parse_errors"] >= 1
        nursery.cancel_scope.cancel()


async def test_outbound_tcp_connection_is_reused_and_carries_requests_back() -> None:
    core = FakeCore()
    accepted: list[trio.SocketStream] = []
    got_send, got = trio.open_memory_channel[bytes](10)

    async def peer(stream: trio.SocketStream) -> None:
        accepted.append(stream)
        for frame in await _read_frames(stream, 2):
            got_send.send_nowait(frame)
        # The peer now sends a request back on the same connection (§18.2.2-style reuse).
        await stream.send_all(_options("z9hG4bKback", "TCP"))
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        listeners = await trio.open_tcp_listeners(0, host=PEER)
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, peer, listeners)
        dest = Address(PEER, port, "tcp")
        for branch in ("z9hG4bKo1", "z9hG4bKo2"):
            await stack.execute([SendMessage(parse_message(_options(branch, "TCP")), dest)])
        with trio.fail_after(5):
            assert (await got.receive()).startswith(b"OPTIONS ") and (await got.receive()).startswith(b"OPTIONS ")
            msg, source = await core.inbox.receive()
        assert len(accepted) == 1 and list(stack._conns) == [(PEER, port, "tcp")]
        assert source == dest and isinstance(msg, Request) and msg.top_via.branch == "z9hG4bKback"
        nursery.cancel_scope.cancel()


async def test_idle_connections_are_closed_after_the_timeout() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core, idle_timeout=0.3)
        async with await _tcp_client(stack.bound["tcp"]) as client:
            await client.send_all(b"\r\n\r\n")
            opened = trio.current_time()
            with trio.fail_after(5):
                assert await client.receive_some(100) == b"\r\n"
                assert await client.receive_some(100) == b""  # closed by the stack
            assert trio.current_time() - opened >= 0.3
            assert not stack._conns
        nursery.cancel_scope.cancel()


async def test_peer_that_stops_reading_is_cut_off_and_reported() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core, write_timeout=0.3)
        listener = trio.socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await listener.bind((PEER, 0))
        listener.listen(1)
        dest = Address(PEER, listener.getsockname()[1], "tcp")
        big = parse_message(_options("z9hG4bKbig", "TCP", body=b"x" * 60000), datagram=False)
        with trio.fail_after(20):
            while not core.errors:  # the peer accepts (kernel backlog) but never reads
                await stack.execute([SendMessage(big, dest)])
                await stack.drain()
        assert core.errors == [dest] and not stack._conns
        listener.close()
        nursery.cancel_scope.cancel()


async def test_send_to_a_closed_tcp_port_reports_transport_error() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with trio.socket.socket() as s:  # a port that is certainly closed
            await s.bind((PEER, 0))
            dead = Address(PEER, s.getsockname()[1], "tcp")
        await stack.execute([SendMessage(parse_message(_options("z9hG4bKdead", "TCP")), dead)])
        with trio.fail_after(5):
            await stack.drain()
        assert core.errors == [dead] and stack.stats["send_errors"] == 1
        nursery.cancel_scope.cancel()


async def test_a_peer_closing_the_connection_is_reported_as_connection_lost() -> None:
    """A peer that dies right after we wrote to it: the write succeeded, so only its close tells."""
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        listener = trio.socket.socket()
        await listener.bind((PEER, 0))
        listener.listen(1)
        dest = Address(PEER, listener.getsockname()[1], "tcp")
        await stack.execute([SendMessage(parse_message(_options("z9hG4bKgone", "TCP")), dest)])
        with trio.fail_after(5):
            peer, _ = await listener.accept()
            assert (await peer.recv(65535)).startswith(b"OPTIONS ")
            peer.close()
            while not core.lost:
                await trio.sleep(0.01)
        assert core.lost == [dest] and not core.errors and not stack._conns
        listener.close()
        nursery.cancel_scope.cancel()


async def test_timers_fire_at_the_core_deadline_and_their_sends_go_out() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            dest = Address(PEER, sock.getsockname()[1], "udp")
            core.timer_actions = [SendMessage(parse_message(_options("z9hG4bKtimer")), dest)]
            start = trio.current_time()
            core.deadline = start + 0.2
            await stack.execute([])  # an injected batch wakes the timer loop to re-read next_deadline()
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
            assert data.startswith(b"OPTIONS ") and len(core.fired) == 1 and core.fired[0] >= start + 0.2
        nursery.cancel_scope.cancel()


async def test_non_send_actions_go_to_the_events_channel() -> None:
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        event = TransactionTerminated(("key",))
        await stack.execute([event])
        with trio.fail_after(1):
            assert await stack.events.receive() == event
        nursery.cancel_scope.cancel()


async def test_tls_verification_is_configurable(tmp_path: Path) -> None:
    crt, key = self_signed(PEER, tmp_path)
    server_ctx = server_context(crt, key)
    received = trio.Event()

    async def peer(stream: trio.SSLStream) -> None:
        try:
            await _read_frames(stream, 1)
            received.set()
        except (trio.BrokenResourceError, AssertionError):
            pass  # the strict client hung up during the handshake

    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host=PEER)
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, peer,
                           [trio.SSLListener(ln, server_ctx, https_compatible=False) for ln in listeners])
        dest = Address(PEER, port, "tls")
        req = parse_message(_options("z9hG4bKtls", "TLS"))
        # Verifying against the system CAs: the self-signed lab certificate is refused.
        strict = FakeCore()
        stack = await _stack(nursery, strict, tls_client_context=client_context(verify=True))
        await stack.execute([SendMessage(req, dest)])
        with trio.fail_after(5):
            await stack.drain()
        assert strict.errors == [dest]
        # Verification off (a lab talking to self-signed nodes): the request goes through.
        lax = FakeCore()
        stack2 = SipStack(lax, host="127.0.3.42", port=0, tls_client_context=client_context(verify=False))
        await nursery.start(stack2.run)
        await stack2.execute([SendMessage(req, dest)])
        with trio.fail_after(5):
            await received.wait()
        assert lax.errors == []
        nursery.cancel_scope.cancel()


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


async def test_core_failing_on_its_timers_is_logged_and_the_stack_keeps_serving() -> None:
    class BrokenTimers(FakeCore):
        def handle_timers(self, now: float) -> list[Action]:
            self.fired.append(now)
            raise RuntimeError("timer bug")

    core = BrokenTimers()
    core.answer = _ok
    core.deadline = 0.0  # always due: the core raises every time it is asked
    before = boundary.internal_errors_by_place().get("sip.timer", 0)
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            await sock.sendto(_options("z9hG4bKalive"), (HOST, stack.bound["udp"]))
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
            assert data.startswith(b"SIP/2.0 200 OK")
        # Failed, logged and counted as the node's internal errors (ims status), and did not spin.
        assert boundary.internal_errors_by_place()["sip.timer"] > before and len(core.fired) < 50
        nursery.cancel_scope.cancel()


async def test_tls_port_survives_plaintext_and_abandoned_handshakes(tmp_path: Path) -> None:
    crt, key = self_signed(HOST, tmp_path)
    core = FakeCore()
    core.answer = _ok
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core, transports=("udp", "tls"), tls_server_context=server_context(crt, key))
        tls_port = stack.bound["tls"]
        async with await _tcp_client(tls_port) as plain:  # SIP in clear text to the TLS port
            await plain.send_all(_options("z9hG4bKplain", "TCP"))
            with trio.fail_after(5):
                while True:
                    try:
                        if await plain.receive_some(65536) == b"":
                            break
                    except trio.BrokenResourceError:
                        break
        half = await _tcp_client(tls_port)  # connects, then leaves without a handshake
        await half.aclose()
        tcp = await _tcp_client(tls_port)
        async with trio.SSLStream(tcp, client_context(cafile=crt), server_hostname=HOST) as tls:
            await tls.send_all(_options("z9hG4bKtls2", "TLS"))
            with trio.fail_after(5):
                (frame,) = await _read_frames(tls, 1)
            assert frame.startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()


async def test_a_silent_peer_being_connected_never_holds_up_other_traffic() -> None:
    core = FakeCore()
    core.answer = _ok
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core, connect_timeout=2.0)
        silent = trio.socket.socket()  # accepts TCP (kernel backlog) but never speaks TLS
        await silent.bind((PEER, 0))
        silent.listen(1)
        dest = Address(PEER, silent.getsockname()[1], "tls")
        started = trio.current_time()
        for branch in ("z9hG4bKs1", "z9hG4bKs2"):  # the second queues behind the first connect
            await stack.execute([SendMessage(parse_message(_options(branch, "TLS")), dest)])
        with await _udp_peer() as sock:
            await sock.sendto(_options("z9hG4bKmeanwhile"), (HOST, stack.bound["udp"]))
            with trio.fail_after(1):
                data, _ = await sock.recvfrom(65535)
            assert data.startswith(b"SIP/2.0 200 OK") and core.errors == []  # answered while connecting
        with trio.fail_after(5):
            await stack.drain()
        assert core.errors == [dest, dest] and trio.current_time() - started >= 2.0  # both reported
        silent.close()
        nursery.cancel_scope.cancel()


async def test_udp_send_to_a_host_name_or_an_address() -> None:
    """Address literals go straight to the socket; a name ("localhost") goes through trio's resolver."""
    core = FakeCore()
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            await sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            for host in ("localhost", "127.0.0.1"):
                msg = parse_message(_options(f"z9hG4bK{host}"))
                await stack.execute([SendMessage(msg, Address(host, port, "udp"))])
                with trio.fail_after(5):
                    data, _ = await sock.recvfrom(65535)
                assert f"z9hG4bK{host}".encode() in data
        assert stack.stats["send_errors"] == 0
        nursery.cancel_scope.cancel()
