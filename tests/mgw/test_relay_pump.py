"""The IM-MGW's packet pump (ims.net.relay) over real UDP sockets: no datagram stops it (issue 13).

Garbage, a report it cannot forward, or a fault in the relay core is counted against the termination
and the process (``internal_errors`` at "relay"/"rtcp") and dropped; the next valid packet is relayed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from ims.media.rtcp import ReceiverReport, ReportBlock, serialize_compound
from ims.media.rtp import RtpPacket
from ims.media.relay import TermSpec
from ims.net import boundary
from ims.net.relay import RelayPump

HOST = "127.0.0.1"


@pytest.fixture
def pump() -> Iterator[RelayPump]:
    boundary.reset_for_tests()
    p = RelayPump(HOST, (41000, 41999))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def _udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(5)
    return s


def _rtp(seq: int) -> bytes:
    return RtpPacket(0, seq, 160 * seq, 0xABCD, b"\xff" * 160).to_bytes()


def _receive(sock: socket.socket) -> bytes:
    data, _ = sock.recvfrom(4096)
    return data


def _until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_garbage_and_an_unforwardable_report_then_valid_rtp_still_arrives(pump: RelayPump) -> None:
    ue, pstn = _udp(), _udp()
    # The UE side's remote RTP port is 65535: RFC 3550 §11 leaves it no RTCP port (it used to make the pump
    # thread die on OverflowError from sendto(..., 65536), and the gateway relayed nothing more).
    a = pump.add("", TermSpec(HOST, 65535))
    b = pump.add(a.context, TermSpec(HOST, pstn.getsockname()[1]))
    report = serialize_compound([ReceiverReport(0x99, [ReportBlock(0xABCD, 0, 0, 1, 0, 0, 0)])])
    pstn.sendto(report, (HOST, b.local_port + 1))
    for junk in (b"", b"\x00", b"\x80" * 11, b"\xbf" + bytes(40), b"\x9f\x00" + bytes(10)):
        ue.sendto(junk, (HOST, a.local_port))
        ue.sendto(junk, (HOST, a.local_port + 1))
    ue.sendto(_rtp(7), (HOST, a.local_port))
    assert RtpPacket.parse(_receive(pstn)).sequence == 7
    # the RTCP sockets are served in their own turn: wait for them too
    _until(lambda: a.counters["malformed"] == 10 and b.counters["dropped"] == 1, "the RTCP datagrams")
    assert a.counters["packets_in"] == 6 and b.counters["dropped"] == 1  # the report that had nowhere to go
    for t in (a, b):
        pump.subtract(t.id)
    ue.close()
    pstn.close()


def test_a_fault_in_the_relay_core_is_counted_and_the_next_packet_is_relayed(pump: RelayPump,
                                                                              monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    ue, pstn = _udp(), _udp()
    a = pump.add("", TermSpec(HOST, ue.getsockname()[1]))
    b = pump.add(a.context, TermSpec(HOST, pstn.getsockname()[1]))
    real = pump.relay.rtp_in
    calls = {"n": 0}

    def rtp_in(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected fault in the relay core")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pump.relay, "rtp_in", rtp_in)
    ue.sendto(_rtp(1), (HOST, a.local_port))
    ue.sendto(_rtp(2), (HOST, a.local_port))
    assert RtpPacket.parse(_receive(pstn)).sequence == 2
    assert boundary.internal_errors_by_place() == {"relay": 1}
    assert pump.relay.terms[a.id].counters["malformed"] == 1
    for t in (a, b):
        pump.subtract(t.id)
    ue.close()
    pstn.close()
