"""A tiny trio node for the control-plane tests: ``python -m tests.control.helper_node``.

It runs through ``ims.net.node.run_node`` like a real node and adds one
raw-bytes gRPC method, ``/ims.test.Helper/Publish``, so a test can make the
node publish a burst of events: request ``b"N SIZE"``, reply (JSON) the
burst's duration on the loop, the last sequence number, and the largest
lag a probe task saw between its wake-ups.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import trio

from ims.control.events import NodeEvent
from ims.net.node import NodeContext, run_node

PROBE_PERIOD = 0.002


class Helper:
    def __init__(self, node: NodeContext) -> None:
        self.node = node
        self.max_lag = 0.0
        self.bursts = 0

    async def probe(self) -> None:
        """How late does a sleeping task wake up?  (The loop's checkpoint latency.)"""
        while True:
            before = time.perf_counter()
            await trio.sleep(PROBE_PERIOD)
            self.max_lag = max(self.max_lag, time.perf_counter() - before - PROBE_PERIOD)

    async def burst(self, n: int, size: int) -> dict[str, Any]:
        self.max_lag = 0.0
        await trio.sleep(PROBE_PERIOD * 3)  # let the probe take a baseline
        publish = self.node.events.publish
        payload = b"x" * size
        started = time.perf_counter()
        for i in range(n):  # no checkpoint: publish itself must never wait
            kind = "diameter" if i % 10 == 9 and size == 0 else "sip"
            publish(NodeEvent(kind, "out", "127.0.0.1:5060", "127.0.0.2:5060", "udp", payload or b"%d" % i,
                              f"{kind} {i}", {"i": str(i)}))
        elapsed = time.perf_counter() - started
        await trio.sleep(PROBE_PERIOD * 3)  # the probe wakes at least once after the burst
        self.bursts += 1
        return {"seconds": elapsed, "last_seq": self.node.events.published, "max_lag": self.max_lag}

    def rpc_publish(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        n, size = (int(x) for x in request.split())
        return json.dumps(self.node.control.run_on_trio(self.burst, n, size)).encode()


async def serve(node: NodeContext) -> None:
    helper = Helper(node)
    args = node.args
    node.control.stats = lambda: {"bursts": helper.bursts, "max_lag": helper.max_lag}
    node.control.config = lambda: {"name": node.name, "answer": "42"}
    node.control.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "ims.test.Helper", {"Publish": grpc.unary_unary_rpc_method_handler(helper.rpc_publish)}),))
    if args.fail:
        raise ValueError("asked to fail at start")

    async def cleanup() -> None:
        await trio.sleep(0)
        Path(args.marker).write_text("cleanup ran\n")

    if args.marker:
        node.on_shutdown(cleanup)
    await node.start_control()
    node.nursery.start_soon(helper.probe)
    node.log.info("helper up", extra={"call_id": "c1", "transaction": "z9hG4bK1"})
    await node.ready()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.control.helper_node")
    parser.add_argument("--marker", help="file the shutdown cleanup writes")
    parser.add_argument("--fail", action="store_true", help="raise during start")
    return run_node(serve, kind="test", parser=parser, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
