"""Two Diameter nodes over loopback TCP: CER/CEA, requests, DWR/DWA, DPR, reconnect."""

from __future__ import annotations

import trio

from ims.diameter import cx
from ims.diameter.constants import CMD_UA, DIAMETER_FIRST_REGISTRATION, DIAMETER_SUCCESS
from ims.diameter.peer import LocalIdentity
from ims.net.diameter import DiameterNode

REALM = "ims.example.net"


async def _server(nursery: trio.Nursery, tw: float = 30.0) -> tuple[DiameterNode, int]:
    async def handler(msg, conn):  # type: ignore[no-untyped-def]
        assert msg.command_code == CMD_UA
        return cx.answer(msg, "hss.ims.example.net", REALM, DIAMETER_FIRST_REGISTRATION,
                         cx.server_name("sip:scscf.ims.example.net"), experimental=True)

    node = DiameterNode(LocalIdentity("hss.ims.example.net", REALM, "127.0.5.1"), handler=handler, tw=tw)
    await nursery.start(node.run)
    port = await nursery.start(node.serve, "127.0.5.1", 0)
    return node, port


async def test_cer_cea_then_uar_uaa() -> None:
    async with trio.open_nursery() as nursery:
        server, port = await _server(nursery)
        client = DiameterNode(LocalIdentity("icscf.ims.example.net", REALM, "127.0.5.2"))
        await nursery.start(client.run)
        conn = await nursery.start(client.connect, "127.0.5.1", port)
        assert conn.host == "hss.ims.example.net" and conn.peer.common_apps == (16777216,)
        uar = cx.request(CMD_UA, "icscf.ims.example.net", REALM, REALM, cx.user_name("001@ims.example.net"),
                         cx.public_identity("sip:alice@ims.example.net"), cx.visited_network(REALM))
        uaa = await client.request(uar)
        assert uaa.result_code == DIAMETER_FIRST_REGISTRATION and uaa.experimental
        assert cx.s(uaa, cx.SERVER_NAME) == "sip:scscf.ims.example.net"
        assert uaa.hop_by_hop == uar.hop_by_hop and uaa.end_to_end == uar.end_to_end
        await client.close()
        assert not client.peers
        nursery.cancel_scope.cancel()


async def test_watchdog_dwr_dwa_keeps_peer_open() -> None:
    async with trio.open_nursery() as nursery:
        server, port = await _server(nursery, tw=0.3)
        client = DiameterNode(LocalIdentity("icscf.ims.example.net", REALM, "127.0.5.2"), tw=0.3)
        await nursery.start(client.run)
        conn = await nursery.start(client.connect, "127.0.5.1", port)
        await trio.sleep(1.2)
        assert conn.peer.stats["dwr"] >= 2 and conn.peer.state == "open"
        nursery.cancel_scope.cancel()


async def test_reconnect_after_server_restart() -> None:
    async with trio.open_nursery() as outer:
        client = DiameterNode(LocalIdentity("icscf.ims.example.net", REALM, "127.0.5.2"), tw=0.5)
        await outer.start(client.run)
        async with trio.open_nursery() as first:
            server, port = await _server(first)
            await outer.start(client.connect, "127.0.5.1", port)
            assert "hss.ims.example.net" in client.peers
            first.cancel_scope.cancel()
        with trio.fail_after(5):
            while client.peers:
                await trio.sleep(0.05)

        async def handler(msg, conn):  # type: ignore[no-untyped-def]
            return cx.answer(msg, "hss.ims.example.net", REALM, DIAMETER_SUCCESS)

        again = DiameterNode(LocalIdentity("hss.ims.example.net", REALM, "127.0.5.1"), handler=handler)
        await outer.start(again.run)
        await outer.start(again.serve, "127.0.5.1", port)
        await client.wait_for_peer("hss.ims.example.net", timeout=10)
        uaa = await client.request(cx.request(CMD_UA, "icscf.ims.example.net", REALM, REALM,
                                              cx.user_name("x@ims.example.net")))
        assert uaa.result_code == DIAMETER_SUCCESS
        outer.cancel_scope.cancel()


async def test_6_1_unknown_realm_3003_and_unknown_host_3002() -> None:
    async with trio.open_nursery() as nursery:
        server, port = await _server(nursery)
        client = DiameterNode(LocalIdentity("icscf.ims.example.net", REALM, "127.0.5.2"))
        await nursery.start(client.run)
        await nursery.start(client.connect, "127.0.5.1", port)
        conn = client.peers["hss.ims.example.net"]
        other_realm = cx.request(CMD_UA, "icscf.ims.example.net", REALM, "elsewhere.example.org")
        other_realm.add(cx.avp(293, "hss.ims.example.net"))  # force the route to our peer
        ans = await client.request(other_realm)
        assert ans.result_code == 3003 and ans.error
        other_host = cx.request(CMD_UA, "icscf.ims.example.net", REALM, REALM, destination_host="hss2.example.net")
        actions = conn.peer.send_request(other_host, trio.current_time())
        event, slot = trio.Event(), []
        conn.waiters[other_host.hop_by_hop] = (event, slot)
        await conn.execute(actions)
        with trio.fail_after(5):
            await event.wait()
        assert slot[0].result_code == 3002
        nursery.cancel_scope.cancel()
