"""``ims capture``: record what crosses a running lab — one pcap, a ladder, the events — for a while.

    ims capture --pcap lab.pcap                        # until Ctrl-C
    ims capture --duration 30 --pcap lab.pcap --ladder lab.html --events lab.jsonl

Follows the event stream of every node of the lab ``ims up`` started (the
run directory's ``lab.json``): SIP, Diameter, M3UA/ISUP, RTCP and sampled RTP
as each node sends or receives them, merged in time order.  The pcap has the
nodes' own addresses and real IP/UDP/TCP/SCTP headers, so Wireshark shows the
lab as one network (point a real phone or SIPp at the P-CSCF meanwhile and
its messages are in it too).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from rich.console import Console

console = Console(soft_wrap=True)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("capture", help="record a running lab's messages as a pcap / ladder / events")
    p.add_argument("--run-dir", default=".ims-run")
    p.add_argument("--duration", type=float, default=0.0, help="seconds (default: until Ctrl-C)")
    p.add_argument("--pcap", help="write the capture here")
    p.add_argument("--ladder", help="write an HTML ladder diagram here (with the clauses, like --explain)")
    p.add_argument("--events", help="write the messages as JSON lines here (for ims trace)")
    p.set_defaults(func=_capture)


def _capture(args: argparse.Namespace) -> int:
    from ims.control.events import NodeEvent
    from ims.control.tap import EventTap
    from ims.lab import Lab

    if not (args.pcap or args.ladder or args.events):
        print("ims capture: say where to write: --pcap, --ladder and/or --events")
        return 2
    if args.duration < 0:
        print(f"ims capture: --duration must be positive, got {args.duration}")
        return 2
    state = Path(args.run_dir) / "lab.json"
    if not state.exists():
        print(f"ims capture: no running lab in {args.run_dir} (start one with ims up)")
        return 1
    import json

    topology = json.loads(state.read_text())["topology"]
    nodes = Lab(topology, args.run_dir).load_state()
    events: list[NodeEvent] = []
    lock = threading.Lock()

    def keep(target: str, ev: NodeEvent) -> None:
        # every node reports what it sends and receives: keep each message once, as its sender saw it,
        # unless the sender is not followed (a phone or SIPp talking to the lab)
        with lock:
            events.append(ev)

    tap = EventTap(keep, timeout=args.duration + 5 if args.duration else 24 * 3600)
    for n in nodes:
        tap.follow(f"127.0.0.1:{n.control_port}")
    console.print(f"capturing {len(nodes)} nodes of {Path(topology).name}"
                  + (f" for {args.duration:.0f} s" if args.duration else " (Ctrl-C to stop)"))
    try:
        if args.duration:
            time.sleep(args.duration)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    tap.stop.set()
    with lock:
        captured = _once(events, {n.address for n in nodes})
    return _write(args, captured, topology)


def _once(events: list, addresses: set[str]) -> list:  # type: ignore[type-arg]
    """One copy of each message: the sender's "out" event, or the receiver's "in" event when the sender
    is outside the lab."""
    out = []
    for ev in sorted(events, key=lambda e: e.time):
        sender_inside = ev.src.rsplit(":", 1)[0] in addresses
        if ev.direction == "out" or not sender_inside:
            out.append(ev)
    return out


def _write(args: argparse.Namespace, events: list, topology: str) -> int:  # type: ignore[type-arg]
    if args.pcap:
        from ims.net.pcap import write_events as write_pcap

        n = write_pcap(args.pcap, events)
        console.print(f"capture: {args.pcap} ({n} messages)")
    if args.events:
        from ims.trace.record import write_events

        write_events(args.events, events)
        console.print(f"events: {args.events}")
    if args.ladder:
        from ims.topology import load
        from ims.trace.ladder import Ladder, topology_names

        names = topology_names(load(topology))
        page = Ladder(events, names, explain_steps=True).html(f"capture of {Path(topology).stem}")
        Path(args.ladder).write_text(page)
        console.print(f"ladder: {args.ladder}")
    return 0
