"""A real node process against the inputs that used to kill a node (issue 13): it answers or drops each,
keeps serving OPTIONS over UDP and TCP, and shows what it caught in its Stats (parse_errors,
internal_errors).  Starts a process on fixed 127.0.3.x addresses: run under the integration lock."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import trio

from ims.control.client import NodeClient, wait_healthy
from tests.nodes.test_proxy_node import Node, _free_port

HOST = "127.0.3.60"  # the proxy node
PEER = "127.0.3.61"  # the attacker
DIGITS = "9" * 5000  # int() refuses more than 4,300 digits


def _request(branch: str, *, ruri: str = "sip:example.com", cseq: str = "1", max_forwards: str = "70",
             via_params: str = "") -> bytes:
    return (f"OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {PEER}:5060;branch={branch};rport{via_params}\r\n"
            f"Max-Forwards: {max_forwards}\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\n"
            f"Call-ID: {branch}@{PEER}\r\nCSeq: {cseq} OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def _response(status: str) -> bytes:
    return (f"SIP/2.0 {status} OK\r\nVia: SIP/2.0/UDP {HOST}:5060;branch=z9hG4bKresp\r\n"
            f"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: resp@{PEER}\r\n"
            f"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


KILLERS = {
    "Max-Forwards: \u00b2": _request("z9hG4bKk1", max_forwards="\u00b2"),
    "CSeq of 5,000 digits": _request("z9hG4bKk2", cseq=DIGITS),
    "CSeq \u00b2": _request("z9hG4bKk3", cseq="\u00b2"),
    "URI port of 5,000 digits": _request("z9hG4bKk4", ruri=f"sip:example.com:{DIGITS}"),
    "URI port \u00b2": _request("z9hG4bKk5", ruri="sip:example.com:\u00b2"),
    "status code of 5,000 digits": _response(DIGITS),
    "status code \u00b2\u00b2\u00b2": _response("\u00b2\u00b2\u00b2"),
    "Via ttl of 5,000 digits": _request("z9hG4bKk6", via_params=f";ttl={DIGITS}"),
}


@pytest.fixture
def proxy() -> Iterator[tuple[int, int, Node]]:
    port = _free_port(HOST)
    control = _free_port("127.0.0.1")
    node = Node("--listen", f"{HOST}:{port}", "--domain", "example.com", "--control-port", str(control))
    wait_healthy(f"127.0.0.1:{control}", 15)
    yield port, control, node
    assert node.stop() == 0  # still alive at the end, and a clean exit on SIGTERM


async def _options_answered_udp(sock: trio.socket.SocketType, port: int, branch: str) -> None:
    """Send a good OPTIONS and read until its 200 (a killer's own 400/500 may come first)."""
    await sock.sendto(_request(branch), (HOST, port))
    with trio.fail_after(5):
        while True:
            data, _ = await sock.recvfrom(65535)
            if f"Call-ID: {branch}@".encode() in data:
                assert data.startswith(b"SIP/2.0 200 OK"), data[:200]
                return
            assert data.split(b" ", 2)[1] in (b"400", b"500"), data[:200]  # the killer's answer, if any


async def _options_answered_tcp(port: int, branch: str) -> None:
    async with await trio.open_tcp_stream(HOST, port, local_address=PEER) as stream:
        me = stream.socket.getsockname()[1]
        await stream.send_all(_request(branch).replace(f"UDP {PEER}:5060".encode(), f"TCP {PEER}:{me}".encode()))
        with trio.fail_after(5):
            data = await stream.receive_some(65535)
        assert data.startswith(b"SIP/2.0 200 OK"), data[:200]


async def test_killer_inputs_are_answered_or_dropped_and_the_node_keeps_serving(
        proxy: tuple[int, int, Node]) -> None:
    port, control, node = proxy
    with NodeClient(f"127.0.0.1:{control}") as client:
        before = await trio.to_thread.run_sync(client.stats)
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind((PEER, 0))
        for i, (name, killer) in enumerate(KILLERS.items()):
            await sock.sendto(killer, (HOST, port))
            await _options_answered_udp(sock, port, f"z9hG4bKafter{i}")
            assert node.proc.poll() is None, f"the node died on {name}"
    # TCP: Content-Length followed by 4,301 digits.  That connection is closed; the listener serves on.
    async with await trio.open_tcp_stream(HOST, port, local_address=PEER) as stream:
        await stream.send_all(_request("z9hG4bKcl").replace(b"Content-Length: 0", b"Content-Length: " + b"7" * 4301))
        with trio.fail_after(5):
            while True:
                try:
                    if await stream.receive_some(65535) == b"":
                        break
                except trio.BrokenResourceError:
                    break
    await _options_answered_tcp(port, "z9hG4bKtcpafter")
    assert node.proc.poll() is None
    with NodeClient(f"127.0.0.1:{control}") as client:
        after = await trio.to_thread.run_sync(client.stats)
    # What the node caught is visible: every input was either refused by the parser or by a boundary.
    caught = (after["parse_errors"] - before["parse_errors"]) + (after["internal_errors"] - before["internal_errors"])
    assert caught >= 1 and after["parse_errors"] > before["parse_errors"]  # the TCP framing at least
    assert after["rx"] >= before["rx"] + len(KILLERS) + 1
