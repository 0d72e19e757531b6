"""Sans-IO media: RTP, RTCP, reception statistics, SRTP, G.711, audio sources, AMR framing.

Every class here turns bytes into values and back, or numbers and accounts
packets with times handed in; the trio media driver in ``ims/net`` owns the
sockets and the clock.  One module per protocol piece:

* :mod:`ims.media.rtp`: RTP packets, :class:`RtpSender`, RFC 4733 events
* :mod:`ims.media.rtcp`: RTCP compound packets, NTP and RTT arithmetic
* :mod:`ims.media.stats`: RFC 3550 A.1/A.3/A.8 receiver statistics
* :mod:`ims.media.srtp`: SDES-keyed SRTP over pylibsrtp
* :mod:`ims.media.g711`: PCMU/PCMA tables
* :mod:`ims.media.source`: tone, WAV and silence sources
* :mod:`ims.media.amr`: RFC 4867 AMR/AMR-WB payload framing
"""

from ims.media.amr import (
    AMR_FRAME_BITS, AMR_WB_FRAME_BITS, AmrError, AmrSource, amr_payload, parse_amr_payload,
)
from ims.media.g711 import alaw_decode, alaw_encode, alaw_to_ulaw, ulaw_decode, ulaw_encode, ulaw_to_alaw
from ims.media.rtcp import (
    SDES_CNAME, Bye, RawRtcp, ReceiverReport, ReportBlock, RtcpError, RtcpPacket, SenderReport,
    SourceDescription, middle32, ntp_now, ntp_to_unix, parse_compound, rtt_seconds, serialize_compound,
)
from ims.media.rtp import DTMF_EVENTS, RtpError, RtpPacket, RtpSender, TelephoneEvent, is_rtcp
from ims.media.source import SilenceSource, Source, ToneSource, WavSource, make_source
from ims.media.srtp import (
    SUITES, SrtpAuthError, SrtpError, SrtpReplayError, SrtpSession, from_inline, inline, sdes_key,
)
from ims.media.stats import ReceiverStats

__all__ = [
    "AMR_FRAME_BITS", "AMR_WB_FRAME_BITS", "AmrError", "AmrSource", "amr_payload", "parse_amr_payload",
    "alaw_decode", "alaw_encode", "alaw_to_ulaw", "ulaw_decode", "ulaw_encode", "ulaw_to_alaw",
    "SDES_CNAME", "Bye", "RawRtcp", "ReceiverReport", "ReportBlock", "RtcpError", "RtcpPacket",
    "SenderReport", "SourceDescription", "middle32", "ntp_now", "ntp_to_unix", "parse_compound",
    "rtt_seconds", "serialize_compound",
    "DTMF_EVENTS", "RtpError", "RtpPacket", "RtpSender", "TelephoneEvent", "is_rtcp",
    "SilenceSource", "Source", "ToneSource", "WavSource", "make_source",
    "SUITES", "SrtpAuthError", "SrtpError", "SrtpReplayError", "SrtpSession", "from_inline", "inline",
    "sdes_key",
    "ReceiverStats",
]
