"""The handset's SDP offer and answer (RFC 3264), kept small: one audio stream, VoLTE codecs.

The offer lists AMR-WB, AMR, PCMU and PCMA with telephone-event (RFC 4733);
the answer keeps the offerer's first codec the handset supports, with the
offerer's payload type (RFC 3264 §6.1).  With ``qos`` the body carries the
segmented QoS preconditions VoLTE uses (RFC 3312 §5, TS 24.229 §6.1.2):
``a=curr``/``a=des`` (and ``a=conf`` from the answerer), the local status
"none" until the handset's bearer is up, "sendrecv" after.  No SRTP here.
"""

from __future__ import annotations

import time

CODECS = {  # encoding name -> (clock rate, payload type we offer)
    "AMR-WB": (16000, 96),
    "AMR": (8000, 97),
    "PCMU": (8000, 0),
    "PCMA": (8000, 8),
}


class SdpError(ValueError):
    """An offer we cannot answer (the callee answers 488 Not Acceptable Here)."""


def qos_lines(local: str, remote: str, *, confirm: bool = False) -> list[str]:
    """RFC 3312 §5 segmented status: what is reserved now (curr) and what is needed (des)."""
    lines = [f"a=curr:qos local {local}", f"a=curr:qos remote {remote}",
             "a=des:qos mandatory local sendrecv", "a=des:qos mandatory remote sendrecv"]
    if confirm:
        lines.append("a=conf:qos remote sendrecv")  # §5.1: tell me when your side is reserved
    return lines


def qos_state(sdp: bytes) -> dict[str, str]:
    """``{"local": ..., "remote": ...}`` from the a=curr:qos lines (as the sender wrote them)."""
    out = {}
    for raw in sdp.decode("utf-8", "replace").splitlines():
        parts = raw.strip().split()
        if len(parts) == 3 and parts[0] == "a=curr:qos":
            out[parts[1]] = parts[2]
    return out


def has_preconditions(sdp: bytes) -> bool:
    return b"a=des:qos" in sdp


DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


def direction(sdp: bytes) -> str:
    """The audio stream's direction attribute (RFC 4566 §6; sendrecv when none is given)."""
    found = "sendrecv"
    for raw in sdp.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("a=") and line[2:] in DIRECTIONS:
            found = line[2:]
    return found


def offer(host: str, port: int, session: int | None = None, *, qos: tuple[str, str] | None = None,
          version: int = 1, direction: str = "sendrecv") -> bytes:
    sid = session if session is not None else int(time.time() * 1000) % 10**10
    pts = [str(pt) for _, pt in CODECS.values()] + ["100"]
    lines = ["v=0", f"o=- {sid} {version} IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(pts)}", "b=AS:41"]
    for name, (rate, pt) in CODECS.items():
        lines.append(f"a=rtpmap:{pt} {name}/{rate}")
        if name.startswith("AMR"):
            lines.append(f"a=fmtp:{pt} mode-change-capability=2;max-red=0")
    lines += ["a=rtpmap:100 telephone-event/8000", "a=fmtp:100 0-15", "a=ptime:20", "a=maxptime:240",
              f"a={direction}"]
    if qos is not None:
        lines += qos_lines(*qos)
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_audio(sdp: bytes) -> tuple[str, int, list[tuple[int, str]]]:
    """(connection address, audio port, [(payload type, encoding name)]) of an SDP body."""
    host, port, pts, names = "", 0, [], {}
    for raw in sdp.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("c=") and len(line.split()) >= 3:
            host = line.split()[2]
        elif line.startswith("m=audio"):
            parts = line.split()
            if len(parts) < 4 or not parts[1].isdigit():
                raise SdpError(f"bad media line {line!r}")
            port = int(parts[1])
            pts = [int(p) for p in parts[3:] if p.isdigit()]
        elif line.startswith("a=rtpmap:"):
            pt, _, enc = line[9:].partition(" ")
            if pt.isdigit():
                names[int(pt)] = enc.split("/")[0]
    if not pts:
        raise SdpError("no audio stream in the offer")
    static = {0: "PCMU", 8: "PCMA"}
    return host, port, [(pt, names.get(pt, static.get(pt, "?"))) for pt in pts]


def answer(offer_sdp: bytes, host: str, port: int, session: int | None = None, *,
           qos: tuple[str, str] | None = None, confirm: bool = False, version: int = 1) -> bytes:
    _, _, offered = parse_audio(offer_sdp)
    chosen = next(((pt, name) for pt, name in offered if name.upper() in CODECS), None)
    if chosen is None:
        raise SdpError("no common codec")
    pt, name = chosen
    rate = CODECS[name.upper()][0]
    sid = session if session is not None else int(time.time() * 1000) % 10**10
    tev = next((p for p, n in offered if n.lower() == "telephone-event"), None)
    fmts = [str(pt)] + ([str(tev)] if tev is not None else [])
    lines = ["v=0", f"o=- {sid} {version} IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(fmts)}", f"a=rtpmap:{pt} {name}/{rate}"]
    if tev is not None:
        lines += [f"a=rtpmap:{tev} telephone-event/8000", f"a=fmtp:{tev} 0-15"]
    # RFC 3264 §6.1: sendonly is answered recvonly (hold, §8.4), inactive inactive.
    lines += ["a=ptime:20", f"a={ANSWER_DIRECTION[direction(offer_sdp)]}"]
    if qos is not None:
        lines += qos_lines(*qos, confirm=confirm)
    return ("\r\n".join(lines) + "\r\n").encode()
