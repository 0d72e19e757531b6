"""RFC 3264 offer/answer for VoLTE audio: build offers and answers, read what was agreed.

``make_offer`` writes an audio offer (AMR-WB, AMR, G.711, telephone-event,
optional SDES-SRTP and RFC 3312 preconditions); ``make_answer`` answers an
offer stream by stream (RFC 3264 §6); ``negotiate`` turns a completed
exchange into the one thing the media plane needs, a :class:`Negotiated`;
``hold_offer`` writes the re-offer that puts a call on hold (§8.4).

Everything is a pure function of its arguments over ``ims.sdp.model``
values: no sockets, no clocks, no SIP.  The only randomness is a fresh
session id (when none is given) and fresh SRTP keys.

Not here: SDP syntax (``ims.sdp.model``), the precondition state machine
(which decides *when* to send a=curr updates), RTP itself (``ims.media``).
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass

from ims.sdp.model import (
    DIRECTIONS,
    STATIC_PAYLOAD_TYPES,
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

# RFC 3261 §20.43 warn-codes that explain a 488.
WARN_INCOMPATIBLE_FORMAT = 305
WARN_MEDIA_TYPE_NOT_AVAILABLE = 304
WARN_TRANSPORT_NOT_AVAILABLE = 302

_NOT_VOICE = ("telephone-event", "cn")
_AMR = ("amr", "amr-wb")


class OfferAnswerError(ValueError):
    """The offer (or exchange) cannot be used; ``status`` is the SIP response (488)."""

    def __init__(self, status: int = 488, reason: str = "Not Acceptable Here", *,
                 warning: int | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.warning = warning  # RFC 3261 §20.43 warn-code for a Warning header, if any


@dataclass(frozen=True, slots=True)
class Codec:
    """A format we can send and receive; ``payload_type`` is the number we prefer when offering."""

    encoding: str
    clock_rate: int
    channels: int | None = None
    fmtp: str | None = None
    payload_type: int | None = None

    def rtpmap(self, payload_type: int) -> RtpMap:
        return RtpMap(payload_type, self.encoding, self.clock_rate, self.channels)

    def matches(self, rtpmap: RtpMap, fmtp: str | None) -> bool:
        return _same_format(self.rtpmap(rtpmap.payload_type), self.fmtp, rtpmap, fmtp)

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.lower() == "telephone-event"


# TS 26.114 §6.2.2.2 / GSMA IR.92 §3.2: AMR and AMR-WB offered in octet-aligned and
# bandwidth-efficient form, mode-change-capability=2, no redundancy.
AMR_WB = Codec("AMR-WB", 16000, 1, "octet-align=1;mode-change-capability=2;max-red=0")
AMR_WB_BE = Codec("AMR-WB", 16000, 1, "mode-change-capability=2;max-red=0")
AMR = Codec("AMR", 8000, 1, "octet-align=1;mode-change-capability=2;max-red=0")
AMR_BE = Codec("AMR", 8000, 1, "mode-change-capability=2;max-red=0")
PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
# RFC 4733 §7.1.1: DTMF events 0-15, one telephone-event per audio clock rate.
TELEPHONE_EVENT_16K = Codec("telephone-event", 16000, fmtp="0-15")
TELEPHONE_EVENT_8K = Codec("telephone-event", 8000, fmtp="0-15")
VOLTE_CODECS = (AMR_WB, AMR_WB_BE, AMR, AMR_BE, PCMU, PCMA, TELEPHONE_EVENT_16K, TELEPHONE_EVENT_8K)


@dataclass
class Negotiated:
    """What one side of a completed exchange sends and expects, for one stream."""

    codec: RtpMap
    payload_type: int
    telephone_event_pt: int | None
    remote_address: str
    remote_port: int
    direction: str  # the direction *we* use: sendrecv, sendonly, recvonly or inactive
    ptime: int
    local_crypto: Crypto | None = None
    remote_crypto: Crypto | None = None
    fmtp: str | None = None  # the peer's format parameters for ``payload_type``


def _octet_align(fmtp: str | None) -> bool:
    # RFC 4867 §8.1: octet-align absent means 0 (bandwidth-efficient).
    return parse_fmtp(fmtp or "").get("octet-align", "0") == "1"


def _same_format(a: RtpMap, a_fmtp: str | None, b: RtpMap, b_fmtp: str | None) -> bool:
    """Same codec: name (case-insensitive), clock rate, channels (absent = 1) and, for
    AMR/AMR-WB, the octet-align mode (RFC 4867 §8.3.1: it must match in offer and answer)."""
    if a.encoding.lower() != b.encoding.lower() or a.clock_rate != b.clock_rate:
        return False
    if (a.channels or 1) != (b.channels or 1):
        return False
    return a.encoding.lower() not in _AMR or _octet_align(a_fmtp) == _octet_align(b_fmtp)


def _flags(direction: str) -> tuple[bool, bool]:
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(send: bool, recv: bool) -> str:
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly", (False, False): "inactive"}[(send, recv)]


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")


def _combine(ours: str, theirs: str) -> str:
    """We send only if we want to and they receive; we receive only if both agree (§6.1)."""
    send, recv = _flags(ours)
    they_send, they_recv = _flags(theirs)
    return _direction(send and they_recv, recv and they_send)


def _new_session_id() -> str:
    return str(secrets.randbelow(2**32))


def _assign_payload_types(codecs: list[Codec]) -> list[int]:
    """Preferred or RFC 3551 static numbers, then dynamic ones from 96 (RFC 3551 §3)."""
    fixed: list[int | None] = []
    for c in codecs:
        pt = c.payload_type
        if pt is None:
            pt = next((n for n, (enc, rate) in STATIC_PAYLOAD_TYPES.items()
                       if enc.lower() == c.encoding.lower() and rate == c.clock_rate
                       and (c.channels or 1) == 1), None)
        fixed.append(pt)
    taken = [pt for pt in fixed if pt is not None]
    if len(taken) != len(set(taken)):
        raise ValueError(f"two codecs ask for the same payload type: {taken}")
    free = (n for n in range(96, 128) if n not in taken)
    out: list[int] = []
    for pt in fixed:
        if pt is None:
            pt = next(free, None)
            if pt is None:
                raise ValueError("more codecs than dynamic payload types 96-127")
        out.append(pt)
    return out


def make_offer(address: str, port: int, codecs: list[Codec], *, session_id: int | None = None,
               username: str = "-", direction: str = "sendrecv", ptime: int | None = 20,
               maxptime: int | None = None, crypto: list[Crypto] | None = None,
               preconditions: list[Precondition] | None = None,
               bandwidths: list[tuple[str, int]] | None = None) -> SessionDescription:
    """An offer with one audio stream (RFC 3264 §5); RTP/SAVP when ``crypto`` is non-empty."""
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    _check_direction(direction)
    pts = _assign_payload_types(codecs)
    media = Media("audio", port, "RTP/SAVP" if crypto else "RTP/AVP", [str(pt) for pt in pts],
                  bandwidths=list(bandwidths or []))
    for codec, pt in zip(codecs, pts):
        media.add("rtpmap", str(codec.rtpmap(pt)))
        if codec.fmtp:
            media.add("fmtp", f"{pt} {codec.fmtp}")
    media.ptime = ptime
    media.maxptime = maxptime
    for c in crypto or []:
        media.add("crypto", str(c))
    if preconditions:
        media.set_preconditions(preconditions)
    media.direction = direction
    conn = Connection.ip(address)
    sid = str(session_id) if session_id is not None else _new_session_id()
    return SessionDescription(origin=Origin(username, sid, 0, conn.nettype, conn.addrtype, address),
                              connection=conn, times=[(0, 0)], media=[media])


class _Reject(Exception):
    def __init__(self, reason: str, warning: int = WARN_INCOMPATIBLE_FORMAT) -> None:
        super().__init__(reason)
        self.reason, self.warning = reason, warning


def _offered_crypto(m: Media) -> list[Crypto]:
    out = []
    for value in m.get_all("crypto"):
        try:
            out.append(Crypto.parse(value))
        except SdpError:
            continue  # RFC 4568 §7.1.2: an attribute we cannot use is skipped, not fatal
    return out


def _answer_stream(offer: SessionDescription, offered: Media, port: int, voice: list[Codec],
                   events: list[Codec], direction: str | None, crypto_suites: list[str] | None,
                   preconditions: list[Precondition] | None, prefer_local: bool) -> Media:
    if offered.port == 0:
        raise _Reject("stream already rejected in the offer")
    if offered.media != "audio":
        raise _Reject(f"media type {offered.media!r} not supported", WARN_MEDIA_TYPE_NOT_AVAILABLE)
    if offered.proto not in ("RTP/AVP", "RTP/SAVP"):
        raise _Reject(f"transport {offered.proto!r} not supported", WARN_TRANSPORT_NOT_AVAILABLE)
    if offered.connection is None and offer.connection is None:
        raise _Reject("no c= line for the stream")
    local_crypto = None
    if offered.proto == "RTP/SAVP":
        chosen = next((c for c in _offered_crypto(offered) if c.suite in (crypto_suites or [])), None)
        if chosen is None:
            raise _Reject("no offered a=crypto suite is supported", WARN_TRANSPORT_NOT_AVAILABLE)
        local_crypto = Crypto.generate(chosen.tag, chosen.suite)  # RFC 4568 §7.1.2: same tag
    rtpmaps, fmtps = offered.rtpmap(), offered.fmtp()
    offered_pts = [pt for pt in rtpmaps if str(pt) in offered.formats]
    # RFC 3264 §6.1: keep the offerer's payload type numbers, in the offer's order.
    kept: list[tuple[int, Codec]] = []
    for pt in offered_pts:
        if rtpmaps[pt].encoding.lower() in _NOT_VOICE:
            continue
        codec = next((c for c in voice if c.matches(rtpmaps[pt], fmtps.get(pt))), None)
        if codec is not None:
            kept.append((pt, codec))
    if not kept:
        raise _Reject("no common codec")
    if prefer_local:
        kept.sort(key=lambda k: voice.index(k[1]))
    # RFC 4733 §2.5.1.2: telephone-event at the clock rate of a codec we kept.
    rates = {c.clock_rate for _, c in kept}
    for pt in offered_pts:
        rm = rtpmaps[pt]
        if rm.encoding.lower() == "telephone-event" and rm.clock_rate in rates:
            codec = next((e for e in events if e.matches(rm, fmtps.get(pt))), None)
            if codec is not None:
                kept.append((pt, codec))
                rates.discard(rm.clock_rate)
    media = Media("audio", port, offered.proto, [str(pt) for pt, _ in kept])
    for pt, codec in kept:
        media.add("rtpmap", str(rtpmaps[pt]))
        fmtp = fmtps.get(pt) or codec.fmtp  # echo the offerer's parameters; ours if it gave none
        if fmtp:
            media.add("fmtp", f"{pt} {fmtp}")
    media.ptime = offered.ptime
    media.maxptime = offered.maxptime
    if local_crypto is not None:
        media.add("crypto", str(local_crypto))
    if preconditions:
        media.set_preconditions(preconditions)
    # RFC 3264 §6.1: mirror the offered direction, narrowed by what we want.
    theirs = offered.effective_direction(offer)
    media.direction = _combine(direction or "sendrecv", theirs)
    return media


def make_answer(offer: SessionDescription, address: str, port: int, codecs: list[Codec], *,
                direction: str | None = None, crypto_suites: list[str] | None = None,
                preconditions: list[Precondition] | None = None, session_id: int | None = None,
                username: str = "-", prefer_local: bool = False) -> SessionDescription:
    """Answer ``offer`` stream by stream (RFC 3264 §6).

    The first acceptable audio stream is accepted on ``port`` with the offered
    codecs we support (``codecs``), using the offerer's payload type numbers in
    the offer's order (``prefer_local=True`` orders them by ``codecs`` instead).
    Every other stream is answered with port 0 and its offered formats.
    Raises :class:`OfferAnswerError` (488) when no stream is acceptable.
    """
    if direction is not None:
        _check_direction(direction)
    voice = [c for c in codecs if c.encoding.lower() not in _NOT_VOICE]
    events = [c for c in codecs if c.is_telephone_event]
    answered: list[Media] = []
    reasons: list[_Reject] = []
    accepted = False
    for index, offered in enumerate(offer.media):
        try:
            if accepted and offered.port != 0:
                raise _Reject("only one audio stream is supported", WARN_MEDIA_TYPE_NOT_AVAILABLE)
            answered.append(_answer_stream(offer, offered, port, voice, events, direction,
                                           crypto_suites, preconditions, prefer_local))
            accepted = True
        except _Reject as r:
            reasons.append(_Reject(f"m={offered.media} stream {index}: {r.reason}", r.warning))
            answered.append(Media(offered.media, 0, offered.proto, list(offered.formats)))
    if not accepted:
        first = reasons[0] if reasons else _Reject("the offer has no m= line")
        raise OfferAnswerError(488, "; ".join(r.reason for r in reasons) or first.reason,
                               warning=first.warning)
    conn = Connection.ip(address)
    sid = str(session_id) if session_id is not None else _new_session_id()
    # RFC 3264 §6: the answer's t= is the offer's.
    return SessionDescription(origin=Origin(username, sid, 0, conn.nettype, conn.addrtype, address),
                              connection=conn, times=list(offer.times) or [(0, 0)], media=answered)


def _formats(m: Media) -> list[tuple[int, RtpMap, str | None]]:
    rtpmaps, fmtps = m.rtpmap(), m.fmtp()
    return [(pt, rtpmaps[pt], fmtps.get(pt)) for pt in rtpmaps if str(pt) in m.formats]


def negotiate(local: SessionDescription, remote: SessionDescription, *, stream: int = 0,
              local_is_offer: bool | None = None) -> Negotiated:
    """What we send, to where, after an exchange; ``local`` may be the offer or the answer.

    The codec is the first one of the answer that the offer also has (RFC 3264
    §6.1).  Which side answered is inferred: the answer lists a subset of the
    offer's payload types; when both list the same set, the remote side is taken
    as the answer, so pass ``local_is_offer`` if the two orders may differ.
    """
    if stream < 0 or stream >= min(len(local.media), len(remote.media)):
        raise OfferAnswerError(488, f"no m= line {stream} in both descriptions")
    lm, rm = local.media[stream], remote.media[stream]
    if lm.port == 0 or rm.port == 0:
        raise OfferAnswerError(488, f"stream {stream} was rejected (port 0)")
    lf, rf = _formats(lm), _formats(rm)
    if local_is_offer is None:
        lset, rset = set(lm.formats), set(rm.formats)
        local_is_offer = not (lset < rset)
    answer, offer = (rf, lf) if local_is_offer else (lf, rf)
    chosen = next((a for a in answer if a[1].encoding.lower() not in _NOT_VOICE
                   and any(_same_format(a[1], a[2], o[1], o[2]) for o in offer)), None)
    if chosen is None:
        raise OfferAnswerError(488, f"no codec in common on stream {stream}", warning=WARN_INCOMPATIBLE_FORMAT)
    # The peer receives on the numbers it listed (RFC 3264 §5.1): send with its payload type.
    pt, codec, fmtp = next(r for r in rf if _same_format(r[1], r[2], chosen[1], chosen[2]))
    local_events = {r.clock_rate for _, r, _ in lf if r.encoding.lower() == "telephone-event"}
    te = next((p for p, r, _ in rf if r.encoding.lower() == "telephone-event"
               and r.clock_rate == codec.clock_rate and r.clock_rate in local_events), None)
    local_crypto = remote_crypto = None
    if "SAVP" in lm.proto or "SAVP" in rm.proto:
        mine = _offered_crypto(lm)
        pair = next(((lc, rc) for rc in _offered_crypto(rm) for lc in mine
                     if lc.tag == rc.tag and lc.suite == rc.suite), None)
        if pair is None:
            raise OfferAnswerError(488, f"no a=crypto in common on stream {stream}",
                                   warning=WARN_TRANSPORT_NOT_AVAILABLE)
        local_crypto, remote_crypto = pair
    try:
        address = rm.connection_address(remote)
    except SdpError as exc:
        raise OfferAnswerError(488, str(exc)) from None
    return Negotiated(
        codec=codec, payload_type=pt, telephone_event_pt=te, remote_address=address,
        remote_port=rm.port, direction=_combine(lm.effective_direction(local), rm.effective_direction(remote)),
        ptime=rm.ptime or lm.ptime or 20, local_crypto=local_crypto, remote_crypto=remote_crypto, fmtp=fmtp)


def hold_offer(previous: SessionDescription, direction: str = "sendonly") -> SessionDescription:
    """The re-offer that holds (or with "sendrecv" resumes) every live stream (RFC 3264 §8.4).

    A copy of ``previous`` with o= sess-version + 1 (§8) and the new direction on
    every stream with a non-zero port; a stream that was recvonly or inactive
    goes inactive rather than sendonly (§8.4).
    """
    _check_direction(direction)
    sd = copy.deepcopy(previous)
    sd.origin.sess_version += 1
    for m in sd.media:
        if m.port == 0:
            continue
        new = direction
        if direction == "sendonly" and m.effective_direction(sd) in ("recvonly", "inactive"):
            new = "inactive"
        m.direction = new
    return sd
