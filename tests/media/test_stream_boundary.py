"""A handset's media stream over real UDP sockets: no datagram ends it (issue 13, DESIGN "Layers").

Each datagram is handled inside a per-packet boundary: an unexpected exception is logged once, counted
(``internal_errors`` at the place "rtp"/"rtcp", the stream's ``malformed``) and the packet dropped; the
next packet is received as if nothing happened.
"""

from __future__ import annotations

import socket

import pytest
import trio

from ims.media.rtcp import ReceiverReport, serialize_compound
from ims.media.rtp import RtpPacket, TelephoneEvent
from ims.media.stats import ReceiverStats
from ims.media.stream import StreamParams
from ims.net import boundary
from ims.net.media import MediaStream

HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    boundary.reset_for_tests()


async def _wait_for(predicate: object, what: str, timeout: float = 5.0) -> None:
    with trio.move_on_after(timeout):
        while not predicate():  # type: ignore[operator]
            await trio.sleep(0.005)
        return
    raise AssertionError(f"timed out waiting for {what}")


def _peer() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    return s


async def _running(nursery: trio.Nursery, peer: socket.socket, **extra: object) -> MediaStream:
    stream = MediaStream(HOST, rtcp_interval=3600)
    await stream.bind()
    params = StreamParams(HOST, peer.getsockname()[1], 0, "PCMU", 8000, direction="recvonly", **extra)  # type: ignore[arg-type]
    await nursery.start(stream.run, params)
    return stream


def _rtp(seq: int, pt: int = 0, payload: bytes = b"\xff" * 160) -> bytes:
    return RtpPacket(pt, seq, seq * 160, 0x1234, payload).to_bytes()


async def test_garbage_then_valid_rtp_arrives_and_a_handler_fault_is_contained() -> None:
    peer = _peer()
    async with trio.open_nursery() as nursery:
        stream = await _running(nursery, peer)
        calls = {"n": 0}

        class Faulty(ReceiverStats):
            __slots__ = ()

            def update(self, pkt: RtpPacket, arrival: float) -> bool:
                calls["n"] += 1
                if calls["n"] == 1:
                    raise RuntimeError("injected fault in the receiver statistics")
                return super().update(pkt, arrival)

        stream.receiver = Faulty(8000)
        dest = (HOST, stream.port)
        for junk in (b"", b"\x00", b"\x80" * 11, b"\xbf" + bytes(40), b"\x9f\x00" + bytes(10)):
            peer.sendto(junk, dest)
        peer.sendto(_rtp(1), dest)   # reaches the faulty handler: contained
        peer.sendto(_rtp(2), dest)   # and the stream still receives the next one
        await _wait_for(lambda: stream.receiver is not None and stream.receiver.received == 1, "the valid packet")
        assert boundary.internal_errors_by_place() == {"rtp": 1}
        assert stream.counters["malformed"] == 6  # five undecodable datagrams and the one that hit the fault
        stream.close()
    peer.close()


async def test_rtcp_handler_fault_is_contained_and_the_next_report_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    peer = _peer()
    async with trio.open_nursery() as nursery:
        stream = await _running(nursery, peer)
        import ims.net.media as media

        real = media.rtt_seconds
        calls = {"n": 0}

        def rtt(*args: object) -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("injected fault in the RTT arithmetic")
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(media, "rtt_seconds", rtt)
        assert stream.sender is not None
        from ims.media.rtcp import ReportBlock

        block = ReportBlock(stream.sender.ssrc, 0, 0, 1, 0, 0x12345678, 0)
        report = serialize_compound([ReceiverReport(0x99, [block])])
        dest = (HOST, stream.port + 1)
        peer.sendto(b"\x80\xc9\x00\x07junk", dest)  # length runs past the datagram: malformed
        peer.sendto(report, dest)
        peer.sendto(report, dest)
        await _wait_for(lambda: stream.counters["rtcp_received"] == 2, "the second report")
        assert boundary.internal_errors_by_place() == {"rtcp": 1}
        assert stream.counters["malformed"] == 2
        stream.close()
    peer.close()


async def test_rfc4733_end_packets_from_a_peer_keep_bounded_state() -> None:
    """Every end packet with a new timestamp is a new digit: memory for them stays bounded."""
    peer = _peer()
    async with trio.open_nursery() as nursery:
        stream = await _running(nursery, peer, telephone_event_pt=101)
        end = TelephoneEvent(1, True, 10, 800).to_bytes()
        dest = (HOST, stream.port)
        for i in range(400):
            peer.sendto(RtpPacket(101, i, 1000 * i, 0x1234, end).to_bytes(), dest)
            if i % 50 == 49:
                await _wait_for(lambda i=i: stream.receiver is not None and stream.receiver.received == i + 1,
                                "the event packets")
        assert len(stream._dtmf_seen) <= 16
        assert stream.dtmf_received == "1" * 256
        stream.close()
    peer.close()


async def test_an_sdp_port_of_65535_leaves_no_rtcp_port_and_sending_goes_on() -> None:
    """RFC 3550 §11: RTCP goes to the RTP port + 1; for 65535 there is none (it used to raise OverflowError)."""
    peer = _peer()
    async with trio.open_nursery() as nursery:
        stream = MediaStream(HOST, rtcp_interval=0.01)
        await stream.bind()
        params = StreamParams(HOST, 65535, 0, "PCMU", 8000, ptime=10)
        await nursery.start(stream.run, params)
        await _wait_for(lambda: stream.counters["rtcp_sent"] >= 3 and stream.sender is not None
                        and stream.sender.packets_sent >= 3, "reports and packets to be sent")
        assert stream.counters["send_errors"] >= 3
        stream.close()
    peer.close()
