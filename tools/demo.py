"""``make demo``: the default IMS lab, an IMS-AKA registration of two handsets and a call between them.

Brings ``topologies/volte-basic.toml`` up with the orchestrator (HSS, I-CSCF,
S-CSCF, P-CSCF and a UE node with alice and bob, each its own process on its
own loopback address), follows every node's control-plane event stream, and
prints each SIP and Diameter message as it crosses the lab: the handsets'
registrations, asked for over the UE node's gRPC service (REGISTER, UAR, MAR,
401 with the AKA challenge, REGISTER with RES, SAR, 200, reg-event
SUBSCRIBE/NOTIFY), then alice calling bob (INVITE
through P, S, I, S, P with LIR and QoS preconditions; reliable 183, PRACK,
UPDATE; 180; 200; ACK), three seconds of voice both ways (AMR-WB over
SRTP, with each side's packets, loss, jitter and RTCP round-trip time
printed) and hanging up (BYE).  The
lab is brought down at the end (handsets deregister, Diameter DPR).  The
messages are also written as a capture Wireshark opens
(``.ims-run/demo/demo.pcap``, with the nodes' addresses), as a ladder diagram
with the clause of each step (``.ims-run/demo/ladder.html``) and as JSON
lines (``.ims-run/demo/events.jsonl``, for ``ims trace``).  Exit status 0 means every step worked.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from ims.control.client import ControlError
from ims.control.events import NodeEvent
from ims.control.tap import EventTap
from ims.control.ue import UeClient
from ims.lab import Lab, LabError, NodeProcess

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "topologies" / "volte-basic.toml"
RUN_DIR = ROOT / ".ims-run" / "demo"
BOB = "sip:bob@ims.mnc001.mcc001.3gppnetwork.org"
console = Console(highlight=False)


class Tap:
    """Follows the Events stream of every node; prints each message once, as its sender reports it."""

    def __init__(self) -> None:
        from ims.topology import load

        topo = load(TOPOLOGY)
        self.names = {n.address: n.name for n in topo.nodes}  # address -> node name
        ue_node = next(n for n in topo.nodes if n.kind == "ue")
        self.ue_host = ue_node.address
        self.phones = {5060 + i: u.name for i, u in enumerate(u for u in topo.ues if u.node == ue_node.name)}
        self.held = True  # lines kept back while the start-up lines are printed
        self.pending: list[tuple[float, int, str]] = []
        self.seq = itertools.count()
        self.wall0 = time.time()
        self.events: list[NodeEvent] = []
        self.lock = threading.Lock()
        self.kinds: dict[str, str] = {}  # control target -> node kind
        self._tap = EventTap(self._show, timeout=120)
        self.stop = self._tap.stop
        threading.Thread(target=self._printer, daemon=True).start()

    def follow(self, node: NodeProcess) -> None:
        console.print(f"  [green]✓[/] {node.name:<6} {node.kind:<6} {node.address:<12} pid {node.pid}")
        if node.kind == "ue":
            return  # the P-CSCF reports what the handsets send (its subscription exists before they start)
        target = f"127.0.0.1:{node.control_port}"
        self.kinds[target] = node.kind
        self._tap.follow(target, ready_timeout=2)

    def _who(self, hostport: str) -> str:
        host = hostport.rsplit(":", 1)[0]
        if host == self.ue_host:
            return self.phones.get(int(hostport.rsplit(":", 1)[1]), "ue")
        return self.names.get(host, host)

    def _show(self, target: str, ev: NodeEvent) -> None:
        from_ue = ev.src.startswith(self.ue_host + ":")
        if ev.direction != "out" and not (from_ue and self.kinds.get(target) == "pcscf"):
            return
        with self.lock:
            self.events.append(ev)
            label = ev.summary
            if ev.kind == "sip":
                parts = label.split(" ", 2)
                label = f"{parts[1]} {parts[2]}" if label.startswith("SIP/") else parts[0]
                if label.startswith("REGISTER") or " 401" in f" {label}" or label.startswith("200"):
                    text = ev.payload.decode("utf-8", "replace")
                    cseq = next((ln.split(":", 1)[1].strip() for ln in text.split("\r\n")
                                 if ln.lower().startswith("cseq:")), "")
                    label += f"  ({cseq})" if cseq else ""
            colour = "cyan" if ev.kind == "diameter" else "bold"
            line = (f"[dim]{ev.time - self.wall0:7.3f}s[/] {self._who(ev.src):>6} -> "
                    f"{self._who(ev.dst):<6} [{colour}]{label}[/]")
            heapq.heappush(self.pending, (ev.time, next(self.seq), line))

    def _printer(self) -> None:
        """Print in the order the nodes sent the messages (their streams arrive here in any order)."""
        while not self.stop.is_set():
            time.sleep(0.05)
            self.flush(time.time() - 0.2)

    def flush(self, before: float = float("inf")) -> None:
        with self.lock:
            if self.held:
                return
            while self.pending and self.pending[0][0] <= before:
                console.print(heapq.heappop(self.pending)[2])

    def release(self) -> None:
        self.held = False

    def save_pcap(self, path: Path) -> int:
        """Every message, as its sender reported it, in one capture with the nodes' addresses."""
        from ims.net.pcap import write_events

        return write_events(path, self.events)

    def save(self, path: Path) -> None:
        from ims.trace.record import write_events

        write_events(path, self.events)


def run(lab: Lab, tap: Tap) -> None:
    console.rule("1. Lab start-up: one process per network function")
    started = time.monotonic()
    nodes = lab.up(timeout=30, on_started=tap.follow, extra_args={"ue": ("--no-register",)})
    console.print(f"  {len(nodes)} nodes healthy in {time.monotonic() - started:.1f} s "
                  f"(Diameter CER/CEA between the CSCFs and the HSS)")
    with UeClient("127.0.0.1:7200", timeout=20) as ues:
        console.rule("2. IMS-AKA registration (TS 24.229 §5.1.1, TS 33.203)")
        tap.release()
        for name in ("alice", "bob"):
            status = ues.register(name, check=False)
            time.sleep(0.3)  # let the reg-event SUBSCRIBE/NOTIFY print
            if status != 200:
                raise RuntimeError(f"{name}'s registration failed: {status}")
            s = ues.status(name)
            console.print(f"   [green]{s['impu']} registered[/] for {s['expires']} s; "
                          f"implicit set {', '.join(s['associated'])}; Service-Route {s['service_route'][0]}")
        console.rule("3. VoLTE call alice -> bob: preconditions, 183/PRACK/UPDATE, 180, 200 (TS 24.229 §5.1.3), "
                     "then SRTP voice")
        call = ues.call("alice", BOB)
        answered = ues.wait_call("alice", call, ["confirmed", "failed", "ended"], 10)
        if answered["state"] != "confirmed":
            raise RuntimeError(f"the call failed: {answered['status']} {answered['reason']}")
        time.sleep(0.4)  # the printer keeps messages 0.2 s to put them in order
        console.print(f"   [green]call established[/] in {answered['setup_ms']:.0f} ms (bob answers after 0.5 s)")
        time.sleep(3.0)  # voice both ways: alice's SRTP offer, AMR-WB at 50 packets/s, RTCP every second
        for name in ("alice", "bob"):
            m = next(c for c in ues.status(name)["calls"] if c["call_id"] == call)["media"]
            if not m:
                raise RuntimeError(f"{name} has no media stream in the call")
            rtt = f"{m['rtt_ms']:.2f} ms" if m["rtt_ms"] is not None else "-"
            console.print(f"   [green]{name} media[/] {m['codec']} {m['srtp'] or 'plain RTP'} {m['local']} -> "
                          f"{m['remote']}: sent {m['packets_sent']}, received {m['packets_received']}, "
                          f"lost {m['packets_lost']}, jitter {m['jitter_ms']:.2f} ms, RTT {rtt}")
            if m["packets_received"] < 100 or m["packets_lost"]:
                raise RuntimeError(f"{name}'s media is not flowing: {m}")
        console.rule("4. Hang-up (RFC 3261 §15)")
        ues.hangup("alice", call)
        ended = ues.wait_call("bob", call, ["ended"], 5)
        time.sleep(0.4)
        console.print(f"   [green]call ended[/] ({ended['reason']})")
    console.rule("5. Lab shut-down: handsets deregister, CSCFs send DPR")


def main() -> int:
    console.print("[bold]ims-lab demo[/]: the volte-basic lab, IMS-AKA registration and a VoLTE call")
    lab = Lab(TOPOLOGY, RUN_DIR)
    if lab.load_state():
        lab.down()  # a previous demo that was interrupted
    tap = Tap()
    ok = False
    try:
        run(lab, tap)
        ok = True
    except (LabError, ControlError, RuntimeError) as exc:
        console.print(f"[bold red]demo failed[/]: {exc}")
        console.print(f"node logs: {RUN_DIR / 'logs'}")
    finally:
        for line in lab.down():
            console.print(f"   {line}")
        time.sleep(0.3)
        tap.stop.set()
        tap.flush()
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        tap.save(RUN_DIR / "events.jsonl")
        frames = tap.save_pcap(RUN_DIR / "demo.pcap")
        from ims.topology import load
        from ims.trace.ladder import Ladder, topology_names

        ladder = Ladder(tap.events, topology_names(load(TOPOLOGY)), explain_steps=True)
        (RUN_DIR / "ladder.html").write_text(ladder.html("ims-lab demo: IMS-AKA registration and a VoLTE call"))
    if ok:
        console.print(f"[bold green]demo passed[/]: {len(tap.events)} messages")
        console.print(f"  capture (Wireshark, tshark): {RUN_DIR / 'demo.pcap'} ({frames} frames)")
        console.print(f"  ladder (open in a browser):  {RUN_DIR / 'ladder.html'}")
        console.print(f"  events (JSON lines):         {RUN_DIR / 'events.jsonl'}  (ims trace FILE --explain)")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
