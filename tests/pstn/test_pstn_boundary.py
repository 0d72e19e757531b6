"""The exchange's M3UA driver (nodes.pstn.PstnNode) as an error boundary, in process on 127.0.0.1.

Issue 13 / DESIGN "every driver catches what a single message throws": a handler that raises costs that one
message (logged, counted in ``internal_errors``) and the association answers the next; a stream whose framing
is lost (RFC 4666 over TCP: a Message Length under 8) gets its ERR and is closed, and the listener serves the
next association.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import trio

from ims.isup import M3uaAsp, MessageType, SendBytes, decode, encode, iam
from ims.isup.m3ua import (
    AspUp,
    AspUpAck,
    Beat,
    BeatAck,
    Err,
    ErrorCode,
    IsupReceived,
    M3uaFramer,
    M3uaSgp,
    decode_m3ua,
    encode_m3ua,
)
from ims.net import boundary
from nodes.pstn import PstnNode
from tests.pstn.test_exchange import ANSWER, config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _node(nursery: trio.Nursery) -> PstnNode:
    node = PstnNode(config(local_host="127.0.0.1", mgw_host="127.0.0.1"), host="127.0.0.1", m3ua_port=_free_port())
    await nursery.start(node.serve)
    return node


async def _read(stream: trio.SocketStream, framer: M3uaFramer) -> list[bytes]:
    with trio.fail_after(5):
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return []
            got = framer.feed(data)
            if got:
                return got


async def _active(node: PstnNode) -> tuple[trio.SocketStream, M3uaAsp, M3uaFramer]:
    stream = await trio.open_tcp_stream("127.0.0.1", node.m3ua_port)
    asp, framer = M3uaAsp(), M3uaFramer()
    pending = asp.start(0.0)
    while asp.state.value != "ASP-ACTIVE":
        for ev in pending:
            if isinstance(ev, SendBytes):
                await stream.send_all(ev.data)
        pending = []
        for raw in await _read(stream, framer):
            pending += asp.receive(raw, 0.0)
    return stream, asp, framer


async def test_rfc4666_lost_framing_closes_that_stream_and_the_listener_keeps_serving() -> None:
    async with trio.open_nursery() as nursery:
        node = await _node(nursery)
        stream = await trio.open_tcp_stream("127.0.0.1", node.m3ua_port)
        await stream.send_all(bytes.fromhex("01000301 00000004"))  # Message Length 4: no way to resync
        framer = M3uaFramer()
        [err] = await _read(stream, framer)
        assert decode_m3ua(err) == Err(ErrorCode.PROTOCOL_ERROR, diagnostic=bytes.fromhex("01000301 00000004"))
        assert await _read(stream, framer) == []  # then the exchange closes the connection
        again = await trio.open_tcp_stream("127.0.0.1", node.m3ua_port)
        await again.send_all(encode_m3ua(AspUp()))
        assert decode_m3ua((await _read(again, M3uaFramer()))[0]) == AspUpAck()
        nursery.cancel_scope.cancel()


async def test_a_handler_that_raises_costs_one_message_and_the_association_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    boundary.reset_for_tests()
    async with trio.open_nursery() as nursery:
        node = await _node(nursery)
        stream, asp, framer = await _active(node)
        real = M3uaSgp._handle

        def flaky(self: M3uaSgp, msg: object, now: float) -> list[object]:
            if isinstance(msg, Beat) and msg.data == b"boom":
                raise RuntimeError("injected")
            return real(self, msg, now)  # type: ignore[arg-type]

        monkeypatch.setattr(M3uaSgp, "_handle", flaky)
        # two messages in one segment: the first one's handler raises, the second is still answered
        await stream.send_all(encode_m3ua(Beat(b"boom")) + encode_m3ua(Beat(b"ok")))
        acks: list[object] = []
        while not acks:
            acks = [m for m in map(decode_m3ua, await _read(stream, framer)) if isinstance(m, BeatAck)]
        assert acks == [BeatAck(b"ok")]  # (a Notify of the activation may come first)
        assert boundary.internal_errors_by_place().get("m3ua") == 1

        receive_isup = node.exchange.receive_isup

        def broken(msg: Any, now: float) -> list[Any]:
            if msg.cic == 3:
                raise RuntimeError("injected")
            return receive_isup(msg, now)

        monkeypatch.setattr(node.exchange, "receive_isup", broken)
        for ev in asp.send_isup(100, 200, 3, encode(iam(3, ANSWER, "15550001"))):
            await stream.send_all(ev.data)
        for ev in asp.send_isup(100, 200, 5, encode(iam(5, ANSWER, "15550001"))):
            await stream.send_all(ev.data)
        got: list[int] = []
        while not got:
            for raw in await _read(stream, framer):
                got += [decode(e.isup_bytes).type for e in asp.receive(raw, 0.0) if isinstance(e, IsupReceived)]
        assert got[0] == MessageType.ACM and boundary.internal_errors_by_place().get("isup") == 1
        nursery.cancel_scope.cancel()
