"""IM-MGW relay capacity: concurrent bidirectional G.711 streams (20 ms packets) through one gateway process.

One ``nodes.mgw`` process relays STREAMS contexts, each a PCMU termination
("IMS side") and a PCMA termination ("PSTN side"), so every packet is
transcoded and has its payload type rewritten.  The load generator (this
process, on the other core) sends 50 packets/s in each direction of each
stream for DURATION seconds from two sockets, spread evenly over each
20 ms period, and receives what the gateway relays (the streams are told
apart by SSRC).  Each packet carries its send time in the RTP timestamp
(which the gateway passes unchanged); per stream and direction we compute the loss and the RFC 3550 A.8 interarrival jitter of
the relayed packets measured against their actual send times, i.e. the
jitter the gateway (and the loopback) *adds*.

A count passes with loss < 1 % and added jitter < 10 ms (the 95th
percentile over streams of the final jitter estimate).  Figures are medians
of RUNS runs.  ``python -m tools.bench mgw``; IMS_BENCH_STREAMS (e.g.
"100,200,300"), IMS_BENCH_DURATION and IMS_BENCH_RUNS override the defaults.
"""

from __future__ import annotations

import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ims.control.client import wait_healthy
from ims.control.mgw import MgwClient

ROOT = Path(__file__).resolve().parents[1]
MGW = "127.0.9.170"
GEN = "127.0.9.171"
PTIME = 0.020


def start_mgw(tmp: Path) -> tuple[subprocess.Popen[bytes], MgwClient]:
    port_file = tmp / "mgw.port"
    proc = subprocess.Popen([sys.executable, "-m", "nodes.mgw", "--address", MGW, "--rtp-ports", "32000:33999",
                             "--control-port-file", str(port_file), "--log-file", str(tmp / "mgw.log")], cwd=ROOT)
    deadline = time.monotonic() + 20
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the MGW did not start")
        time.sleep(0.05)
    target = f"127.0.0.1:{port_file.read_text().strip()}"
    wait_healthy(target, timeout=10)
    return proc, MgwClient(target, timeout=10)


def _socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.bind((GEN, 0))
    s.setblocking(False)
    return s


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(mgw: MgwClient, streams: int, duration: float, pid: int) -> tuple[float, float, float, float, float]:
    """One run: (loss %, p95 added jitter ms, median added jitter ms, packets/s sent, gateway CPU %)."""
    ims_sock, pstn_sock = _socket(), _socket()
    ims_port, pstn_port = ims_sock.getsockname()[1], pstn_sock.getsockname()[1]
    terms = []
    # (dest port on the MGW, sending socket, header template) per direction; SSRC = 2*stream + direction
    senders = []
    for i in range(streams):
        a = mgw.add(media={"remote_address": GEN, "remote_port": ims_port, "payload_type": 0, "encoding": "PCMU"})
        b = mgw.add(a["context_id"], media={"remote_address": GEN, "remote_port": pstn_port, "payload_type": 8,
                                            "encoding": "PCMA"})
        terms += [a["termination_id"], b["termination_id"]]
        senders.append((a["local_port"], ims_sock, 0, 2 * i))
        senders.append((b["local_port"], pstn_sock, 8, 2 * i + 1))
    n = len(senders)
    sent = [0] * n
    received = [0] * n
    jitter = [0.0] * n
    last_transit: list[float | None] = [None] * n
    payload = bytes(range(96, 256))  # 160 bytes of G.711
    ep = select.epoll()
    for s in (ims_sock, pstn_sock):
        ep.register(s.fileno(), select.EPOLLIN)
    socks = {ims_sock.fileno(): ims_sock, pstn_sock.fileno(): pstn_sock}
    hdr = struct.Struct("!BBHII")

    def drain() -> None:
        for fd, _ in ep.poll(0):
            s = socks[fd]
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                now = time.monotonic()
                ssrc = int.from_bytes(data[8:12], "big")
                if ssrc >= n:
                    continue
                transit = now - start - int.from_bytes(data[4:8], "big") / 1e6
                received[ssrc] += 1
                prev = last_transit[ssrc]
                if prev is not None:
                    jitter[ssrc] += (abs(transit - prev) - jitter[ssrc]) / 16  # RFC 3550 A.8
                last_transit[ssrc] = transit

    cpu0 = cpu_seconds(pid)
    start = time.monotonic()
    periods = int(duration / PTIME)
    slots = 20  # each 20 ms period in 1 ms slots, so the load is smooth, not 2*STREAMS packets at once
    per_slot = -(-n // slots)
    try:
        for k in range(periods):
            base = start + k * PTIME
            for slot in range(slots):
                at = base + slot * PTIME / slots
                while (now := time.monotonic()) < at:
                    drain()
                    if at - now > 0.0003:
                        time.sleep(0.0002)
                for j in range(slot * per_slot, min(n, (slot + 1) * per_slot)):
                    port, s, pt, ssrc = senders[j]
                    # the send time (µs since start) rides in the RTP timestamp, which the gateway
                    # passes unchanged (the payload it transcodes)
                    stamp = int((time.monotonic() - start) * 1e6) & 0xFFFFFFFF
                    pkt = hdr.pack(0x80, pt, k & 0xFFFF, stamp, ssrc) + payload
                    try:
                        s.sendto(pkt, (MGW, port))
                        sent[j] += 1
                    except BlockingIOError:
                        pass
        elapsed = time.monotonic() - start
        cpu = 100.0 * (cpu_seconds(pid) - cpu0) / elapsed
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            drain()
            time.sleep(0.001)
    finally:
        for t in terms:
            mgw.subtract(t)
        ep.close()
        ims_sock.close()
        pstn_sock.close()
    # senders[j] is received on index ssrc == j (2*i + direction)
    loss = 100.0 * (sum(sent) - sum(received)) / max(1, sum(sent))
    jit_ms = sorted(j * 1000 for j in jitter)
    p95 = jit_ms[min(len(jit_ms) - 1, int(0.95 * len(jit_ms)))]
    return loss, p95, statistics.median(jit_ms), sum(sent) / elapsed, cpu


def main() -> None:
    counts = [int(x) for x in os.environ.get("IMS_BENCH_STREAMS", "100,200,300").split(",")]
    duration = float(os.environ.get("IMS_BENCH_DURATION", "10"))
    runs = int(os.environ.get("IMS_BENCH_RUNS", "3"))
    tmp = Path(tempfile.mkdtemp(prefix="ims-bench-mgw-"))
    proc, mgw = start_mgw(tmp)
    print(f"  G.711 PCMU<->PCMA, 20 ms packets, {duration:.0f} s per run, median of {runs} runs; "
          f"pass: loss < 1 %, p95 added jitter < 10 ms")
    try:
        for streams in counts:
            results = [run(mgw, streams, duration, proc.pid) for _ in range(runs)]
            loss = statistics.median(r[0] for r in results)
            p95 = statistics.median(r[1] for r in results)
            med = statistics.median(r[2] for r in results)
            verdict = "PASS" if loss < 1.0 and p95 < 10.0 else "FAIL"
            pps = statistics.median(r[3] for r in results)
            cpu = statistics.median(r[4] for r in results)
            print(f"  {streams:4d} bidirectional streams ({pps:.0f} packets/s in and out): loss {loss:.2f} %, "
                  f"added jitter p95 {p95:.2f} ms, median {med:.2f} ms, gateway CPU {cpu:.0f} % of one core  "
                  f"{verdict}  "
                  f"(runs: {', '.join(f'{r[0]:.2f}%/{r[1]:.1f}ms' for r in results)})")
    finally:
        mgw.close()
        proc.terminate()  # the gateway this benchmark started, by its own PID
        proc.wait(10)


if __name__ == "__main__":
    main()
