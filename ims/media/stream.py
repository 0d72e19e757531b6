"""What offer/answer settled for one RTP stream, as the media plane needs it (no SDP here).

:class:`StreamParams` is the hand-over between signalling (``ims.sdp``'s
``Negotiated``, built by a handset or a gateway controller) and the code
that sends packets (``ims.net.media.MediaStream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StreamParams:
    """What offer/answer settled for one audio stream, from this end's point of view."""

    remote_host: str
    remote_port: int
    payload_type: int
    encoding: str  # "PCMU", "PCMA", "AMR-WB", "AMR"...
    clock_rate: int
    ptime: int = 20
    direction: str = "sendrecv"  # what *we* do
    telephone_event_pt: int | None = None
    fmtp: str | None = None
    srtp_suite: str | None = None
    local_key: bytes | None = None  # our SDES master key||salt (we protect with it)
    remote_key: bytes | None = None  # the peer's (we unprotect with it)

    @classmethod
    def from_negotiated(cls, neg: Any) -> StreamParams:
        """From :class:`ims.sdp.Negotiated`."""
        suite = neg.local_crypto.suite if neg.local_crypto and neg.remote_crypto else None
        return cls(remote_host=neg.remote_address, remote_port=neg.remote_port, payload_type=neg.payload_type,
                   encoding=neg.codec.encoding, clock_rate=neg.codec.clock_rate, ptime=neg.ptime or 20,
                   direction=neg.direction, telephone_event_pt=neg.telephone_event_pt, fmtp=neg.fmtp,
                   srtp_suite=suite,
                   local_key=neg.local_crypto.master_key_salt() if suite else None,
                   remote_key=neg.remote_crypto.master_key_salt() if suite else None)
