"""Ladder (sequence) diagrams of a run: one column per node or handset, one arrow per message.

``Ladder(events, names)`` orders the messages (each once, see
``ims.trace.record.messages``), labels them (SIP method or status and reason,
Diameter command and result) and renders them as plain text for terminals,
as SVG, or as a self-contained HTML page (inline CSS and script, no fetches)
where hovering an arrow shows the message and clicking pins it beside the
diagram.  With ``explain`` the well-known steps of IMS registration and call
set-up carry the clause they implement (``EXPLAIN``, a data table).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ims.control.events import NodeEvent
from ims.trace.record import messages

# (kind, label prefix, condition on the message text or None) -> the clause a teacher points at.
EXPLAIN: tuple[tuple[str, str, str | None, str], ...] = (
    ("sip", "REGISTER", 'response=""', "TS 24.229 §5.1.1.2.1 initial registration (no credentials yet)"),
    ("sip", "REGISTER", "response=", "TS 24.229 §5.1.1.5 REGISTER answering the challenge (RFC 3310 RES)"),
    ("sip", "401", "AKAv1-MD5", "TS 33.203 §6.1 AKA challenge: nonce = RAND || AUTN"),
    ("sip", "401", "MD5", "TS 24.229 §5.4.1.2.1 SIP Digest challenge"),
    ("sip", "200", "CSeq: 2 REGISTER", "RFC 3608 Service-Route, RFC 3327 Path, TS 24.229 §5.4.1.2.2"),
    ("sip", "SUBSCRIBE", "Event: reg", "RFC 3680 reg event, TS 24.229 §5.1.1.3 / §5.2.3"),
    ("sip", "NOTIFY", "reginfo", "RFC 3680 §5 registration state (full reginfo)"),
    ("sip", "INVITE", "precondition", "RFC 3261 §13 / TS 24.229 §5.1.3 with QoS preconditions (RFC 3312)"),
    ("sip", "INVITE", None, "RFC 3261 §13 session set-up / TS 24.229 §5.1.3"),
    ("sip", "183", "100rel", "RFC 3262 reliable provisional with the SDP answer (RFC 3312 §6)"),
    ("sip", "PRACK", None, "RFC 3262 §7.2 PRACK (RAck)"),
    ("sip", "UPDATE", None, "RFC 3311 UPDATE: local QoS reserved (RFC 3312 curr:qos)"),
    ("sip", "180", None, "RFC 3261 §21.1.2 ringing (after the preconditions are met)"),
    ("sip", "BYE", None, "RFC 3261 §15 session termination"),
    ("sip", "CANCEL", None, "RFC 3261 §9 CANCEL"),
    ("sip", "MESSAGE", None, "RFC 3428 MESSAGE"),
    ("diameter", "UAR", None, "TS 29.228 §6.1.1 User-Authorization (which S-CSCF?)"),
    ("diameter", "MAR", None, "TS 29.228 §6.3 Multimedia-Auth (authentication vectors)"),
    ("diameter", "SAR", None, "TS 29.228 §6.1.2 Server-Assignment (the profile)"),
    ("diameter", "LIR", None, "TS 29.228 §6.1.4 Location-Info (the callee's S-CSCF)"),
    ("diameter", "RTR", None, "TS 29.228 §6.1.3 Registration-Termination (network deregistration)"),
    ("diameter", "PPR", None, "TS 29.228 §6.1.4 Push-Profile"),
    ("diameter", "CER", None, "RFC 6733 §5.3 capabilities exchange"),
    ("m3ua", "IAM", None, "Q.764 §2.1 basic call set-up: IAM (the O-MGCF sends it once the preconditions are met)"),
    ("m3ua", "ACM", None, "Q.764 §2.1 address complete: the line rings (SIP 180, or 183 without 'subscriber free')"),
    ("m3ua", "CPG", None, "Q.764 §2.1 call progress (alerting: SIP 180)"),
    ("m3ua", "ANM", None, "Q.764 §2.1 answer: SIP 200 OK"),
    ("m3ua", "CON", None, "Q.764 §2.1 connect (answer without ACM): SIP 200 OK"),
    ("m3ua", "REL", None, "Q.764 §2.3 release; the Q.850 cause maps to a SIP status (RFC 3398, TS 29.163)"),
    ("m3ua", "RLC", None, "Q.764 §2.3 release complete: the circuit is idle again"),
    ("m3ua", "AspUp", None, "RFC 4666 §4.3.4.1 ASP Up (M3UA association)"),
    ("m3ua", "AspActive", None, "RFC 4666 §4.3.4.3 ASP Active: ISUP may flow"),
    ("rtcp", "RTCP", None, "RFC 3550 §6.4 report: loss, jitter, LSR/DLSR for the round-trip time"),
    ("rtp", "RTP", None, "RFC 3550 §5 media (one packet in 50 is shown)"),
)


@dataclass(frozen=True)
class Arrow:
    time: float
    src: int  # column index
    dst: int
    label: str
    kind: str
    text: str  # the whole message, for hover/click
    note: str = ""


def label_of(ev: NodeEvent) -> str:
    words = ev.summary.split()
    if ev.kind == "sip" and words:
        if words[0].startswith("SIP/") and len(words) > 1:
            return " ".join(words[1:])  # "401 Unauthorized"
        return words[0]
    if ev.kind in ("m3ua", "rtp", "rtcp") and words:
        return ev.summary  # "IAM CIC 3", "RTP PT 96 seq 1234", "RTCP SR"
    return " ".join(words[:2]) if words else ev.kind


def message_text(ev: NodeEvent) -> str:
    if ev.kind == "sip":
        return ev.payload.decode("utf-8", "replace")
    hexdump = " ".join(f"{b:02x}" for b in ev.payload[:512])
    return f"{ev.summary}\n\n{hexdump}{' ...' if len(ev.payload) > 512 else ''}"


def explain(ev: NodeEvent, label: str) -> str:
    head = label.split()[0] if label else ""
    text = ev.payload.decode("utf-8", "replace") if ev.kind == "sip" else ev.summary
    for kind, prefix, needle, clause in EXPLAIN:
        if kind == ev.kind and head == prefix and (needle is None or needle in text):
            return clause
    return ""


class Ladder:
    def __init__(self, events: Iterable[NodeEvent], names: Mapping[str, str] | None = None, *,
                 order: Iterable[str] = (), explain_steps: bool = False) -> None:
        self.names = dict(names or {})
        msgs = messages(events)
        self.t0 = msgs[0].time if msgs else 0.0
        columns: list[str] = [c for c in order]
        arrows = []
        for ev in msgs:
            a, b = self.name(ev.src), self.name(ev.dst)
            for c in (a, b):
                if c not in columns:
                    columns.append(c)
            label = label_of(ev)
            arrows.append(Arrow(ev.time - self.t0, columns.index(a), columns.index(b), label, ev.kind,
                                message_text(ev), explain(ev, label) if explain_steps else ""))
        self.columns = columns
        self.arrows = arrows

    def name(self, hostport: str) -> str:
        return self.names.get(hostport) or self.names.get(hostport.rsplit(":", 1)[0]) or hostport

    # -- text --------------------------------------------------------------------------
    def text(self, width: int = 12) -> str:
        """Columns of ``width`` characters; each arrow drawn between its two columns."""
        n = len(self.columns)
        lines = ["time(s)  " + "".join(c[:width - 1].center(width) for c in self.columns)]
        for a in self.arrows:
            row = [" "] * (n * width)
            for i in range(n):
                row[i * width + width // 2] = "|"
            lo, hi = sorted((a.src, a.dst))
            start, end = lo * width + width // 2, hi * width + width // 2
            if lo == hi:
                row[start] = "o"
            else:
                for x in range(start + 1, end):
                    row[x] = "-"
                if a.dst > a.src:
                    row[end - 1] = ">"
                else:
                    row[start + 1] = "<"
                label = a.label[: max(0, end - start - 3)]
                mid = start + 1 + (end - start - 1 - len(label)) // 2
                for k, ch in enumerate(label):
                    row[mid + k] = ch
            line = f"{a.time:7.3f}  " + "".join(row).rstrip()
            if a.note:
                line += f"   # {a.note}"
            lines.append(line)
        return "\n".join(lines) + "\n"

    # -- SVG / HTML -----------------------------------------------------------------------
    COL, TOP, ROW, LEFT = 140, 50, 26, 70

    def svg(self) -> str:
        w = self.LEFT + self.COL * max(1, len(self.columns)) + (420 if any(a.note for a in self.arrows) else 20)
        h = self.TOP + self.ROW * (len(self.arrows) + 1)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
               f'font-size="12">',
               '<defs><marker id="head" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
               '<path d="M0,0 L8,4 L0,8 z" fill="#333"/></marker></defs>']
        for i, c in enumerate(self.columns):
            x = self.LEFT + i * self.COL + self.COL // 2
            out.append(f'<text x="{x}" y="20" text-anchor="middle" font-weight="bold">{html.escape(c)}</text>')
            out.append(f'<line x1="{x}" y1="30" x2="{x}" y2="{h - 5}" stroke="#bbb" stroke-dasharray="4,3"/>')
        for n, a in enumerate(self.arrows):
            y = self.TOP + n * self.ROW
            x1 = self.LEFT + a.src * self.COL + self.COL // 2
            x2 = self.LEFT + a.dst * self.COL + self.COL // 2
            colour = "#1f6fb2" if a.kind == "diameter" else "#333"
            out.append(f'<g class="msg" data-n="{n}"><title>{html.escape(a.text)}</title>')
            out.append(f'<text x="5" y="{y + 4}" fill="#888">{a.time:.3f}</text>')
            out.append(f'<line x1="{x1}" y1="{y}" x2="{x2 if x2 != x1 else x1 + 30}" y2="{y}" stroke="{colour}" '
                       f'stroke-width="1.5" marker-end="url(#head)"/>')
            out.append(f'<text x="{(x1 + x2) / 2}" y="{y - 4}" text-anchor="middle" fill="{colour}">'
                       f'{html.escape(a.label)}</text>')
            if a.note:
                xn = self.LEFT + self.COL * len(self.columns) + 10
                out.append(f'<text x="{xn}" y="{y + 4}" fill="#2a7d2a">{html.escape(a.note)}</text>')
            out.append("</g>")
        out.append("</svg>")
        return "\n".join(out)

    def html(self, title: str = "ladder") -> str:
        details = "\n".join(f'<pre id="m{n}" hidden>{html.escape(a.text)}</pre>' for n, a in enumerate(self.arrows))
        return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
#wrap {{ display: flex; gap: 1em; align-items: flex-start; }}
#detail {{ white-space: pre-wrap; font-family: monospace; font-size: 12px; background: #f6f6f6;
          border: 1px solid #ddd; padding: 0.5em; min-width: 30em; max-width: 50em; position: sticky; top: 0; }}
g.msg {{ cursor: pointer; }}
g.msg:hover line {{ stroke-width: 3; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(self.arrows)} messages between {len(self.columns)} nodes; hover an arrow to see the message,
click to keep it on the right.</p>
<div id="wrap"><div>{self.svg()}</div><div id="detail">click a message</div></div>
{details}
<script>
document.querySelectorAll("g.msg").forEach(function (g) {{
  g.addEventListener("click", function () {{
    document.getElementById("detail").textContent = document.getElementById("m" + g.dataset.n).textContent;
  }});
}});
</script>
</body></html>
"""


def topology_names(topology: object, ue_base_port: int = 5060) -> dict[str, str]:
    """Address -> name for a lab: every node's address, and each handset's "host:port" (a UE node's
    handset i listens on ue_base_port + i)."""
    names: dict[str, str] = {}
    for n in topology.nodes:  # type: ignore[attr-defined]
        names[n.address] = n.name
        for i, u in enumerate(u for u in topology.ues if u.node == n.name):  # type: ignore[attr-defined]
            names[f"{n.address}:{ue_base_port + i}"] = u.name
    return names
