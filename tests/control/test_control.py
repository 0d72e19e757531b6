"""The control plane end to end: a node process (tests.control.helper_node) queried with NodeClient,
ControlServer inside a trio test, and the event bus's bounded queues."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio

from ims.control.client import ControlError, NodeClient, wait_healthy
from ims.control.events import EventBus, NodeEvent
from ims.control.server import ControlServer

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_BOUND = 10.0  # seconds from Shutdown to process exit


class HelperNode:
    def __init__(self, tmp_path: Path, *extra: str, name: str = "helper") -> None:
        self.port_file = tmp_path / f"{name}.port"
        self.marker = tmp_path / f"{name}.cleanup"
        self.log_file = tmp_path / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.control.helper_node", "--name", name, "--control-port-file",
             str(self.port_file), "--marker", str(self.marker), "--log-file", str(self.log_file), *extra],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.target = ""

    def wait_port(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.port_file.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited {self.proc.returncode}: {self.log()}")
            assert time.monotonic() < deadline, "no control port file"
            time.sleep(0.02)
        self.target = f"127.0.0.1:{int(self.port_file.read_text())}"
        return self.target

    def publish(self, n: int, size: int = 0) -> dict[str, Any]:
        channel = grpc.insecure_channel(self.target)
        try:
            return json.loads(channel.unary_unary("/ims.test.Helper/Publish")(f"{n} {size}".encode(), timeout=30))
        finally:
            channel.close()

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log().splitlines()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[HelperNode]:
    n = HelperNode(tmp_path)
    try:
        n.wait_port()
        wait_healthy(n.target, START_TIMEOUT)
        yield n
    finally:
        n.stop()


def wait_subscribers(client: NodeClient, count: int, timeout: float = 10.0) -> None:
    """Bounded wait until the node has ``count`` event streams open (subscription is asynchronous)."""
    deadline = time.monotonic() + timeout
    while client.stats()["event_subscribers"] != count:
        assert time.monotonic() < deadline, f"node never saw {count} event subscribers"
        time.sleep(0.01)


# -- a node process ------------------------------------------------------------------------------------

def test_health_stats_config_of_a_node_process(node: HelperNode) -> None:
    with NodeClient(node.target) as client:
        health = client.health()
        assert health["node"] == "helper" and health["kind"] == "test" and health["state"] == "running"
        assert health["pid"] == node.proc.pid and health["version"] == "0.1.0" and health["uptime"] > 0
        stats = client.stats()
        assert stats["bursts"] == 0 and isinstance(stats["bursts"], int)  # integers stay integers
        assert isinstance(stats["max_lag"], float)
        assert stats["events_published"] == 0 and stats["event_subscribers"] == 0
        assert client.config() == {"name": "helper", "answer": "42"}
    # JSON lines: time, node, level, event, and call/transaction fields when given.
    lines = node.log_lines()
    assert all({"time", "node", "level", "event"} <= set(e) for e in lines)
    up = next(e for e in lines if e["event"] == "helper up")
    assert up["node"] == "helper" and up["call_id"] == "c1" and up["transaction"] == "z9hG4bK1"
    assert any(e["event"].startswith("control on 127.0.0.1:") for e in lines)


def test_events_stream_in_order_with_kind_filter(node: HelperNode) -> None:
    got: list[NodeEvent] = []
    with NodeClient(node.target) as client:
        def read() -> None:
            for ev in client.events(timeout=30, kinds=["sip"]):
                got.append(ev)
                if len(got) == 180:
                    return

        reader = threading.Thread(target=read)
        reader.start()
        wait_subscribers(client, 1)
        burst = node.publish(200)  # every 10th is a diameter event, filtered out on the node
        reader.join(30)
        assert not reader.is_alive()
        assert [e.summary for e in got] == [f"sip {i}" for i in range(200) if i % 10 != 9]
        assert [e.payload for e in got] == [b"%d" % i for i in range(200) if i % 10 != 9]
        assert [e.seq for e in got] == [i + 1 for i in range(200) if i % 10 != 9]  # seq counts all kinds
        assert all(e.dropped == 0 and e.node == "helper" and e.kind == "sip" and e.direction == "out" for e in got)
        assert got[0].src == "127.0.0.1:5060" and got[0].dst == "127.0.0.2:5060" and got[0].transport == "udp"
        assert got[5].fields == {"i": "5"} and got[0].time > 1.6e9
        assert burst["last_seq"] == 200
        wait_subscribers(client, 0)  # the closed iterator ended the stream on the node


def test_slow_subscriber_never_blocks_the_node(node: HelperNode) -> None:
    """10k events of 2 kB to a reader that stops reading: the node's queue for it drops the oldest
    and counts them; the burst takes no longer than without a reader, the loop stays responsive."""
    n, depth = 10_000, 64
    received: list[NodeEvent] = []
    go = threading.Event()
    with NodeClient(node.target) as client:
        alone = node.publish(n, 2048)  # baseline: nobody subscribed

        def read() -> None:
            for ev in client.events(timeout=60, depth=depth):
                received.append(ev)
                if len(received) == 1:
                    go.wait(60)  # stall: the node must not wait for us
                if ev.seq == last_seq[0]:
                    return

        last_seq = [0]
        reader = threading.Thread(target=read)
        reader.start()
        wait_subscribers(client, 1)
        first = node.publish(1)  # the reader takes this one, then stalls
        deadline = time.monotonic() + 10
        while not received:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        burst = node.publish(n, 2048)
        last_seq[0] = burst["last_seq"]
        dropped_on_node = client.stats()["events_dropped"]
        go.set()
        reader.join(60)
        assert not reader.is_alive()
    tail = received[1:]
    assert received[0].seq == first["last_seq"]
    lost = sum(e.dropped for e in tail)
    print(f"\nburst of {n} x 2 kB: {burst['seconds'] * 1e3:.1f} ms with a stalled reader, "
          f"{alone['seconds'] * 1e3:.1f} ms alone; loop max lag {burst['max_lag'] * 1e3:.1f} ms; "
          f"reader got {len(tail)}, lost {lost}")
    assert lost > 0 and lost == dropped_on_node
    assert len(tail) + lost == n  # every event accounted for: delivered or counted as dropped
    assert [e.seq for e in tail] == sorted(e.seq for e in tail) and tail[-1].seq == burst["last_seq"]
    assert len(tail) <= n - lost and len(tail) >= depth
    # Publishing never waits for the reader: bounded per event, and the loop kept running.
    assert burst["seconds"] < max(1.0, 5 * alone["seconds"])
    assert burst["max_lag"] < 0.5


def test_shutdown_rpc_runs_cleanup_and_exits_0(node: HelperNode) -> None:
    asked = time.monotonic()
    with NodeClient(node.target) as client:
        client.shutdown("test ends")
    assert node.proc.wait(STOP_BOUND) == 0
    took = time.monotonic() - asked
    assert took < STOP_BOUND
    assert node.marker.read_text() == "cleanup ran\n"
    events = [e["event"] for e in node.log_lines()]
    assert "stopping (test ends)" in events and events[-1].startswith("stopped after")
    with NodeClient(node.target, timeout=2) as client, pytest.raises(ControlError) as err:
        client.health()
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_sigterm_is_a_graceful_stop(node: HelperNode) -> None:
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(STOP_BOUND) == 0
    assert node.marker.read_text() == "cleanup ran\n"
    assert "stopping (SIGTERM)" in [e["event"] for e in node.log_lines()]


def test_event_stream_ends_cleanly_when_the_node_stops(node: HelperNode) -> None:
    got: list[NodeEvent] = []
    done = threading.Event()
    with NodeClient(node.target) as client:
        def read() -> None:
            got.extend(client.events(timeout=60))  # no error: the stream just ends
            done.set()

        reader = threading.Thread(target=read)
        reader.start()
        wait_subscribers(client, 1)
        node.publish(3)
        client.shutdown()
        reader.join(STOP_BOUND)
    assert done.is_set() and [e.seq for e in got] == [1, 2, 3]
    assert node.proc.wait(STOP_BOUND) == 0


def test_node_failing_at_start_exits_1_with_the_error_logged(tmp_path: Path) -> None:
    n = HelperNode(tmp_path, "--fail")
    try:
        assert n.proc.wait(START_TIMEOUT) == 1
        failed = [e for e in n.log_lines() if e["level"] == "error"]
        assert failed and "ValueError: asked to fail at start" in failed[0]["event"]
    finally:
        n.stop()


def test_taken_control_port_is_an_error(node: HelperNode, tmp_path: Path) -> None:
    port = node.target.rpartition(":")[2]
    other = HelperNode(tmp_path, "--control-port", port, name="other")
    try:
        assert other.proc.wait(START_TIMEOUT) == 1
        assert any(e["event"].startswith("cannot start: cannot bind the control port") for e in other.log_lines())
    finally:
        other.stop()


# -- ControlServer inside a trio test ---------------------------------------------------------------------

async def test_control_server_in_process() -> None:
    order: list[str] = []
    state = {"calls": 0}

    async def bump(by: int) -> int:
        await trio.sleep(0)
        state["calls"] += by
        return state["calls"]

    async def first() -> None:
        order.append("first")

    async def second() -> None:
        await trio.sleep(0)
        order.append("second")

    control = ControlServer("inproc", "test", port=0)
    control.stats = lambda: {"calls": state["calls"]}
    control.config = lambda: {"mode": "unit"}
    control.on_shutdown(first)
    control.on_shutdown(second)  # last added, first run

    def rpc_bump(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"%d" % control.run_on_trio(bump, int(request))

    control.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "ims.test.InProc", {"Bump": grpc.unary_unary_rpc_method_handler(rpc_bump)}),))
    assert control.state == "starting"
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(control.serve)
            assert port > 0 and control.state == "running"
            target = f"127.0.0.1:{port}"
            client = NodeClient(target)
            # Blocking client calls go to a thread: the server answers on this very loop.
            health = await trio.to_thread.run_sync(client.health)
            assert health["node"] == "inproc" and health["pid"] == os.getpid()
            reply = await trio.to_thread.run_sync(
                lambda: client.channel.unary_unary("/ims.test.InProc/Bump")(b"5", timeout=5))
            assert reply == b"5" and state["calls"] == 5
            assert (await trio.to_thread.run_sync(client.stats))["calls"] == 5
            assert await trio.to_thread.run_sync(client.config) == {"mode": "unit"}
            with pytest.raises(RuntimeError):
                control.add_servicer(lambda s, srv: None, object())
            await trio.to_thread.run_sync(client.shutdown)
            await trio.sleep_forever()  # the Shutdown RPC cancels this nursery
        assert order == ["second", "first"] and control.state == "stopping"
        client.close()
        # The gRPC server is stopped: nothing answers on the port any more.
        with NodeClient(target, timeout=2) as again, pytest.raises(ControlError):
            await trio.to_thread.run_sync(again.health)
        with pytest.raises(RuntimeError):
            await control.serve()


async def test_cancelling_the_nursery_stops_the_grpc_server() -> None:
    control = ControlServer("cancelled", "test", port=0)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(control.serve)
            client = NodeClient(f"127.0.0.1:{port}", timeout=2)
            assert (await trio.to_thread.run_sync(client.health))["state"] == "running"
            nursery.cancel_scope.cancel()
        with pytest.raises(ControlError):
            await trio.to_thread.run_sync(client.health)
        client.close()


# -- the event bus alone ------------------------------------------------------------------------------------------

def test_bus_drops_oldest_and_counts() -> None:
    bus = EventBus("n1", default_depth=3)
    sub = bus.subscribe()
    for i in range(10):
        bus.publish(NodeEvent("sip", "in", summary=str(i)))
    items, lost = sub.get(timeout=0)
    assert [seq for seq, _, _ in items] == [8, 9, 10] and lost == 7
    assert sub.dropped == 7 and bus.stats() == {"events_published": 10, "event_subscribers": 1, "events_dropped": 7}
    assert sub.get(timeout=0) == ([], 0)  # nothing new: no wait, nothing lost since
    bus.publish(NodeEvent("sip", "in"))
    items, lost = sub.get(timeout=0)
    assert [seq for seq, _, _ in items] == [11] and lost == 0
    ev = bus.materialize(items[0], lost)
    assert ev.node == "n1" and ev.time > 1.6e9 and ev.seq == 11 and ev.payload == b""


def test_bus_kind_filter_and_unsubscribe() -> None:
    bus = EventBus("n1")
    sip, everything = bus.subscribe(kinds=["sip"]), bus.subscribe()
    bus.publish(NodeEvent("diameter", "out", summary="MAR"))
    bus.publish(NodeEvent("sip", "in", summary="REGISTER"))
    assert [ev.summary for _, _, ev in sip.get(0)[0]] == ["REGISTER"]
    assert [ev.summary for _, _, ev in everything.get(0)[0]] == ["MAR", "REGISTER"]
    bus.unsubscribe(sip)
    assert sip.closed and bus.subscribers == 1
    bus.close()
    assert everything.closed and bus.subscribers == 0
    started = time.monotonic()
    assert everything.get(timeout=5) == ([], 0) and time.monotonic() - started < 1  # closed: returns at once


def test_bus_accepts_any_event_like_object() -> None:
    class Sent:
        kind, direction, summary, payload = "diameter", "out", "CER", "text payload"
        fields = {"hop": 7}

    bus = EventBus("hss")
    sub = bus.subscribe()
    bus.publish(Sent())
    ev = bus.materialize(sub.get(0)[0][0])
    assert (ev.kind, ev.summary, ev.payload, ev.fields, ev.node) == ("diameter", "CER", b"text payload",
                                                                      {"hop": "7"}, "hss")


def test_subscription_wakes_a_waiting_consumer() -> None:
    bus = EventBus("n")
    sub = bus.subscribe()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(sub.get(timeout=30)))
    t.start()
    bus.publish(NodeEvent("log", "out", summary="hello"))
    t.join(30)
    assert not t.is_alive() and got[0][0][0][2].summary == "hello"


async def test_health_says_starting_until_the_node_is_ready() -> None:
    """As run_node uses it: gRPC up early (Health answers), "running" only once the node says so."""
    control = ControlServer("slow-start", "test", port=0)
    control.auto_running = False
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(control.serve)
            with NodeClient(f"127.0.0.1:{port}") as client:
                assert (await trio.to_thread.run_sync(client.health))["state"] == "starting"
                with pytest.raises(ControlError, match="not healthy after 0.2 s \\(state starting\\)"):
                    await trio.to_thread.run_sync(wait_healthy, f"127.0.0.1:{port}", 0.2)
                control.set_running()
                assert (await trio.to_thread.run_sync(wait_healthy, f"127.0.0.1:{port}", 5.0))["state"] == "running"
            control.request_shutdown("done")


async def test_a_node_waiting_on_shutdown_requested_stops_itself() -> None:
    """The older pattern (nodes.hss, nodes.proxy): the node relays the request and does its own
    teardown (e.g. DPR) before cancelling; serve() must not cut that teardown short."""
    control = ControlServer("legacy", "test", port=0)
    steps: list[str] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            requested = control.shutdown_requested  # read at setup, as those nodes do
            port = await nursery.start(control.serve)
            with NodeClient(f"127.0.0.1:{port}") as client:
                await trio.to_thread.run_sync(client.shutdown)
            await requested.wait()
            for _ in range(20):  # the node's own teardown (a DPR/DPA exchange); Cancelled here if serve cut it
                await trio.lowlevel.checkpoint()
            steps.append("teardown done")
            nursery.cancel_scope.cancel()
    assert steps == ["teardown done"]


async def test_events_iterator_ends_at_its_timeout() -> None:
    control = ControlServer("quiet", "test", port=0)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(control.serve)
            with NodeClient(f"127.0.0.1:{port}") as client:
                started = time.monotonic()
                got = await trio.to_thread.run_sync(lambda: list(client.events(timeout=0.3)))
                assert got == [] and 0.25 < time.monotonic() - started < 10
            control.request_shutdown("done")
