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
