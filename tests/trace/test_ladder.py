"""Ladders and event files: message de-duplication, text layout, HTML/SVG well-formedness, explain notes, CLI."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from ims.control.events import NodeEvent
from ims.trace.ladder import Ladder, label_of
from ims.trace.record import messages, read_events, write_events

ROOT = Path(__file__).resolve().parents[2]
UE, P, I, H = "127.0.1.100:5060", "127.0.1.40:5060", "127.0.1.20:5060", "127.0.1.10:3868"
NAMES = {"127.0.1.100:5060": "alice", "127.0.1.40": "pcscf", "127.0.1.20": "icscf", "127.0.1.10": "hss"}

REGISTER = (b"REGISTER sip:ims.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.100:5060;branch=z9hG4bK1\r\n"
            b"From: <sip:alice@ims.example>;tag=1\r\nTo: <sip:alice@ims.example>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
            b'Authorization: Digest username="a", realm="ims.example", nonce="", uri="sip:ims.example", response=""\r\n'
            b"Content-Length: 0\r\n\r\n")
CHALLENGE = (b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.1.100:5060;branch=z9hG4bK1\r\n"
             b"From: <sip:alice@ims.example>;tag=1\r\nTo: <sip:alice@ims.example>;tag=2\r\nCall-ID: c\r\n"
             b'CSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm="ims.example", nonce="x", algorithm=AKAv1-MD5\r\n'
             b"Content-Length: 0\r\n\r\n")


def ev(t: float, direction: str, src: str, dst: str, payload: bytes, kind: str = "sip", summary: str = "") -> NodeEvent:
    first = payload.split(b"\r\n", 1)[0].decode() if kind == "sip" else summary
    return NodeEvent(kind, direction, src, dst, "udp" if kind == "sip" else "tcp", payload, first, time=t)


EVENTS = [
    ev(1.000, "in", UE, P, REGISTER),  # the P-CSCF's view of what alice sent (nobody followed alice)
    ev(1.001, "out", P, I, REGISTER),
    ev(1.0012, "in", P, I, REGISTER),  # the same message as the I-CSCF received it: drawn once
    ev(1.002, "out", I, H, b"\x01\x00\x00\x10", "diameter", "UAR"),
    ev(1.003, "out", H, I, b"\x01\x00\x00\x10", "diameter", "UAA 2001"),
    ev(1.010, "out", P, UE, CHALLENGE),
]


def test_messages_once_each_in_time_order() -> None:
    msgs = messages(list(reversed(EVENTS)))
    assert [(m.src, m.dst, label_of(m)) for m in msgs] == [
        (UE, P, "REGISTER"), (P, I, "REGISTER"), (I, H, "UAR"), (H, I, "UAA 2001"), (P, UE, "401 Unauthorized")]


def test_text_ladder_columns_arrows_and_explain() -> None:
    text = Ladder(EVENTS, NAMES, explain_steps=True).text(width=12)
    lines = text.splitlines()
    assert lines[0].split() == ["time(s)", "alice", "pcscf", "icscf", "hss"]
    assert lines[1].startswith("  0.000") and "REGISTER->" in lines[1] and "initial registration" in lines[1]
    assert "<UAA 2001" in lines[4] and "#" not in lines[4]  # an answer: no clause of its own
    assert "TS 29.228 §6.1.1" in lines[3]
    assert "TS 33.203 §6.1 AKA challenge" in lines[5] and "<401 Unaut" in lines[5]
    assert len(lines) == 6


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.groups = 0
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[type-arg]
        self.tags.append(tag)
        if tag == "g" and ("class", "msg") in attrs:
            self.groups += 1


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    ladder = Ladder(EVENTS, NAMES, explain_steps=True)
    page = ladder.html("registration")
    parser = _Collect()
    parser.feed(page)
    assert parser.groups == 5 and "script" in parser.tags
    assert "<sip:alice" not in page and "&lt;sip:alice@ims.example&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    svg = ET.fromstring(ladder.svg())
    assert len([e for e in svg.iter() if e.tag.endswith("line")]) == 4 + 5  # lifelines + arrows


def test_event_file_round_trip_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    assert write_events(path, EVENTS) == len(EVENTS)
    back = read_events(path)
    assert [(e.src, e.dst, e.payload, e.time) for e in back] == [(e.src, e.dst, e.payload, e.time) for e in EVENTS]
    html_out, pcap = tmp_path / "l.html", tmp_path / "r.pcap"
    run = subprocess.run([sys.executable, "-m", "ims.cli", "trace", str(path), "--text", "--explain", "--html",
                          str(html_out), "--pcap", str(pcap)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "REGISTER" in run.stdout and "TS 33.203" in run.stdout
    assert html_out.read_text().count('class="msg"') == 5 and pcap.stat().st_size > 24
    (tmp_path / "bad.jsonl").write_text('{"kind": "sip"}\n')
    bad = subprocess.run([sys.executable, "-m", "ims.cli", "trace", str(tmp_path / "bad.jsonl")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 1 and "bad.jsonl:1: not an event" in bad.stdout


def test_isup_and_media_arrows_carry_their_labels_and_clauses() -> None:
    mgcf, pstn = "127.0.1.60:40000", "127.0.1.80:2905"
    events = [ev(2.0, "out", mgcf, pstn, b"\x01\x00\x01\x00", "m3ua", "IAM CIC 3"),
              ev(2.1, "out", pstn, mgcf, b"\x01\x00\x01\x00", "m3ua", "REL CIC 3"),
              ev(2.2, "out", "127.0.1.100:40000", "127.0.1.70:30000", b"\x80" * 12, "rtcp", "RTCP SR")]
    msgs = messages(events)
    assert [label_of(m) for m in msgs] == ["IAM CIC 3", "REL CIC 3", "RTCP SR"]
    text = Ladder(events, {"127.0.1.60": "mgcf", "127.0.1.80": "pstn"}, explain_steps=True).text(width=12)
    assert "Q.764 §2.1 basic call set-up" in text and "Q.764 §2.3 release" in text and "RFC 3550 §6.4" in text
