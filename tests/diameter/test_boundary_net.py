"""Issue 13 over real sockets: no input from one peer ends the Diameter node or another peer's service.

A DiameterNode listens on 127.0.0.1 (an ephemeral port: no fixed address, no lock needed).  Each
killer input goes in on its own connection and is answered with the RFC 6733 §7 error, then that
connection is closed (§5.3 for a CER; lost framing otherwise); a real peer then exchanges CER/CEA
and UAR/UAA on another connection.  Handler and peer failures are counted by ``ims.net.boundary``.
"""

from __future__ import annotations

import logging

import pytest
import trio

from ims.diameter import cx
from ims.diameter.codec import ERROR_MESSAGE, FAILED_AVP, DiameterMessage
from ims.diameter.constants import CMD_UA, DIAMETER_FIRST_REGISTRATION
from ims.diameter.peer import Peer
from ims.net import boundary
from ims.net.diameter import DiameterNode, PeerInfo
from tests.diameter.test_codec import KILLER_CER, ORIGIN, message, nested, raw_avp

REALM = "ims.example.net"
HSS, SCSCF = f"hss.{REALM}", f"scscf.{REALM}"
IP = "127.0.0.1"


async def uaa(msg: DiameterMessage, peer: PeerInfo) -> cx.UserAuthorizationAnswer:
    return cx.UserAuthorizationAnswer(experimental_result_code=DIAMETER_FIRST_REGISTRATION,
                                      server_name=f"sip:{SCSCF}")


def uar() -> cx.UserAuthorizationRequest:
    return cx.UserAuthorizationRequest(user_name=f"001@{REALM}", public_identity=f"sip:alice@{REALM}",
                                       visited_network_identifier=REALM)


async def send_and_read_until_closed(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the node sends back before it closes."""
    stream = await trio.open_tcp_stream(IP, port)
    got = b""
    with trio.fail_after(5):
        try:
            await stream.send_all(data)
        except trio.BrokenResourceError:
            pass  # closed while we were still sending (the size limit)
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not chunk:
                break
            got += chunk
    await stream.aclose()
    return got


async def served_uar(nursery: trio.Nursery, port: int) -> int | None:
    client = DiameterNode(SCSCF, REALM, host_ip=IP)
    await nursery.start(client.connect, IP, port)
    return (await client.request(uar())).result_code


KILLERS = {
    "issue13-cer-vendor-auth-app-id-without-payload": (KILLER_CER, 5005),
    "issue13-grouped-1000-deep": (message(ORIGIN + nested(1000)), 5004),
    "cer-87k-avps-1MiB": (message(ORIGIN + raw_avp(265, (10415).to_bytes(4, "big")) * 87_000), 5015),
    "length-below-20": (b"\x01\x00\x00\x08" + bytes(16), None),
    "version-2": (b"\x02" + message(ORIGIN)[1:], 5011),
}


@pytest.mark.parametrize("name", list(KILLERS))
async def test_killer_input_is_answered_and_closed_then_another_peer_is_served(name: str) -> None:
    data, result_code = KILLERS[name]
    boundary.reset_for_tests()
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            server = DiameterNode(HSS, REALM, host_ip=IP, handler=uaa)
            port = await nursery.start(server.serve, IP, 0)
            got = await send_and_read_until_closed(port, data)  # returns only once the node closed it
            if result_code is None:
                assert got == b""  # framing lost on an answer header: closed without a word
            else:
                answer = DiameterMessage.from_bytes(got)
                assert not answer.request and answer.result_code == result_code
                assert answer.get(ERROR_MESSAGE)
                if result_code in (5004, 5005):
                    assert answer.find(FAILED_AVP)
            assert await served_uar(nursery, port) == DIAMETER_FIRST_REGISTRATION
            assert boundary.internal_errors() == 0  # answered as protocol errors, not caught as bugs
            nursery.cancel_scope.cancel()


async def test_handler_that_raises_is_5012_with_error_message_counted_and_served_again() -> None:
    boundary.reset_for_tests()
    calls = 0

    async def flaky(msg: DiameterMessage, peer: PeerInfo) -> cx.UserAuthorizationAnswer:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("a bug in the handler")
        return await uaa(msg, peer)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = DiameterNode(HSS, REALM, host_ip=IP, handler=flaky)
            port = await nursery.start(server.serve, IP, 0)
            client = DiameterNode(SCSCF, REALM, host_ip=IP)
            conn = await nursery.start(client.connect, IP, port)
            ans = await client.request(uar())
            assert ans.result_code == 5012 and not ans.error and ans.get_str(ERROR_MESSAGE) == "internal error"
            assert boundary.internal_errors_by_place() == {"diameter.request": 1}
            assert (await client.request(uar())).result_code == DIAMETER_FIRST_REGISTRATION
            assert conn.peer.is_open and not conn.closed  # the same connection goes on
            nursery.cancel_scope.cancel()


async def test_a_bug_met_while_reading_one_connection_closes_that_connection_only(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An exception out of the sans-IO peer (injected for command 999) is counted as diameter.peer,
    that connection is closed with a log line, and the listener serves the next peer."""
    boundary.reset_for_tests()
    real = Peer.receive_data

    def receive_data(self: Peer, data: bytes, now: float):  # type: ignore[no-untyped-def]
        if len(data) >= 8 and int.from_bytes(data[5:8], "big") == 999:
            raise RuntimeError("injected")
        return real(self, data, now)

    monkeypatch.setattr(Peer, "receive_data", receive_data)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = DiameterNode(HSS, REALM, host_ip=IP, handler=uaa)
            port = await nursery.start(server.serve, IP, 0)
            with caplog.at_level(logging.WARNING, logger="ims.net.diameter"):
                assert await send_and_read_until_closed(port, message(ORIGIN, code=999)) == b""
            assert boundary.internal_errors_by_place() == {"diameter.peer": 1}
            assert "framing lost" in caplog.text
            assert await served_uar(nursery, port) == DIAMETER_FIRST_REGISTRATION
            nursery.cancel_scope.cancel()


async def test_a_message_hook_that_raises_is_counted_and_traffic_goes_on() -> None:
    boundary.reset_for_tests()

    def hook(direction: str, msg: DiameterMessage, *rest: object) -> None:
        if msg.command_code == CMD_UA:
            raise ValueError("capture bug")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = DiameterNode(HSS, REALM, host_ip=IP, handler=uaa, on_message=hook)
            port = await nursery.start(server.serve, IP, 0)
            assert await served_uar(nursery, port) == DIAMETER_FIRST_REGISTRATION
            assert boundary.internal_errors_by_place() == {"diameter.hook": 2}  # the UAR in, the UAA out
            nursery.cancel_scope.cancel()
