"""Overload control: a node sheds new work early and cheaply instead of collapsing under it.

A node is one trio thread.  Offered more than it can serve, UDP datagrams
wait in the kernel buffer, every hop's retransmission timers fire (RFC 3261
§17: T1 = 500 ms) and multiply the load, and soon everything it does is late
and times out.  The way out is to refuse *new* work at the door, at a small
fraction of what accepting it would cost, and to keep completing the work
already accepted.

- :class:`AdmissionPolicy` (sans-IO, ``now`` passed in) watches the queueing
  delay the driver observes (how long the datagram at the head of the queue
  waited in the kernel before the node read it) and turns it into the fraction
  of new work admitted.  Its control law is CoDel-like in what it measures
  (the *minimum* delay over an interval: a standing queue, not a burst) and
  AIMD in how it reacts: a queue above ``target_delay`` on enough reads for
  ``enter_after`` intervals in a row starts shedding (one slow interval is a
  process descheduled on a busy host, not overload); then the fraction is cut
  in proportion to the excess, but not again while the queue is visibly
  draining from the last cut; below half the target it grows back
  additively; the node leaves overload (hysteresis) only when it admits
  everything again and the queue stays short.  Admission within the fraction
  is deterministic (a credit counter, no randomness).
- :class:`ConcurrencyLimit` (sans-IO) bounds the work in flight at the edge,
  which sees the whole chain behind it (P -> I -> S -> HSS): the initial
  transactions a node admitted straight from a UA and has not yet answered
  finally (the driver reports every response it sends).  The limit adapts,
  AIMD as in TCP Vegas and Netflix's concurrency-limits: a median latency of
  the answered ones above ``target_latency`` (half T1), or answers that say
  the chain had no room (503, the §16.7 500 made of one, 408/504, or 64*T1
  without an answer), cut it multiplicatively; quick answers while the limit
  holds work back grow it additively.  By Little's law the node then admits
  about what the chain completes, every answer inside T1: no retransmission
  storm, goodput near capacity, memory bounded by the ceiling.  The queue
  delay signal above stays as the node's own CPU guard.
- :class:`SipAdmission` classifies a SIP datagram from a minimal scan of its
  bytes (request line, Via, From, To, Call-ID, CSeq, Authorization) and either
  lets it through or returns a 503 Service Unavailable with Retry-After
  (RFC 3261 §21.5.4), built from the received header lines (§8.2.6.2) without
  the full parse.  Only new *initial* requests are shed: responses, ACK,
  CANCEL, in-dialog requests (To tag), retransmissions of transactions it
  admitted, REGISTERs carrying credentials (the second leg of an accepted
  challenge) and emergency requests (``urn:service:sos``, TS 24.229 §5.2.10)
  all go on, since they complete accepted work.  A client that advertises
  RFC 7339 support (``oc`` in its top Via) gets the loss-based feedback
  (``oc``, ``oc-algo``, ``oc-validity``, ``oc-seq``) on the 503.
- :class:`RequestLimit` bounds the requests a Diameter node has in progress;
  beyond it the driver answers 3004 DIAMETER_TOO_BUSY (RFC 6733 §7.1.3).
- :func:`enable_timestamps` / :func:`udp_head_delay` are the only socket code
  here: the kernel stamps each datagram on arrival (``SO_TIMESTAMPNS``), and a
  ``MSG_PEEK`` of the head of the queue tells how long it waited.

Thresholds come from :class:`OverloadConfig` (defaults below; the topology
can set them).  ``IMS_OVERLOAD=off`` in a node's environment disables SIP
shedding (the benchmark's "without shedding" runs), and
``IMS_OVERLOAD=target_delay=0.03,retry_after=2`` overrides fields.

Not here: throttling our own requests toward an overloaded peer (the client
side of RFC 7339), and TCP/TLS delay measurement (a stream peer is paced by
TCP flow control; only its requests' classification applies).
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import struct
import time
from dataclasses import dataclass, fields, replace

log = logging.getLogger("ims.net.overload")

# Linux: SO_TIMESTAMPNS (== SCM_TIMESTAMPNS); the socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")


@dataclass(frozen=True, slots=True)
class OverloadConfig:
    target_delay: float = 0.25  # s of standing queue above which the node sheds (half T1 = 0.5 s): the node's
    # own CPU; the concurrency limit below, which sees the whole chain behind the node, does most of the work
    interval: float = 0.1  # s between two control steps
    min_samples: int = 2  # reads an interval needs before its delay counts as a standing queue
    enter_after: int = 2  # intervals in a row above the target before the node starts shedding
    min_cut: float = 0.6  # the strongest multiplicative cut of the admitted fraction in one step
    cut_spacing: int = 2  # intervals a cut is given to show in the queue before the next one
    draining: float = 0.9  # a queue below this share of the last interval's is draining: no further cut
    max_cut: float = 0.9  # the mildest one (delay just above target)
    increase: float = 0.05  # additive growth of the fraction per step once the queue is short
    regrow: float = 1.2  # and multiplicative too once it is empty (under a quarter of the target)
    min_fraction: float = 0.02  # never shut the door completely: some new work still probes
    retry_after: int = 1  # s, RFC 3261 §20.33, at full admission; grows as the admitted fraction shrinks
    max_retry_after: int = 30
    validity: float = 0.5  # s, RFC 7339 §5.2 oc-validity (ms on the wire): how long the feedback holds
    remember: float = 32.0  # s an admitted transaction's retransmissions are recognised (64*T1, §17.2.2)
    max_remembered: int = 65536  # bound on the transactions remembered
    diameter_in_progress: int = 1000  # Diameter requests in progress beyond which 3004 is answered
    # The concurrency limit (AIMD on latency): initial transactions admitted and not yet answered.
    target_latency: float = 0.25  # s, median from admission to the final answer: half T1 = 0.5 s (§17.1.2.2)
    limit_initial: int = 50
    limit_min: int = 4  # floor: some new work always probes the chain
    limit_max: int = 2000  # ceiling (it also bounds the transactions tracked)
    limit_step: float = 1.0  # additive growth per interval while the limit is what holds work back
    limit_cut: float = 0.9  # the mildest multiplicative cut (latency just above the target) ...
    limit_min_cut: float = 0.8  # ... and the strongest, in proportion to target / latency (mild: a busy host's
    # scheduling makes single intervals slow, and a deep cut leaves the chain idle for many intervals of regrowth)
    limit_min_samples: int = 4  # answers an interval needs before its median latency can cut the limit
    limit_timeout: float = 32.0  # s after which an unanswered transaction is given up (64*T1, §17.1.2.2)
    enabled: bool = True

    @classmethod
    def from_env(cls, value: str | None = None) -> OverloadConfig:
        """``IMS_OVERLOAD``: "off", or comma-separated ``field=value`` overrides of the defaults."""
        text = os.environ.get("IMS_OVERLOAD", "") if value is None else value
        text = text.strip()
        if not text:
            return cls()
        if text.lower() in ("off", "0", "no", "false"):
            return cls(enabled=False)
        kinds = {f.name: f.type for f in fields(cls)}
        changes: dict[str, object] = {}
        for item in text.split(","):
            name, _, raw = item.partition("=")
            name = name.strip()
            if name not in kinds or not raw.strip():
                raise ValueError(f"IMS_OVERLOAD: unknown or empty setting {item.strip()!r}")
            kind = kinds[name]
            if kind in ("bool", bool):
                changes[name] = raw.strip().lower() in ("1", "yes", "true", "on")
            elif kind in ("int", int):
                changes[name] = int(raw)
            else:
                changes[name] = float(raw)
        return replace(cls(), **changes)  # type: ignore[arg-type]


class AdmissionPolicy:
    """Sans-IO admission control from queueing-delay samples; every method takes ``now``.

    ``observe(delay, now)`` feeds a sample; ``admit(now)`` answers for one unit of
    new work; ``fraction`` is what is admitted; ``overloaded`` says whether the
    node sheds at all; ``retry_after()`` is the Retry-After to give."""

    def __init__(self, config: OverloadConfig | None = None) -> None:
        self.config = config or OverloadConfig()
        self.fraction = 1.0
        self.overloaded = False
        self.seq = 0  # RFC 7339 oc-seq: grows with every change of the fraction
        self.delay = 0.0  # the standing delay of the last interval
        self._last_delay = 0.0  # that of the one before
        self._interval_end: float | None = None
        self._min_delay = math.inf  # the smallest sample of the current interval
        self._samples = 0  # how many samples the current interval has
        self._above = 0  # consecutive intervals with a standing queue above the target
        self._credit = 0.0
        self._since_cut = 0  # intervals since the last cut
        self._reported = 0.0  # when the last "shedding" line was logged
        self._rejected_then = 0
        self.admitted = 0
        self.rejected = 0

    def observe(self, delay: float, now: float) -> None:
        self._step(now)
        self._samples += 1
        self._min_delay = min(self._min_delay, delay)

    def admit(self, now: float) -> bool:
        """One unit of new work: admitted (True) or to be shed (False)."""
        self._step(now)
        if not self.overloaded:
            self.admitted += 1
            return True
        self._credit += self.fraction
        if self._credit >= 1.0 - 1e-9:  # (float sums of the fraction)
            self._credit -= 1.0
            self.admitted += 1
            return True
        self.rejected += 1
        return False

    def retry_after(self) -> int:
        """RFC 3261 §21.5.4 Retry-After: the less the node admits, the longer it asks clients to stay away."""
        c = self.config
        return min(c.max_retry_after, math.ceil(c.retry_after / max(self.fraction, 1e-3)))

    def _step(self, now: float) -> None:
        """The control steps for every interval that ended by ``now``."""
        end = self._interval_end
        if end is None:
            self._interval_end = now + self.config.interval
            return
        if now < end:
            return
        c = self.config
        samples, delay = self._samples, self._min_delay
        self._samples, self._min_delay = 0, math.inf
        self._last_delay, self.delay = self.delay, 0.0 if samples == 0 else delay
        before = self.fraction
        self._since_cut += 1
        if samples >= c.min_samples and delay > c.target_delay:
            # A standing queue, seen on enough reads: one interval of it is noise (a process descheduled
            # on a busy host), ``enter_after`` in a row are overload.
            self._above += 1
            if not self.overloaded and self._above >= c.enter_after:
                self.overloaded = True
                self._cut(delay)
                self._reported, self._rejected_then = now, self.rejected
                log.warning("overload: queue %.0f ms for %d intervals, admitting %.0f %% of new requests",
                            delay * 1000, self._above, self.fraction * 100)
            elif self.overloaded and self._since_cut >= c.cut_spacing and delay > self._last_delay * c.draining:
                # (a cut is given time to show, and a queue already draining is left to drain: no overshoot)
                self._cut(delay)
        elif samples == 0 or delay < c.target_delay / 2:
            self._above = 0
            # An empty queue: the node has room, come back quickly (multiplicatively); a short one: additively.
            self._grow(c.increase + (self.fraction * (c.regrow - 1) if delay < c.target_delay / 4 else 0.0))
        else:
            self._above = 0  # between half the target and the target, or too few reads to tell: hold
        missed = int((now - end) // c.interval)
        if missed:  # intervals gone by with nothing read had no queue either: they all count (bounded work)
            self._above = 0
            self._grow(c.increase * missed)
        if self.fraction != before:
            self.seq += 1
        if self.overloaded and now - self._reported >= 1.0:  # one line a second while shedding
            log.info("overload: queue %.0f ms, admitting %.0f %% of new requests, %d shed in %.1f s",
                     self.delay * 1000, self.fraction * 100, self.rejected - self._rejected_then,
                     now - self._reported)
            self._reported, self._rejected_then = now, self.rejected
        self._interval_end = end + (1 + missed) * c.interval

    def _cut(self, delay: float) -> None:
        self._since_cut = 0
        c = self.config
        cut = min(c.max_cut, max(c.min_cut, c.target_delay / delay))
        self.fraction = max(c.min_fraction, self.fraction * cut)

    def _grow(self, step: float) -> None:
        if not self.overloaded:
            return
        self.fraction = min(1.0, self.fraction + step)
        if self.fraction >= 1.0:
            self.overloaded = False  # leaves overload only once it admits everything and the queue is short
            self._credit = 0.0
            log.warning("overload over: admitting every new request again (%d shed in all)", self.rejected)


class ConcurrencyLimit:
    """Sans-IO adaptive bound on work in flight (AIMD on latency, as TCP Vegas and Netflix's
    concurrency-limits do); every method takes ``now``.

    ``try_begin(key, now)`` admits one unit of new work unless ``limit`` units are already in flight;
    ``end(key, now)`` completes it and gives a latency sample; ``discard(key)`` forgets it without one
    (answered without being worked on).  Once an interval, the median latency of the completions in it
    steers the limit: above ``target_latency`` a multiplicative cut (the further above, the deeper,
    down to ``limit_min_cut``; not again before the last cut can show), otherwise additive growth, but
    only while the limit is what holds work back.  By Little's law throughput = in flight / latency,
    so the node admits about what the chain behind it completes, with every answer well inside T1
    (no retransmissions multiplying the load).  Work unanswered after ``limit_timeout`` is given up
    and counts as a late sample."""

    def __init__(self, config: OverloadConfig | None = None) -> None:
        self.config = c = config or OverloadConfig()
        self.limit = float(max(c.limit_min, min(c.limit_max, c.limit_initial)))
        self._flight: dict[bytes, float] = {}  # key -> when admitted (insertion order = age order)
        self._samples: list[float] = []
        self._interval_end: float | None = None
        self._bound = False  # the limit refused work, or was reached, in this interval
        self._drops = 0  # work that failed further in for want of capacity, in this interval
        self._since_cut = 2
        self.latency = 0.0  # the median latency of the last interval with completions
        self.admitted = 0
        self.rejected = 0
        self.completed = 0
        self.timed_out = 0

    @property
    def in_flight(self) -> int:
        return len(self._flight)

    def try_begin(self, key: bytes, now: float) -> bool:
        self._step(now)
        if key in self._flight:
            return True
        if len(self._flight) >= int(self.limit):
            self._bound = True
            self.rejected += 1
            return False
        self._flight[key] = now
        self.admitted += 1
        if len(self._flight) >= int(self.limit):
            self._bound = True
        return True

    def end(self, key: bytes, now: float, *, dropped: bool = False) -> None:
        """``dropped``: the work failed for want of capacity further in (a 503 or 500 from a node behind,
        a timeout): a congestion signal like a late answer, never a fast completion to grow on."""
        began = self._flight.pop(key, None)
        if began is not None:
            self.completed += 1
            if dropped:
                self._drops += 1
            elif len(self._samples) < 4096:  # (bounded: a median of the first ones is as good)
                self._samples.append(now - began)
        self._step(now)

    def discard(self, key: bytes) -> None:
        self._flight.pop(key, None)

    def _step(self, now: float) -> None:
        c = self.config
        flight = self._flight
        while flight:  # given up: unanswered for 64*T1
            first = next(iter(flight))
            began = flight[first]
            if now - began < c.limit_timeout:
                break
            del flight[first]
            self.timed_out += 1
            self._drops += 1
        end = self._interval_end
        if end is None:
            self._interval_end = now + c.interval
            return
        if now < end:
            return
        samples, self._samples = self._samples, []
        bound, self._bound = self._bound, False
        drops, self._drops = self._drops, 0
        self._since_cut += 1
        if samples:
            samples.sort()
            self.latency = samples[len(samples) // 2]
        late = len(samples) >= c.limit_min_samples and self.latency > c.target_latency
        if late or drops:
            if self._since_cut >= 2:  # a cut shows in the latencies about one latency later
                cut = c.limit_cut if not late else \
                    min(c.limit_cut, max(c.limit_min_cut, c.target_latency / self.latency))
                before = self.limit
                self.limit = max(float(c.limit_min), self.limit * cut)
                self._since_cut = 0
                log.debug("concurrency limit %.0f -> %.0f (median latency %.0f ms)", before, self.limit,
                          self.latency * 1000)
        elif bound and samples:  # (nothing completed says nothing about room)
            self.limit = min(float(c.limit_max), self.limit + c.limit_step)
        nxt = end + c.interval
        self._interval_end = nxt if nxt > now else now + c.interval


# -- SIP -------------------------------------------------------------------------------------------

_FORM = {b"v": b"via", b"f": b"from", b"t": b"to", b"i": b"call-id"}  # RFC 3261 §7.3.3 compact forms
_WANTED = {b"via", b"from", b"to", b"call-id", b"cseq", b"authorization"}
_FIRST = frozenset(b"vftiacVFTIAC")  # the first bytes of the names in _WANTED and _FORM
_ALWAYS = {b"ACK", b"CANCEL"}  # §17.2.3, §9.2: they belong to transactions already there
_STATUS = b"SIP/2.0 503 Service Unavailable\r\n"
# Answers that say the chain behind had no room: 503 (§21.5.4), the 500 a proxy makes of one (§16.7 item 6),
# and timeouts (408, 504).  They cut the concurrency limit as late answers do.
_DROPPED = frozenset((408, 500, 503, 504))


class SipAdmission:
    """Admission of SIP messages from their bytes: ``check(data, now)`` returns None (go on, parse and
    handle it) or the bytes of a 503 to send back instead."""

    def __init__(self, config: OverloadConfig | None = None, *, to_tag: str = "ovl503") -> None:
        self.policy = AdmissionPolicy(config)
        self.limit = ConcurrencyLimit(self.policy.config)
        self._to_tag = b";tag=" + to_tag.encode()
        self._accepted: dict[bytes, float] = {}  # transaction (top Via line + CSeq) -> until when

    @property
    def config(self) -> OverloadConfig:
        return self.policy.config

    def observe(self, delay: float, now: float) -> None:
        self.policy.observe(delay, now)

    def check(self, data: bytes, now: float) -> bytes | None:
        if data.startswith(b"SIP/"):
            return None  # a response completes a transaction we started
        sp = data.find(b" ")
        method = data[:sp]
        if sp <= 0 or method in _ALWAYS:
            return None
        if data.startswith(b"urn:service:sos", sp + 1):
            return None  # an emergency request is never shed (TS 24.229 §5.2.10)
        head = _head(data)
        if head is None:
            return None  # unreadable this way: the full parser gives the precise answer
        vias, others = head
        to = others.get(b"to")
        cseq = others.get(b"cseq")
        if not vias or to is None or cseq is None or b"from" not in others or b"call-id" not in others:
            return None
        if _has_tag(to):
            return None  # in-dialog (§12.2): it belongs to accepted work
        if method == b"REGISTER" and _has_response(others.get(b"authorization")):
            return None  # the answer to a challenge we issued: the second half of accepted work
        key = vias[0] + b"\x00" + cseq
        self._forget_old(now)
        if key in self._accepted:
            return None  # a retransmission of a transaction we admitted: its transaction absorbs it
        # The concurrency limit is the edge's: only a request straight from a UA (one Via) is counted; one
        # that already passed a proxy was admitted there, by a node that sees the whole chain behind it,
        # and refusing it here would waste what was done for it (and come back as a 500, §16.7 item 6).
        txn = _txn_key(vias[0], cseq) if len(vias) == 1 and _top_via_end(vias[0]) == len(vias[0]) else None
        if txn is not None and not self.limit.try_begin(txn, now):
            return self._build_503(vias, others)  # the chain behind us has all it can complete in time
        if self.policy.admit(now):
            self._accepted[key] = now + self.config.remember
            if len(self._accepted) > self.config.max_remembered:
                del self._accepted[next(iter(self._accepted))]
            return None
        if txn is not None:
            self.limit.discard(txn)
        return self._build_503(vias, others)

    def stats(self) -> dict[str, int]:
        """For ``ims status``: the concurrency limit, work in flight, and what each signal shed."""
        limit = self.limit
        return {"overload_limit": int(limit.limit), "overload_in_flight": limit.in_flight,
                "overload_latency_ms": round(limit.latency * 1000), "overload_shed_by_limit": limit.rejected,
                "overload_shed_by_delay": self.policy.rejected, "overload_timed_out": limit.timed_out}

    def answered(self, via: str | bytes, cseq: str | bytes, status: int, now: float) -> None:
        """The driver sends a response (top Via, CSeq, status): a final one (or, to an INVITE, a
        provisional other than 100, whose answer waits on a person) completes the admitted transaction."""
        if status < 200 and (status <= 100 or not _is_invite(cseq)):
            return
        via = via.encode() if isinstance(via, str) else via
        cseq = cseq.encode() if isinstance(cseq, str) else cseq
        self.limit.end(_txn_key(via, cseq), now, dropped=status in _DROPPED)

    def answered_bytes(self, data: bytes, now: float) -> None:
        """As :meth:`answered`, for a response the driver sends as bytes (400, 500 before the full parse)."""
        if not data.startswith(b"SIP/2.0 ") or data.startswith(_STATUS):
            return  # (our own 503s answer work never admitted)
        head = _head(data)
        status = data[8:11]
        if head is None or not head[0] or b"cseq" not in head[1] or not status.isdigit():
            return
        self.answered(head[0][0], head[1][b"cseq"], int(status), now)

    def _forget_old(self, now: float) -> None:
        accepted = self._accepted
        while accepted:
            first = next(iter(accepted))
            if accepted[first] > now:
                return
            del accepted[first]

    def _build_503(self, vias: list[bytes], others: dict[bytes, bytes]) -> bytes:
        """§8.2.6.2: Via, From, To (with our tag), Call-ID and CSeq copied; §21.5.4 Retry-After."""
        policy = self.policy
        top = vias[0]
        if b";oc" in top.lower():
            top = top[:_top_via_end(top)] + self._oc_params() + top[_top_via_end(top):]
        parts = [_STATUS, b"Via: ", top, b"\r\n"]
        for via in vias[1:]:
            parts += [b"Via: ", via, b"\r\n"]
        parts += [b"From: ", others[b"from"], b"\r\nTo: ", others[b"to"], self._to_tag,
                  b"\r\nCall-ID: ", others[b"call-id"], b"\r\nCSeq: ", others[b"cseq"],
                  b"\r\nRetry-After: ", str(policy.retry_after()).encode(), b"\r\nContent-Length: 0\r\n\r\n"]
        return b"".join(parts)

    def _oc_params(self) -> bytes:
        """RFC 7339 §5.2 loss-based feedback: the percentage of requests the client should drop."""
        policy = self.policy
        reduction = round((1.0 - policy.fraction) * 100)
        return (f";oc={reduction};oc-algo=\"loss\";oc-validity={round(self.config.validity * 1000)}"
                f";oc-seq={policy.seq}").encode()


def _head(data: bytes) -> tuple[list[bytes], dict[bytes, bytes]] | None:
    """The Via values (in order) and the other wanted header values of a request, from its header lines.

    None when a line is folded or the header block has no end: such a message takes the full parser's path."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    vias: list[bytes] = []
    others: dict[bytes, bytes] = {}
    lines = data[:end].split(b"\r\n")
    for i in range(1, len(lines)):
        line = lines[i]
        if not line or line[0] not in _FIRST:
            if line[:1] in (b" ", b"\t"):
                return None  # a folded line (§7.3.1)
            continue  # not a header we look at (most are skipped on their first byte)
        colon = line.find(b":")
        if colon <= 0:
            return None
        name = line[:colon].strip().lower()
        name = _FORM.get(name, name)
        if name not in _WANTED:
            continue
        value = line[colon + 1:].strip()
        if name == b"via":
            vias.append(value)
        elif name in others:
            return None  # two From/To/Call-ID/CSeq lines: the full parser answers 400
        else:
            others[name] = value
    return vias, others


_BRANCH = re.compile(rb";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)


def _txn_key(via: bytes, cseq: bytes) -> bytes:
    """A transaction's key as request and response both carry it: the top Via's branch (RFC 3261
    §17.2.3; the whole top Via for a client without one) and the CSeq number and method."""
    top = via[:_top_via_end(via)]
    m = _BRANCH.search(top)
    return (m.group(1) if m else top.strip()) + b"\x00" + b" ".join(cseq.split()).upper()


def _is_invite(cseq: str | bytes) -> bool:
    parts = cseq.split()
    return len(parts) == 2 and parts[1].upper() in ("INVITE", b"INVITE")


def _has_tag(to: bytes) -> bool:
    """A tag parameter on the To header field value (outside the <URI>)."""
    close = to.rfind(b">")
    if close >= 0:
        params = to[close + 1:]
    else:
        semi = to.find(b";")
        params = to[semi:] if semi >= 0 else b""
    return b";tag=" in params.lower().replace(b" ", b"").replace(b"\t", b"")


def _has_response(authorization: bytes | None) -> bool:
    """Digest credentials with a non-empty response (RFC 2617 §3.2.2): not the initial empty one."""
    if authorization is None:
        return False
    low = authorization.lower()
    at = low.find(b"response=")
    if at < 0:
        return False
    value = low[at + 9:at + 11]
    return bool(value) and value != b'""' and value[:1] != b","


def _top_via_end(via: bytes) -> int:
    """The end of the first via-parm of a Via value (its comma, outside quotes), or its length."""
    quoted = False
    for i, ch in enumerate(via):
        if ch == 0x22:
            quoted = not quoted
        elif ch == 0x2C and not quoted:
            return len(via[:i].rstrip())
    return len(via)


def sip_admission_from_env() -> SipAdmission | None:
    """The SIP stack's default: shedding with the defaults, or as ``IMS_OVERLOAD`` says (None: off)."""
    config = OverloadConfig.from_env()
    return SipAdmission(config) if config.enabled else None


# -- Diameter --------------------------------------------------------------------------------------

class RequestLimit:
    """A bound on requests in progress: ``try_begin()`` False means answer 3004 DIAMETER_TOO_BUSY
    (RFC 6733 §7.1.3); every True is paired with one ``end()``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_progress = 0
        self.rejected = 0

    def try_begin(self) -> bool:
        if self.limit > 0 and self.in_progress >= self.limit:
            self.rejected += 1
            return False
        self.in_progress += 1
        return True

    def end(self) -> None:
        self.in_progress -= 1


def diameter_limit_from_env() -> RequestLimit:
    """A Diameter node's default bound on requests in progress (``IMS_OVERLOAD=off``: none)."""
    config = OverloadConfig.from_env()
    return RequestLimit(config.diameter_in_progress if config.enabled else 0)


# -- the socket side -------------------------------------------------------------------------------

def enable_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each datagram on arrival; False where it cannot (then no delay is seen)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def udp_head_delay(sock: socket.socket) -> float | None:
    """How long the datagram at the head of ``sock``'s queue has waited (s), without taking it; None if
    the queue is empty or carries no stamp."""
    try:
        _, ancdata, _, _ = sock.recvmsg(1, 64, socket.MSG_PEEK)
    except OSError:  # BlockingIOError (empty), or an ICMP error reported on the socket
        return None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(payload)
            return max(0.0, time.time() - (sec + nsec * 1e-9))
    return None


__all__ = [
    "AdmissionPolicy",
    "ConcurrencyLimit",
    "OverloadConfig",
    "RequestLimit",
    "SipAdmission",
    "diameter_limit_from_env",
    "enable_timestamps",
    "sip_admission_from_env",
    "udp_head_delay",
]
