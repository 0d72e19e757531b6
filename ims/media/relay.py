"""The IM-MGW's media relay, sans-IO: contexts of terminations, and what one arriving packet becomes.

H.248.1 words for lab use: a *context* joins two *terminations* (an RTP
endpoint of the gateway each: one port pair, one remote); a packet arriving
on one termination leaves through the other one of its context, subject to
the modes (H.248.1 §7.1.7 LocalControl mode: ``sendrecv``, ``sendonly``
= the gateway only sends toward this termination's remote, ``recvonly``
= it only receives from it, ``inactive``).  On the way the relay

- unprotects SRTP/SRTCP on a secured termination and protects on the
  other (so one side may be SRTP and the other plain RTP),
- transcodes G.711 µ-law <-> A-law (a byte table per packet, G.711 Table
  2a) and rewrites the payload type (and the RFC 4733 telephone-event
  type) to what the outgoing side negotiated; other codecs pass only to a
  side that negotiated the same encoding,
- latches the remote address from the first valid packet when none was given
  (symmetric RTP, as gateways facing NATed handsets do; a packet that fails SRTP
  authentication or does not parse moves nothing),
- keeps per-termination counters and the RFC 3550 receiver statistics
  (loss, jitter) of what arrives.

SSRC, sequence numbers and timestamps pass unchanged (an RTP translator,
RFC 3550 §7.1): G.711 <-> G.711 keeps the 8 kHz clock.  RTCP is forwarded
the same way, once it passes the RFC 3550 A.2 checks.  Nothing a packet holds raises
out of :meth:`Relay.rtp_in` / :meth:`Relay.rtcp_in`: a packet that cannot be relayed is counted and
dropped.  The driver (:mod:`ims.net.relay`) owns the sockets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ims.media.g711 import alaw_to_ulaw, ulaw_to_alaw
from ims.media.rtcp import RtcpError, parse_compound
from ims.media.rtp import RtpError, RtpPacket
from ims.media.srtp import SUITES, SrtpAuthError, SrtpError, SrtpSession, sdes_key
from ims.media.stats import ReceiverStats

MODES = ("sendrecv", "sendonly", "recvonly", "inactive")
_TRANSCODE = {("PCMU", "PCMA"): ulaw_to_alaw, ("PCMA", "PCMU"): alaw_to_ulaw}


class RelayError(ValueError):
    """A control request the gateway cannot honour; the message names the field."""


@dataclass(frozen=True)
class TermSpec:
    """What the controller (the MGCF, a P-CSCF) asks of one termination."""

    remote_host: str = ""
    remote_port: int = 0  # 0: latch onto the first packet's source
    payload_type: int = 0
    encoding: str = "PCMU"
    clock_rate: int = 8000
    telephone_event_pt: int | None = None
    mode: str = "sendrecv"
    srtp_suite: str = ""  # "" for plain RTP
    remote_key: bytes = b""  # the far end's SDES key (to unprotect what it sends)

    def check(self) -> None:
        if self.mode not in MODES:
            raise RelayError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0 <= self.payload_type <= 127:
            raise RelayError(f"payload_type must be 0..127, got {self.payload_type}")
        if self.telephone_event_pt is not None and not 0 <= self.telephone_event_pt <= 127:
            raise RelayError(f"telephone_event_pt must be 0..127, got {self.telephone_event_pt}")
        if not 0 <= self.remote_port <= 65535:
            raise RelayError(f"remote_port must be 0..65535, got {self.remote_port}")
        if self.remote_port and not self.remote_host:
            raise RelayError("remote_host is needed with remote_port")
        if self.srtp_suite:
            if self.srtp_suite not in SUITES:
                raise RelayError(f"srtp_suite {self.srtp_suite!r} is not supported ({', '.join(SUITES)})")
            if len(self.remote_key) != 30:
                raise RelayError(f"remote_key must be the 30-byte SDES master key||salt, got {len(self.remote_key)}")


@dataclass(eq=False)
class Termination:
    id: str
    context: str
    local_host: str
    local_port: int
    spec: TermSpec
    local_key: bytes = b""  # our SDES key toward this side (what we protect with)
    remote: tuple[str, int] | None = None
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("packets_in", "packets_out", "octets_in", "octets_out", "rtcp_in", "rtcp_out", "transcoded",
         "dropped", "auth_failures", "malformed"), 0))
    receiver: ReceiverStats | None = None
    tx: SrtpSession | None = None
    rx: SrtpSession | None = None

    def configure(self, spec: TermSpec) -> None:
        spec.check()
        old = self.spec if self.receiver is not None else None
        self.spec = spec
        if spec.remote_port:
            self.remote = (spec.remote_host, spec.remote_port)
        if self.receiver is None or (old is not None and old.clock_rate != spec.clock_rate):
            self.receiver = ReceiverStats(spec.clock_rate)
        if spec.srtp_suite:
            if not self.local_key or (old is not None and old.srtp_suite != spec.srtp_suite):
                self.local_key = sdes_key(spec.srtp_suite)
                self.tx = None
            if self.tx is None:
                self.tx = SrtpSession(spec.srtp_suite, self.local_key, outbound=True)
            if self.rx is None or old is None or old.remote_key != spec.remote_key:
                self.rx = SrtpSession(spec.srtp_suite, spec.remote_key, outbound=False)
        else:
            self.local_key, self.tx, self.rx = b"", None, None

    def stats(self) -> dict[str, Any]:
        r = self.receiver
        expected = r.expected if r else 0
        lost = max(0, r.cumulative_lost) if r else 0
        return {**self.counters, "packets_expected": expected, "packets_lost": lost,
                "loss_percent": round(100.0 * lost / expected, 2) if expected else 0.0,
                "jitter_ms": round(r.jitter_ms, 3) if r else 0.0}


@dataclass(eq=False)
class Context:
    id: str
    terms: list[Termination] = field(default_factory=list)

    def other(self, term: Termination) -> Termination | None:
        for t in self.terms:
            if t is not term:
                return t
        return None


class Relay:
    """Contexts and terminations, and the per-packet path between them."""

    MAX_TERMS = 2  # a lab IM-MGW joins two sides; conferencing is not modelled

    def __init__(self) -> None:
        self.contexts: dict[str, Context] = {}
        self.terms: dict[str, Termination] = {}
        self._ids = itertools.count(1)

    # -- control ---------------------------------------------------------------------
    def add(self, context_id: str, spec: TermSpec, host: str, port: int) -> Termination:
        """A new termination on ``host:port`` in ``context_id`` ("" or "$": a new context)."""
        spec.check()
        if context_id in ("", "$"):
            context_id = f"c{next(self._ids)}"
        ctx = self.contexts.get(context_id)
        if ctx is None:
            ctx = self.contexts[context_id] = Context(context_id)
        if len(ctx.terms) >= self.MAX_TERMS:
            raise RelayError(f"context {context_id} already has {self.MAX_TERMS} terminations")
        other = ctx.terms[0] if ctx.terms else None
        if other is not None:
            _check_pair(spec, other.spec)
        term = Termination(f"t{next(self._ids)}", context_id, host, port, spec)
        term.configure(spec)
        ctx.terms.append(term)
        self.terms[term.id] = term
        return term

    def modify(self, term_id: str, spec: TermSpec) -> Termination:
        term = self._term(term_id)
        other = self.contexts[term.context].other(term)
        if other is not None:
            _check_pair(spec, other.spec)
        term.configure(spec)
        return term

    def subtract(self, term_id: str) -> Termination:
        term = self._term(term_id)
        del self.terms[term_id]
        ctx = self.contexts[term.context]
        ctx.terms.remove(term)
        if not ctx.terms:
            del self.contexts[ctx.id]
        return term

    def _term(self, term_id: str) -> Termination:
        term = self.terms.get(term_id)
        if term is None:
            raise RelayError(f"no termination {term_id!r}")
        return term

    # -- the packet path -----------------------------------------------------------------
    def rtp_in(self, term: Termination, data: bytes, source: tuple[str, int], now: float
               ) -> tuple[Termination, bytes, tuple[str, int]] | None:
        """One RTP packet arrived on ``term``: what to send, from which termination, to where."""
        c = term.counters
        c["packets_in"] += 1
        c["octets_in"] += len(data)
        if term.rx is not None:
            try:
                data = term.rx.unprotect(data)
            except SrtpAuthError:
                c["auth_failures"] += 1
                return None
            except SrtpError:
                c["malformed"] += 1
                return None
        try:
            pkt = RtpPacket.parse(data)
        except RtpError:
            c["malformed"] += 1
            return None
        if term.remote is None:
            # latch (symmetric RTP) onto the first packet that authenticates and parses: a stray
            # datagram must not take the termination's media away from the real peer
            term.remote = (source[0], source[1])
        if term.receiver is not None:
            term.receiver.update(pkt, now)
        if term.spec.mode in ("sendonly", "inactive"):
            c["dropped"] += 1
            return None
        out = self.contexts[term.context].other(term)
        if out is None or out.remote is None or out.spec.mode in ("recvonly", "inactive"):
            c["dropped"] += 1
            return None
        spec_in, spec_out = term.spec, out.spec
        pt = pkt.payload_type
        changed = False
        if pt == spec_in.telephone_event_pt:
            if spec_out.telephone_event_pt is None:
                c["dropped"] += 1
                return None
            pt_out = spec_out.telephone_event_pt
        elif pt == spec_in.payload_type:
            pt_out = spec_out.payload_type
            fn = _TRANSCODE.get((spec_in.encoding.upper(), spec_out.encoding.upper()))
            if fn is not None:
                pkt.payload = fn(pkt.payload)
                changed = True
                c["transcoded"] += 1
        else:
            c["dropped"] += 1  # a payload type nobody negotiated
            return None
        if pt_out != pt or changed:
            pkt.payload_type = pt_out
            data = pkt.to_bytes()
        if out.tx is not None:
            try:
                data = out.tx.protect(data)
            except SrtpError:
                c["dropped"] += 1
                return None
        oc = out.counters
        oc["packets_out"] += 1
        oc["octets_out"] += len(data)
        return out, data, out.remote

    def rtcp_in(self, term: Termination, data: bytes, source: tuple[str, int]
                ) -> tuple[Termination, bytes, tuple[str, int]] | None:
        """An RTCP compound arrived on ``term``'s RTCP port: forwarded to the other side's RTCP port."""
        term.counters["rtcp_in"] += 1
        if term.rx is not None:
            try:
                data = term.rx.unprotect_rtcp(data)
            except SrtpAuthError:
                term.counters["auth_failures"] += 1
                return None
            except SrtpError:
                term.counters["malformed"] += 1
                return None
        try:
            # RFC 3550 A.2 validity checks before anything is forwarded: a translator passes reports on
            # unchanged, but not bytes that are no RTCP at all.
            parse_compound(data)
        except RtcpError:
            term.counters["malformed"] += 1
            return None
        if term.remote is None:
            term.remote = (source[0], source[1] - 1)  # latch, as for RTP, on a valid compound only
        out = self.contexts[term.context].other(term)
        if out is None or out.remote is None or out.spec.mode == "inactive":
            return None
        if out.remote[1] >= 65535:  # §11: RTCP on the RTP port + 1; a remote RTP port 65535 has none
            term.counters["dropped"] += 1
            return None
        if out.tx is not None:
            try:
                data = out.tx.protect_rtcp(data)
            except SrtpError:
                term.counters["dropped"] += 1
                return None
        out.counters["rtcp_out"] += 1
        return out, data, (out.remote[0], out.remote[1] + 1)


def _check_pair(a: TermSpec, b: TermSpec) -> None:
    ea, eb = a.encoding.upper(), b.encoding.upper()
    if ea != eb and (ea, eb) not in _TRANSCODE:
        raise RelayError(f"cannot relay {a.encoding} to {b.encoding}: only G.711 µ-law/A-law is transcoded")
    if ea == eb and a.clock_rate != b.clock_rate:
        raise RelayError(f"clock rates differ for {a.encoding}: {a.clock_rate} vs {b.clock_rate}")
