"""SDP for VoLTE: the RFC 4566/8866 model (``model``) and RFC 3264 offer/answer (``offer_answer``).

Sans-IO and dependency-free: bytes in, dataclasses out, bytes back.
"""

from ims.sdp.model import (
    DIRECTIONS,
    Attribute,
    Connection,
    Crypto,
    Media,
    Origin,
    Precondition,
    RtpMap,
    SdpError,
    SessionDescription,
    parse_fmtp,
)
from ims.sdp.preconditions import QosPrecondition
from ims.sdp.offer_answer import (
    AMR,
    AMR_BE,
    AMR_WB,
    AMR_WB_BE,
    PCMA,
    PCMU,
    TELEPHONE_EVENT_8K,
    TELEPHONE_EVENT_16K,
    VOLTE_CODECS,
    Codec,
    Negotiated,
    OfferAnswerError,
    hold_offer,
    make_answer,
    make_offer,
    negotiate,
)

__all__ = [
    "QosPrecondition",
    "AMR", "AMR_BE", "AMR_WB", "AMR_WB_BE", "DIRECTIONS", "PCMA", "PCMU", "TELEPHONE_EVENT_16K",
    "TELEPHONE_EVENT_8K", "VOLTE_CODECS", "Attribute", "Codec", "Connection", "Crypto", "Media",
    "Negotiated", "OfferAnswerError", "Origin", "Precondition", "RtpMap", "SdpError",
    "SessionDescription", "hold_offer", "make_answer", "make_offer", "negotiate", "parse_fmtp",
]
