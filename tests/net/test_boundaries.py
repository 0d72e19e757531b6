"""Error boundaries of the SIP driver (issue 13, DESIGN "every driver catches what a single message throws").

Each test injects a parser, core or hook that raises something nobody expected, over UDP, TCP or TLS,
and shows that the stack answers what has an answer (500 with an RFC 3326 Reason), counts the failure
in the process-wide ``internal_errors`` (``ims.net.boundary``), and still answers the next message."""

from __future__ import annotations

import math
import socket
from pathlib import Path
from typing import Any

import pytest
import trio

import ims.net.sip as sip_driver
from ims.net import boundary
from ims.net.sip import SipStack
from ims.net.tls import client_context, self_signed, server_context
from ims.sip.events import Action, Address, SendMessage
from ims.sip.framing import StreamFramer
from ims.sip.message import Request, Response, build_response

HOST = "127.0.3.50"  # the stack under test
PEER = "127.0.3.51"  # raw sockets talking to it


def _options(branch: str, transport: str = "UDP", extra: str = "") -> bytes:
    return (f"OPTIONS sip:x@{HOST} SIP/2.0\r\nVia: SIP/2.0/{transport} {PEER}:5060;branch={branch};rport\r\n"
            f"From: <sip:a@{PEER}>;tag=1\r\nTo: <sip:x@{HOST}>\r\nCall-ID: c-{branch}\r\nCSeq: 1 OPTIONS\r\n"
            f"Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n").encode()


class Core:
    """Answers 200 to every request, except those whose Call-ID names a failure to act out."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.lost = trio.Event()

    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        if "raise" in (message.get("call-id") or ""):
            raise RuntimeError("core bug")
        assert isinstance(message, Request)
        if "unsendable" in (message.get("call-id") or ""):
            # A message that cannot be serialized, then the real answer: the second must still go.
            return [SendMessage(_Unsendable(), source), SendMessage(build_response(message, 200), source)]  # type: ignore[arg-type]
        return [SendMessage(build_response(message, 200), source)]

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timers(self, now: float) -> list[Action]:
        self.deadline = None
        return []

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        return []

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        self.lost.set()
        raise RuntimeError("connection_lost bug")


class _Unsendable:
    def to_bytes(self) -> bytes:
        raise ValueError("cannot serialize")


def _count(place: str) -> int:
    return boundary.internal_errors_by_place().get(place, 0)


async def _stack(nursery: trio.Nursery, core: Any, **kwargs: Any) -> SipStack:
    stack = SipStack(core, host=HOST, port=0, **kwargs)
    await nursery.start(stack.run)
    return stack


async def _udp_roundtrip(sock: trio.socket.SocketType, port: int, data: bytes) -> bytes:
    await sock.sendto(data, (HOST, port))
    with trio.fail_after(5):
        reply, _ = await sock.recvfrom(65535)
    return reply


async def _udp_peer() -> trio.socket.SocketType:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((PEER, 0))
    return sock


async def _read_frame(stream: trio.abc.Stream) -> bytes:
    framer = StreamFramer()
    with trio.fail_after(5):
        while True:
            data = await stream.receive_some(65536)
            assert data, "connection closed"
            frames = framer.feed(data)
            if frames:
                return frames[0]


async def _closed(stream: trio.abc.Stream) -> bool:
    with trio.fail_after(5):
        while True:
            try:
                if await stream.receive_some(65536) == b"":
                    return True
            except trio.BrokenResourceError:
                return True


# -- UDP ----------------------------------------------------------------------------------------------

async def test_udp_core_exception_is_answered_500_with_an_rfc3326_reason_and_counted() -> None:
    before = _count("sip.udp")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core())
        with await _udp_peer() as sock:
            reply = await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKraise"))
            assert reply.startswith(b"SIP/2.0 500 ")
            assert b'\r\nReason: SIP;cause=500;text="internal error: RuntimeError"\r\n' in reply
            assert (await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKok"))).startswith(
                b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()
    assert _count("sip.udp") == before + 1


async def test_udp_parser_raising_anything_drops_that_datagram_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sip_driver.parse_message

    def parse(data: bytes, **kw: Any) -> Request | Response:
        if b"poison" in data:
            raise ValueError("invalid literal for int() with base 10: '\u00b2'")  # what int("²") says
        return real(data, **kw)

    monkeypatch.setattr(sip_driver, "parse_message", parse)
    before = _count("sip.udp")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core())
        with await _udp_peer() as sock:
            await sock.sendto(_options("z9hG4bKpoison"), (HOST, stack.bound["udp"]))
            # Datagrams are handled in order: the first answer is the good one's, the poisoned one was dropped.
            reply = await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKok"))
            assert reply.startswith(b"SIP/2.0 200 OK") and b"c-z9hG4bKok" in reply
        nursery.cancel_scope.cancel()
    assert _count("sip.udp") == before + 1


async def test_udp_max_forwards_superscript_two_never_ends_the_stack() -> None:
    """The issue's killer datagram: ``Max-Forwards: ²`` (str.isdigit() accepts it, int() refuses it)."""
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core())
        with await _udp_peer() as sock:
            killer = _options("z9hG4bKmf").replace(b"Max-Forwards: 70", "Max-Forwards: \u00b2".encode())
            await sock.sendto(killer, (HOST, stack.bound["udp"]))
            reply = await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKafter"))
            if b"c-z9hG4bKmf" in reply:  # answered (400 from a parser that refuses it, or 500): then the next
                assert reply.split(b" ", 2)[1] in (b"400", b"500")
                with trio.fail_after(5):
                    reply, _ = await sock.recvfrom(65535)
            assert reply.startswith(b"SIP/2.0 200 OK") and b"c-z9hG4bKafter" in reply
        nursery.cancel_scope.cancel()


async def test_an_action_that_cannot_be_sent_is_counted_and_the_others_still_go() -> None:
    before = _count("sip.udp")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core())
        with await _udp_peer() as sock:
            reply = await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKunsendable"))
            assert reply.startswith(b"SIP/2.0 200 OK") and b"c-z9hG4bKunsendable" in reply
            assert (await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKok"))).startswith(
                b"SIP/2.0 200 OK")
        assert stack.stats["send_errors"] == 1
        nursery.cancel_scope.cancel()
    assert _count("sip.udp") == before + 1


async def test_an_event_hook_raising_is_that_message_s_failure_only() -> None:
    seen = []

    def hook(direction: str, data: bytes, src: Address, dst: Address) -> None:
        seen.append(direction)
        if direction == "in" and b"hookbug" in data:
            raise KeyError("hook bug")

    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core(), on_message=hook)
        with await _udp_peer() as sock:
            await sock.sendto(_options("z9hG4bKhookbug"), (HOST, stack.bound["udp"]))
            reply = await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKok"))
            assert reply.startswith(b"SIP/2.0 200 OK") and b"c-z9hG4bKok" in reply
        nursery.cancel_scope.cancel()
    assert seen.count("in") == 2


async def test_a_nan_timer_deadline_is_counted_and_the_stack_keeps_serving() -> None:
    core = Core()
    core.deadline = math.nan  # trio refuses to sleep until NaN
    before = _count("sip.timer")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        with await _udp_peer() as sock:
            assert (await _udp_roundtrip(sock, stack.bound["udp"], _options("z9hG4bKok"))).startswith(
                b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()
    assert _count("sip.timer") > before


# -- TCP / TLS ------------------------------------------------------------------------------------------

async def _tls_client(port: int, crt: Path) -> trio.SSLStream[trio.SocketStream]:
    tcp = await trio.open_tcp_stream(HOST, port, local_address=PEER)
    return trio.SSLStream(tcp, client_context(cafile=crt), server_hostname=HOST)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_stream_core_exception_is_answered_500_and_the_same_connection_goes_on(
        transport: str, tmp_path: Path) -> None:
    crt, key = self_signed(HOST, tmp_path)
    before = _count(f"sip.{transport}")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core(), transports=("udp", "tcp", "tls"),
                             tls_server_context=server_context(crt, key))
        client: trio.abc.Stream
        if transport == "tcp":
            client = await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER)
        else:
            client = await _tls_client(stack.bound["tls"], crt)
        async with client:
            await client.send_all(_options("z9hG4bKraise", transport.upper()))
            frame = await _read_frame(client)
            assert frame.startswith(b"SIP/2.0 500 ") and b"Reason: SIP;cause=500;" in frame
            await client.send_all(_options("z9hG4bKok", transport.upper()))
            assert (await _read_frame(client)).startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()
    assert _count(f"sip.{transport}") == before + 1


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_lost_framing_closes_that_connection_and_the_listener_keeps_serving(
        transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_feed = StreamFramer.feed

    def feed(self: StreamFramer, data: bytes) -> list[bytes]:
        if b"poison" in data:
            raise OverflowError("framer bug")
        return real_feed(self, data)

    monkeypatch.setattr(StreamFramer, "feed", feed)
    crt, key = self_signed(HOST, tmp_path)
    before = _count(f"sip.{transport}")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core(), transports=("udp", "tcp", "tls"),
                             tls_server_context=server_context(crt, key))

        async def connect() -> trio.abc.Stream:
            if transport == "tcp":
                return await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER)
            return await _tls_client(stack.bound["tls"], crt)

        async with await connect() as bad:
            await bad.send_all(_options("z9hG4bKpoison", transport.upper()))
            assert await _closed(bad)
        async with await connect() as good:
            await good.send_all(_options("z9hG4bKok", transport.upper()))
            assert (await _read_frame(good)).startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()
    assert _count(f"sip.{transport}") == before + 1


async def test_content_length_of_4301_digits_closes_the_connection_only() -> None:
    """The issue's killer frame for TCP: ``Content-Length:`` followed by 4,301 digits."""
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core())
        async with await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER) as bad:
            killer = _options("z9hG4bKcl", "TCP").replace(b"Content-Length: 0", b"Content-Length: " + b"9" * 4301)
            await bad.send_all(killer)
            assert await _closed(bad)
        async with await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER) as good:
            await good.send_all(_options("z9hG4bKok", "TCP"))
            assert (await _read_frame(good)).startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()


async def test_a_connection_task_failing_never_ends_the_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _count("sip.tcp")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, Core())
        real = stack._read_loop
        calls = 0

        async def read_loop(conn: Any, remote: Address) -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("connection task bug")
            return await real(conn, remote)

        monkeypatch.setattr(stack, "_read_loop", read_loop)
        async with await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER) as first:
            assert await _closed(first)
        async with await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER) as second:
            await second.send_all(_options("z9hG4bKok", "TCP"))
            assert (await _read_frame(second)).startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()
    assert _count("sip.tcp") == before + 1


async def test_a_connection_lost_callback_raising_is_counted_and_the_stack_goes_on() -> None:
    core = Core()
    before = _count("sip.tcp")
    async with trio.open_nursery() as nursery:
        stack = await _stack(nursery, core)
        async with await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER) as first:
            await first.send_all(_options("z9hG4bK1", "TCP"))
            assert (await _read_frame(first)).startswith(b"SIP/2.0 200 OK")
        with trio.fail_after(5):
            await core.lost.wait()  # the stack noticed the peer's close
        async with await trio.open_tcp_stream(HOST, stack.bound["tcp"], local_address=PEER) as second:
            await second.send_all(_options("z9hG4bK2", "TCP"))
            assert (await _read_frame(second)).startswith(b"SIP/2.0 200 OK")
        nursery.cancel_scope.cancel()
    assert _count("sip.tcp") == before + 1
