"""The handset's SDP policy on top of :mod:`ims.sdp`: what a VoLTE phone offers, answers and then sends.

One audio stream.  The offer lists the handset's codecs (AMR-WB, AMR in
octet-aligned and bandwidth-efficient forms, PCMU, PCMA by default) with
telephone-event at 16 and 8 kHz (RFC 4733); with SRTP it is RTP/SAVP
with one ``a=crypto`` per suite (SDES, RFC 4568), the key staying the same
for the whole call.  The answer keeps the offerer's payload types (RFC
3264 §6.1).  With ``qos`` the body carries the segmented QoS
preconditions VoLTE uses (RFC 3312 §5, TS 24.229 §6.1.2): ``a=curr`` /
``a=des`` (and ``a=conf`` from the answerer), the local status "none"
until the handset's bearer is up, "sendrecv" after.

:func:`stream_params` turns the latest local and remote bodies of a call
into what :class:`ims.net.media.MediaStream` sends, and where.
"""

from __future__ import annotations

from ims.media.stream import StreamParams
from ims.sip.errors import SipParseError
from ims.sip.multipart import parse_multipart
from ims.sdp import (
    AMR, AMR_BE, AMR_WB, AMR_WB_BE, PCMA, PCMU, TELEPHONE_EVENT_8K, TELEPHONE_EVENT_16K, Codec, Crypto,
    OfferAnswerError, Precondition, SessionDescription, make_answer, make_offer, negotiate,
)
from ims.sdp import SdpError as _ModelError

CODECS: dict[str, tuple[Codec, ...]] = {
    "AMR-WB": (AMR_WB, AMR_WB_BE),  # octet-aligned first (what Wireshark decodes without a hint)
    "AMR": (AMR, AMR_BE),
    "PCMU": (PCMU,),
    "PCMA": (PCMA,),
}
DEFAULT_CODECS = ("AMR-WB", "AMR", "PCMU", "PCMA")
SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")


class SdpError(ValueError):
    """An offer we cannot answer, or an unusable body: the callee answers ``status`` 488 Not Acceptable
    Here (RFC 3261 §21.4.26) with ``reason`` (printable ASCII, Warning-friendly) and, for a Warning
    header, the RFC 3261 §20.43 ``warning`` code (305 incompatible media format, 399 unreadable SDP...)."""

    status = 488

    def __init__(self, reason: str, *, warning: int | None = 399) -> None:
        super().__init__(reason)
        self.warning = warning

    @property
    def reason(self) -> str:
        text = "".join(c if " " <= c <= "~" and c not in '\\"' else "?" for c in str(self))
        return text if len(text) <= 120 else text[:117] + "..."


def codec_list(names: tuple[str, ...] | list[str] = DEFAULT_CODECS) -> list[Codec]:
    out = [c for n in names for c in CODECS[n]]
    rates = {c.clock_rate for c in out}
    out += [e for e in (TELEPHONE_EVENT_16K, TELEPHONE_EVENT_8K) if e.clock_rate in rates]
    return out


def new_crypto() -> list[Crypto]:
    """The call's SDES keys, one per suite, tags 1.. (RFC 4568 §9.1 preference order)."""
    return [Crypto.generate(i + 1, suite) for i, suite in enumerate(SUITES)]


def qos(local: str, remote: str, *, confirm: bool = False) -> list[Precondition]:
    """RFC 3312 §5 segmented status: what is reserved now (curr) and what is needed (des)."""
    out = [Precondition("curr", "qos", None, "local", local), Precondition("curr", "qos", None, "remote", remote),
           Precondition("des", "qos", "mandatory", "local", "sendrecv"),
           Precondition("des", "qos", "mandatory", "remote", "sendrecv")]
    if confirm:
        out.append(Precondition("conf", "qos", None, "remote", "sendrecv"))  # §5.1: tell me when you are reserved
    return out


def _parse(body: bytes) -> SessionDescription:
    try:
        return SessionDescription.parse(body)
    except _ModelError as exc:
        raise SdpError(f"bad SDP: {exc}", warning=exc.warning) from None


def offer(host: str, port: int, session: int | None = None, *, qos_state: tuple[str, str] | None = None,
          version: int = 1, direction: str = "sendrecv", codecs: tuple[str, ...] | list[str] = DEFAULT_CODECS,
          crypto: list[Crypto] | None = None, preconditions: list[Precondition] | None = None) -> bytes:
    """Our offer; status lines from ``preconditions`` (a QosPrecondition's lines) or ``qos_state``."""
    if preconditions is None and qos_state is not None:
        preconditions = qos(*qos_state)
    sd = make_offer(host, port, codec_list(codecs), session_id=session, direction=direction, ptime=20,
                    maxptime=240, crypto=crypto or None, preconditions=preconditions,
                    bandwidths=[("AS", 41)])
    sd.origin.sess_version = version
    return sd.to_bytes()


def answer(offer_sdp: bytes, host: str, port: int, session: int | None = None, *,
           qos_state: tuple[str, str] | None = None, confirm: bool = False, version: int = 1,
           codecs: tuple[str, ...] | list[str] = DEFAULT_CODECS, crypto: list[Crypto] | None = None,
           preconditions: list[Precondition] | None = None) -> bytes:
    """Our answer to ``offer_sdp``; with an RTP/SAVP offer, our key of the call for the suite chosen."""
    if preconditions is None and qos_state is not None:
        preconditions = qos(*qos_state, confirm=confirm)
    sd_offer = _parse(offer_sdp)
    try:
        sd = make_answer(sd_offer, host, port, codec_list(codecs), crypto_suites=list(SUITES),
                         preconditions=preconditions,
                         session_id=session)
    except OfferAnswerError as exc:
        raise SdpError(str(exc.reason), warning=exc.warning) from None
    except _ModelError as exc:  # a line read only now (a=crypto, a=curr...) is malformed
        raise SdpError(f"bad SDP: {exc}", warning=exc.warning) from None
    sd.origin.sess_version = version
    if crypto:
        for m in sd.media:
            mine = m.crypto()
            if m.port and mine:  # RFC 4568 §7.1.2: same tag and suite as chosen, our call's key
                ours = next((c for c in crypto if c.suite == mine[0].suite), None)
                if ours is not None:
                    m.remove("crypto")
                    m.add("crypto", str(Crypto(mine[0].tag, ours.suite, ours.key_params, ours.session_params)))
    return sd.to_bytes()


def check_offer(offer_sdp: bytes, codecs: tuple[str, ...] | list[str] = DEFAULT_CODECS) -> None:
    """Raise :class:`SdpError` now if ``offer_sdp`` could not be answered, so a callee refuses the INVITE
    with 488 at once rather than ringing first and failing at the answer."""
    answer(offer_sdp, "127.0.0.1", 9, codecs=codecs)


def stream_params(local: bytes, remote: bytes, *, local_is_offer: bool | None = None) -> StreamParams:
    """What to send and where, from the call's latest local and remote bodies."""
    try:
        neg = negotiate(_parse(local), _parse(remote), local_is_offer=local_is_offer)
    except OfferAnswerError as exc:
        raise SdpError(str(exc.reason), warning=exc.warning) from None
    except _ModelError as exc:
        raise SdpError(f"bad SDP: {exc}", warning=exc.warning) from None
    return StreamParams.from_negotiated(neg)


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


def direction(sdp: bytes) -> str:
    """The audio stream's direction attribute (RFC 4566 §6; sendrecv when none is given)."""
    found = "sendrecv"
    for raw in sdp.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line.startswith("a=") and line[2:] in DIRECTIONS:
            found = line[2:]
    return found


def is_secure(sdp: bytes) -> bool:
    return b"RTP/SAVP" in sdp


def sdp_of(message: object) -> bytes:
    """The SDP of a SIP message: its body, or the application/sdp part of a multipart body (SIP-I/SIP-T
    INVITEs from an MGCF carry the ISUP message beside it, RFC 3372 §6); b"" when there is none."""
    body: bytes = getattr(message, "body", b"") or b""
    if not body:
        return b""
    ctype = (getattr(message, "content_type", "") or "").lower()
    if ctype.startswith("multipart/"):
        try:
            parts = parse_multipart(message.get("content-type") or "", body)  # type: ignore[attr-defined]
        except SipParseError:
            return b""
        return next((p.body for p in parts if p.media_type == "application/sdp"), b"")
    return body if ctype in ("", "application/sdp") else b""
