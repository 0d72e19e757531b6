"""Two user agents and the proxy node as a real process, over loopback UDP and TCP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from ims.net.sip import SipStack
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


@pytest.fixture
def proxy_node():
    port = _free_port(PROXY_HOST)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nodes.proxy", "--listen", f"{PROXY_HOST}:{port}", "--domain", "example.com"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    # Wait for the "listening" log line.
    assert proc.stderr is not None
    for _ in range(50):
        line = proc.stderr.readline()
        if "listening on" in line or not line:
            break
    yield port, proc
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


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
    port, proc = proxy_node
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
    assert proc.poll() is None


async def test_garbage_gets_400_or_is_dropped_and_node_keeps_serving(proxy_node) -> None:
    port, proc = proxy_node
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind(("127.0.3.13", 0))
    await sock.sendto(os.urandom(300), (PROXY_HOST, port))
    bad = (b"OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.3.13:9;branch=z9hG4bKbad;rport\r\n"
           b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: x\r\n"
           b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    await sock.sendto(bad, (PROXY_HOST, port))
    with trio.fail_after(5):
        data, _ = await sock.recvfrom(65535)
    assert data.startswith(b"SIP/2.0 400 CSeq method 'INVITE' does not match request method 'OPTIONS'")
    good = bad.replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS")
    await sock.sendto(good, (PROXY_HOST, port))
    with trio.fail_after(5):
        data, _ = await sock.recvfrom(65535)
    assert data.startswith(b"SIP/2.0 200 OK")
    sock.close()
    assert proc.poll() is None


def test_proxy_node_reads_its_toml_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = _free_port("127.0.3.5")
    cfg = tmp_path / "lab.toml"
    cfg.write_text(f'[proxy]\ndomain = "lab.example"\nlisten = "127.0.3.5:{port}"\ntransports = ["udp"]\n'
                   'mode = "redirect"\n')
    proc = subprocess.Popen([sys.executable, "-m", "nodes.proxy", "--config", str(cfg)], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"listening on 127.0.3.5:{port} (udp), domain lab.example, mode redirect" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
