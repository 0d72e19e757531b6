"""M3UA (RFC 4666): message codec, stream framing and the ASP/SGP association, sans-IO.

What this is for: the MGCF (an ASP) and the simulated PSTN exchange (the SGP
side) carry ISUP in M3UA DATA messages.  :class:`M3uaAsp` and :class:`M3uaSgp`
take received bytes and the time and return events (:class:`SendBytes`,
:class:`StateChanged`, :class:`IsupReceived`, :class:`Notified`,
:class:`M3uaProblem`, :class:`FramingLost`); the trio driver in ``ims/net``
owns the socket and the timer, and feeds the bytes with ``receive_data`` then
takes one message's events at a time with ``next_events``, so that its error
boundary costs one message only.  Decoding raises nothing but
:class:`M3uaError`, carrying the RFC 4666 §3.8.1 Error Code the association
answers with in an ERR; lengths and parameter counts are bounded before
pycrate sees a message.  Not here: routing keys and registration (RKM), SSNM (DUNA/DAVA...), AS
load sharing across several ASPs, SCTP streams.

Transport: RFC 4666 runs over SCTP.  The lab runs it over TCP as a convenience
(no SCTP in the sandbox or in trio); TCP has no message boundaries, so
:class:`M3uaFramer` splits the byte stream by the Message Length of the common
header (RFC 4666 §3.1).  On SCTP each message would arrive whole.

What pycrate provides: ``pycrate_mobile.M3UA`` has every message class, the
common header and the parameter structures (tag/length/padding, Protocol
Data, Routing Context, Status...); encoding and decoding are pycrate's.  The
typed dataclasses and the table mapping their fields to parameter tags are
ours.  One pycrate fix: pycrate 0.8.1 declares Network Appearance as 8 bits,
RFC 4666 §3.3.1 makes it 32 bits; the dispatcher entry is replaced at import.
"""

from __future__ import annotations

import enum
from dataclasses import MISSING, dataclass, fields
from typing import Any

from pycrate_core.base import Buf, Uint32
from pycrate_core.utils import PycrateErr
from pycrate_mobile import M3UA as _P
from pycrate_mobile.M3UA import M3UATag as Tag

__all__ = [
    "SI_ISUP", "AspActive", "AspActiveAck", "AspDown", "AspDownAck", "AspInactive", "AspInactiveAck",
    "AspState", "AspUp", "AspUpAck", "Beat", "BeatAck", "Data", "Err", "ErrorCode", "Event", "FramingLost",
    "IsupReceived",
    "M3uaAsp", "M3uaError", "M3uaFramer", "M3uaMessage", "M3uaProblem", "M3uaSgp", "Notified", "Notify",
    "Other", "SendBytes", "StateChanged", "decode_m3ua", "encode_m3ua",
]

SI_ISUP = 5  # Service Indicator of ISUP (Q.704 §14.2.1)


class _NetworkAppearance(Uint32):  # type: ignore[misc]
    _Tag = Tag.NetworkAppearance


_P.M3UAPrmDispatcher[Tag.NetworkAppearance] = _NetworkAppearance  # RFC 4666 §3.3.1: 32 bits


class ErrorCode(enum.IntEnum):
    """Error Code parameter values, RFC 4666 §3.8.1."""

    INVALID_VERSION = 0x01
    UNSUPPORTED_MESSAGE_CLASS = 0x03
    UNSUPPORTED_MESSAGE_TYPE = 0x04
    UNSUPPORTED_TRAFFIC_MODE_TYPE = 0x05
    UNEXPECTED_MESSAGE = 0x06
    PROTOCOL_ERROR = 0x07
    INVALID_PARAMETER_VALUE = 0x11
    PARAMETER_FIELD_ERROR = 0x12
    UNEXPECTED_PARAMETER = 0x13
    MISSING_PARAMETER = 0x16
    INVALID_ROUTING_CONTEXT = 0x19


class M3uaError(ValueError):
    """A bad M3UA message or a refused action, with the RFC 4666 §3.8.1 code to answer with."""

    def __init__(self, reason: str, *, error_code: int = ErrorCode.PROTOCOL_ERROR) -> None:
        self.reason = reason
        self.error_code = int(error_code)
        super().__init__(f"{reason} (M3UA error code 0x{self.error_code:02x})")


# --- messages ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AspUp:  # ASPSM, RFC 4666 §3.5.1
    asp_id: int | None = None
    info: str | None = None


@dataclass(frozen=True, slots=True)
class AspUpAck:  # §3.5.2
    asp_id: int | None = None
    info: str | None = None


@dataclass(frozen=True, slots=True)
class AspDown:  # §3.5.3
    info: str | None = None


@dataclass(frozen=True, slots=True)
class AspDownAck:  # §3.5.4
    info: str | None = None


@dataclass(frozen=True, slots=True)
class Beat:  # §3.5.5
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class BeatAck:  # §3.5.6: echoes the Heartbeat Data
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class AspActive:  # ASPTM, §3.7.1; traffic mode 1 override, 2 loadshare, 3 broadcast
    traffic_mode: int | None = None
    routing_contexts: tuple[int, ...] = ()
    info: str | None = None


@dataclass(frozen=True, slots=True)
class AspActiveAck:  # §3.7.2
    traffic_mode: int | None = None
    routing_contexts: tuple[int, ...] = ()
    info: str | None = None


@dataclass(frozen=True, slots=True)
class AspInactive:  # §3.7.3
    routing_contexts: tuple[int, ...] = ()
    info: str | None = None


@dataclass(frozen=True, slots=True)
class AspInactiveAck:  # §3.7.4
    routing_contexts: tuple[int, ...] = ()
    info: str | None = None


@dataclass(frozen=True, slots=True)
class Notify:  # MGMT, §3.8.2; status type 1 = AS state change, info 2 AS-INACTIVE, 3 AS-ACTIVE, 4 AS-PENDING
    status_type: int
    status_info: int
    asp_id: int | None = None
    routing_contexts: tuple[int, ...] = ()
    info: str | None = None


@dataclass(frozen=True, slots=True)
class Err:  # MGMT, §3.8.1
    error_code: int
    routing_contexts: tuple[int, ...] = ()
    network_appearance: int | None = None
    diagnostic: bytes = b""


@dataclass(frozen=True, slots=True)
class Data:  # TRANS, §3.3.1: Protocol Data carries the MTP3 routing label fields and the user data
    opc: int
    dpc: int
    si: int = SI_ISUP
    ni: int = 2  # national network
    mp: int = 0
    sls: int = 0
    user_data: bytes = b""
    network_appearance: int | None = None
    routing_context: int | None = None
    correlation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Other:
    """A well-formed M3UA message this module does not model (SSNM, RKM): class, type, raw params."""

    msg_class: int
    msg_type: int
    params: tuple[tuple[int, bytes], ...] = ()


M3uaMessage = (AspUp | AspUpAck | AspDown | AspDownAck | Beat | BeatAck | AspActive | AspActiveAck
               | AspInactive | AspInactiveAck | Notify | Err | Data | Other)

# class -> (pycrate message class, ((field, tag), ...) in the RFC's parameter order)
_TABLE: dict[type, tuple[Any, tuple[tuple[str, int], ...]]] = {
    AspUp: (_P.M3UA_ASPUp, (("asp_id", Tag.ASPId), ("info", Tag.InfoString))),
    AspUpAck: (_P.M3UA_ASPUpAck, (("asp_id", Tag.ASPId), ("info", Tag.InfoString))),
    AspDown: (_P.M3UA_ASPDown, (("info", Tag.InfoString),)),
    AspDownAck: (_P.M3UA_ASPDownAck, (("info", Tag.InfoString),)),
    Beat: (_P.M3UA_BEAT, (("data", Tag.HeartbeatData),)),
    BeatAck: (_P.M3UA_BEATAck, (("data", Tag.HeartbeatData),)),
    AspActive: (_P.M3UA_ASPAct, (("traffic_mode", Tag.TrafficModeType), ("routing_contexts", Tag.RoutingContext),
                                 ("info", Tag.InfoString))),
    AspActiveAck: (_P.M3UA_ASPActAck, (("traffic_mode", Tag.TrafficModeType),
                                       ("routing_contexts", Tag.RoutingContext), ("info", Tag.InfoString))),
    AspInactive: (_P.M3UA_ASPInact, (("routing_contexts", Tag.RoutingContext), ("info", Tag.InfoString))),
    AspInactiveAck: (_P.M3UA_ASPInactAck, (("routing_contexts", Tag.RoutingContext), ("info", Tag.InfoString))),
    Notify: (_P.M3UA_NTFY, (("status", Tag.Status), ("asp_id", Tag.ASPId), ("routing_contexts", Tag.RoutingContext),
                            ("info", Tag.InfoString))),
    Err: (_P.M3UA_ERR, (("error_code", Tag.ErrorCode), ("routing_contexts", Tag.RoutingContext),
                        ("network_appearance", Tag.NetworkAppearance), ("diagnostic", Tag.DiagnosticInfo))),
    Data: (_P.M3UA_DATA, (("network_appearance", Tag.NetworkAppearance), ("routing_context", Tag.RoutingContext),
                          ("protocol_data", Tag.ProtocolData), ("correlation_id", Tag.CorrelationId))),
}
_BY_CLASS_TYPE = {(h["Class"].get_val(), h["Type"].get_val()): k for k, (c, _) in _TABLE.items() for h in [c()[0]]}
_KNOWN_CLASSES = {0, 1, 2, 3, 4, 9}  # MGMT, Transfer, SSNM, ASPSM, ASPTM, RKM (RFC 4666 §3.1.2)
_PD_FIELDS = (("opc", "OPC"), ("dpc", "DPC"), ("si", "SI"), ("ni", "NI"), ("mp", "MP"), ("sls", "SLS"))


def _param_value(msg: Any, attr: str) -> Any:
    """The pycrate value of ``attr`` of ``msg`` (None / empty when absent)."""
    if attr == "status":
        return {"Type": msg.status_type, "Info": msg.status_info}
    if attr == "protocol_data":
        return {**{n: getattr(msg, a) for a, n in _PD_FIELDS}, "Data": msg.user_data}
    value = getattr(msg, attr)
    if attr == "routing_context" and value is not None:
        return [value]
    if attr == "routing_contexts":
        return list(value) or None
    if isinstance(value, bytes) and not value:
        return None
    return value


def encode_m3ua(msg: M3uaMessage) -> bytes:
    """The message with its common header (RFC 4666 §3.1), parameters in RFC order."""
    if isinstance(msg, Other):
        raise M3uaError("Other messages are received, not sent")
    pcls, layout = _TABLE[type(msg)]
    pmsg = pcls()
    params = pmsg[1]
    params.clear()
    try:
        for attr, tag in layout:
            value = _param_value(msg, attr)
            if value is not None:
                params.add_prm(tag, value)
        data: bytes = pmsg.to_bytes()
    except (PycrateErr, ValueError, TypeError) as exc:
        raise M3uaError(f"cannot encode {type(msg).__name__}: {exc}",
                        error_code=ErrorCode.INVALID_PARAMETER_VALUE) from None
    return data


# Bounds applied before pycrate sees a message: the framer's longest message, and the parameter count
# (the messages modelled here carry at most four parameters; SSNM/RKM ones a few more).
MAX_MESSAGE_LENGTH = 65536
MAX_PARAMETERS = 32


def _scan_parameters(data: bytes) -> None:
    """RFC 4666 §3.2: tag, length (>= 4, without padding), value, padding to 4 octets; every parameter
    inside the message and at most ``MAX_PARAMETERS`` of them."""
    at, count = 8, 0
    while at < len(data):
        count += 1
        if count > MAX_PARAMETERS:
            raise M3uaError(f"more than {MAX_PARAMETERS} parameters", error_code=ErrorCode.PARAMETER_FIELD_ERROR)
        if at + 4 > len(data):
            raise M3uaError("a parameter header runs past the end", error_code=ErrorCode.PARAMETER_FIELD_ERROR)
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if length < 4 or at + length > len(data):
            raise M3uaError(f"parameter 0x{int.from_bytes(data[at:at + 2], 'big'):04x} length {length}",
                            error_code=ErrorCode.PARAMETER_FIELD_ERROR)
        at += (length + 3) & ~3


def decode_m3ua(data: bytes) -> M3uaMessage:
    """Parse one whole M3UA message; raise :class:`M3uaError` with the code to answer (RFC 4666 §3.8.1),
    and nothing else whatever the input."""
    if len(data) < 8:
        raise M3uaError(f"{len(data)} octets is shorter than the common header")
    version, msg_class, msg_type = data[0], data[2], data[3]
    if version != 1:
        raise M3uaError(f"version {version}", error_code=ErrorCode.INVALID_VERSION)
    if int.from_bytes(data[4:8], "big") != len(data):
        raise M3uaError("Message Length does not match the message")
    if len(data) > MAX_MESSAGE_LENGTH:
        raise M3uaError(f"{len(data)} octets is longer than {MAX_MESSAGE_LENGTH}")
    cls = _BY_CLASS_TYPE.get((msg_class, msg_type))
    if cls is None:
        if msg_class not in _KNOWN_CLASSES:
            raise M3uaError(f"message class {msg_class}", error_code=ErrorCode.UNSUPPORTED_MESSAGE_CLASS)
        if (msg_class, msg_type) not in _P.M3UAMsgDispatcher:
            raise M3uaError(f"message type {msg_class}/{msg_type}", error_code=ErrorCode.UNSUPPORTED_MESSAGE_TYPE)
    _scan_parameters(data)
    pmsg = _P.M3UAMsgDispatcher[(msg_class, msg_type)]()
    try:
        pmsg.from_bytes(data)
    except _P.M3UADecErr as exc:
        raise M3uaError(str(exc)[:200], error_code=ErrorCode.MISSING_PARAMETER) from None
    except Exception as exc:  # noqa: BLE001 - pycrate raises many kinds (PycrateErr, struct, Index...)
        raise M3uaError(f"bad parameters: {type(exc).__name__}: {str(exc)[:120]}",
                        error_code=ErrorCode.PARAMETER_FIELD_ERROR) from None
    try:
        if pmsg[0].get_len() + pmsg[1].get_len() != len(data):
            raise M3uaError("octets left over after the last parameter", error_code=ErrorCode.PARAMETER_FIELD_ERROR)
        if cls is None:
            return Other(msg_class, msg_type, tuple((p[0].get_val(), p[2].to_bytes()) for p in pmsg[1]))
        return _from_pycrate(cls, pmsg[1])
    except M3uaError:
        raise
    except Exception as exc:  # noqa: BLE001 - as above, reading the values pycrate decoded
        raise M3uaError(f"bad parameter value: {type(exc).__name__}: {str(exc)[:120]}",
                        error_code=ErrorCode.INVALID_PARAMETER_VALUE) from None


def _from_pycrate(cls: type[Any], params: Any) -> M3uaMessage:
    by_tag = {tag: attr for attr, tag in _TABLE[cls][1]}
    kw: dict[str, Any] = {}
    for prm in params:
        tag, elt = prm[0].get_val(), prm[2]
        attr = by_tag.get(tag)
        if attr is None:
            raise M3uaError(f"parameter tag 0x{tag:04x} in {cls.__name__}", error_code=ErrorCode.UNEXPECTED_PARAMETER)
        raw = type(elt) is Buf  # pycrate fell back to raw bytes: the structure did not parse
        if attr == "info":
            kw[attr] = elt.get_val().decode("utf-8", "replace") if raw else elt.get_val()
        elif attr in ("data", "diagnostic"):
            kw[attr] = elt.get_val()
        elif raw:
            raise M3uaError(f"malformed parameter 0x{tag:04x}", error_code=ErrorCode.PARAMETER_FIELD_ERROR)
        elif attr == "status":
            kw["status_type"], kw["status_info"] = elt.get_val()
        elif attr == "protocol_data":
            kw.update({a: elt[n].get_val() for a, n in _PD_FIELDS}, user_data=elt["Data"].get_val())
        elif attr == "routing_contexts":
            kw[attr] = tuple(elt.get_val())
        elif attr == "routing_context":
            rcs = elt.get_val()
            if len(rcs) != 1:
                raise M3uaError("DATA carries exactly one Routing Context", error_code=ErrorCode.INVALID_PARAMETER_VALUE)
            kw[attr] = rcs[0]
        else:
            kw[attr] = elt.get_val()
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in kw]
    if missing:
        raise M3uaError(f"{cls.__name__} without {', '.join(missing)}", error_code=ErrorCode.MISSING_PARAMETER)
    msg: M3uaMessage = cls(**kw)
    return msg


class M3uaFramer:
    """Splits a TCP byte stream into whole M3UA messages by the common header length."""

    def __init__(self, max_length: int = 65536) -> None:
        self._buf = bytearray()
        self.max_length = max_length

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> bytes | None:
        """The next whole message, None if more bytes are needed.

        Raises :class:`M3uaError` when the header cannot be right; the buffer is
        then dropped, as a stream has no way to find the next message again.
        """
        if len(self._buf) < 8:
            if self._buf and self._buf[0] != 1:
                self._fail(f"version {self._buf[0]}", ErrorCode.INVALID_VERSION)
            return None
        if self._buf[0] != 1:
            self._fail(f"version {self._buf[0]}", ErrorCode.INVALID_VERSION)
        length = int.from_bytes(self._buf[4:8], "big")
        if not 8 <= length <= self.max_length:
            self._fail(f"Message Length {length}", ErrorCode.PROTOCOL_ERROR)
        if len(self._buf) < length:
            return None
        msg = bytes(self._buf[:length])
        del self._buf[:length]
        return msg

    def feed(self, data: bytes) -> list[bytes]:
        """``receive_data`` then every whole message now available."""
        self.receive_data(data)
        out: list[bytes] = []
        while (msg := self.next_message()) is not None:
            out.append(msg)
        return out

    def _fail(self, reason: str, code: int) -> None:
        self._buf.clear()
        raise M3uaError(reason, error_code=code)


# --- the association -----------------------------------------------------------------------------

class AspState(str, enum.Enum):
    """ASP states as seen by both ends, RFC 4666 §4.3.1."""

    DOWN = "ASP-DOWN"
    INACTIVE = "ASP-INACTIVE"
    ACTIVE = "ASP-ACTIVE"


@dataclass(frozen=True, slots=True)
class SendBytes:
    data: bytes


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: AspState


@dataclass(frozen=True, slots=True)
class IsupReceived:
    opc: int
    dpc: int
    sls: int
    isup_bytes: bytes
    ni: int = 2


@dataclass(frozen=True, slots=True)
class Notified:
    status_type: int
    status_info: int


@dataclass(frozen=True, slots=True)
class M3uaProblem:
    reason: str


@dataclass(frozen=True, slots=True)
class FramingLost:
    """The stream's message boundaries are lost (a Message Length under 8 or over the limit, a version
    that is not 1): the ERR has been queued before this event; the driver closes the connection, as
    nothing on a byte stream can find the next message again (RFC 4666 over TCP; SCTP keeps them)."""

    reason: str


Event = SendBytes | StateChanged | IsupReceived | Notified | M3uaProblem | FramingLost

AS_INACTIVE, AS_ACTIVE = 2, 3  # Notify Status Information for Status Type 1 (§3.8.2)


class _Peer:
    """What both ends share: framing, decoding, ERR on bad input, BEAT, DATA."""

    def __init__(self, *, routing_context: int | None = None, network_indicator: int = 2) -> None:
        self.routing_context = routing_context
        self.network_indicator = network_indicator
        self.state = AspState.DOWN
        self._framer = M3uaFramer()

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Feed received bytes and handle every whole message; bad input is answered with ERR."""
        self.receive_data(data)
        events: list[Event] = []
        while (more := self.next_events(now)) is not None:
            events += more
        return events

    def receive_data(self, data: bytes) -> None:
        """Buffer received bytes; :meth:`next_events` then handles them one message at a time (a driver
        wraps each call in its error boundary, so one message that fails costs only that message)."""
        self._framer.receive_data(data)

    def next_events(self, now: float) -> list[Event] | None:
        """The events of the next whole message received, None when no whole message is buffered.

        A message that does not decode is answered with ERR carrying its error code (RFC 4666 §3.8.1)
        and the first octets as Diagnostic Information; lost framing gives the ERR then
        :class:`FramingLost`, and the buffer is dropped."""
        head = bytes(self._framer._buf[:8])
        try:
            raw = self._framer.next_message()
        except M3uaError as exc:
            return [*self._error(exc, head), FramingLost(str(exc))]
        if raw is None:
            return None
        try:
            return self._handle(decode_m3ua(raw), now)
        except M3uaError as exc:
            if raw[2:4] != b"\x00\x00":  # never answer an ERR with an ERR
                return self._error(exc, raw[:64])
            return [M3uaProblem(f"malformed ERR from peer: {exc}")]

    def send_isup(self, opc: int, dpc: int, sls: int, isup_bytes: bytes) -> list[SendBytes]:
        """DATA with SI=ISUP; refused (M3uaError) unless ASP-ACTIVE (RFC 4666 §4.3.4.3)."""
        if self.state is not AspState.ACTIVE:
            raise M3uaError(f"cannot send DATA in {self.state.value}", error_code=ErrorCode.UNEXPECTED_MESSAGE)
        msg = Data(opc, dpc, SI_ISUP, self.network_indicator, 0, sls, isup_bytes, routing_context=self.routing_context)
        return [SendBytes(encode_m3ua(msg))]

    def next_deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> list[Event]:
        return []

    def _send(self, msg: M3uaMessage) -> SendBytes:
        return SendBytes(encode_m3ua(msg))

    def _error(self, exc: M3uaError, diagnostic: bytes) -> list[Event]:
        return [self._send(Err(exc.error_code, diagnostic=diagnostic)), M3uaProblem(str(exc))]

    def _set_state(self, state: AspState) -> list[Event]:
        if state is self.state:
            return []
        self.state = state
        return [StateChanged(state)]

    def _handle(self, msg: M3uaMessage, now: float) -> list[Event]:
        if isinstance(msg, Beat):
            return [self._send(BeatAck(msg.data))]  # §4.3.4.6: echo the data
        if isinstance(msg, Err):
            return [M3uaProblem(f"peer sent ERR code 0x{msg.error_code:02x}")]
        if isinstance(msg, Notify):
            return [Notified(msg.status_type, msg.status_info)]
        if isinstance(msg, Data):
            if self.state is not AspState.ACTIVE:
                raise M3uaError(f"DATA in {self.state.value}", error_code=ErrorCode.UNEXPECTED_MESSAGE)
            if msg.si != SI_ISUP:
                return [M3uaProblem(f"DATA for service indicator {msg.si} ignored (only ISUP here)")]
            return [IsupReceived(msg.opc, msg.dpc, msg.sls, msg.user_data, msg.ni)]
        if isinstance(msg, Other):
            return [M3uaProblem(f"M3UA message class {msg.msg_class} type {msg.msg_type} ignored")]
        return self._handle_management(msg, now)

    def _handle_management(self, msg: M3uaMessage, now: float) -> list[Event]:
        raise M3uaError(f"{type(msg).__name__} in {self.state.value}", error_code=ErrorCode.UNEXPECTED_MESSAGE)


class M3uaAsp(_Peer):
    """The ASP (client) end: ASP Up, then ASP Active (RFC 4666 §4.3.4.1, §4.3.4.3).

    ``t_ack`` is T(ack), 2 s by default (§4.3.4.1); an unanswered ASP Up or ASP
    Active is resent up to ``max_retries`` times, then given up with an
    :class:`M3uaProblem`.  With ``beat_interval`` set, BEAT is sent that often
    while ASP-ACTIVE and two unanswered BEATs take the ASP down (§4.3.4.6).
    """

    def __init__(self, *, routing_context: int | None = None, network_indicator: int = 2,
                 traffic_mode: int | None = 2, asp_id: int | None = None, t_ack: float = 2.0,
                 max_retries: int = 5, beat_interval: float | None = None) -> None:
        super().__init__(routing_context=routing_context, network_indicator=network_indicator)
        self.traffic_mode, self.asp_id = traffic_mode, asp_id
        self.t_ack, self.max_retries, self.beat_interval = t_ack, max_retries, beat_interval
        self._pending: M3uaMessage | None = None  # the request awaiting its Ack
        self._retries = 0
        self._ack_deadline: float | None = None
        self._beat_due: float | None = None
        self._beats_unanswered = 0
        self._beat_seq = 0

    def start(self, now: float) -> list[Event]:
        """Send ASP Up (and keep resending it until acknowledged)."""
        self._beat_due = None
        return [self._request(AspUp(asp_id=self.asp_id), now)]

    def stop(self, now: float) -> list[Event]:
        """Send ASP Down (§4.3.4.2)."""
        self._beat_due = None
        return [self._request(AspDown(), now)]

    def next_deadline(self) -> float | None:
        times = [t for t in (self._ack_deadline, self._beat_due) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        if self._ack_deadline is not None and now >= self._ack_deadline and self._pending is not None:
            if self._retries >= self.max_retries:
                name = type(self._pending).__name__
                self._pending, self._ack_deadline = None, None
                events.append(M3uaProblem(f"no answer to {name} after {self.max_retries + 1} tries"))
            else:
                self._retries += 1
                self._ack_deadline = now + self.t_ack
                events.append(self._send(self._pending))
        if self._beat_due is not None and now >= self._beat_due:
            if self._beats_unanswered >= 2:
                self._beat_due = None
                events += [M3uaProblem("two heartbeats unanswered"), *self._set_state(AspState.DOWN)]
            else:
                self._beats_unanswered += 1
                self._beat_seq += 1
                self._beat_due = now + (self.beat_interval or 0.0)
                events.append(self._send(Beat(self._beat_seq.to_bytes(4, "big"))))
        return events

    def _request(self, msg: M3uaMessage, now: float) -> SendBytes:
        self._pending, self._retries, self._ack_deadline = msg, 0, now + self.t_ack
        return self._send(msg)

    def _answered(self, kind: type) -> bool:
        if isinstance(self._pending, kind):
            self._pending, self._ack_deadline = None, None
            return True
        return False

    def _handle(self, msg: M3uaMessage, now: float) -> list[Event]:
        if isinstance(msg, BeatAck):
            self._beats_unanswered = 0
            return []
        return super()._handle(msg, now)

    def _handle_management(self, msg: M3uaMessage, now: float) -> list[Event]:
        if isinstance(msg, (AspUpAck, AspActiveAck)) and not isinstance(self._pending, (AspUp, AspActive)):
            return []  # a late duplicate of an Ack already acted on
        if isinstance(msg, AspUpAck) and self._answered(AspUp):
            rcs = (self.routing_context,) if self.routing_context is not None else ()
            return [*self._set_state(AspState.INACTIVE),
                    self._request(AspActive(self.traffic_mode, rcs), now)]
        if isinstance(msg, AspActiveAck) and self._answered(AspActive):
            if self.beat_interval:
                self._beat_due, self._beats_unanswered = now + self.beat_interval, 0
            return self._set_state(AspState.ACTIVE)
        if isinstance(msg, AspDownAck):
            self._answered(AspDown)
            self._beat_due = None
            return self._set_state(AspState.DOWN)
        if isinstance(msg, AspInactiveAck):
            return self._set_state(AspState.INACTIVE)
        return super()._handle_management(msg, now)


class M3uaSgp(_Peer):
    """The SGP (server) end: answers ASP Up / ASP Active with Acks and Notify (RFC 4666 §4.3.4).

    One ASP per association; the AS it serves is active when that ASP is.
    ``routing_context`` None accepts any Routing Context in ASP Active.
    Messages other than ASP Up/Down, BEAT, ERR and NTFY from an ASP-DOWN ASP
    are answered with ERR "Unexpected Message" (§4.3.4.1 allows discarding;
    answering is more useful in a lab).
    """

    def _handle_management(self, msg: M3uaMessage, now: float) -> list[Event]:
        rcs = (self.routing_context,) if self.routing_context is not None else ()
        if isinstance(msg, AspUp):
            # §4.3.4.1: ASP Up Ack, the ASP is ASP-INACTIVE (even if it was ASP-ACTIVE)
            return [self._send(AspUpAck()), *self._set_state(AspState.INACTIVE),
                    self._send(Notify(1, AS_INACTIVE, routing_contexts=rcs))]
        if isinstance(msg, AspDown):
            return [self._send(AspDownAck()), *self._set_state(AspState.DOWN)]
        if self.state is AspState.DOWN:
            return super()._handle_management(msg, now)
        if isinstance(msg, AspActive):
            if msg.traffic_mode is not None and msg.traffic_mode not in (1, 2, 3):
                raise M3uaError(f"traffic mode {msg.traffic_mode}", error_code=ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE)
            if self.routing_context is not None and msg.routing_contexts and msg.routing_contexts != rcs:
                raise M3uaError(f"routing context {msg.routing_contexts}", error_code=ErrorCode.INVALID_ROUTING_CONTEXT)
            return [self._send(AspActiveAck(msg.traffic_mode, msg.routing_contexts)), *self._set_state(AspState.ACTIVE),
                    self._send(Notify(1, AS_ACTIVE, routing_contexts=rcs))]
        if isinstance(msg, AspInactive):
            return [self._send(AspInactiveAck(msg.routing_contexts)), *self._set_state(AspState.INACTIVE),
                    self._send(Notify(1, AS_INACTIVE, routing_contexts=rcs))]
        return super()._handle_management(msg, now)
