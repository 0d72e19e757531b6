"""Two Diameter nodes over loopback TCP: CER/CEA, requests, RTR back, DWR/DWA, DPR, reconnect, failover."""

from __future__ import annotations

import socket

import pytest
import trio

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import (
    CMD_DW, CMD_RT, CMD_UA, DIAMETER_FIRST_REGISTRATION, DIAMETER_SUCCESS, PERMANENT_TERMINATION,
)
from ims.diameter.errors import DiameterTimeout, NoRoute
from ims.diameter.peer import PeerState
from ims.net.diameter import DiameterNode, PeerInfo

REALM = "ims.example.net"
HSS, SCSCF = f"hss.{REALM}", f"scscf.{REALM}"
HSS_IP, SCSCF_IP, HSS2_IP = "127.0.5.1", "127.0.5.2", "127.0.5.3"


async def uaa_handler(msg: DiameterMessage, peer: PeerInfo) -> cx.UserAuthorizationAnswer:
    uar = cx.UserAuthorizationRequest.from_message(msg)
    assert peer.host == SCSCF and uar.user_name == "001@ims.example.net"
    return cx.UserAuthorizationAnswer(experimental_result_code=DIAMETER_FIRST_REGISTRATION,
                                      server_name="sip:scscf.ims.example.net")


def uar() -> cx.UserAuthorizationRequest:
    return cx.UserAuthorizationRequest(user_name="001@ims.example.net", public_identity="sip:alice@ims.example.net",
                                       visited_network_identifier=REALM)


async def start_server(nursery: trio.Nursery, *, ip: str = HSS_IP, port: int = 0, tw: float = 30.0,
                       host: str = HSS) -> tuple[DiameterNode, int]:
    node = DiameterNode(host, REALM, host_ip=ip, handler=uaa_handler, tw=tw)
    bound = await nursery.start(node.serve, ip, port)
    return node, bound


async def test_cer_cea_then_uar_uaa_and_rtr_back_then_dpr() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server, port = await start_server(nursery)
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP)
            rtrs: list[cx.RegistrationTerminationRequest] = []

            async def on_rtr(msg: DiameterMessage, peer: PeerInfo) -> cx.RegistrationTerminationAnswer:
                rtrs.append(cx.RegistrationTerminationRequest.from_message(msg))
                return cx.RegistrationTerminationAnswer(result_code=DIAMETER_SUCCESS)

            client.add_handler(CMD_RT, on_rtr)
            conn = await nursery.start(client.connect, HSS_IP, port)
            assert conn.host == HSS and conn.peer.rfc_state is PeerState.I_OPEN
            assert conn.local_addr[0] == SCSCF_IP  # bound to the node's own loopback address
            assert conn.peer.common_apps == (16777216,)

            answer = await client.request(uar())  # Origin-Host/Realm and Destination-Realm filled in
            uaa = cx.UserAuthorizationAnswer.from_message(answer)
            assert uaa.experimental_result_code == DIAMETER_FIRST_REGISTRATION and uaa.origin_host == HSS
            assert uaa.server_name == "sip:scscf.ims.example.net"

            server_side = await server.wait_for_peer(SCSCF)
            assert server_side.peer.rfc_state is PeerState.R_OPEN
            rta = await server.request(cx.RegistrationTerminationRequest(
                user_name="001@ims.example.net", deregistration_reason=cx.DeregistrationReason(PERMANENT_TERMINATION)),
                destination_host=SCSCF)
            assert rta.result_code == DIAMETER_SUCCESS and rta.origin_host == SCSCF
            assert rtrs and rtrs[0].origin_host == HSS and rtrs[0].destination_host == SCSCF

            await client.close()  # DPR/DPA
            assert not client.peers and conn.closed
            with trio.fail_after(2):
                await server_side.ended.wait()
            assert server_side.peer.disconnect_cause == 0 and not server.peers
            nursery.cancel_scope.cancel()


async def test_unsupported_command_3001_unknown_realm_3003_unknown_host_3002() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server, port = await start_server(nursery)
            server.handler = None
            server.add_handler(CMD_UA, uaa_handler)
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP)
            await nursery.start(client.connect, HSS_IP, port)
            lir = cx.LocationInfoRequest(public_identity="sip:alice@ims.example.net")
            ans = await client.request(lir)
            assert ans.result_code == 3001 and ans.error
            other_realm = uar()
            other_realm.destination_realm = "elsewhere.example.org"
            ans = await client.request(other_realm, destination_host=HSS)  # Destination-Host routes it to the HSS
            assert ans.result_code == 3003 and ans.error
            other_host = uar()
            other_host.destination_host = f"hss2.{REALM}"  # not a peer: routed by realm, refused by the HSS
            ans = await client.request(other_host)
            assert ans.result_code == 3002 and ans.error
            with pytest.raises(NoRoute) as err:
                await client.request(uar(), destination_realm="nowhere.example.org")
            assert err.value.result_code == 3003
            nursery.cancel_scope.cancel()


async def test_handler_failure_is_5012_and_the_node_lives_on() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server, port = await start_server(nursery)

            async def broken(msg: DiameterMessage, peer: PeerInfo) -> DiameterMessage:
                raise RuntimeError("bug")

            server.add_handler(CMD_UA, broken)
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP)
            await nursery.start(client.connect, HSS_IP, port)
            assert (await client.request(uar())).result_code == 5012
            server.add_handler(CMD_UA, uaa_handler)
            assert (await client.request(uar())).result_code == DIAMETER_FIRST_REGISTRATION
            nursery.cancel_scope.cancel()


async def test_garbage_on_the_socket_closes_that_connection_only() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server, port = await start_server(nursery)
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP)
            await nursery.start(client.connect, HSS_IP, port)
            raw = await trio.open_tcp_stream(HSS_IP, port)
            await raw.send_all(b"\x01\x00\x00\x08" + bytes(16))  # length 8 < 20
            assert await raw.receive_some(100) == b""  # closed by the server
            await raw.aclose()
            assert (await client.request(uar())).result_code == DIAMETER_FIRST_REGISTRATION
            nursery.cancel_scope.cancel()


async def test_rfc3539_dwr_dwa_with_a_short_tw() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            _, port = await start_server(nursery, tw=0.2)
            seen: list[int] = []
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP, tw=0.2,
                                  on_message=lambda d, m, *_: seen.append(m.command_code) if d == "in" else None)
            conn = await nursery.start(client.connect, HSS_IP, port)
            while conn.peer.stats["dwr"] < 3:
                await trio.sleep(0.05)
            assert conn.peer.is_open and conn.peer.watchdog.value == "OKAY" and HSS in client.peers
            assert conn.peer.stats["rx"] >= 4  # CEA + the DWAs
            assert CMD_DW not in seen  # watchdog traffic stays inside the peer
            nursery.cancel_scope.cancel()


async def test_rfc3539_silent_peer_fails_over_to_the_alternate_then_goes_down() -> None:
    """A peer that stops answering (but keeps the socket) is SUSPECT after 2 Tw, its pending
    request goes to the other HSS with the T flag, and after 3 Tw the connection is closed."""
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            mute = socket.socket()
            mute.bind((HSS_IP, 0))
            mute.listen()
            mute_port = mute.getsockname()[1]

            async def mute_peer() -> None:
                # Answers the CER (borrowing a real node's CEA), then reads and never answers.
                stream = trio.SocketStream(trio.socket.from_stdlib_socket((await trio.to_thread.run_sync(mute.accept))[0]))
                from ims.diameter.peer import LocalIdentity, Peer, SendBytes
                p = Peer(LocalIdentity(HSS, REALM, HSS_IP), initiator=False)
                data = await stream.receive_some(65536)
                for a in p.receive_data(data, 0.0):
                    if isinstance(a, SendBytes):
                        await stream.send_all(a.data)
                while await stream.receive_some(65536):
                    pass

            nursery.start_soon(mute_peer)
            _, port2 = await start_server(nursery, ip=HSS2_IP, host=f"hss2.{REALM}")
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP, tw=0.3, request_timeout=5)
            conn = await nursery.start(client.connect, HSS_IP, mute_port)
            await nursery.start(client.connect, HSS2_IP, port2)
            assert set(client.peers) == {HSS, f"hss2.{REALM}"}
            sent_to: list[tuple[str, bool]] = []
            client.on_message = lambda d, m, data, src, dst: sent_to.append((dst[0], bool(data[4] & 0x10))) \
                if d == "out" and m.request and m.command_code == CMD_UA else None
            answer = await client.request(uar())  # by realm: the first peer, the mute one, until failover
            assert sent_to == [(HSS_IP, False), (HSS2_IP, True)]  # RFC 6733 §5.5.4: resent with the T flag
            assert answer.result_code == DIAMETER_FIRST_REGISTRATION and answer.origin_host == f"hss2.{REALM}"
            assert HSS not in client.peers
            with trio.fail_after(3):
                await conn.ended.wait()
            assert conn.peer.watchdog.value == "DOWN"
            mute.close()
            nursery.cancel_scope.cancel()


async def test_request_timeout_raises_diameter_timeout() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server, port = await start_server(nursery)

            async def slow(msg: DiameterMessage, peer: PeerInfo) -> None:
                await trio.sleep_forever()

            server.add_handler(CMD_UA, slow)
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP, request_timeout=0.3)
            conn = await nursery.start(client.connect, HSS_IP, port)
            with pytest.raises(DiameterTimeout):
                await client.request(uar())
            assert conn.peer.stats["timeouts"] == 1 and not conn.waiters
            nursery.cancel_scope.cancel()


async def test_reconnect_after_the_server_restarts() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as outer:
            client = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP, tw=0.5)
            async with trio.open_nursery() as first:
                server, port = await start_server(first)
                await outer.start(client.connect, HSS_IP, port)
                assert HSS in client.peers
                await server.close()  # DPR to the S-CSCF, then the listener goes
                first.cancel_scope.cancel()
            with trio.fail_after(5):
                while client.peers:
                    await trio.sleep(0.02)
            with pytest.raises(NoRoute):
                await client.request(uar())
            await outer.start(lambda task_status: start_server_task(outer, port, task_status))
            await client.wait_for_peer(HSS, timeout=10)
            assert (await client.request(uar())).result_code == DIAMETER_FIRST_REGISTRATION
            outer.cancel_scope.cancel()


async def start_server_task(nursery: trio.Nursery, port: int, task_status: trio.TaskStatus[None]) -> None:
    await start_server(nursery, port=port)
    task_status.started()
