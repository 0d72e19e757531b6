"""The simulated PSTN exchange's call control: ITU-T Q.764 basic call, simplified, sans-IO.

What this is for: the lab's PSTN exchange (``nodes/pstn.py``) terminates the
calls the MGCF sends it on ISUP circuits and originates calls toward it.
:class:`Exchange` takes decoded ISUP messages (:class:`ims.isup.IsupMessage`)
and the time (seconds, any monotonic clock) and returns small action values:
:class:`SendIsup`, :class:`StartMedia`, :class:`StopMedia`,
:class:`CallChanged`; the driver sends, runs the RTP streams and calls
:meth:`Exchange.handle_timers` at :meth:`Exchange.next_deadline`.  Not here:
M3UA (:mod:`ims.isup.m3ua`), sockets, RTP.

The lines (``[[pstn.lines]]`` of the lab file) behave as an operator's lab
exchange needs:

* ``unallocated`` (and any number that is no line): REL cause 1;
* ``busy``: REL cause 17 (user busy);
* ``answer``: ACM (called party status "subscriber free") at once, ANM after
  ``answer_after`` seconds, then RTP from the line's source;
* ``no_answer``: ACM at once, REL cause 19 (no answer from user) after
  ``answer_after`` seconds: for these lines ``answer_after`` is the ringing
  time.

Simplifications of Q.764, on purpose:

* Dual seizure (§2.10.1.4): the exchange with the higher point code controls
  the even CICs; each side picks outgoing circuits only among those it
  controls.  An IAM on a controlled circuit where our IAM is outstanding is
  disregarded (the other side backs off); on a non-controlled one our call
  backs off without a REL (never happens while we pick controlled circuits).
* An IAM on a circuit busy with an earlier call (the peer evidently lost that
  call): the earlier call is cleared locally and the new one refused with REL
  cause 44 (requested circuit/channel not available); after the RLC the
  circuit is idle at both ends.
* Release: every REL we receive is answered with RLC at once; after we send
  REL we wait for RLC, but only ``t_release`` seconds (10 by default, a T1-style
  guard: Q.764 would repeat the REL and reset the circuit; we log and idle it).
  A REL crossing ours (collision of release messages) is answered with RLC
  and the circuit is idle: both ends have released; the RLC that follows for
  our REL then meets an idle circuit and is discarded, as Q.764 does with an
  RLC on an idle circuit.  A REL on an idle circuit gets RLC.
* Overlap receiving: an IAM without ST whose number is a proper prefix of a
  line waits for SAMs (their digits are appended before the lookup), at most
  ``t_digits`` seconds (T35-like), then REL cause 28 (address incomplete).
* An outgoing call not answered by ACM/CON within ``t_acm`` seconds (T7) is
  released with cause 102 (recovery on timer expiry).
* Unknown CICs (0 or above ``circuits``) are logged and counted: their Q.764
  answer, UCIC, is not among :mod:`ims.isup.messages`' message types.  Other
  unexpected messages for a circuit's state are logged and counted, never
  raised; an RLC while a call is up clears the call locally (the peer
  considers the circuit idle).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ims.isup.mapping import isup_to_tel
from ims.isup.messages import (
    CAUSE_INVALID_MESSAGE, CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED, Cause, ForwardCallIndicators, IsupError, IsupMessage,
    MessageType, NatureOfConnection, PartyNumber, acm, anm, cfn, iam, peek, rel, rlc,
)

if TYPE_CHECKING:
    from ims.topology.schema import Topology

__all__ = [
    "ExchangeError", "SendIsup", "StartMedia", "StopMedia", "CallChanged", "Action", "Line", "ExchangeConfig",
    "Call", "Exchange", "STATES", "e164_digits",
]

log = logging.getLogger("ims.isup.exchange")

STATES = ("idle", "iam_sent", "iam_received", "alerting", "answered", "releasing", "released")

# Q.850 cause values used here
UNALLOCATED_NUMBER = 1
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_ANSWER = 19
ADDRESS_INCOMPLETE = 28
NO_CIRCUIT = 34
CIRCUIT_NOT_AVAILABLE = 44
RECOVERY_ON_TIMER_EXPIRY = 102
PROTOCOL_ERROR = 111

PCMA_PAYLOAD_TYPE = 8  # RFC 3551 Table 4: PCMA/8000
TONE_SOURCE = "tone:425"  # 425 Hz, the ITU-T E.180 tone frequency most networks use


class ExchangeError(ValueError):
    """A refused local request (Call, Hangup): the reason, and the Q.850 cause that fits when there is one."""

    def __init__(self, reason: str, *, cause: int = 0) -> None:
        self.reason = reason
        self.cause = cause
        super().__init__(reason)


# --- actions ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SendIsup:
    """Send this ISUP message to the peer (over the active M3UA association)."""

    msg: IsupMessage


@dataclass(frozen=True, slots=True)
class StartMedia:
    """Run an RTP stream (PCMA, pt 8, 20 ms) for circuit ``cic`` from ``local_port`` to the IM-MGW."""

    cic: int
    local_port: int
    remote_host: str
    remote_port: int
    source: str  # an ims.media.source spec: tone:HZ, wav:PATH, silence


@dataclass(frozen=True, slots=True)
class StopMedia:
    cic: int


@dataclass(frozen=True, slots=True)
class CallChanged:
    """The call on ``cic`` changed state (wake whoever waits for it)."""

    cic: int


Action = Union[SendIsup, StartMedia, StopMedia, CallChanged]


# --- configuration -------------------------------------------------------------------------------

_VISUAL = re.compile(r"[-.()\s]")


def e164_digits(number: str) -> str:
    """``tel:+1 212-555-0100``, ``+12125550100`` or ``12125550100`` as ``12125550100``; ValueError otherwise."""
    text = number.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    text = _VISUAL.sub("", text.split(";", 1)[0]).removeprefix("+")
    if not text.isdigit() or len(text) > 15:  # E.164 §6.1: at most 15 digits
        raise ValueError(f"not an E.164 number: {number!r}")
    return text


@dataclass(frozen=True, slots=True)
class Line:
    """One subscriber line: its E.164 number (digits, no '+') and how it behaves when called."""

    number: str
    behaviour: str = "answer"  # answer | busy | no_answer | unallocated
    answer_after: float = 1.0  # answer: seconds until ANM; no_answer: seconds of ringing before REL 19
    media: str = TONE_SOURCE  # what it sends once answered (an ims.media.source spec)


@dataclass(frozen=True)
class ExchangeConfig:
    """What the exchange needs to know: point codes, circuits, lines, the RTP trunk at both ends, timers."""

    point_code: int
    peer_point_code: int
    circuits: int = 32
    lines: tuple[Line, ...] = ()
    country_code: str = "1"
    national_prefix: str = "0"
    local_host: str = "127.0.0.1"
    trunk_base: int = 32000  # our RTP port of CIC 1; CIC n uses trunk_base + 2 * (n - 1)
    mgw_host: str = "127.0.0.1"
    mgw_trunk_base: int = 31000  # the IM-MGW's port of CIC 1
    t_release: float = 10.0  # guard while awaiting RLC (T1-style)
    t_acm: float = 30.0  # T7: awaiting ACM/CON for our IAM
    t_digits: float = 15.0  # T35-like: awaiting SAM digits
    history_size: int = 200  # finished calls kept for Status

    @classmethod
    def from_topology(cls, topo: Topology, node_name: str, *, base_dir: Path | None = None) -> ExchangeConfig:
        """The exchange of node ``node_name``; ValueError naming the missing or wrong field.

        The peer (``peer``) is the MGCF; the IM-MGW is the node the MGCF's ``mgw``
        names.  A relative ``wav`` path of a line is taken from ``base_dir`` (the
        lab file's directory).
        """
        node = topo.node(node_name)
        where = f"nodes.{node.name}"
        if node.point_code is None:
            raise ValueError(f"{where}: a PSTN exchange needs 'point_code'")
        if node.peer is None:
            raise ValueError(f"{where}: a PSTN exchange needs 'peer' (its MGCF)")
        if node.trunk_ports is None:
            raise ValueError(f"{where}: a PSTN exchange needs 'trunk_ports' (an RTP port pair per circuit)")
        peer = topo.node(node.peer)
        if peer.point_code is None:
            raise ValueError(f"nodes.{peer.name}: the exchange's peer needs 'point_code'")
        if peer.point_code == node.point_code:
            raise ValueError(f"{where}: point_code {node.point_code} is also the peer's (Q.764 §2.10.1.4 needs "
                             f"them to differ to share out the circuits)")
        if peer.mgw is None:
            raise ValueError(f"nodes.{peer.name}: needs 'mgw' (the IM-MGW the circuits end on)")
        mgw = topo.node(peer.mgw)
        if mgw.trunk_ports is None:
            raise ValueError(f"nodes.{mgw.name}: the IM-MGW needs 'trunk_ports'")
        for n in (node, mgw):
            assert n.trunk_ports is not None
            if n.trunk_ports[1] - n.trunk_ports[0] + 1 < 2 * node.circuits:
                raise ValueError(f"nodes.{n.name}.trunk_ports: {n.trunk_ports[0]}-{n.trunk_ports[1]} holds fewer "
                                 f"than {node.circuits} circuits (two ports each)")
        domain = topo.domain_of(node)
        lines = []
        for i, pl in enumerate(topo.pstn.lines):
            if pl.media == "wav":
                if not pl.wav:
                    raise ValueError(f"pstn.lines[{i}]: media 'wav' needs 'wav' (the file's path)")
                path = Path(pl.wav)
                if not path.is_absolute() and base_dir is not None:
                    path = base_dir / path
                source = f"wav:{path}"
            else:
                source = TONE_SOURCE if pl.media == "tone" else "silence"
            try:
                number = e164_digits(pl.number)
            except ValueError as exc:
                raise ValueError(f"pstn.lines[{i}].number: {exc}") from None
            lines.append(Line(number, pl.behaviour, pl.answer_after, source))
        return cls(point_code=node.point_code, peer_point_code=peer.point_code, circuits=node.circuits,
                   lines=tuple(lines), country_code=domain.country_code, national_prefix=domain.national_prefix,
                   local_host=node.address, trunk_base=node.trunk_ports[0], mgw_host=mgw.address,
                   mgw_trunk_base=mgw.trunk_ports[0])


# --- calls ------------------------------------------------------------------------------------------

@dataclass
class Call:
    """One call on one circuit, from the IAM to the circuit's return to idle; kept afterwards for Status."""

    cic: int
    direction: str  # "in" (IAM from the MGCF) | "out" (our IAM)
    calling: str  # E.164 digits (or the digits as received)
    called: str
    started: float
    state: str = "idle"
    cause: int = 0  # the Q.850 cause of the REL that ended it
    history: list[str] = field(default_factory=list)
    media: dict[str, Any] = field(default_factory=dict)  # the RTP stream's final statistics
    line: Line | None = None
    serial: int = 0
    # internal
    timer: str | None = None
    deadline: float | None = None
    media_running: bool = False
    digits: str = ""  # the called address so far (incoming, overlap)
    nature: int = 4

    def note(self, now: float, what: str) -> None:
        self.history.append(f"{(now - self.started) * 1000:.0f}ms {what}")

    def arm(self, name: str, at: float) -> None:
        self.timer, self.deadline = name, at

    def disarm(self) -> None:
        self.timer, self.deadline = None, None

    def as_dict(self) -> dict[str, Any]:
        return {"cic": self.cic, "direction": self.direction, "calling": self.calling, "called": self.called,
                "state": self.state, "cause": self.cause, "history": list(self.history), "media": dict(self.media)}


class Exchange:
    """Q.764 call control for the circuits toward one peer (the MGCF); see the module docstring."""

    def __init__(self, config: ExchangeConfig) -> None:
        self.config = config
        self.lines = {line.number: line for line in config.lines}
        self.active: dict[int, Call] = {}  # CIC -> the call holding the circuit
        self.records: list[Call] = []  # every call, oldest first (finished ones pruned past history_size)
        self.controls_even = config.point_code > config.peer_point_code  # Q.764 §2.10.1.4
        self._last_out = 0
        self._serial = 0
        self.counters: dict[str, int] = {
            "calls_in": 0, "calls_out": 0, "answered": 0, "rejected": 0, "released": 0, "unexpected": 0,
            "unequipped_cic": 0, "dual_seizures": 0, "release_collisions": 0, "t_release_expired": 0,
            "malformed": 0,
        }

    # -- queries -----------------------------------------------------------------------------------
    def controls(self, cic: int) -> bool:
        """Whether this exchange controls ``cic`` for dual seizure (and so may pick it for its own calls)."""
        return (cic % 2 == 0) == self.controls_even

    def call_on(self, cic: int) -> Call | None:
        """The call holding circuit ``cic`` now, if any."""
        return self.active.get(cic)

    def latest(self, cic: int = 0) -> Call | None:
        """The most recent call on ``cic`` (any circuit when 0), finished or not."""
        for call in reversed(self.records):
            if not cic or call.cic == cic:
                return call
        return None

    def local_port(self, cic: int) -> int:
        return self.config.trunk_base + 2 * (cic - 1)

    def mgw_port(self, cic: int) -> int:
        return self.config.mgw_trunk_base + 2 * (cic - 1)

    def next_deadline(self) -> float | None:
        times = [c.deadline for c in self.active.values() if c.deadline is not None]
        return min(times) if times else None

    # -- local requests ------------------------------------------------------------------------------
    def originate(self, calling: str, called: str, now: float) -> tuple[int, list[Action]]:
        """Call ``called`` from line ``calling``: (the CIC, actions with the IAM); ExchangeError if refused."""
        try:
            line = self.lines.get(e164_digits(calling))
        except ValueError:
            line = None
        if line is None:
            raise ExchangeError(f"{calling!r} is not a line of this exchange")
        try:
            number = e164_digits(called)
        except ValueError as exc:
            raise ExchangeError(str(exc), cause=ADDRESS_INCOMPLETE) from None
        cic = self._free_circuit()
        if cic is None:
            raise ExchangeError("no free circuit among those this exchange controls", cause=NO_CIRCUIT)
        msg = iam(cic, number, line.number, nature=4, calling_nature=4, presentation=0,
                  calling_party_category=10,  # ordinary calling subscriber (Q.763 §3.11)
                  transmission_medium_requirement=3,  # 3.1 kHz audio (§3.54): an analogue line
                  forward_call_indicators=ForwardCallIndicators(isdn_access=False),  # I: originating access non-ISDN
                  nature_of_connection=NatureOfConnection(),
                  complete=True)  # en-bloc: ST ends the address (Q.764 §2.1.1.1)
        call = self._new_call(cic, "out", line.number, number, now, "iam_sent", line)
        call.note(now, "IAM")
        call.arm("t_acm", now + self.config.t_acm)
        self.counters["calls_out"] += 1
        self._last_out = cic
        return cic, [SendIsup(msg), CallChanged(cic)]

    def hangup(self, cic: int, now: float) -> list[Action]:
        """Our side clears the call on ``cic``: REL cause 16, then await RLC; ExchangeError if there is none."""
        call = self.active.get(cic)
        if call is None:
            raise ExchangeError(f"no call on CIC {cic}")
        if call.state == "releasing":
            return []
        return self._release(call, now, NORMAL_CLEARING)

    # -- the peer's messages -----------------------------------------------------------------------
    def receive_isup(self, msg: IsupMessage, now: float) -> list[Action]:
        """Process one ISUP message from the peer; never raises."""
        cic = msg.cic
        if not 1 <= cic <= self.config.circuits:
            self.counters["unequipped_cic"] += 1
            log.warning("%s on unequipped CIC %d (circuits 1..%d): discarded", _name(msg), cic, self.config.circuits)
            return []
        handler = {
            MessageType.IAM: self._on_iam, MessageType.SAM: self._on_sam, MessageType.ACM: self._on_acm,
            MessageType.CPG: self._on_cpg, MessageType.ANM: self._on_answer, MessageType.CON: self._on_answer,
            MessageType.REL: self._on_rel, MessageType.RLC: self._on_rlc, MessageType.SUS: self._on_sus_res,
            MessageType.RES: self._on_sus_res,
        }.get(msg.type)
        if handler is None:
            return self._unexpected(msg, self.active.get(cic), now)
        return handler(msg, now)

    def receive_undecodable(self, data: bytes, error: IsupError, now: float) -> list[Action]:
        """Answer an ISUP message that :func:`ims.isup.messages.decode` refused (Q.764 §2.9.5); never raises.

        Addressed by its CIC and type code when they can be read: a REL is still a release (RLC, the
        call cleared); an RLC or CFN is discarded (a confusion is never answered with one); a message type
        we do not know gets CFN cause 97 with the type as diagnostic; a malformed message of a known type
        releases the call on its circuit with REL cause 95, and otherwise gets CFN cause 95 (REL 95 for an
        IAM, whose sender seized the circuit)."""
        self.counters["malformed"] += 1
        head = peek(data)
        if head is None:
            log.warning("undecodable ISUP (%d octets): %s; discarded", len(data), error)
            return []
        cic, code = head
        if not 1 <= cic <= self.config.circuits:
            self.counters["unequipped_cic"] += 1
            log.warning("undecodable ISUP on unequipped CIC %d: %s; discarded", cic, error)
            return []
        call = self.active.get(cic)
        log.warning("undecodable ISUP on CIC %d (type 0x%02x): %s", cic, code, error)
        if code == MessageType.REL:
            return self._on_rel(IsupMessage(MessageType.REL, cic, {}), now)
        if code in (MessageType.RLC, MessageType.CFN):
            return []
        if error.cause == CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED:
            return [SendIsup(cfn(cic, CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED, bytes([code])))]
        if call is not None and call.state not in ("releasing", "released"):
            call.note(now, f"undecodable message 0x{code:02x}")
            return self._release(call, now, CAUSE_INVALID_MESSAGE)
        if code == MessageType.IAM and call is None:
            return [SendIsup(rel(cic, CAUSE_INVALID_MESSAGE))]
        return [SendIsup(cfn(cic, error.cause))]

    def handle_timers(self, now: float) -> list[Action]:
        """Fire every call timer due at ``now``."""
        actions: list[Action] = []
        for call in [c for c in self.active.values() if c.deadline is not None and c.deadline <= now]:
            name = call.timer
            call.disarm()
            if name == "answer":
                call.state = "answered"
                call.note(now, "ANM")
                self.counters["answered"] += 1
                actions += [SendIsup(anm(call.cic)), *self._start_media(call), CallChanged(call.cic)]
            elif name == "no_answer":
                actions += self._release(call, now, NO_ANSWER)
            elif name == "digits":
                actions += self._release(call, now, ADDRESS_INCOMPLETE)
            elif name == "t_acm":
                actions += self._release(call, now, RECOVERY_ON_TIMER_EXPIRY)
            elif name == "t_release":
                self.counters["t_release_expired"] += 1
                log.warning("CIC %d: no RLC %.0f s after REL: circuit released anyway", call.cic,
                            self.config.t_release)
                call.note(now, "no RLC: circuit idled (guard timer)")
                actions += self._finish(call)
        return actions

    # -- incoming calls ----------------------------------------------------------------------------
    def _on_iam(self, msg: IsupMessage, now: float) -> list[Action]:
        cic = msg.cic
        actions: list[Action] = []
        old = self.active.get(cic)
        if old is not None and old.direction == "out" and old.state == "iam_sent":
            self.counters["dual_seizures"] += 1
            if self.controls(cic):  # Q.764 §2.10.1.4: the controlling exchange completes its call
                old.note(now, "dual seizure: the peer's IAM disregarded")
                log.warning("dual seizure on CIC %d (ours to control): the peer's IAM is disregarded", cic)
                return []
            old.note(now, "dual seizure: backed off")
            log.warning("dual seizure on CIC %d (the peer's to control): our call backs off", cic)
            old.cause = CIRCUIT_NOT_AVAILABLE
            actions += self._finish(old)
            old = None
        busy = old is not None
        if old is not None:
            log.warning("IAM on CIC %d, busy with a call in state %s: both cleared, REL cause 44", cic, old.state)
            self.counters["unexpected"] += 1
            old.note(now, "IAM on this busy circuit: call cleared")
            old.cause = CIRCUIT_NOT_AVAILABLE
            actions += self._finish(old)
        called: PartyNumber | None = msg.params.get("called_party_number")
        calling: PartyNumber | None = msg.params.get("calling_party_number")
        call = self._new_call(cic, "in", self._tel(calling) if calling else "", "", now, "iam_received", None)
        call.note(now, "IAM")
        self.counters["calls_in"] += 1
        if busy:
            return actions + self._release(call, now, CIRCUIT_NOT_AVAILABLE)
        if called is None:  # mandatory (Q.763 Table 32): decode() refuses it, a hand-made message may lack it
            return actions + self._release(call, now, ADDRESS_INCOMPLETE)
        call.digits, call.nature = called.digits, called.nature_of_address
        return actions + [CallChanged(cic), *self._route(call, now)]

    def _on_sam(self, msg: IsupMessage, now: float) -> list[Action]:
        call = self.active.get(msg.cic)
        if call is None or call.direction != "in" or call.timer != "digits":
            return self._unexpected(msg, call, now)  # Q.764: SAM after the address is complete is discarded
        call.digits += str(msg.params.get("subsequent_number", ""))
        call.note(now, "SAM")
        call.disarm()
        return self._route(call, now)

    def _route(self, call: Call, now: float) -> list[Action]:
        complete = "F" in call.digits
        digits = call.digits.split("F", 1)[0]
        number = self._tel(PartyNumber(digits, call.nature))
        call.called = number
        line = self.lines.get(number)
        if line is None and not complete and any(n.startswith(number) and n != number for n in self.lines):
            call.arm("digits", now + self.config.t_digits)  # overlap receiving: wait for SAM
            return []
        if line is None or line.behaviour == "unallocated":
            return self._reject(call, now, UNALLOCATED_NUMBER)
        call.line = line
        if line.behaviour == "busy":
            return self._reject(call, now, USER_BUSY)
        call.state = "alerting"
        call.note(now, "ACM")
        call.arm("answer" if line.behaviour == "answer" else "no_answer", now + line.answer_after)
        return [SendIsup(acm(call.cic, called_party_status=1)), CallChanged(call.cic)]  # 1: subscriber free

    def _reject(self, call: Call, now: float, cause: int) -> list[Action]:
        self.counters["rejected"] += 1
        return self._release(call, now, cause)

    # -- outgoing calls ----------------------------------------------------------------------------
    def _outgoing(self, msg: IsupMessage, states: tuple[str, ...]) -> Call | None:
        call = self.active.get(msg.cic)
        if call is not None and call.direction == "out" and call.state in states:
            return call
        return None

    def _on_acm(self, msg: IsupMessage, now: float) -> list[Action]:
        call = self._outgoing(msg, ("iam_sent",))
        if call is None:
            return self._unexpected(msg, self.active.get(msg.cic), now)
        call.disarm()  # T7 stops (Q.764 §2.1.4.x); no T9 here: the line hangs up when it likes
        call.state = "alerting"
        call.note(now, "ACM")
        return [CallChanged(call.cic)]

    def _on_cpg(self, msg: IsupMessage, now: float) -> list[Action]:
        call = self._outgoing(msg, ("iam_sent", "alerting", "answered"))
        if call is None:
            return self._unexpected(msg, self.active.get(msg.cic), now)
        event = msg.params.get("event_information", 0)
        call.note(now, f"CPG event {event}")
        if event == 1 and call.state == "iam_sent":  # alerting (Q.763 §3.21)
            call.disarm()
            call.state = "alerting"
        return [CallChanged(call.cic)]

    def _on_answer(self, msg: IsupMessage, now: float) -> list[Action]:
        states = ("iam_sent",) if msg.type == MessageType.CON else ("iam_sent", "alerting")
        call = self._outgoing(msg, states)
        if call is None:
            return self._unexpected(msg, self.active.get(msg.cic), now)
        call.disarm()
        call.state = "answered"
        call.note(now, _name(msg))
        self.counters["answered"] += 1
        return [*self._start_media(call), CallChanged(call.cic)]

    # -- release ----------------------------------------------------------------------------------
    def _on_rel(self, msg: IsupMessage, now: float) -> list[Action]:
        cic = msg.cic
        cause = msg.params.get("cause")
        value = cause.value if isinstance(cause, Cause) else 0
        call = self.active.get(cic)
        if call is None:
            log.info("REL on idle CIC %d: RLC", cic)
            return [SendIsup(rlc(cic))]
        if call.state == "releasing":  # collision of release messages: both ends have released
            self.counters["release_collisions"] += 1
            call.note(now, f"REL cause {value} (crossed ours)")
            call.note(now, "RLC")
            return [SendIsup(rlc(cic)), *self._finish(call)]
        call.cause = value
        call.note(now, f"REL cause {value}")
        call.note(now, "RLC")
        return [SendIsup(rlc(cic)), *self._finish(call)]

    def _on_rlc(self, msg: IsupMessage, now: float) -> list[Action]:
        call = self.active.get(msg.cic)
        if call is None:
            log.debug("RLC on idle CIC %d discarded", msg.cic)
            return []
        if call.state == "releasing":
            call.note(now, "RLC")
            return self._finish(call)
        self.counters["unexpected"] += 1
        log.warning("RLC on CIC %d in state %s: the peer has the circuit idle; call cleared", msg.cic, call.state)
        call.note(now, "RLC (unexpected): call cleared")
        call.cause = PROTOCOL_ERROR
        return self._finish(call)

    def _on_sus_res(self, msg: IsupMessage, now: float) -> list[Action]:
        call = self.active.get(msg.cic)
        if call is None or call.state != "answered":
            return self._unexpected(msg, call, now)
        call.note(now, _name(msg))  # Q.764 §2.5: the call stays up; the lab's lines have no timer T6 to run
        return [CallChanged(call.cic)]

    def _release(self, call: Call, now: float, cause: int) -> list[Action]:
        """We send REL with ``cause`` and await RLC (guard ``t_release``)."""
        actions: list[Action] = [SendIsup(rel(call.cic, cause))]
        actions += self._stop_media(call)
        call.state = "releasing"
        call.cause = cause
        call.note(now, f"REL cause {cause}")
        call.arm("t_release", now + self.config.t_release)
        actions.append(CallChanged(call.cic))
        return actions

    def _finish(self, call: Call) -> list[Action]:
        """The call is over and its circuit idle."""
        actions = self._stop_media(call)
        call.state = "released"
        call.disarm()
        self.counters["released"] += 1
        if self.active.get(call.cic) is call:
            del self.active[call.cic]
        self._prune()
        return [*actions, CallChanged(call.cic)]

    # -- helpers ------------------------------------------------------------------------------------
    def _unexpected(self, msg: IsupMessage, call: Call | None, now: float) -> list[Action]:
        self.counters["unexpected"] += 1
        state = call.state if call else "idle"
        log.warning("unexpected %s on CIC %d in state %s: discarded", _name(msg), msg.cic, state)
        if call is not None:
            call.note(now, f"{_name(msg)} (unexpected, discarded)")
        return []

    def _start_media(self, call: Call) -> list[Action]:
        source = call.line.media if call.line else "silence"
        call.media_running = True
        return [StartMedia(call.cic, self.local_port(call.cic), self.config.mgw_host, self.mgw_port(call.cic), source)]

    def _stop_media(self, call: Call) -> list[Action]:
        if not call.media_running:
            return []
        call.media_running = False
        return [StopMedia(call.cic)]

    def _new_call(self, cic: int, direction: str, calling: str, called: str, now: float, state: str,
                  line: Line | None) -> Call:
        self._serial += 1
        call = Call(cic, direction, calling, called, now, state, line=line, serial=self._serial)
        self.active[cic] = call
        self.records.append(call)
        return call

    def _free_circuit(self) -> int | None:
        """The next idle circuit we control after the last one we took (round robin, Q.764 §2.10.1.4)."""
        n = self.config.circuits
        for step in range(1, n + 1):
            cic = (self._last_out + step - 1) % n + 1
            if self.controls(cic) and cic not in self.active:
                return cic
        return None

    def _tel(self, num: PartyNumber) -> str:
        """E.164 digits (no '+') of a received number, national ones with the lab's country code."""
        tel = isup_to_tel(num, country_code=self.config.country_code, national_prefix=self.config.national_prefix)
        return tel.removeprefix("+")

    def _prune(self) -> None:
        excess = len(self.records) - self.config.history_size
        if excess <= 0:
            return
        keep: list[Call] = []
        for call in self.records:
            if excess > 0 and call.state == "released":
                excess -= 1
                continue
            keep.append(call)
        self.records = keep


def _name(msg: IsupMessage) -> str:
    try:
        return MessageType(msg.type).name
    except ValueError:
        return f"message type {msg.type!r}"
