"""Diameter messages on the codec and AVP dictionary of ``python-diameter``.

python-diameter encodes and decodes every message and AVP here, using its
dictionary (3GPP vendor 10415 included).  Its Cx command classes are not
used: their SIP-Auth-Data-Item, SIP-Number-Auth-Items, SIP-Item-Number and
SIP-Authentication-Scheme are the RFC 4740 AVPs (376-382, no vendor) instead
of the 3GPP TS 29.229 ones (612, 607, 613, 608, vendor 10415), which Cx
peers and Wireshark expect.  So ``ims.diameter.cx`` lays out the Cx commands
itself (TS 29.229 §6.1) from dictionary AVPs built with ``Avp.new``.
pycrate's Diameter was not needed: the codec itself is sound.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from diameter.message import Message, MessageHeader
from diameter.message.avp import Avp
from diameter.message.avp.avp import get_avp_dictionary_entry

from ims.diameter.errors import DiameterError

HEADER_LEN = 20
MAX_MESSAGE = 1 << 20  # refuse anything larger than 1 MiB

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
                if a.code == EXPERIMENTAL_RESULT_CODE:
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
    def from_bytes(cls, data: bytes) -> DiameterMessage:
        if len(data) < HEADER_LEN:
            raise DiameterError(5015, f"message of {len(data)} bytes is shorter than the header")
        if data[0] != 1:
            raise DiameterError(5011, f"unsupported Diameter version {data[0]}")
        length = int.from_bytes(data[1:4], "big")
        if length != len(data) or length % 4:
            raise DiameterError(5015, f"message length {length} does not match {len(data)} bytes")
        _check_avps(data, HEADER_LEN, length)
        try:
            msg = Message.from_bytes(data, plain_msg=True)
        except Exception as exc:  # noqa: BLE001 - the codec raises assorted types on bad AVPs
            raise DiameterError(5014, f"undecodable AVP: {exc}") from None
        _check_values(msg.avps)
        h = msg.header
        flags = h.command_flags
        return cls(h.command_code, bool(flags & 0x80), h.application_id, list(msg.avps), h.hop_by_hop_identifier,
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


def _check_avps(data: bytes, pos: int, end: int) -> None:
    """RFC 6733 §4.1: every AVP header and length must fit (python-diameter accepts short ones).

    DIAMETER_INVALID_AVP_LENGTH (5014, §7.1.5) names the AVP in Failed-AVP with
    its code and vendor and a zero-filled payload of the minimum size."""
    while pos < end:
        if end - pos < 8:
            raise DiameterError(5014, f"truncated AVP header at offset {pos}")
        code = int.from_bytes(data[pos:pos + 4], "big")
        flags = data[pos + 4]
        length = int.from_bytes(data[pos + 5:pos + 8], "big")
        minimum = 12 if flags & 0x80 else 8
        if length < minimum or pos + length > end:
            vendor = int.from_bytes(data[pos + 8:pos + 12], "big") if flags & 0x80 and end - pos >= 12 else 0
            raise DiameterError(5014, f"AVP {code} at offset {pos} has invalid length {length}",
                                failed_avp=avp(FAILED_AVP, [Avp(code, vendor, b"", flags & 0xC0)]))
        pos += (length + 3) & ~3


def _check_values(avps: Iterable[Avp]) -> None:
    """Decode every value once so a bad one is DIAMETER_INVALID_AVP_VALUE (5004) with Failed-AVP (§7.1.5),
    not an exception deep in an application handler."""
    for a in avps:
        try:
            value = a.value
        except Exception as exc:  # noqa: BLE001 - AvpDecodeError and friends from the codec
            raise DiameterError(5004, f"AVP {a.code} has an invalid value: {exc}",
                                failed_avp=avp(FAILED_AVP, [a])) from None
        if isinstance(value, list):
            _check_values(value)


def frame_length(header: bytes) -> int:
    """Length from a 4+ byte header prefix; raises 5011 / 5015 (RFC 6733 §7.1.5) on a bad version or length."""
    if header[0] != 1:
        raise DiameterError(5011, f"unsupported Diameter version {header[0]}")
    length = int.from_bytes(header[1:4], "big")
    if length < HEADER_LEN or length > MAX_MESSAGE or length % 4:
        raise DiameterError(5015, f"impossible message length {length}")
    return length


def grouped(value: Iterable[Avp] | None) -> dict[tuple[int, int], Any]:
    """A grouped AVP's members by (code, vendor) -> value (first occurrence)."""
    out: dict[tuple[int, int], Any] = {}
    for a in value or ():
        out.setdefault((a.code, a.vendor_id or 0), a.value)
    return out
