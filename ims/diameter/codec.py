"""Diameter messages on the codec and AVP dictionary of ``python-diameter``.

python-diameter encodes and decodes every message and AVP here, using its
dictionary (3GPP vendor 10415 included).  Its Cx command classes are not
used: their SIP-Auth-Data-Item, SIP-Number-Auth-Items, SIP-Item-Number and
SIP-Authentication-Scheme are the RFC 4740 AVPs (376-382, no vendor) instead
of the 3GPP TS 29.229 ones (612, 607, 613, 608, vendor 10415), which Cx
peers and Wireshark expect.  So ``ims.diameter.cx`` lays out the Cx commands
itself (TS 29.229 §6.1) from dictionary AVPs built with ``Avp.new``.
pycrate's Diameter was not needed: the codec itself is sound.

Bytes from the wire are untrusted (DESIGN §6a): ``DiameterMessage.from_bytes``
raises only :class:`DiameterError`, carrying the Result-Code to answer with and
the Failed-AVP (RFC 6733 §7.1.5, §7.5).  Before python-diameter builds a single
object, one iterative walk over the raw bytes checks the header (version,
length, flag bits), every AVP header and length at every level of grouping,
the payload size of every fixed-size type, and :class:`DiameterLimits` (size,
AVP count, nesting depth), so neither a crafted length nor nesting nor sheer
AVP count reaches python-diameter or Python's recursion.  Then each decoded
value is read once (UTF-8, addresses, times), without recursion.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from diameter.message import Message, MessageHeader
from diameter.message.avp import Avp
from diameter.message.avp.avp import get_avp_dictionary_entry
from diameter.message.packer import Unpacker

from ims.diameter.errors import DiameterError

HEADER_LEN = 20
MAX_MESSAGE = 0xFFFFFF  # the 24-bit Message Length field (RFC 6733 §3); DiameterLimits bounds what we accept

# Result codes the decoder answers with (RFC 6733 §7.1.3, §7.1.5)
DIAMETER_INVALID_HDR_BITS = 3008
DIAMETER_INVALID_AVP_VALUE = 5004
DIAMETER_UNSUPPORTED_VERSION = 5011
DIAMETER_UNABLE_TO_COMPLY = 5012
DIAMETER_INVALID_BIT_IN_HEADER = 5013
DIAMETER_INVALID_AVP_LENGTH = 5014
DIAMETER_INVALID_MESSAGE_LENGTH = 5015


@dataclass(frozen=True, slots=True)
class DiameterLimits:
    """What one message from a peer may make us read and allocate (DESIGN §6a).

    ``max_message_bytes`` is checked from the first four bytes of the header,
    before the rest is buffered; ``max_avps`` (every AVP, grouped members
    included) and ``max_depth`` (grouping levels; a top-level AVP is depth 1)
    during the walk over the raw AVP headers, before python-diameter decodes
    anything.  The defaults suit Cx/Dx: the largest message is an SAA or PPR
    with the TS 29.228 User-Data XML, a few KiB."""

    max_message_bytes: int = 64 * 1024
    max_avps: int = 1000
    max_depth: int = 16

    def __post_init__(self) -> None:
        if not HEADER_LEN <= self.max_message_bytes <= MAX_MESSAGE:
            raise ValueError(f"max_message_bytes must be within {HEADER_LEN}..{MAX_MESSAGE}")
        if self.max_avps < 1 or self.max_depth < 1:
            raise ValueError("max_avps and max_depth must be at least 1")


DEFAULT_LIMITS = DiameterLimits()

VENDOR_3GPP = 10415

# Base protocol AVP codes (RFC 6733 §4.5)
SESSION_ID = 263
ORIGIN_HOST = 264
ORIGIN_REALM = 296
DESTINATION_HOST = 293
DESTINATION_REALM = 283
RESULT_CODE = 268
EXPERIMENTAL_RESULT = 297
EXPERIMENTAL_RESULT_CODE = 298
VENDOR_ID = 266
AUTH_APPLICATION_ID = 258
ACCT_APPLICATION_ID = 259
VENDOR_SPECIFIC_APPLICATION_ID = 260
SUPPORTED_VENDOR_ID = 265
HOST_IP_ADDRESS = 257
PRODUCT_NAME = 269
ORIGIN_STATE_ID = 278
AUTH_SESSION_STATE = 277
USER_NAME = 1
FAILED_AVP = 279
ERROR_MESSAGE = 281
DISCONNECT_CAUSE = 273
FIRMWARE_REVISION = 267


def avp(code: int, value: Any, vendor: int = 0) -> Avp:
    """A dictionary AVP; grouped values are lists of AVPs."""
    avp_type, name, mandatory, octets = _entry(code, vendor)
    if isinstance(value, str) and octets:
        value = value.encode()
    a = avp_type(code, vendor_id=vendor)
    a.name = name
    a.is_mandatory = mandatory
    a.value = value
    return a


@functools.lru_cache(maxsize=1024)
def _entry(code: int, vendor: int) -> tuple[type[Avp], str, bool, bool]:
    """The dictionary entry of an AVP, looked up once (it is on every message's path)."""
    entry = get_avp_dictionary_entry(code, vendor)
    if entry is None:
        raise DiameterError(5004, f"AVP {code} (vendor {vendor}) is not in the dictionary")
    avp_type = entry["type"]
    return avp_type, entry["name"], bool(entry.get("mandatory")), \
        avp_type.__name__ in ("AvpOctetString", "AvpDiameterIdentity")


def vendor_app(app_id: int, vendor: int = VENDOR_3GPP) -> Avp:
    """Vendor-Specific-Application-Id (RFC 6733 §6.11)."""
    return avp(VENDOR_SPECIFIC_APPLICATION_ID, [avp(VENDOR_ID, vendor), avp(AUTH_APPLICATION_ID, app_id)])


@dataclass
class DiameterMessage:
    """One Diameter message: header fields plus AVPs (python-diameter ``Avp`` objects)."""

    command_code: int
    request: bool
    application_id: int = 0
    avps: list[Avp] = field(default_factory=list)
    hop_by_hop: int = 0
    end_to_end: int = 0
    proxiable: bool = True
    error: bool = False
    retransmit: bool = False

    # -- access -----------------------------------------------------------
    def find(self, code: int, vendor: int = 0) -> list[Avp]:
        return [a for a in self.avps if a.code == code and (a.vendor_id or 0) == vendor]

    def get(self, code: int, vendor: int = 0, default: Any = None) -> Any:
        for a in self.avps:
            if a.code == code and (a.vendor_id or 0) == vendor:
                return a.value
        return default

    def get_str(self, code: int, vendor: int = 0) -> str | None:
        v = self.get(code, vendor)
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        return v

    def add(self, *avps: Avp | None) -> DiameterMessage:
        self.avps.extend(a for a in avps if a is not None)
        return self

    @property
    def origin_host(self) -> str | None:
        return self.get_str(ORIGIN_HOST)

    @property
    def origin_realm(self) -> str | None:
        return self.get_str(ORIGIN_REALM)

    @property
    def session_id(self) -> str | None:
        return self.get_str(SESSION_ID)

    @property
    def result_code(self) -> int | None:
        """Result-Code, or the Experimental-Result-Code inside Experimental-Result."""
        rc = self.get(RESULT_CODE)
        if rc is not None:
            return int(rc)
        exp = self.get(EXPERIMENTAL_RESULT)
        if exp:
            for a in exp:
                if a.code == EXPERIMENTAL_RESULT_CODE and not a.vendor_id:
                    return int(a.value)
        return None

    @property
    def experimental(self) -> bool:
        return self.get(RESULT_CODE) is None and self.get(EXPERIMENTAL_RESULT) is not None

    # -- wire ---------------------------------------------------------------
    def to_bytes(self) -> bytes:
        flags = (0x80 if self.request else 0) | (0x40 if self.proxiable else 0) | (0x20 if self.error else 0) \
            | (0x10 if self.retransmit else 0)
        header = MessageHeader(version=1, command_flags=flags, command_code=self.command_code,
                               application_id=self.application_id, hop_by_hop_identifier=self.hop_by_hop,
                               end_to_end_identifier=self.end_to_end)
        return Message(header, list(self.avps)).as_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, limits: DiameterLimits = DEFAULT_LIMITS) -> DiameterMessage:
        """Decode one whole message; any fault is a DiameterError with the result code to answer
        (and Failed-AVP where one AVP is at fault), never another exception."""
        data = bytes(data)
        flags = check_header(data, limits)
        _walk(data, limits)
        # python-diameter's header and AVP decoding, without Message.from_bytes: for a command it does
        # not know, that builds an UndefinedMessage which reads every value eagerly and recursively.
        try:
            h = MessageHeader.from_bytes(data)
            unpacker = Unpacker(data)
            unpacker.set_position(HEADER_LEN)
            avps: list[Avp] = []
            while not unpacker.is_done():
                avps.append(Avp.from_unpacker(unpacker))
        except Exception as exc:  # noqa: BLE001 - the walk above leaves python-diameter nothing to refuse
            raise DiameterError(DIAMETER_INVALID_AVP_LENGTH, f"undecodable AVP: {exc}"[:200]) from None
        _check_values(avps)
        return cls(h.command_code, bool(flags & 0x80), h.application_id, avps, h.hop_by_hop_identifier,
                   h.end_to_end_identifier, bool(flags & 0x40), bool(flags & 0x20), bool(flags & 0x10))

    def answer(self, *avps: Avp | None) -> DiameterMessage:
        """An answer skeleton for this request: same code, application and identifiers (§6.2)."""
        ans = DiameterMessage(self.command_code, False, self.application_id, [], self.hop_by_hop, self.end_to_end,
                              self.proxiable)
        if self.session_id is not None:
            ans.add(avp(SESSION_ID, self.session_id))
        ans.add(*avps)
        return ans

    def summary(self) -> str:
        name = COMMAND_NAMES.get(self.command_code, str(self.command_code))
        kind = "R" if self.request else "A"
        rc = "" if self.request else f" {self.result_code}"
        return f"{name}{kind}{rc}"


COMMAND_NAMES = {257: "CE", 280: "DW", 282: "DP", 300: "UA", 301: "SA", 302: "LI", 303: "MA", 304: "RT", 305: "PP"}


def check_header(data: bytes, limits: DiameterLimits = DEFAULT_LIMITS) -> int:
    """RFC 6733 §3 header checks of a whole message; returns the command flags.

    5015 for a length that is not the buffer's, not a multiple of 4, or over the limit; 5011 for a
    version other than 1; 3008 for the E bit on a request (§3: "MUST NOT be set in request
    messages"); 5013 for a reserved flag bit set (§7.1.5 DIAMETER_INVALID_BIT_IN_HEADER)."""
    if len(data) < HEADER_LEN:
        raise DiameterError(DIAMETER_INVALID_MESSAGE_LENGTH, f"message of {len(data)} bytes is shorter than the header")
    if data[0] != 1:
        raise DiameterError(DIAMETER_UNSUPPORTED_VERSION, f"unsupported Diameter version {data[0]}")
    length = int.from_bytes(data[1:4], "big")
    if length != len(data) or length % 4:
        raise DiameterError(DIAMETER_INVALID_MESSAGE_LENGTH, f"message length {length} does not match {len(data)} bytes")
    if length > limits.max_message_bytes:
        raise DiameterError(DIAMETER_INVALID_MESSAGE_LENGTH,
                            f"message of {length} bytes is over the limit of {limits.max_message_bytes}")
    flags = data[4]
    if flags & 0x80 and flags & 0x20:
        raise DiameterError(DIAMETER_INVALID_HDR_BITS, "E bit set on a request")
    if flags & 0x0F:
        raise DiameterError(DIAMETER_INVALID_BIT_IN_HEADER, f"reserved command flag bits set ({flags:#04x})")
    return flags


# What the walk needs to know of an AVP's dictionary type.
_OPAQUE, _GROUPED, _ADDRESS = 0, 1, 2
_FIXED = {"AvpInteger32": 4, "AvpUnsigned32": 4, "AvpFloat32": 4, "AvpTime": 4, "AvpEnumerated": 4,
          "AvpInteger64": 8, "AvpUnsigned64": 8, "AvpFloat64": 8}
_ADDRESS_LEN = {1: 6, 2: 18}  # AddressType + IPv4 / IPv6 (RFC 6733 §4.3.1)
_AVP_HEADER = struct.Struct(">II")  # AVP Code; flags and AVP Length (RFC 6733 §4.1)
_U32 = struct.Struct(">I")


@functools.lru_cache(maxsize=4096)
def _kind(code: int, vendor: int) -> int:
    """_GROUPED, _ADDRESS, a fixed payload size (4 or 8), or _OPAQUE (octets, text, unknown AVPs)."""
    entry = get_avp_dictionary_entry(code, vendor)
    if entry is None:
        return _OPAQUE
    name = entry["type"].__name__
    if name == "AvpGrouped":
        return _GROUPED
    if name == "AvpAddress":
        return _ADDRESS
    return _FIXED.get(name, _OPAQUE)


def _copy(data: bytes, pos: int, length: int, header: int, code: int, vendor: int, flags: int) -> Avp:
    """The AVP at ``pos`` as python-diameter's generic Avp (a Failed-AVP member: a copy of what was sent)."""
    return Avp(code, vendor, data[pos + header:pos + length], flags & 0xE0)


def _failed(*members: Avp) -> Avp:
    """Failed-AVP (RFC 6733 §7.5) holding ``members``."""
    return avp(FAILED_AVP, list(members))


def _walk(data: bytes, limits: DiameterLimits) -> None:
    """RFC 6733 §4.1/§4.4: every AVP header and length must fit its message or group, at every level,
    and every fixed-size value must have its size; DiameterLimits bound the count and depth.

    Iterative (an explicit stack), so no input reaches Python's recursion limit.  Grouped AVPs known
    to the dictionary are entered; unknown AVPs are opaque.  Failed-AVP (279) holds another node's
    copy of a faulty AVP (§7.5): the structure inside it is checked, the value sizes are not.

    DIAMETER_INVALID_AVP_LENGTH (5014, §7.1.5) carries a Failed-AVP with the offending AVP: its
    header and a zero-filled payload of the type's minimum size when its length is below the header
    or past its container (an incomplete header padded with zeroes; a Grouped one with an empty
    payload), else a copy of the AVP whose length does not fit its type."""
    count = 0
    # (start, end, depth, typed): one level of AVPs still to read.
    stack: list[tuple[int, int, int, bool]] = [(HEADER_LEN, len(data), 1, True)]
    while stack:
        pos, end, depth, typed = stack.pop()
        while pos < end:
            count += 1
            if count > limits.max_avps:
                raise DiameterError(DIAMETER_UNABLE_TO_COMPLY, f"more than {limits.max_avps} AVPs in the message")
            if end - pos < 8:
                head = data[pos:end] + bytes(8 - (end - pos))
                raise DiameterError(DIAMETER_INVALID_AVP_LENGTH, f"truncated AVP header at offset {pos}",
                                    failed_avp=_failed(Avp(int.from_bytes(head[:4], "big"), 0, b"", head[4] & 0x60)))
            code, flags_length = _AVP_HEADER.unpack_from(data, pos)
            flags, length = flags_length >> 24, flags_length & 0xFFFFFF
            header = 12 if flags & 0x80 else 8
            vendor = _U32.unpack_from(data, pos + 8)[0] if header == 12 and end - pos >= 12 else 0
            kind = _kind(code, vendor)
            padded = (length + 3) & ~3
            if length < header or pos + padded > end:
                size = kind if kind in (4, 8) else 2 if kind == _ADDRESS else 0
                raise DiameterError(DIAMETER_INVALID_AVP_LENGTH,
                                    f"AVP {code} at offset {pos} has invalid length {length}",
                                    failed_avp=_failed(Avp(code, vendor, bytes(size), flags & 0xE0)))
            size = length - header
            if kind == _GROUPED:
                if depth >= limits.max_depth and length > header:  # members would be one level deeper
                    # The offending AVP's header with an empty payload: the whole nest would be as deep again.
                    raise DiameterError(DIAMETER_INVALID_AVP_VALUE,
                                        f"grouped AVP {code} at offset {pos} nests deeper than {limits.max_depth}",
                                        failed_avp=_failed(Avp(code, vendor, b"", flags & 0xE0)))
                stack.append((pos + padded, end, depth, typed))  # the rest of this level, after the group
                stack.append((pos + header, pos + length, depth + 1, typed and (code, vendor) != (FAILED_AVP, 0)))
                break
            if typed and (kind in (4, 8) and size != kind or kind == _ADDRESS and (
                    size < 2 or _ADDRESS_LEN.get(int.from_bytes(data[pos + header:pos + header + 2], "big"), size) != size)):
                raise DiameterError(DIAMETER_INVALID_AVP_LENGTH,
                                    f"AVP {code} at offset {pos}: {size} octets do not fit its type",
                                    failed_avp=_failed(_copy(data, pos, length, header, code, vendor, flags)))
            pos += padded


def _check_values(avps: Iterable[Avp]) -> None:
    """Read every value once so a bad one is DIAMETER_INVALID_AVP_VALUE (5004) with Failed-AVP (§7.1.5),
    not an exception deep in an application handler.  Iterative; ``_walk`` has bounded depth and count.
    Failed-AVP members are another node's copies of faulty AVPs and are left as they are."""
    todo = list(avps)
    while todo:
        a = todo.pop()
        if a.code == FAILED_AVP and not a.vendor_id:
            continue
        try:
            value = a.value
        except Exception as exc:  # noqa: BLE001 - AvpDecodeError, struct.error, ValueError... from the codec
            raise DiameterError(DIAMETER_INVALID_AVP_VALUE, f"AVP {a.code} has an invalid value: {exc}"[:200],
                                failed_avp=_failed(a)) from None
        if isinstance(value, list):
            todo.extend(value)


def frame_length(header: bytes, limits: DiameterLimits = DEFAULT_LIMITS) -> int:
    """Length from a 4+ byte header prefix; raises 5011 / 5015 (RFC 6733 §7.1.5) on a bad version or a
    length that cannot be right (< 20, not a multiple of 4) or is over ``limits.max_message_bytes``."""
    if header[0] != 1:
        raise DiameterError(DIAMETER_UNSUPPORTED_VERSION, f"unsupported Diameter version {header[0]}")
    length = int.from_bytes(header[1:4], "big")
    if length < HEADER_LEN or length % 4:
        raise DiameterError(DIAMETER_INVALID_MESSAGE_LENGTH, f"impossible message length {length}")
    if length > limits.max_message_bytes:
        raise DiameterError(DIAMETER_INVALID_MESSAGE_LENGTH,
                            f"message of {length} bytes is over the limit of {limits.max_message_bytes}")
    return length


def salvage_request(frame: bytes, limits: DiameterLimits = DEFAULT_LIMITS) -> DiameterMessage:
    """The header of a request that could not be decoded, with its Session-Id when that AVP is readable,
    to answer it (RFC 6733 §6.2: the answer carries the request's Session-Id and identifiers).
    Reads only top-level AVP headers (at most ``limits.max_avps``); ``frame`` is at least 20 bytes."""
    flags = frame[4]
    msg = DiameterMessage(int.from_bytes(frame[5:8], "big"), True, int.from_bytes(frame[8:12], "big"), [],
                          int.from_bytes(frame[12:16], "big"), int.from_bytes(frame[16:20], "big"),
                          bool(flags & 0x40))
    pos, end = HEADER_LEN, min(len(frame), int.from_bytes(frame[1:4], "big"))
    for _ in range(limits.max_avps):
        if end - pos < 8:
            break
        code = int.from_bytes(frame[pos:pos + 4], "big")
        length = int.from_bytes(frame[pos + 5:pos + 8], "big")
        if length < 8 or pos + length > end:
            break
        if code == SESSION_ID and not frame[pos + 4] & 0x80:
            try:
                msg.add(avp(SESSION_ID, frame[pos + 8:pos + length].decode("utf-8")))
            except UnicodeDecodeError:
                pass  # a Session-Id that is not UTF-8 cannot be echoed
            break
        pos += (length + 3) & ~3
    return msg


def grouped(value: Iterable[Avp] | None) -> dict[tuple[int, int], Any]:
    """A grouped AVP's members by (code, vendor) -> value (first occurrence)."""
    out: dict[tuple[int, int], Any] = {}
    for a in value or ():
        out.setdefault((a.code, a.vendor_id or 0), a.value)
    return out
