"""Voice on volte-basic: each handset's RTP stream through real sockets, measured as call testers do.

alice offers SRTP (RTP/SAVP, SDES keys; RFC 4568), bob plain RTP.  A call
with QoS preconditions (183/PRACK/UPDATE/180/200) carries AMR-WB both ways;
the handsets' status reports RFC 3550 loss, jitter and RTCP round-trip time.
A 5 % loss impairment on the media shows as 5 % loss; tshark decodes a live
capture of the RTP and RTCP with no malformed packet.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims.control.client import NodeClient
from ims.control.ue import UeClient
from ims.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
ALICE, BOB = f"sip:alice@{DOMAIN}", f"sip:bob@{DOMAIN}"
UE_HOST = "127.0.1.100"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, UeClient, NodeClient]]:
    lab = Lab(ROOT / "topologies" / "volte-basic.toml", tmp_path_factory.mktemp("media") / "run")
    lab.up(timeout=30, extra_args={"ue": ("--no-register",)})
    try:
        ue = next(n for n in lab.load_state() if n.kind == "ue")
        with UeClient(f"127.0.0.1:{ue.control_port}", timeout=20) as ues, \
                NodeClient(f"127.0.0.1:{ue.control_port}") as node:
            assert ues.register("alice") == 200 and ues.register("bob") == 200
            yield lab, ues, node
    finally:
        lab.down()


def _talk(ues: UeClient, caller: str, callee: str, seconds: float) -> tuple[str, dict, dict]:  # type: ignore[type-arg]
    call = ues.call(caller, callee)
    rec = ues.wait_call(caller, call, ["confirmed", "failed"], 10)
    assert rec["state"] == "confirmed", rec
    time.sleep(seconds)
    a = ues.status(caller)["calls"][-1]
    b = next(c for c in ues.status("bob" if caller == "alice" else "alice")["calls"] if c["call_id"] == call)
    return call, a, b


def test_srtp_call_with_preconditions_carries_voice_both_ways(lab) -> None:  # type: ignore[no-untyped-def]
    _, ues, _ = lab
    call, a, b = _talk(ues, "alice", BOB, 5.0)
    hist = " ".join(a["history"])
    for step in ("183 (reliable) PRACK", "UPDATE 200", "180", "200"):
        assert step in hist, hist
    for m in (a["media"], b["media"]):
        assert m["srtp"] == "AES_CM_128_HMAC_SHA1_80" and m["codec"] == "AMR-WB/16000", m
        assert m["direction"] == "sendrecv"
        assert 230 <= m["packets_sent"] <= 270 and m["packets_received"] >= 230, m  # 50 packets/s for 5 s
        assert m["packets_lost"] == 0 and m["loss_percent"] == 0.0, m
        assert m["jitter_ms"] < 5.0, m
        assert m["rtt_ms"] is not None and 0 <= m["rtt_ms"] < 50, m  # RTCP SR/RR LSR/DLSR (RFC 3550 §6.4.1)
        assert m["auth_failures"] == 0 and m["malformed"] == 0 and m["rtcp_received"] >= 2, m
    assert a["media"]["local"] == b["media"]["remote"] and b["media"]["local"] == a["media"]["remote"]
    ues.send_dtmf("alice", "19#", call, duration_ms=100, method="rtp")  # RFC 4733 in the SRTP stream
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and ues.status("bob")["calls"][-1]["media"]["dtmf_received"] != "19#":
        time.sleep(0.1)
    assert ues.status("bob")["calls"][-1]["media"]["dtmf_received"] == "19#"
    assert ues.hold("alice", call) == 200  # RFC 3264 §8.4: alice sendonly, bob recvonly
    time.sleep(0.5)
    held = ues.status("bob")["calls"][-1]["media"]
    assert held["direction"] == "recvonly", held
    before = held["packets_sent"]
    time.sleep(0.5)
    assert ues.status("bob")["calls"][-1]["media"]["packets_sent"] == before  # bob stops sending while held
    assert ues.resume("alice", call) == 200
    time.sleep(0.5)
    assert ues.status("bob")["calls"][-1]["media"]["packets_sent"] > before
    ues.hangup("alice", call)
    assert ues.wait_call("bob", call, ["ended"], 5)["state"] == "ended"
    final = ues.status("alice")["calls"][-1]["media"]
    assert final["packets_sent"] > 250  # the figures stay with the ended call


def test_five_percent_loss_on_the_media_link_is_reported(lab) -> None:  # type: ignore[no-untyped-def]
    _, ues, node = lab
    node.impair(UE_HOST, loss_percent=5.0)  # what the UE node sends to 127.0.1.100: the media only
    try:
        call, a, b = _talk(ues, "alice", BOB, 14.0)
    finally:
        node.impair(UE_HOST, clear=True)
    ues.hangup("alice", call)
    lost = a["media"]["packets_lost"] + b["media"]["packets_lost"]
    expected = a["media"]["packets_expected"] + b["media"]["packets_expected"]
    assert expected >= 1300
    # 5 % ± 2 over ~1400 packets: the binomial spread is 0.58 %, so ± 2 is about 3.4 sigma
    assert 3.0 <= 100 * lost / expected <= 7.0, (a["media"], b["media"])
    for m in (a["media"], b["media"]):
        assert 1.0 <= m["loss_percent"] <= 10.0, m


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (Debian package tshark) is not installed")
def test_tshark_decodes_the_rtp_and_rtcp_with_nothing_malformed(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, ues, _ = lab
    cap = tmp_path / "media.pcapng"
    proc = subprocess.Popen(["tshark", "-i", "lo", "-f", f"udp and src host {UE_HOST} and dst host {UE_HOST}",
                             "-w", str(cap), "-a", "duration:8"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(1.5)  # dumpcap is capturing
        if proc.poll() is not None:
            pytest.skip(f"tshark cannot capture on lo here: {proc.stderr.read().strip()[:200]}")
        call, a, b = _talk(ues, "bob", ALICE, 2.0)  # bob offers plain RTP
        ues.hangup("bob", call)
    finally:
        proc.wait(20)
    ports = [int(a["media"]["local"].rsplit(":", 1)[1]), int(b["media"]["local"].rsplit(":", 1)[1])]
    decode = [x for p in ports for x in ("-d", f"udp.port=={p},rtp", "-d", f"udp.port=={p + 1},rtcp")]
    out = subprocess.run(["tshark", "-r", str(cap), *decode, "-T", "fields", "-e", "frame.protocols",
                          "-e", "_ws.malformed", "-e", "rtp.p_type", "-e", "rtcp.pt"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    rtp = [line for line in out if ":rtp" in line.split("\t")[0]]
    rtcp = [line for line in out if ":rtcp" in line.split("\t")[0]]
    assert len(rtp) >= 150 and len(rtcp) >= 2, (len(rtp), len(rtcp))
    assert not [line for line in out if "malformed" in line or line.split("\t")[1:2] not in ([""], [])], out[:5]
    assert {line.split("\t")[2] for line in rtp} <= {"96", "97", "98", "99", "0", "8"}
