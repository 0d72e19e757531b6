"""The IM-MGW as a process (nodes/mgw.py): terminations through its gRPC service, packets on real sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims.control.client import ControlError, wait_healthy
from ims.control.mgw import MgwClient
from ims.media.g711 import ulaw_to_alaw
from ims.media.rtp import RtpPacket, RtpSender
from ims.media.srtp import SrtpSession, sdes_key

ROOT = Path(__file__).resolve().parents[2]
MGW = "127.0.9.70"
SUITE = "AES_CM_128_HMAC_SHA1_80"


@pytest.fixture
def mgw(tmp_path: Path) -> Iterator[MgwClient]:
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "nodes.mgw", "--address", MGW, "--rtp-ports", "31000:31019",
                             "--control-port-file", str(port_file), "--log-file", str(tmp_path / "mgw.log")],
                            cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert proc.poll() is None, "the MGW exited at start"
            assert time.monotonic() < deadline, "no control port"
            time.sleep(0.05)
        target = f"127.0.0.1:{port_file.read_text().strip()}"
        wait_healthy(target, timeout=10)
        with MgwClient(target) as client:
            yield client
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def _udp(host: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(2)
    return s


def test_srtp_ue_to_plain_pcma_pstn_both_ways_with_stats(mgw: MgwClient) -> None:
    ue, pstn = _udp("127.0.9.100"), _udp("127.0.9.80")
    ue_key = sdes_key(SUITE)
    a = mgw.add(media={"remote_address": "127.0.9.100", "remote_port": ue.getsockname()[1], "payload_type": 0,
                       "encoding": "PCMU", "srtp_suite": SUITE, "srtp_remote_key": ue_key})
    b = mgw.add(a["context_id"], media={"remote_address": "127.0.9.80", "remote_port": pstn.getsockname()[1],
                                        "payload_type": 8, "encoding": "PCMA"})
    assert a["local_address"] == MGW and a["local_port"] % 2 == 0 and len(a["srtp_local_key"]) == 30
    ue_tx, ue_rx = SrtpSession(SUITE, ue_key, outbound=True), SrtpSession(SUITE, a["srtp_local_key"], outbound=False)
    up, down = RtpSender(0, 8000, 11), RtpSender(8, 8000, 22)
    frame = bytes(range(160))
    for _ in range(20):
        ue.sendto(ue_tx.protect(up.next(frame, 160).to_bytes()), (MGW, a["local_port"]))
        got = RtpPacket.parse(pstn.recv(2048))
        assert got.payload_type == 8 and got.payload == ulaw_to_alaw(frame) and got.ssrc == 11
        pstn.sendto(down.next(got.payload, 160).to_bytes(), (MGW, b["local_port"]))
        back = RtpPacket.parse(ue_rx.unprotect(ue.recv(2048)))
        assert back.payload_type == 0 and back.ssrc == 22
    bad = bytearray(ue_tx.protect(up.next(frame, 160).to_bytes()))
    bad[-1] ^= 1
    ue.sendto(bytes(bad), (MGW, a["local_port"]))
    time.sleep(0.2)
    [ctx] = mgw.audit()
    stats = {t["termination_id"]: t["stats"] for t in ctx["terminations"]}
    assert stats[a["termination_id"]]["packets_in"] == 21 and stats[a["termination_id"]]["auth_failures"] == 1
    assert stats[a["termination_id"]]["transcoded"] == 20 and stats[b["termination_id"]]["packets_out"] == 20
    assert stats[b["termination_id"]]["packets_lost"] == 0
    final = mgw.subtract(a["termination_id"])
    assert final["stats"]["packets_out"] == 20
    mgw.subtract(b["termination_id"])
    assert mgw.audit() == [] and mgw.stats()["free_port_pairs"] == 10


def test_bad_requests_get_specific_errors_and_the_port_range_runs_out(mgw: MgwClient) -> None:
    with pytest.raises(ControlError, match="INVALID_ARGUMENT.*mode"):
        mgw.add(media={"mode": "loud"})
    with pytest.raises(ControlError, match="NOT_FOUND"):
        mgw.subtract("t404")
    taken = [mgw.add(media={}) for _ in range(10)]  # 31000..31019: ten pairs
    with pytest.raises(ControlError, match="RESOURCE_EXHAUSTED"):
        mgw.add(media={})
    for t in taken:
        mgw.subtract(t["termination_id"])
    assert mgw.stats()["free_port_pairs"] == 10


def test_a_fixed_circuit_port_outside_the_range(mgw: MgwClient) -> None:
    t = mgw.add(media={"encoding": "PCMA", "payload_type": 8}, local_port=31100)
    assert t["local_port"] == 31100
    with pytest.raises(ControlError, match="ALREADY_EXISTS"):
        mgw.add(media={}, local_port=31100)
    with pytest.raises(ControlError, match="INVALID_ARGUMENT.*inside the ephemeral range"):
        mgw.add(media={}, local_port=31002)
    mgw.subtract(t["termination_id"])
    assert mgw.stats()["free_port_pairs"] == 10
    again = mgw.add(media={}, local_port=31100)  # released: the circuit's pair can be taken again
    mgw.subtract(again["termination_id"])


def test_the_gateway_reports_rtcp_and_sampled_rtp_on_its_event_stream(mgw: MgwClient) -> None:
    import threading

    seen: list = []  # type: ignore[type-arg]
    stop = threading.Event()

    def follow() -> None:
        for ev in mgw.events(timeout=5, kinds=["rtp", "rtcp"]):
            seen.append(ev)
            if stop.is_set():
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    time.sleep(0.5)  # subscribed
    a_sock, b_sock = _udp("127.0.9.100"), _udp("127.0.9.80")
    a = mgw.add(media={"remote_address": "127.0.9.100", "remote_port": a_sock.getsockname()[1]})
    b = mgw.add(a["context_id"], media={"remote_address": "127.0.9.80", "remote_port": b_sock.getsockname()[1]})
    sender = RtpSender(0, 8000, 5)
    for _ in range(60):
        a_sock.sendto(sender.next(bytes(160), 160).to_bytes(), (MGW, a["local_port"]))
        b_sock.recv(2048)
    time.sleep(0.5)
    stop.set()
    reader.join(6)
    rtp = [e for e in seen if e.kind == "rtp"]
    assert {e.direction for e in rtp} == {"in", "out"} and 2 <= len(rtp) <= 6, [e.summary for e in rtp]  # 1 in 50
    assert rtp[0].summary.startswith("RTP PT 0 seq")
    mgw.subtract(a["termination_id"])
    mgw.subtract(b["termination_id"])
