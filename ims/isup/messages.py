"""ISUP messages (ITU-T Q.763) as plain values, encoded by pycrate.

What this is for: the MGCF and the simulated PSTN exchange build and read the
ISUP messages of a basic call (IAM, SAM, ACM, CPG, CON, ANM, SUS, RES, REL,
RLC) as :class:`IsupMessage` values with friendly parameter names, and turn
them into bytes for M3UA DATA (``with_cic=True``) or for a SIP-I body
(``with_cic=False``).  Not here: call control (Q.764), the M3UA transport
(:mod:`ims.isup.m3ua`), the SIP mapping (:mod:`ims.isup.mapping`).

Byte convention: ``encode(msg)`` returns the ISUP message as carried in the
MTP3 user data (the M3UA Protocol Data "user protocol data", RFC 4666 §3.3.1):
the 2-octet CIC (Q.763 §1.2: 12 bits, least significant octet first, 4 spare
bits sent as 0), the message type code, then the parameters.  A SIP-I/SIP-T
body carries the same message *without* the CIC: RFC 3204 §3.1, "encapsulated
beginning with the Message Type Code (i.e., omitting Routing Label and Circuit
ID Code)"; that is ``encode(msg, with_cic=False)`` and ``decode(body,
with_cic=False)`` (the decoded ``cic`` is then 0).

What pycrate provides: ``pycrate_mobile.ISUP`` defines every Q.763 message
layout (fixed, pointer-addressed variable and optional parts, the end of
optional parameters octet) and every parameter's bit fields; encoding,
pointer computation and decoding are pycrate's.  What is hand-written, and why:

* the table below mapping pycrate's parameter structures to the friendly
  dataclasses (field name <-> pycrate field name);
* the address-signal nibbles of numbers (Q.763 §3.9 f): pycrate's BCD buffer
  stops at the 0xF nibble, so it loses the ST (end of pulsing) signal, and it
  cannot encode codes 11/12; we pack nibbles ourselves into pycrate's ``Num``
  field.  Digits are written as hex characters: ``0``-``9``, ``B`` (code 11),
  ``C`` (code 12), ``F`` (ST);
* the Cause indicators (Q.763 §3.12) diagnostic: pycrate ties its presence to
  the extension bit of the cause value octet, but Q.850 §2.2.6 always sets that
  bit to 1 and diagnostics follow it; we make the diagnostic depend on the
  parameter length instead.

``decode`` accepts only what pycrate re-encodes to the very same bytes, so
trailing data, overlapping pointers or gaps are refused; it raises nothing but
:class:`IsupError`, whose ``cause`` is the Q.850 cause to answer with (Q.764
§2.9.5: 97 for a message type not implemented, 95 otherwise), and refuses
messages over 272 octets or with more than 64 optional parameters before
pycrate sees them.  A repeated optional parameter (e.g. two Generic numbers)
is refused for the same reason: pycrate keeps one of each.  Optional
parameters without a friendly name are kept as raw bytes in
``params["other"]`` (``{code: parameter contents}``) and sent back as they came.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from pycrate_core.base import Buf
from pycrate_core.utils import PycrateErr
from pycrate_mobile import ISUP as _P

__all__ = [
    "BackwardCallIndicators", "Cause", "ForwardCallIndicators", "GenericNumber", "IsupError", "IsupMessage",
    "MessageType", "NatureOfConnection", "PartyNumber", "acm", "anm", "cfn", "con", "cpg", "decode", "encode", "iam",
    "peek", "rel", "res", "rlc", "sam", "sus",
]


# Q.850 Table 1 causes of the invalid message and protocol error classes, the answers to bad ISUP
# (Q.764 §2.9.5): 95 invalid message, unspecified; 97 message type non-existent or not implemented;
# 99 information element / parameter non-existent or not implemented (passed on); 110 message with
# unrecognized parameter, discarded.
CAUSE_INVALID_MESSAGE = 95
CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED = 97
CAUSE_PARAMETER_NOT_IMPLEMENTED = 99
CAUSE_UNRECOGNIZED_PARAMETER_DISCARDED = 110

# Q.703 §2.3.8 / Q.763 §1.1: the signalling information field carries at most 272 octets, and an ISUP
# message (CIC onwards) never more; anything longer is refused before pycrate sees it.
MAX_MESSAGE_LENGTH = 272
MAX_OPTIONAL_PARAMETERS = 64


class IsupError(ValueError):
    """A malformed or unencodable ISUP message; names the message type and parameter.

    ``cause`` is the Q.850 cause to answer a received message with (Q.764 §2.9.5): 95 by default, 97
    for a message type we do not know; ``message_code`` the message type code when it could be read."""

    def __init__(self, reason: str, *, message_type: str | None = None, parameter: str | None = None,
                 cause: int = CAUSE_INVALID_MESSAGE, message_code: int | None = None) -> None:
        self.reason = reason
        self.message_type = message_type
        self.parameter = parameter
        self.cause = cause
        self.message_code = message_code
        where = ": ".join(p for p in (message_type, parameter) if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class MessageType(enum.IntEnum):
    """Message type codes, Q.763 Table 4 (§1.3)."""

    IAM = 0x01
    SAM = 0x02
    ACM = 0x06
    CON = 0x07
    ANM = 0x09
    REL = 0x0C
    SUS = 0x0D
    RES = 0x0E
    RLC = 0x10
    CPG = 0x2C
    CFN = 0x2F  # confusion (Q.764 §2.9.5): the answer to a message we cannot use


@dataclass(frozen=True, slots=True)
class PartyNumber:
    """Called (Q.763 §3.9) or calling (§3.10) party number.

    ``nature_of_address``: 1 subscriber, 2 unknown, 3 national (significant),
    4 international.  ``inn`` exists only in the called party number;
    ``presentation`` (0 allowed, 1 restricted), ``screening`` and ``incomplete``
    only in the calling party number -- the others are ignored when encoding.
    """

    digits: str
    nature_of_address: int
    numbering_plan: int = 1  # E.164
    presentation: int = 0
    screening: int = 3  # network provided
    inn: int = 0
    incomplete: bool = False


@dataclass(frozen=True, slots=True)
class GenericNumber:
    """Generic number (Q.763 §3.26); qualifier 6 = additional calling party number."""

    digits: str
    qualifier: int = 6
    nature_of_address: int = 4
    numbering_plan: int = 1
    presentation: int = 0
    screening: int = 3
    incomplete: bool = False


@dataclass(frozen=True, slots=True)
class NatureOfConnection:
    """Nature of connection indicators (Q.763 §3.35)."""

    satellite: int = 0  # 0 none, 1 one, 2 two satellite circuits
    continuity_check: int = 0  # 0 not required
    echo_control: bool = False  # outgoing echo control device included


@dataclass(frozen=True, slots=True)
class ForwardCallIndicators:
    """Forward call indicators (Q.763 §3.23)."""

    international_call: bool = False  # A
    end_to_end_method: int = 0  # CB: 0 none
    interworking: bool = False  # D: interworking encountered
    end_to_end_information: bool = False  # E
    isup_indicator: bool = True  # F: ISDN user part used all the way
    isup_preference: str = "preferred"  # HG: preferred / not_required / required
    isdn_access: bool = True  # I: originating access ISDN
    sccp_method: int = 0  # KJ


@dataclass(frozen=True, slots=True)
class BackwardCallIndicators:
    """Backward call indicators (Q.763 §3.5)."""

    charge_indicator: int = 0  # BA: 0 no indication, 1 no charge, 2 charge
    called_party_status: int = 0  # DC: 0 no indication, 1 subscriber free, 2 connect when free
    called_party_category: int = 0  # FE: 0 no indication, 1 ordinary subscriber, 2 payphone
    end_to_end_method: int = 0  # HG
    interworking: bool = False  # I
    end_to_end_information: bool = False  # J
    isup_indicator: bool = True  # K: ISDN user part used all the way
    holding: bool = False  # L: holding requested
    isdn_access: bool = False  # M: terminating access ISDN
    echo_control_device: bool = False  # N: incoming echo control device included
    sccp_method: int = 0  # PO


@dataclass(frozen=True, slots=True)
class Cause:
    """Cause indicators (Q.763 §3.12, coded per Q.850 §2.2): value 16 = normal clearing."""

    value: int
    location: int = 0  # 0 user, 2 public network serving the local user, 4 ... remote user
    coding_standard: int = 0  # ITU-T
    diagnostic: bytes = b""


@dataclass
class IsupMessage:
    """One ISUP message: type, circuit identification code and named parameters."""

    type: MessageType
    cic: int
    params: dict[str, Any] = field(default_factory=dict)


# --- parameter table: pycrate structure name <-> friendly key and converters ---------------

_PREFERENCE = {"preferred": 0, "not_required": 1, "required": 2, "spare": 3}  # §3.23 HG
_PREFERENCE_NAME = {v: k for k, v in _PREFERENCE.items()}

# (dataclass field, pycrate field) per bit-field parameter
_NCI_FIELDS = (("satellite", "SatelliteInd"), ("continuity_check", "ContinuityCheckInd"),
               ("echo_control", "EchoControlDeviceInd"))
_FCI_FIELDS = (("international_call", "InternatCallInd"), ("end_to_end_method", "EtoEMethodInd"),
               ("interworking", "InterworkingInd"), ("end_to_end_information", "EtoEInfoInd"),
               ("isup_indicator", "ISDNUserPartInd"), ("isup_preference", "ISDNUserPartPrefInd"),
               ("isdn_access", "ISDNAccessInd"), ("sccp_method", "SCCPMethodInd"))
_BCI_FIELDS = (("charge_indicator", "ChargeInd"), ("called_party_status", "CalledPartyStatusInd"),
               ("called_party_category", "CalledPartyCatInd"), ("end_to_end_method", "EtoEMethodInd"),
               ("interworking", "InterworkingInd"), ("end_to_end_information", "EtoEInfoInd"),
               ("isup_indicator", "ISDNUserPartInd"), ("holding", "HoldingInd"),
               ("isdn_access", "ISDNAccessInd"), ("echo_control_device", "EchoControlDeviceInd"),
               ("sccp_method", "SCCPMethodInd"))
# (dataclass field, pycrate field) for numbers; absent pycrate fields are skipped
_CALLED_FIELDS = (("nature_of_address", "NAI"), ("inn", "INN"), ("numbering_plan", "NumPlan"))
_CALLING_FIELDS = (("nature_of_address", "NAI"), ("incomplete", "NI"), ("numbering_plan", "NumPlan"),
                   ("presentation", "AddrPresInd"), ("screening", "ScreeningInd"))
_GENERIC_FIELDS = (("qualifier", "NumQualifInd"), ("nature_of_address", "NAI"), ("incomplete", "spare"),
                   ("numbering_plan", "NumPlan"), ("presentation", "AddrPresInd"),
                   ("screening", "ScreeningInd"))


_HEX = "0123456789ABCDEFabcdef"


def _pack_digits(digits: str) -> tuple[int, bytes]:
    """(odd/even indicator, address signals) per Q.763 §3.9 f: first signal in bits 4-1."""
    if digits.strip(_HEX):
        raise ValueError(f"address signals are hex digits (0-9, B code 11, C code 12, F ST), got {digits!r}")
    nibbles = [int(c, 16) for c in digits]
    odd = len(nibbles) % 2
    if odd:
        nibbles.append(0)  # filler
    return odd, bytes(lo | hi << 4 for lo, hi in zip(nibbles[::2], nibbles[1::2]))


def _unpack_digits(odd: int, raw: bytes) -> str:
    out = "".join(f"{b & 0xF:X}{b >> 4:X}" for b in raw)
    return out[:-1] if odd and out else out


def _set_bits(elt: Any, obj: Any, pairs: tuple[tuple[str, str], ...]) -> None:
    for attr, name in pairs:
        value = getattr(obj, attr)
        if attr == "isup_preference":
            if value not in _PREFERENCE:
                raise ValueError(f"isup_preference must be one of {sorted(_PREFERENCE)}, got {value!r}")
            value = _PREFERENCE[value]
        elt[name].set_val(int(value))


def _get_bits(cls: type[Any], elt: Any, pairs: tuple[tuple[str, str], ...]) -> Any:
    kinds: dict[str, Any] = {f.name: type(f.default) for f in fields(cls)}
    kw: dict[str, Any] = {}
    for attr, name in pairs:
        raw = elt[name].get_val()
        kw[attr] = _PREFERENCE_NAME[raw] if attr == "isup_preference" else kinds[attr](raw)
    return cls(**kw)


def _number_codec(cls: type[Any], pairs: tuple[tuple[str, str], ...]
                  ) -> tuple[Callable[[Any, Any], None], Callable[[Any], Any]]:
    def enc(elt: Any, num: Any) -> None:
        if not isinstance(num, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(num).__name__}")
        _set_bits(elt, num, pairs)
        odd, raw = _pack_digits(num.digits)
        elt["OE"].set_val(odd)
        elt["Num"].set_val(raw)

    def dec(elt: Any) -> Any:
        kinds: dict[str, Any] = {f.name: type(f.default) for f in fields(cls)}
        kw = {a: (kinds[a] if kinds[a] in (bool, int) else int)(elt[n].get_val()) for a, n in pairs}
        return cls(digits=_unpack_digits(elt["OE"].get_val(), elt["Num"].get_val()), **kw)

    return enc, dec


def _enc_bits(cls: type[Any], pairs: tuple[tuple[str, str], ...]) -> Callable[[Any, Any], None]:
    def enc(elt: Any, obj: Any) -> None:
        if not isinstance(obj, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(obj).__name__}")
        _set_bits(elt, obj, pairs)
    return enc


def _enc_int(name: str | None) -> Callable[[Any, Any], None]:
    def enc(elt: Any, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError(f"expected an int, got {type(value).__name__}")
        (elt[name] if name else elt).set_val(value)
    return enc


def _enc_cause(elt: Any, cause: Any) -> None:
    if not isinstance(cause, Cause):
        raise TypeError(f"expected Cause, got {type(cause).__name__}")
    if not 0 <= cause.value <= 127:
        raise ValueError(f"cause value {cause.value} outside 0..127")
    elt[0].set_val(1)  # ext: no octet 1a (Q.850 §2.2.5)
    elt["CodingStd"].set_val(cause.coding_standard)
    elt["Location"].set_val(cause.location)
    elt[4].set_val(1)  # ext of the cause value octet, always 1 (Q.850 §2.2.6)
    elt["Class"].set_val(cause.value >> 4)
    elt["Cause"].set_val(cause.value & 0xF)
    elt["Diagnostic"].set_val(cause.diagnostic)
    elt["Diagnostic"].set_trans(not cause.diagnostic)  # raw transparency wins over pycrate's rule


def _dec_cause(elt: Any) -> Cause:
    diag = elt["Diagnostic"]
    return Cause(value=elt["Class"].get_val() << 4 | elt["Cause"].get_val(), location=elt["Location"].get_val(),
                 coding_standard=elt["CodingStd"].get_val(),
                 diagnostic=b"" if diag.get_trans() else diag.get_val())


def _enc_subsequent(elt: Any, digits: Any) -> None:
    if not isinstance(digits, str):
        raise TypeError(f"expected a str of digits, got {type(digits).__name__}")
    odd, raw = _pack_digits(digits)
    elt["OE"].set_val(odd)
    elt["Num"].set_val(raw)


_called_enc, _called_dec = _number_codec(PartyNumber, _CALLED_FIELDS)
_calling_enc, _calling_dec = _number_codec(PartyNumber, _CALLING_FIELDS)
_generic_enc, _generic_dec = _number_codec(GenericNumber, _GENERIC_FIELDS)

# pycrate structure name -> (friendly key, encoder(elt, value), decoder(elt) -> value)
_PARAMS: dict[str, tuple[str, Callable[[Any, Any], None], Callable[[Any], Any]]] = {
    "NatureConnectionInd": ("nature_of_connection", _enc_bits(NatureOfConnection, _NCI_FIELDS),
                            lambda e: _get_bits(NatureOfConnection, e, _NCI_FIELDS)),
    "ForwardCallInd": ("forward_call_indicators", _enc_bits(ForwardCallIndicators, _FCI_FIELDS),
                       lambda e: _get_bits(ForwardCallIndicators, e, _FCI_FIELDS)),
    "BackwardCallInd": ("backward_call_indicators", _enc_bits(BackwardCallIndicators, _BCI_FIELDS),
                        lambda e: _get_bits(BackwardCallIndicators, e, _BCI_FIELDS)),
    "CallingPartyCat": ("calling_party_category", _enc_int(None), lambda e: e.get_val()),
    "TransmissionMediumReq": ("transmission_medium_requirement", _enc_int(None), lambda e: e.get_val()),
    "CalledPartyNum": ("called_party_number", _called_enc, _called_dec),
    "CallingPartyNum": ("calling_party_number", _calling_enc, _calling_dec),
    "GenericNum": ("generic_number", _generic_enc, _generic_dec),
    "CauseInd": ("cause", _enc_cause, _dec_cause),
    "EventInfo": ("event_information", _enc_int("EventInd"), lambda e: e["EventInd"].get_val()),
    "SubsequentNum": ("subsequent_number", _enc_subsequent,
                      lambda e: _unpack_digits(e["OE"].get_val(), e["Num"].get_val())),
    "SuspendResumeInd": ("suspend_resume_indicator", _enc_int("Value"), lambda e: e["Value"].get_val()),
}
_KEY_TO_PYCRATE = {key: name for name, (key, _, _) in _PARAMS.items()}
_OTHER = "other"
_CLASSES = {t: _P.ISUPTypeClasses[int(t)] for t in MessageType}


def _layout(msg: Any) -> tuple[list[tuple[str, Any]], dict[int, Any]]:
    """([(pycrate name, parameter element)] of the mandatory part, {code: option wrapper})."""
    mandatory: list[tuple[str, Any]] = []
    options: dict[int, Any] = {}
    for elt in msg._content[2:]:  # after CIC and message type
        if elt._name == "Pointers":
            continue
        if elt._name == "Opt":
            options = {opt[0].get_val(): opt for opt in elt._content if opt._name != "EOO"}
        elif type(elt).__name__ == "Variable":
            mandatory.append((elt._name, elt[1]))
        else:
            mandatory.append((elt._name, elt))
    return mandatory, options


def _fix_cause_for_decoding(wrapper: Any, len_index: int) -> None:
    """Diagnostic present iff the parameter is longer than 2 octets (see module docstring)."""
    length, inner = wrapper[len_index], wrapper[len_index + 1]
    inner["Diagnostic"].set_transauto(lambda: length.get_val() <= 2)
    inner["Diagnostic"].set_blauto(lambda: 8 * max(0, length.get_val() - 2))


def encode(msg: IsupMessage, *, with_cic: bool = True) -> bytes:
    """The message as bytes, starting with the CIC unless ``with_cic`` is false (SIP-I)."""
    try:
        mtype = MessageType(msg.type)
    except ValueError:
        raise IsupError(f"unsupported message type {msg.type!r}") from None
    name = mtype.name
    if not 0 <= msg.cic <= 0xFFF:
        raise IsupError(f"CIC {msg.cic} outside 0..4095 (Q.763 §1.2)", message_type=name)
    pmsg = _CLASSES[mtype]()
    pmsg["CIC"].set_val(msg.cic)
    mandatory, options = _layout(pmsg)
    done: set[str] = set()
    for pname, elt in mandatory:
        key, enc, _ = _PARAMS[pname]
        if key not in msg.params:
            raise IsupError("mandatory parameter missing", message_type=name, parameter=key)
        _apply(enc, elt, msg.params[key], name, key)
        done.add(key)
    opt_env = pmsg["Opt"] if options else None
    for key, value in msg.params.items():
        if key in done or key == _OTHER:
            continue
        structure = _KEY_TO_PYCRATE.get(key)
        code = next((c for c, o in options.items() if o._name == structure), None) if structure else None
        if structure is None or code is None:
            raise IsupError("parameter not defined for this message (Q.763 §4)", message_type=name, parameter=key)
        wrapper = options[code]
        wrapper.set_trans(False)
        _apply(_PARAMS[structure][1], wrapper[2], value, name, key)
    other = msg.params.get(_OTHER) or {}
    if other:
        if opt_env is None:
            raise IsupError("message has no optional part", message_type=name, parameter=_OTHER)
        for code, raw in other.items():
            if not (isinstance(code, int) and 0 < code <= 0xFF and isinstance(raw, bytes) and len(raw) <= 0xFF):
                raise IsupError(f"bad raw optional parameter {code!r}", message_type=name, parameter=_OTHER)
            wrapper = _P.Optional(Buf(f"_raw_{code}", val=raw), code)
            wrapper.set_trans(False)
            opt_env.insert(len(opt_env._content) - 1, wrapper)  # before the end of optional parameters
    if opt_env is not None and any(not o.get_trans() for o in opt_env._content):
        opt_env["EOO"].set_trans(False)  # Q.763 §1.8: end of optional parameters octet
    try:
        data: bytes = pmsg.to_bytes()
    except (PycrateErr, ValueError, TypeError) as exc:
        raise IsupError(f"cannot encode: {exc}", message_type=name) from None
    return data if with_cic else data[2:]


def _apply(enc: Callable[[Any, Any], None], elt: Any, value: Any, name: str, key: str) -> None:
    try:
        enc(elt, value)
    except (PycrateErr, ValueError, TypeError, KeyError) as exc:
        raise IsupError(str(exc), message_type=name, parameter=key) from None


def peek(data: bytes, *, with_cic: bool = True) -> tuple[int, int] | None:
    """(CIC, message type code) of a message too bad to decode, to address the answer; None if too short."""
    need = 3 if with_cic else 1
    if len(data) < need:
        return None
    if not with_cic:
        return 0, data[0]
    return (data[0] | data[1] << 8) & 0xFFF, data[2]


def _scan_optional(buf: bytes, name: str, code: int) -> None:
    """Walk the optional part before pycrate does (Q.763 §1.8): a bounded count of parameters, each
    inside the message, ending with the end-of-optional-parameters octet."""
    pmsg = _CLASSES[MessageType(code)]()
    pointers = next((e for e in pmsg._content if e._name == "Pointers"), None)
    has_opt = any(e._name == "Opt" for e in pmsg._content)
    if pointers is None or not has_opt:
        return
    fixed = 3 + sum(len(e.to_bytes()) for e in pmsg._content[2:] if e._name not in ("Pointers", "Opt")
                    and type(e).__name__ != "Variable")
    count_ptr = len(pointers._content)
    last = fixed + count_ptr - 1  # the pointer to the start of the optional part
    if last >= len(buf):
        raise IsupError("pointers past the end of the message", message_type=name, message_code=code)
    if buf[last] == 0:
        return  # no optional part
    at = last + buf[last]
    count = 0
    while True:
        if at >= len(buf):
            raise IsupError("optional part runs past the end of the message (no end of optional parameters)",
                            message_type=name, message_code=code)
        if buf[at] == 0:
            return
        count += 1
        if count > MAX_OPTIONAL_PARAMETERS or at + 1 >= len(buf):
            raise IsupError("too many optional parameters" if count > MAX_OPTIONAL_PARAMETERS
                            else "optional parameter past the end of the message", message_type=name,
                            message_code=code)
        at += 2 + buf[at + 1]


def decode(data: bytes, *, with_cic: bool = True) -> IsupMessage:
    """Parse one ISUP message; raise :class:`IsupError`, carrying the Q.850 cause to answer with, for
    anything malformed, and nothing else whatever the input."""
    buf = bytes(data) if with_cic else b"\x00\x00" + bytes(data)
    if len(buf) < 3:
        raise IsupError(f"{len(data)} octets is too short for an ISUP message")
    if len(buf) > MAX_MESSAGE_LENGTH:
        raise IsupError(f"{len(buf)} octets is longer than an ISUP message can be ({MAX_MESSAGE_LENGTH})",
                        message_code=buf[2])
    try:
        mtype = MessageType(buf[2])
    except ValueError:
        raise IsupError(f"unsupported message type 0x{buf[2]:02x}", cause=CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED,
                        message_code=buf[2]) from None
    name = mtype.name
    _scan_optional(buf, name, int(mtype))
    pmsg = _CLASSES[mtype]()
    for elt in pmsg._content:
        if elt._name == "CauseInd":
            _fix_cause_for_decoding(elt, 0)
        elif elt._name == "Opt":
            for opt in elt._content:
                if opt._name == "CauseInd":
                    _fix_cause_for_decoding(opt, 1)
    try:
        pmsg.from_bytes(buf)
        valid = pmsg.is_valid() and pmsg.to_bytes() == buf
    except Exception as exc:  # noqa: BLE001 - pycrate raises many kinds (PycrateErr, struct, Index...)
        raise IsupError(f"malformed: {type(exc).__name__}: {str(exc)[:120]}", message_type=name,
                        message_code=int(mtype)) from None
    if not valid:
        raise IsupError("parameters overlap, leave gaps, repeat or leave trailing octets", message_type=name,
                        message_code=int(mtype))
    params: dict[str, Any] = {}
    mandatory, options = _layout(pmsg)
    try:
        for pname, elt in mandatory:
            key, _, dec = _PARAMS[pname]
            params[key] = dec(elt)
        other: dict[int, bytes] = {}
        for opt in pmsg["Opt"]._content if options else ():
            if opt.get_trans() or opt._name == "EOO":
                continue
            spec = _PARAMS.get(opt._name)
            if spec is not None:
                params[spec[0]] = spec[2](opt[2])
            else:
                other[opt[0].get_val()] = opt[2].to_bytes()
    except Exception as exc:  # noqa: BLE001 - as above
        raise IsupError(f"bad parameter: {type(exc).__name__}: {str(exc)[:120]}", message_type=name,
                        message_code=int(mtype)) from None
    if other:
        params[_OTHER] = other
    return IsupMessage(mtype, (buf[0] | buf[1] << 8) & 0xFFF if with_cic else 0, params)


# --- builders for the messages of a basic call (Q.764 §2) -----------------------------------

def iam(cic: int, called: str, calling: str | None = None, *, nature: int = 4, calling_nature: int | None = None,
        presentation: int = 0, calling_party_category: int = 10, transmission_medium_requirement: int = 0,
        forward_call_indicators: ForwardCallIndicators | None = None,
        nature_of_connection: NatureOfConnection | None = None, complete: bool = False) -> IsupMessage:
    """An IAM; ``complete`` appends ST to the called number (en-bloc, Q.764 §2.1.1.1)."""
    params: dict[str, Any] = {
        "nature_of_connection": nature_of_connection or NatureOfConnection(),
        "forward_call_indicators": forward_call_indicators or ForwardCallIndicators(),
        "calling_party_category": calling_party_category,  # 10 ordinary calling subscriber (§3.11)
        "transmission_medium_requirement": transmission_medium_requirement,  # 0 speech (§3.54)
        "called_party_number": PartyNumber(called + ("F" if complete else ""), nature),
    }
    if calling is not None:
        params["calling_party_number"] = PartyNumber(
            calling, nature if calling_nature is None else calling_nature, presentation=presentation)
    return IsupMessage(MessageType.IAM, cic, params)


def sam(cic: int, digits: str) -> IsupMessage:
    """A SAM carrying further address signals (overlap sending)."""
    return IsupMessage(MessageType.SAM, cic, {"subsequent_number": digits})


_ACM_BCI = BackwardCallIndicators(charge_indicator=2, called_party_category=1, isdn_access=True)


def acm(cic: int, *, called_party_status: int = 1, backward_call_indicators: BackwardCallIndicators | None = None
        ) -> IsupMessage:
    """An ACM; called party status 1 = subscriber free (alerting), 0 = no indication."""
    bci = backward_call_indicators or replace(_ACM_BCI, called_party_status=called_party_status)
    return IsupMessage(MessageType.ACM, cic, {"backward_call_indicators": bci})


def con(cic: int, *, backward_call_indicators: BackwardCallIndicators | None = None) -> IsupMessage:
    """A CON (answer without a preceding ACM)."""
    return IsupMessage(MessageType.CON, cic, {"backward_call_indicators": backward_call_indicators or _ACM_BCI})


def anm(cic: int) -> IsupMessage:
    return IsupMessage(MessageType.ANM, cic, {})


def cpg(cic: int, event: int) -> IsupMessage:
    """A CPG; event 1 alerting, 2 progress, 3 in-band information available (§3.21)."""
    return IsupMessage(MessageType.CPG, cic, {"event_information": event})


def rel(cic: int, cause: int, location: int = 2) -> IsupMessage:
    """A REL; location 2 = public network serving the local user (Q.850 Table 1)."""
    return IsupMessage(MessageType.REL, cic, {"cause": Cause(cause, location)})


def rlc(cic: int) -> IsupMessage:
    return IsupMessage(MessageType.RLC, cic, {})


def cfn(cic: int, cause: int, diagnostic: bytes = b"", location: int = 2) -> IsupMessage:
    """A CFN (Q.764 §2.9.5): ``cause`` 97 with the unknown message type code as ``diagnostic``, 99 with
    the parameter names, 95 otherwise (Q.850 §2.2.7 diagnostics)."""
    return IsupMessage(MessageType.CFN, cic, {"cause": Cause(cause, location, diagnostic=diagnostic)})


def sus(cic: int, *, network_initiated: bool = False) -> IsupMessage:
    return IsupMessage(MessageType.SUS, cic, {"suspend_resume_indicator": int(network_initiated)})


def res(cic: int, *, network_initiated: bool = False) -> IsupMessage:
    return IsupMessage(MessageType.RES, cic, {"suspend_resume_indicator": int(network_initiated)})
