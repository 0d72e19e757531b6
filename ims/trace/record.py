"""Event files: one JSON object per message (time, node, kind, direction, src, dst, transport, summary,
payload in base64), the format the demo and ``ims flow run --events`` write and ``ims trace`` reads."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

from ims.control.events import NodeEvent


class RecordError(ValueError):
    """A line of an event file that is not an event (names the file and line)."""


def write_events(path: str | Path, events: Iterable[NodeEvent]) -> int:
    n = 0
    with Path(path).open("w") as fh:
        for ev in events:
            fh.write(json.dumps({"time": ev.time, "node": ev.node, "kind": ev.kind, "direction": ev.direction,
                                 "src": ev.src, "dst": ev.dst, "transport": ev.transport, "summary": ev.summary,
                                 "payload": base64.b64encode(ev.payload).decode()}) + "\n")
            n += 1
    return n


def read_events(path: str | Path) -> list[NodeEvent]:
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(NodeEvent(kind=d["kind"], direction=d["direction"], src=d["src"], dst=d["dst"],
                                 transport=d.get("transport", ""), payload=base64.b64decode(d.get("payload", "")),
                                 summary=d.get("summary", ""), time=float(d["time"]), node=d.get("node", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise RecordError(f"{path}:{i}: not an event ({exc})") from None
    return out


def messages(events: Iterable[NodeEvent]) -> list[NodeEvent]:
    """Each message once, in time order: as its sender reported it ("out"), or - for a sender that
    reported nothing (a handset nobody followed, a real phone) - as its receiver did."""
    evs = sorted(events, key=lambda e: e.time)
    sent = {(e.src, e.dst, e.payload) for e in evs if e.direction == "out"}
    return [e for e in evs if e.direction == "out" or (e.src, e.dst, e.payload) not in sent]
