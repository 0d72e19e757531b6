"""A plain-SIP demo (``python -m tools.demo_sip``): registration and call through a proxy process.

Starts ``nodes/proxy`` as its own process on 127.0.3.100, runs two user agents
(alice on 127.0.3.101, bob on 127.0.3.102) on real UDP sockets in this process,
registers both, has alice call bob, bob answer, and alice hang up.  Every SIP
message on the wire is printed.  Exit status 0 means the whole flow worked.
(``make demo`` runs the IMS lab instead: ``tools/demo.py``.)
"""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from rich.console import Console
from rich.table import Table

from ims.net.sip import SipStack
from ims.net.ua import UaDriver
from ims.sip.events import Address
from ims.sip.message import parse_message
from ims.sip.uacore import CallAnswered, CallEnded, CallProgress, IncomingCall, Registered, UserAgent
from ims.sip.uri import SipURI

ROOT = Path(__file__).resolve().parents[1]
PROXY = Address("127.0.3.100", 5060)
NAMES = {"127.0.3.100": "proxy", "127.0.3.101": "alice", "127.0.3.102": "bob"}
console = Console()
T0 = time.monotonic()


def show(direction: str, data: bytes, src: Address, dst: Address) -> None:
    if direction != "out" and NAMES.get(src.host) != "proxy":
        return  # each message once: by the UA that sends it, or as the UA receives it from the proxy
    first = data.split(b"\r\n", 1)[0].decode(errors="replace")
    label = first.split(" ", 2)[1] + " " + first.split(" ", 2)[2] if first.startswith("SIP/") else first.split(" ")[0]
    try:
        cseq = parse_message(data).cseq
        label += f"  ({cseq})"
    except Exception:  # noqa: BLE001 - display only
        pass
    console.print(f"[dim]{time.monotonic() - T0:7.3f}s[/] {NAMES.get(src.host, src.host):>6} -> "
                  f"{NAMES.get(dst.host, dst.host):<6} [bold]{label}[/]")


async def ua(nursery: trio.Nursery, name: str, host: str) -> UaDriver:
    agent = UserAgent(SipURI.parse(f"sip:{name}@example.com"), SipURI.parse(f"sip:{name}@{host}:5060"),
                      Address(host, 5060), outbound_proxy=PROXY, display_name=name.capitalize())
    stack = SipStack(agent, host=host, port=5060, transports=("udp",), on_message=show)
    await nursery.start(stack.run)
    return UaDriver(agent, stack)


async def flow() -> None:
    async with trio.open_nursery() as nursery:
        alice = await ua(nursery, "alice", "127.0.3.101")
        bob = await ua(nursery, "bob", "127.0.3.102")
        console.rule("1. Registration (RFC 3261 §10)")
        for d in (alice, bob):
            await d.do(d.ua.register(SipURI.parse("sip:example.com"), 600, d.now))
            reg = await d.wait_for(Registered)
            console.print(f"   [green]{d.ua.aor} registered for {reg.expires} s[/]")
        console.rule("2. Call set-up (RFC 3261 §13, via the proxy with Record-Route)")
        call_id, acts = alice.ua.invite(SipURI.parse("sip:bob@example.com"), alice.now,
                                        body=b"v=0\r\no=- 1 1 IN IP4 127.0.3.101\r\ns=-\r\nc=IN IP4 127.0.3.101\r\n"
                                             b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n",
                                        content_type="application/sdp")
        await alice.do(acts)
        await bob.wait_for(IncomingCall)
        await bob.do(bob.ua.ringing(call_id, bob.now))
        await alice.wait_for(CallProgress, pred=lambda e: e.status == 180)
        await bob.do(bob.ua.answer(call_id, bob.now))
        await alice.wait_for(CallAnswered)
        await bob.wait_for(CallAnswered)
        console.print("   [green]call established[/]")
        await trio.sleep(0.5)
        console.rule("3. Hang-up (RFC 3261 §15)")
        await alice.do(alice.ua.bye(call_id, alice.now))
        await bob.wait_for(CallEnded)
        await alice.wait_for(CallEnded)
        console.print("   [green]call ended by alice[/]")
        nursery.cancel_scope.cancel()


def main() -> int:
    console.print("[bold]ims-lab demo[/]: a registrar/proxy process and two user agents on loopback")
    # The node's JSON log goes to a file (a pipe nobody reads could fill up and stall it).
    log_file = tempfile.NamedTemporaryFile(prefix="ims-demo-proxy-", suffix=".log", delete=False)
    proxy = subprocess.Popen([sys.executable, "-m", "nodes.proxy", "--listen", f"{PROXY.host}:{PROXY.port}",
                              "--domain", "example.com", "--transports", "udp"],
                             cwd=ROOT, stderr=log_file)
    try:
        if not trio.run(_proxy_ready, proxy):
            console.print(f"[red]the proxy node did not start[/] (exit status {proxy.poll()}); its log:")
            console.print(Path(log_file.name).read_text()[-2000:], markup=False)
            return 1
        table = Table(title="lab")
        for col in ("node", "address", "role"):
            table.add_column(col)
        table.add_row("proxy", f"{PROXY.host}:{PROXY.port}/udp", "registrar + stateful proxy (own process)")
        table.add_row("alice", "127.0.3.101:5060/udp", "user agent")
        table.add_row("bob", "127.0.3.102:5060/udp", "user agent")
        console.print(table)
        trio.run(_bounded_flow)
        console.print("[bold green]demo passed[/]: registration, call and hang-up all worked")
        return 0
    except Exception as exc:  # noqa: BLE001 - the demo reports and fails
        console.print(f"[bold red]demo failed[/]: {exc!r}")
        return 1
    finally:
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait(timeout=10)
        log_file.close()
        Path(log_file.name).unlink(missing_ok=True)


async def _proxy_ready(proxy: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """True once the node answers an OPTIONS ping; False if it exits or stays silent for ``timeout`` s."""
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.3.103", 0))
        port = sock.getsockname()[1]
        with trio.move_on_after(timeout):
            for n in itertools.count():
                if proxy.poll() is not None:
                    return False
                ping = (f"OPTIONS sip:{PROXY.host}:{PROXY.port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP 127.0.3.103:{port};branch=z9hG4bKdemo{n};rport\r\n"
                        f"Max-Forwards: 70\r\nFrom: <sip:demo@example.com>;tag=demo\r\n"
                        f"To: <sip:{PROXY.host}>\r\nCall-ID: ready-{n}@127.0.3.103\r\nCSeq: {n + 1} OPTIONS\r\n"
                        "Content-Length: 0\r\n\r\n")
                await sock.sendto(ping.encode(), (PROXY.host, PROXY.port))
                with trio.move_on_after(0.2):  # the node may not be bound yet: ask again
                    data, _ = await sock.recvfrom(65535)
                    if data.startswith(b"SIP/2.0 200"):
                        return True
    return False


async def _bounded_flow() -> None:
    with trio.fail_after(30):
        await flow()


if __name__ == "__main__":
    sys.exit(main())
