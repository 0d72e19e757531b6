"""The MGCF's M3UA association (ims.net.m3ua.M3uaLink) against an SGP on a real socket: TCP, and SCTP where the
kernel has it (RFC 4666 §1.4.8)."""

from __future__ import annotations

import socket

import pytest
import trio

from ims.isup.m3ua import IsupReceived, M3uaSgp, SendBytes
from ims.isup.messages import MessageType, decode, encode, iam, rlc
from ims.net.sip import sctp_available
from ims.net.m3ua import M3uaLink

HOST = "127.0.9.80"
HAVE_SCTP, WHY = sctp_available()


async def _sgp_listener(transport: str) -> trio.SocketListener:
    if transport == "tcp":
        return (await trio.open_tcp_listeners(0, host=HOST))[0]
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))
    await sock.bind((HOST, 0))
    sock.listen(4)
    return trio.SocketListener(sock)


@pytest.mark.parametrize("transport", [
    "tcp",
    pytest.param("sctp", marks=pytest.mark.skipif(not HAVE_SCTP, reason=f"M3UA over SCTP: {WHY}")),
])
async def test_link_comes_up_and_carries_isup_both_ways(transport: str) -> None:
    listener = await _sgp_listener(transport)
    port = listener.socket.getsockname()[1]
    got_at_sgp: list[bytes] = []
    got_at_mgcf: list[bytes] = []

    async def serve(stream: trio.SocketStream) -> None:
        sgp = M3uaSgp()
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            for ev in sgp.receive(data, trio.current_time()):
                if isinstance(ev, SendBytes):
                    await stream.send_all(ev.data)
                elif isinstance(ev, IsupReceived):
                    got_at_sgp.append(ev.isup_bytes)
                    for out in sgp.send_isup(200, 100, 1, encode(rlc(decode(ev.isup_bytes).cic))):
                        await stream.send_all(out.data)

    async def on_isup(ev: IsupReceived) -> None:
        got_at_mgcf.append(ev.isup_bytes)

    link = M3uaLink(HOST, port, "127.0.9.60", on_isup, transport=transport)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve, [listener])
        nursery.start_soon(link.run)
        with trio.fail_after(5):
            await link.up.wait()
            assert link.state == "ASP-ACTIVE"
            assert await link.send(100, 200, 3, encode(iam(3, "12125550100", "15550001")))
            while not got_at_mgcf:
                await trio.sleep(0.01)
        assert decode(got_at_sgp[0]).type == MessageType.IAM and decode(got_at_mgcf[0]).type == MessageType.RLC
        assert link.stats["isup_sent"] == 1 and link.stats["isup_received"] == 1
        nursery.cancel_scope.cancel()


async def test_isup_while_the_association_is_down_is_counted_not_raised() -> None:
    link = M3uaLink(HOST, 1, "127.0.9.60", None)
    assert not await link.send(100, 200, 1, b"\x01\x00\x01") and link.stats["isup_dropped"] == 1


async def test_a_raising_isup_user_costs_one_message_and_lost_framing_reconnects() -> None:
    """Issue 13: the ASP driver's per-message boundary (internal_errors) and, RFC 4666 over a byte stream,
    a Message Length under 8 from the SGP: ERR, the connection closed, the association set up again."""
    from ims.isup.m3ua import ErrorCode, M3uaFramer, decode_m3ua
    from ims.net import boundary

    boundary.reset_for_tests()
    listener = await _sgp_listener("tcp")
    port = listener.socket.getsockname()[1]
    got: list[int] = []
    errs: list[int] = []
    connections: list[trio.SocketStream] = []

    async def serve(stream: trio.SocketStream) -> None:
        sgp = M3uaSgp()
        connections.append(stream)
        framer = M3uaFramer()
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            for raw in framer.feed(data):
                if raw[2:4] == b"\x00\x00":
                    errs.append(decode_m3ua(raw).error_code)  # type: ignore[union-attr]
            for ev in sgp.receive(data, trio.current_time()):
                if isinstance(ev, SendBytes):
                    await stream.send_all(ev.data)
            if sgp.state.value == "ASP-ACTIVE" and len(connections) == 1 and not got:
                for cic in (1, 3):  # two ISUP messages in one segment
                    for out in sgp.send_isup(200, 100, cic, encode(rlc(cic))):
                        await stream.send_all(out.data)

    async def on_isup(ev: IsupReceived) -> None:
        cic = decode(ev.isup_bytes).cic
        if cic == 1:
            raise RuntimeError("injected")
        got.append(cic)

    link = M3uaLink(HOST, port, "127.0.9.60", on_isup)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve, [listener])
        nursery.start_soon(link.run)
        with trio.fail_after(10):
            while not got:
                await trio.sleep(0.01)
            assert got == [3] and boundary.internal_errors_by_place().get("isup") == 1
            await connections[0].send_all(bytes.fromhex("01000301 00000004"))  # a Message Length of 4
            while link.stats["m3ua_connects"] < 2 or link.state != "ASP-ACTIVE":
                await trio.sleep(0.01)
        assert errs == [ErrorCode.PROTOCOL_ERROR]  # the ASP answered the broken header with ERR, then closed
        nursery.cancel_scope.cancel()
