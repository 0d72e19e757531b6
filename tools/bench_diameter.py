"""Diameter codec and driver throughput: MAA encode/decode on one core, and MAR/MAA over loopback TCP.

* encode: a typed MultimediaAuthAnswer with two AKA vectors -> bytes
  (``to_message().to_bytes()``, python-diameter's packer underneath);
* decode: bytes -> ``DiameterMessage.from_bytes`` (framing checks, every AVP
  value decoded once) -> ``cx.parse`` (typed view);
* round trip over TCP: a DiameterNode client with 64 MARs outstanding
  against a DiameterNode answering from memory (no HSS store), both in
  this process, so the figure is the driver + codec cost of both ends.

Medians of 5 runs; each run is bounded to about 0.4 s (TCP: 2000 requests).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import trio

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.net.diameter import DiameterNode, PeerInfo

REALM = "ims.example.net"
RUNS = 5


def _maa() -> cx.MultimediaAuthAnswer:
    items = [cx.SipAuthDataItem(cx.SCHEME_AKAV1, i, bytes(32), bytes(8), bytes(16), bytes(16)) for i in (1, 2)]
    return cx.MultimediaAuthAnswer(origin_host=f"hss.{REALM}", origin_realm=REALM, result_code=2001,
                                   user_name=f"001@{REALM}", public_identity=f"sip:alice@{REALM}",
                                   sip_auth_data_items=items)


def _rate(fn: Callable[[], object], seconds: float = 0.4) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        n += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def _mar() -> cx.MultimediaAuthRequest:
    return cx.MultimediaAuthRequest(user_name=f"001@{REALM}", public_identity=f"sip:alice@{REALM}",
                                    server_name=f"sip:scscf.{REALM}")


async def _tcp_run(total: int = 2000, window: int = 64) -> float:
    async def handler(msg: DiameterMessage, peer: PeerInfo) -> cx.MultimediaAuthAnswer:
        return _maa()

    server = DiameterNode(f"hss.{REALM}", REALM, host_ip="127.0.5.200", handler=handler)
    client = DiameterNode(f"scscf.{REALM}", REALM, host_ip="127.0.5.201", request_timeout=10)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve, "127.0.5.200", 0)
            await nursery.start(client.connect, "127.0.5.200", port)
            sent = 0

            async def worker() -> None:
                nonlocal sent
                while sent < total:
                    sent += 1
                    await client.request(_mar())

            start = time.perf_counter()
            async with trio.open_nursery() as workers:
                for _ in range(window):
                    workers.start_soon(worker)
            elapsed = time.perf_counter() - start
            await client.close()
            nursery.cancel_scope.cancel()
    return total / elapsed


def main() -> None:
    maa = _maa()
    req = _mar()
    req.origin_host, req.origin_realm, req.destination_realm = f"scscf.{REALM}", REALM, REALM
    wire = maa.to_message(req.to_message()).to_bytes()
    encode = statistics.median(_rate(lambda: maa.to_message().to_bytes()) for _ in range(RUNS))
    decode = statistics.median(_rate(lambda: DiameterMessage.from_bytes(wire)) for _ in range(RUNS))
    typed = statistics.median(_rate(lambda: cx.parse(DiameterMessage.from_bytes(wire))) for _ in range(RUNS))
    tcp = statistics.median(trio.run(_tcp_run) for _ in range(RUNS))
    print(f"cpu_count={os.cpu_count()}  MAA with 2 AKA vectors = {len(wire)} bytes")
    print(f"encode typed MAA -> bytes      {encode:10.0f} msg/s")
    print(f"decode bytes -> DiameterMessage {decode:10.0f} msg/s")
    print(f"decode + cx.parse (typed)       {typed:10.0f} msg/s")
    print(f"MAR/MAA over loopback TCP (64 outstanding, both ends in one process) {tcp:8.0f} req/s")


if __name__ == "__main__":
    main()
