"""The proxy node as a real process: two user agents register and call through it over loopback UDP and TCP;
bad input, redirect mode, TLS, TOML configuration, JSON logs and a clean SIGTERM exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import pytest
import trio

from ims.net.sip import SipStack
from ims.net.tls import client_context
from ims.net.ua import UaDriver
from ims.sip.events import Address
from ims.sip.uacore import CallAnswered, CallEnded, CallFailed, CallProgress, IncomingCall, Registered, UserAgent
from ims.sip.uri import SipURI

ROOT = Path(__file__).resolve().parents[2]
PROXY_HOST = "127.0.3.1"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    with socket.socket() as t:  # the TCP side must be free too
        t.bind((host, port))
    return port


class Node:
    """``python -m nodes.proxy`` as a child process; its stderr (JSON lines) drained by a thread."""

    def __init__(self, *args: str, ready: str = "listening on") -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "nodes.proxy", *args], cwd=ROOT,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._more = threading.Condition()
        self._ready = threading.Event()
        self._marker = ready
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout=15):
            self.stop()
            raise AssertionError("proxy node did not start: " + "".join(self.lines)[-2000:])

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._more:
                self.lines.append(line)
                self._more.notify_all()
            if self._marker in line:
                self._ready.set()
        self._ready.set()  # EOF: the node exited

    def wait_for_events(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 5) -> None:
        """Block until ``pred(events)`` holds (the log is read by a thread, so it can lag the wire)."""
        with self._more:
            assert self._more.wait_for(lambda: pred(self.events()), timeout=timeout), self.lines[-10:]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]  # every line must be one JSON object

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self._reader.join(timeout=5)


@pytest.fixture
def proxy_node() -> Iterator[tuple[int, Node]]:
    port = _free_port(PROXY_HOST)
    node = Node("--listen", f"{PROXY_HOST}:{port}", "--domain", "example.com")
    yield port, node
    assert node.stop() == 0  # SIGTERM: a clean exit
    events = node.events()
    assert events[-1]["event"].startswith("stopped after") and all(e["node"] == "proxy" for e in events)
    assert all(e.get("call_id") for e in events if e.get("method") == "INVITE")  # call events name the call


async def _ua(nursery: trio.Nursery, name: str, host: str, transport: str, proxy: Address) -> UaDriver:
    ua = UserAgent(SipURI.parse(f"sip:{name}@example.com"), SipURI.parse(f"sip:{name}@{host}:0"),
                   Address(host, 0, transport), outbound_proxy=proxy)
    stack = SipStack(ua, host=host, port=0, transports=(transport,) if transport == "udp" else ("udp", "tcp"))
    await nursery.start(stack.run)
    port = stack.port
    ua.local = Address(host, port, transport)
    ua.contact = SipURI.parse(f"sip:{name}@{host}:{port}" + (";transport=tcp" if transport == "tcp" else ""))
    return UaDriver(ua, stack)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_call_answer_hangup_through_proxy_process(proxy_node, transport: str) -> None:
    port, node = proxy_node
    proxy = Address(PROXY_HOST, port, transport)
    async with trio.open_nursery() as nursery:
        alice = await _ua(nursery, "alice", "127.0.3.11", transport, proxy)
        bob = await _ua(nursery, "bob", "127.0.3.12", transport, proxy)
        registrar = SipURI.parse("sip:example.com")
        for ua in (alice, bob):
            await ua.do(ua.ua.register(registrar, 300, ua.now))
            reg = await ua.wait_for(Registered)
            assert reg.expires == 300
        call_id, acts = alice.ua.invite(SipURI.parse("sip:bob@example.com"), alice.now,
                                        body=b"v=0\r\n", content_type="application/sdp")
        await alice.do(acts)
        inc = await bob.wait_for(IncomingCall)
        assert inc.request.get("record-route", ) and inc.request.body == b"v=0\r\n"
        await bob.do(bob.ua.ringing(call_id, bob.now))
        await alice.wait_for(CallProgress, pred=lambda e: e.status == 180)
        await bob.do(bob.ua.answer(call_id, bob.now))
        await alice.wait_for(CallAnswered)
        await bob.wait_for(CallAnswered)  # the ACK arrived through the proxy
        await alice.do(alice.ua.bye(call_id, alice.now))
        assert (await bob.wait_for(CallEnded)).by_remote
        assert not (await alice.wait_for(CallEnded)).by_remote
        # A call to nobody: 404 from the proxy.
        _, acts = alice.ua.invite(SipURI.parse("sip:nobody@example.com"), alice.now)
        await alice.do(acts)
        assert (await alice.wait_for(CallFailed)).status == 404
        nursery.cancel_scope.cancel()
    assert node.proc.poll() is None
    # The node's JSON log tells the story: both registrations and both call attempts, with their Call-IDs.
    node.wait_for_events(lambda events: sum(e.get("method") == "INVITE" for e in events) == 2)
    events = node.events()
    assert sum("REGISTER" in str(e["event"]) for e in events) == 2
    invites = [e for e in events if e.get("method") == "INVITE"]
    assert [e.get("status") for e in invites] == [None, 404] and invites[0]["call_id"] == call_id


def _request(method: str, ruri: str, src: str, sport: int, *, transport: str = "UDP", branch: str = "z9hG4bKt1",
             cseq_method: str | None = None, extra: str = "") -> bytes:
    return (f"{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{transport} {src}:{sport};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <{ruri}>\r\nCall-ID: {branch}@{src}\r\n"
            f"CSeq: 1 {cseq_method or method}\r\n{extra}Content-Length: 0\r\n\r\n").encode()


async def test_garbage_gets_400_or_is_dropped_and_node_keeps_serving(proxy_node) -> None:  # type: ignore[no-untyped-def]
    port, node = proxy_node
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.3.13", 0))
        my_port = sock.getsockname()[1]
        await sock.sendto(os.urandom(300), (PROXY_HOST, port))
        # The Via claims port 9: with rport the answer must still come back here (RFC 3581 §4).
        bad = _request("OPTIONS", "sip:example.com", "127.0.3.13", 9, branch="z9hG4bKbad", cseq_method="INVITE")
        await sock.sendto(bad, (PROXY_HOST, port))
        with trio.fail_after(5):
            data, _ = await sock.recvfrom(65535)
        assert data.startswith(b"SIP/2.0 400 CSeq method 'INVITE' does not match request method 'OPTIONS'")
        await sock.sendto(_request("OPTIONS", "sip:example.com", "127.0.3.13", 9, branch="z9hG4bKgood"),
                          (PROXY_HOST, port))
        with trio.fail_after(5):
            data, _ = await sock.recvfrom(65535)
        assert data.startswith(b"SIP/2.0 200 OK")
        assert f";rport={my_port};received=127.0.3.13".encode() in data or \
            f";received=127.0.3.13;rport={my_port}".encode() in data  # §18.2.1 + RFC 3581 stamping
    # A TCP peer sending garbage is disconnected; a new connection is served.
    async with await trio.open_tcp_stream(PROXY_HOST, port, local_address="127.0.3.13") as stream:
        await stream.send_all(b"NONSENSE WITHOUT LENGTH\r\n\r\n")
        with trio.fail_after(5):
            assert await stream.receive_some(1000) == b""
    async with await trio.open_tcp_stream(PROXY_HOST, port, local_address="127.0.3.13") as stream:
        local_port = stream.socket.getsockname()[1]
        await stream.send_all(_request("OPTIONS", "sip:example.com", "127.0.3.13", local_port, transport="TCP",
                                       branch="z9hG4bKtcp"))
        with trio.fail_after(5):
            data = await stream.receive_some(65535)
        assert data.startswith(b"SIP/2.0 200 OK")
    assert node.proc.poll() is None


async def test_redirect_mode_from_toml_answers_302_with_the_registered_contact(tmp_path: Path) -> None:
    host = "127.0.3.5"
    port = _free_port(host)
    cfg = tmp_path / "lab.toml"
    cfg.write_text(f'[proxy]\ndomain = "lab.example"\nlisten = "{host}:{port}"\ntransports = ["udp"]\n'
                   'mode = "redirect"\n')
    node = Node("--config", str(cfg))
    try:
        assert any(f"listening on {host}:{port} (udp), domain lab.example, mode redirect" in line
                   for line in node.lines)
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.3.14", 0))
            me = sock.getsockname()[1]
            reg = _request("REGISTER", "sip:lab.example", "127.0.3.14", me, branch="z9hG4bKr1",
                           extra=f"Contact: <sip:bob@127.0.3.14:{me}>\r\nExpires: 300\r\n")
            reg = reg.replace(b"To: <sip:lab.example>", b"To: <sip:bob@lab.example>")
            await sock.sendto(reg, (host, port))
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
            assert data.startswith(b"SIP/2.0 200 OK")
            await sock.sendto(_request("INVITE", "sip:bob@lab.example", "127.0.3.14", me, branch="z9hG4bKi1"),
                              (host, port))
            with trio.fail_after(5):
                data, _ = await sock.recvfrom(65535)
                if data.startswith(b"SIP/2.0 100"):
                    data, _ = await sock.recvfrom(65535)
            assert data.startswith(b"SIP/2.0 302 ")  # §8.3.1: the caller is told where bob is
            assert f"sip:bob@127.0.3.14:{me}".encode() in data.split(b"\r\nContact:", 1)[1]
    finally:
        assert node.stop() == 0
    node.events()  # every log line is JSON


async def test_sips_over_tls_on_its_own_port(tmp_path: Path) -> None:
    host = "127.0.3.6"
    port = _free_port(host)
    with socket.socket() as t:  # the TLS port (SIP port + 1) must be free too
        t.bind((host, port + 1))
    node = Node("--listen", f"{host}:{port}", "--domain", "example.com", "--transports", "udp,tcp,tls")
    try:
        assert any(f"TLS (sips:) on {host}:{port + 1}" in line for line in node.lines)
        tcp = await trio.open_tcp_stream(host, port + 1, local_address="127.0.3.15")
        async with trio.SSLStream(tcp, client_context(verify=False), server_hostname=host) as stream:
            local_port = tcp.socket.getsockname()[1]
            await stream.send_all(_request("OPTIONS", "sips:example.com", "127.0.3.15", local_port,
                                           transport="TLS", branch="z9hG4bKtls"))
            with trio.fail_after(5):
                data = await stream.receive_some(65535)
            assert data.startswith(b"SIP/2.0 200 OK")
    finally:
        assert node.stop() == 0


def test_taken_address_is_one_error_line_and_exit_status_1() -> None:
    host = "127.0.3.7"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((host, 0))
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "nodes.proxy", "--listen", f"{host}:{port}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error" and "cannot start" in entry["event"] and "in use" in entry["event"]
