"""The common runtime of a node process: arguments, JSON-lines logging, signals, control server, trio.run.

A node module (``nodes/X.py``) ends with::

    def main(argv: list[str] | None = None) -> int:
        return run_node(serve, kind="hss", parser=build_parser(), argv=argv)

    async def serve(node: NodeContext) -> None:
        hss = Hss(...)
        node.control.stats = hss.counters
        node.control.add_servicer(hss_pb2_grpc.add_HssServicer_to_server, HssServicer(node.control, hss))
        await node.start_control()                    # Health now answers "starting"
        await node.nursery.start(hss.diameter.serve, host, port)
        node.on_shutdown(hss.diameter.close)          # DPR before the nursery is cancelled
        await node.ready()                            # Health: "running"

``run_node`` adds the common arguments (``--name --control-host
--control-port --control-port-file --control-token-file --log-file
--log-level``) to the node's
parser, logs one JSON object per line (time, node, level, event, plus
call_id/transaction/... fields given as ``extra=``) to ``--log-file`` or
stderr, opens the node's main nursery and runs ``serve(node)`` in it.

The node runs until a graceful stop: a Shutdown RPC, SIGTERM/SIGINT, or
``node.stop()``.  The cleanup callbacks (``on_shutdown``) run, then the main
nursery is cancelled and the process exits 0.  A second signal skips what
is left of the cleanup.  ``serve`` may return once its tasks are started in
``node.nursery``, or keep running; an exception from it exits 1 with the
error logged.

Node-specific gRPC services must be added before the control server
starts (gRPC fixes its services at start): ``start_control()`` starts it,
and ``ready()`` or ``serve`` returning starts it at the latest.  A signal
before the control server runs cancels the nursery at once.

This module is not the control service itself (:mod:`ims.control.server`),
nor does it know any node's arguments beyond the common ones.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from ims.control.auth import ControlAuthError, read_token_file
from ims.control.events import EventBus
from ims.control.server import ControlServer
from ims.net.logs import JsonFormatter

log = logging.getLogger("ims.node")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def add_common_args(parser: argparse.ArgumentParser, kind: str) -> None:
    """The arguments every node takes; those the node's parser already has are left as they are."""
    have = parser._option_string_actions  # argparse has no public "has option"

    def add(flag: str, **kw: Any) -> None:
        if flag not in have:
            parser.add_argument(flag, **kw)

    add("--name", default=kind, help=f"the node's name in logs and Health (default {kind})")
    add("--control-host", default="127.0.0.1",
        help="address of the gRPC control service (default 127.0.0.1; any other needs a token)")
    add("--control-token-file", help="a file holding the bearer token every control RPC must carry "
        "(default: $IMS_CONTROL_TOKEN; required for a --control-host beyond loopback)")
    add("--control-port", type=int, default=0, help="gRPC control port (default 0: any free port, logged)")
    add("--control-port-file", help="write the bound control port to this file once it serves")
    add("--log-file", help="append JSON log lines here (default: stderr)")
    add("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")


def parse_node_args(parser: argparse.ArgumentParser, kind: str, argv: Sequence[str] | None = None
                    ) -> argparse.Namespace:
    """Parse with the common arguments added; for nodes that adjust the result before ``run_node``."""
    add_common_args(parser, kind)
    return parser.parse_args(argv)


def setup_logging(node: str, level: str = "INFO", log_file: str | None = None) -> logging.Handler:
    """One JSON object per line (``ims.net.logs.JsonFormatter``) to ``log_file`` (appended) or stderr."""
    handler: logging.Handler
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    return handler


class NodeContext:
    """What ``serve(node)`` gets: its arguments, main nursery, control server and lifecycle hooks."""

    def __init__(self, args: argparse.Namespace, kind: str, control: ControlServer) -> None:
        self.args = args
        self.name: str = args.name
        self.kind = kind
        self.control = control
        self.log = logging.getLogger(f"nodes.{kind}")
        self._nursery: trio.Nursery | None = None
        self.control_port: int | None = None

    @property
    def nursery(self) -> trio.Nursery:
        """The node's main nursery: start long-lived tasks here; a graceful stop cancels it."""
        assert self._nursery is not None, "NodeContext is only usable inside run_node"
        return self._nursery

    @property
    def events(self) -> EventBus:
        """``node.events.publish(NodeEvent(...))`` for every message sent or received."""
        return self.control.events

    async def start_control(self) -> int:
        """Start the gRPC control server (once); its bound port."""
        if self.control_port is None:
            self.control_port = await self.nursery.start(self.control.serve)
            log.info("control on %s:%d", self.control.host, self.control_port)
            port_file = getattr(self.args, "control_port_file", None)
            if port_file:
                tmp = Path(f"{port_file}.tmp")
                tmp.write_text(f"{self.control_port}\n")
                tmp.replace(port_file)
        return self.control_port

    async def ready(self) -> None:
        """The node's listeners are up: Health says "running" from now on."""
        await self.start_control()
        if self.control.state == "starting":
            self.control.set_running()
            log.info("running")

    def on_shutdown(self, async_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``await async_fn()`` on graceful stop, before the nursery is cancelled (last added, first run)."""
        self.control.on_shutdown(async_fn)

    def stop(self, reason: str = "") -> None:
        """Graceful stop from the node's own code (trio thread)."""
        if self.control_port is None:
            self.nursery.cancel_scope.cancel()
        else:
            self.control.request_shutdown(reason or "stop requested by the node")


async def _watch_signals(node: NodeContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                         ) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        count = 0
        async for signum in signals:
            count += 1
            name = signal.Signals(signum).name
            if node.control_port is None or count > 2:
                log.warning("%s: cancelling now", name)
                node.nursery.cancel_scope.cancel()
            else:
                node.control.request_shutdown(name)  # the second one skips the remaining cleanup


async def _run(main_fn: Callable[[NodeContext], Awaitable[None]], node: NodeContext) -> None:
    async with trio.open_nursery() as nursery:
        node._nursery = nursery
        await nursery.start(_watch_signals, node)
        await main_fn(node)
        await node.ready()
        tune_gc()


def tune_gc() -> None:
    """Fewer, cheaper cyclic collections for a long-running node.

    A busy CSCF keeps tens of thousands of transactions alive for their RFC 3261
    timers (32 s for Timer J/L), each a tree of small objects; with the default
    thresholds the collector rescans them all so often that a full collection
    stalls the event loop long enough for UDP retransmissions to pile up.  The
    start-up objects (modules, topology, tables) are frozen out of the scan.

    Developers: ``IMS_GC_DEBUG=1`` logs every collection that takes over 20 ms;
    ``IMS_GC_DEBUG=types`` also logs, now and then, which types fill generation 1.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    mode = os.environ.get("IMS_GC_DEBUG")
    if mode:
        gc.callbacks.append(_gc_watcher(mode))


def _gc_watcher(mode: str) -> Callable[[str, dict[str, int]], None]:
    """A ``gc.callbacks`` entry logging collections over 20 ms (and, with ``types``, every fifth time,
    the 25 commonest types in generation 1: what the collector keeps rescanning)."""
    import collections
    import gc

    started = [0.0]
    slow = [0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took <= 0.02:
            return
        slow[0] += 1
        log.warning("gc generation %d took %.0f ms (collected %d)", info["generation"], took * 1000,
                    info["collected"])
        if mode == "types" and slow[0] % 5 == 0:
            kinds = collections.Counter(type(o).__qualname__ for o in gc.get_objects(1))
            log.warning("generation 1 holds: %s", kinds.most_common(25))
    return watch


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run_node(main_fn: Callable[[NodeContext], Awaitable[None]], *, kind: str,
             parser: argparse.ArgumentParser | None = None, argv: Sequence[str] | None = None,
             args: argparse.Namespace | None = None) -> int:
    """Run a node process to completion; the process exit status (0 after a graceful stop).

    Give ``args`` already parsed (with :func:`parse_node_args`) when the node derives
    settings from a topology before starting; otherwise ``parser``/``argv`` are parsed here.
    """
    if args is None:
        args = parse_node_args(parser or argparse.ArgumentParser(prog=f"python -m nodes.{kind}"), kind, argv)
    setup_logging(args.name, args.log_level, getattr(args, "log_file", None))
    try:
        token_file = getattr(args, "control_token_file", None)
        control = ControlServer(args.name, kind, host=getattr(args, "control_host", "127.0.0.1"),
                                port=int(args.control_port or 0),
                                auth_token=read_token_file(token_file) if token_file else None)
    except ControlAuthError as exc:  # e.g. --control-host 0.0.0.0 without a token: never serve it open
        log.error("cannot start: %s", exc)
        return EXIT_FAILED
    control.auto_running = False  # "running" means serve() said ready(), not just "gRPC is up"
    node = NodeContext(args, kind, control)
    started = time.monotonic()
    log.info("starting %s node %s", kind, args.name)
    try:
        profile_dir = os.environ.get("IMS_PROFILE_DIR")
        if profile_dir:  # developers: a cProfile of the node's trio thread (CPU time, not wall), written at exit
            import cProfile

            with cProfile.Profile(time.thread_time) as prof:
                try:
                    trio.run(_run, main_fn, node)
                finally:
                    prof.dump_stats(str(Path(profile_dir) / f"{args.name}.prof"))
        else:
            trio.run(_run, main_fn, node)
    except KeyboardInterrupt:
        log.warning("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the process boundary: say what failed, exit non-zero
        leaf = _leaf(exc)
        if isinstance(leaf, OSError):
            log.error("cannot start: %s", leaf)
        else:
            log.error("node failed: %s: %s", type(leaf).__name__, leaf, exc_info=leaf)
        return EXIT_FAILED
    log.info("stopped after %.1f s (%s)", time.monotonic() - started, control.shutdown_reason or "done")
    return EXIT_OK


# -- what nodes publish on their event bus (ladders, pcaps) --------------------------------
def sip_event_hook(bus: EventBus | None) -> Callable[..., None] | None:
    """A ``SipStack(on_message=...)`` hook publishing every SIP message sent/received on ``bus``."""
    if bus is None:
        return None
    from ims.control.events import NodeEvent

    def hook(direction: str, data: bytes, src: Any, dst: Any) -> None:
        if not bus.subscribers:
            return
        first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        bus.publish(NodeEvent("sip", direction, f"{src.host}:{src.port}", f"{dst.host}:{dst.port}",
                              src.transport, data, first))
    return hook


def media_event_hook(bus: EventBus | None) -> Callable[..., None] | None:
    """A ``MediaStream(on_packet=...)`` hook publishing the (sampled) RTP and the RTCP of a stream on ``bus``."""
    if bus is None:
        return None
    from ims.control.events import NodeEvent

    def hook(kind: str, direction: str, data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        if not bus.subscribers:
            return
        if kind == "rtp" and len(data) >= 12:
            summary = f"RTP PT {data[1] & 0x7F} seq {int.from_bytes(data[2:4], 'big')}"
        else:
            summary = "RTCP " + {200: "SR", 201: "RR", 202: "SDES", 203: "BYE"}.get(data[1] if len(data) > 1 else 0,
                                                                                  "packet")
        bus.publish(NodeEvent(kind, direction, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", "udp", data, summary))
    return hook


def diameter_event_hook(bus: EventBus | None) -> Callable[..., None] | None:
    """A ``DiameterNode(on_message=...)`` hook publishing every Diameter message on ``bus``."""
    if bus is None:
        return None
    from ims.control.events import NodeEvent

    def hook(direction: str, msg: Any, data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        if not bus.subscribers:
            return
        bus.publish(NodeEvent("diameter", direction, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", "tcp",
                              data, msg.summary()))
    return hook
