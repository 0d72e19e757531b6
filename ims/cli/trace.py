"""``ims trace EVENTS.jsonl``: draw a run as a ladder (text, HTML, SVG) or write it as a pcap.

    ims trace .ims-run/demo/events.jsonl --topology topologies/volte-basic.toml --explain
    ims trace run.jsonl --html ladder.html --svg ladder.svg --pcap run.pcap

Without an output option the ladder is printed as text.  ``--topology``
names the columns after the lab's nodes and handsets (else addresses).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("trace", help="a run's messages as a ladder diagram (text, HTML, SVG) or a pcap")
    p.add_argument("events", help="an event file (JSON lines) from the demo or ims flow run --events")
    p.add_argument("--topology", help="name the columns after this lab's nodes and handsets")
    p.add_argument("--text", action="store_true", help="print the ladder (the default without outputs)")
    p.add_argument("--html", help="write a self-contained HTML page here")
    p.add_argument("--svg", help="write an SVG here")
    p.add_argument("--pcap", help="write a capture here")
    p.add_argument("--explain", action="store_true", help="annotate well-known steps with their clause")
    p.add_argument("--nodes", help="column order, comma separated")
    p.set_defaults(func=_trace)


def _trace(args: argparse.Namespace) -> int:
    from ims.trace.ladder import Ladder, topology_names
    from ims.trace.record import RecordError, read_events

    try:
        events = read_events(args.events)
    except (OSError, RecordError) as exc:
        print(f"ims trace: {exc}")
        return 1
    names: dict[str, str] = {}
    if args.topology:
        from ims.topology import TopologyError, load

        try:
            names = topology_names(load(args.topology))
        except TopologyError as exc:
            print(exc)
            return 1
    ladder = Ladder(events, names, order=(args.nodes or "").split(",") if args.nodes else (),
                    explain_steps=args.explain)
    wrote = []
    if args.html:
        Path(args.html).write_text(ladder.html(Path(args.events).stem))
        wrote.append(args.html)
    if args.svg:
        Path(args.svg).write_text(ladder.svg())
        wrote.append(args.svg)
    if args.pcap:
        from ims.net.pcap import write_events

        write_events(args.pcap, events)
        wrote.append(args.pcap)
    if args.text or not wrote:
        print(ladder.text(), end="")
    for w in wrote:
        print(f"wrote {w}")
    return 0
