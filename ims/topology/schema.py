"""The topology schema: what a lab file may say, field by field (pydantic).

This module checks each field on its own (types, lengths, hex keys, names).
Checks that look across the file (unknown peers, duplicate sockets, a P-CSCF
with no I-CSCF in its domain...) live in ``ims.topology.validate`` so that
each problem can be reported with its own path instead of stopping at the
first one.  Nothing here opens a socket or starts a process.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NODE_KINDS = (
    "hss", "pcscf", "icscf", "scscf", "tas", "bgcf", "mgcf", "mgw", "pstn", "ue", "proxy",
)
NodeKind = Literal[
    "hss", "pcscf", "icscf", "scscf", "tas", "bgcf", "mgcf", "mgw", "pstn", "ue", "proxy",
]
Transport = Literal["udp", "tcp", "tls", "sctp"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_FQDN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # controls and blanks: no identity in a SIP header holds one


def _ascii_digits(v: str) -> bool:
    """ASCII digits only: ``str.isdigit()`` also takes '²' and other digits that ``int()`` refuses."""
    return v.isascii() and v.isdigit()

Port = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hex_field(value: str, nbytes: int, what: str) -> str:
    text = value.strip().lower().removeprefix("0x")
    if not _HEX.match(text):
        raise ValueError(f"{what} must be hexadecimal, got {value!r}")
    if len(text) != 2 * nbytes:
        raise ValueError(
            f"{what} must be {nbytes} bytes ({2 * nbytes} hex digits), got {len(text)} hex digits"
        )
    return text


class Lab(_Strict):
    name: str = "lab"
    description: str = ""


class Domain(_Strict):
    """A home network (TS 23.003 §13.2: ims.mncMNC.mccMCC.3gppnetwork.org)."""

    name: str
    realm: str | None = None  # Diameter realm; defaults to the domain name
    mcc: str = "001"
    mnc: str = "01"
    country_code: str = "1"  # E.164 country code for tel: URIs and ISUP numbers
    national_prefix: str = "0"

    @field_validator("name", "realm")
    @classmethod
    def _fqdn(cls, v: str | None) -> str | None:
        if v is not None and not _FQDN.match(v):
            raise ValueError(f"{v!r} is not a domain name")
        return v

    @field_validator("mcc")
    @classmethod
    def _mcc(cls, v: str) -> str:
        if not (_ascii_digits(v) and len(v) == 3):
            raise ValueError(f"MCC must be 3 digits, got {v!r}")
        return v

    @field_validator("mnc")
    @classmethod
    def _mnc(cls, v: str) -> str:
        if not (_ascii_digits(v) and len(v) in (2, 3)):
            raise ValueError(f"MNC must be 2 or 3 digits, got {v!r}")
        return v

    @field_validator("country_code")
    @classmethod
    def _cc(cls, v: str) -> str:
        if not (_ascii_digits(v) and 1 <= len(v) <= 3):
            raise ValueError(f"country code must be 1 to 3 digits, got {v!r}")
        return v

    @property
    def diameter_realm(self) -> str:
        return self.realm or self.name


class Timers(_Strict):
    """RFC 3261 §17.1.1.1 timer bases, in seconds."""

    t1: float = Field(0.5, gt=0, le=10)
    t2: float = Field(4.0, gt=0, le=60)
    t4: float = Field(5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _order(self) -> Timers:
        if self.t2 < self.t1:
            raise ValueError(f"t2 ({self.t2}) must not be smaller than t1 ({self.t1})")
        return self


class SipSettings(_Strict):
    port: Port = 5060
    transports: list[Transport] = Field(default_factory=lambda: ["udp", "tcp"])
    tls_port: Port | None = None

    @field_validator("transports")
    @classmethod
    def _nonempty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one transport is needed")
        if len(set(v)) != len(v):
            raise ValueError("a transport is listed twice")
        return v


class DiameterSettings(_Strict):
    identity: str | None = None  # Origin-Host; defaults to NAME.DOMAIN
    port: Port = 3868
    peers: list[str] = Field(default_factory=list)  # node names this node connects to

    @field_validator("identity")
    @classmethod
    def _fqdn(cls, v: str | None) -> str | None:
        if v is not None and not _FQDN.match(v):
            raise ValueError(f"Diameter identity {v!r} is not a FQDN")
        return v


class Capabilities(_Strict):
    """Server-Capabilities of an S-CSCF (TS 29.228 §6.7, TS 29.229 §6.3.3)."""

    mandatory: list[int] = Field(default_factory=list)
    optional: list[int] = Field(default_factory=list)


Setting = int | float | bool


def _dataclass_of(section: str) -> type:
    """The library dataclass a ``[limits.SECTION]`` table sets (imported here, not at module load: the
    schema must not pull the drivers in)."""
    if section == "sip":
        from ims.sip.limits import SipLimits
        return SipLimits
    if section == "diameter":
        from ims.diameter.codec import DiameterLimits
        return DiameterLimits
    from ims.net.overload import OverloadConfig
    return OverloadConfig


class Limits(_Strict):
    """What one input from the network may make a node allocate, and when it sheds load (issue 13).

    Each table sets fields of a library dataclass by name, and anything left out keeps the library's
    default: ``sip`` -> :class:`ims.sip.limits.SipLimits` (max_message_bytes, max_headers,
    max_header_bytes, max_body_bytes, max_multipart_depth, max_multipart_parts), ``diameter`` ->
    :class:`ims.diameter.codec.DiameterLimits` (max_message_bytes, max_avps, max_depth), ``overload``
    -> :class:`ims.net.overload.OverloadConfig` (enabled, target_delay, diameter_in_progress, ...).
    A lab-wide ``[limits]`` applies to every node; a node's ``[nodes.limits]`` overrides it field by field.
    """

    sip: dict[str, Setting] = Field(default_factory=dict)
    diameter: dict[str, Setting] = Field(default_factory=dict)
    overload: dict[str, Setting] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_fields(self) -> Limits:
        import dataclasses

        for section in ("sip", "diameter", "overload"):
            table = getattr(self, section)
            cls = _dataclass_of(section)
            known = {f.name: f for f in dataclasses.fields(cls)}
            for name, value in table.items():
                if name not in known:
                    raise ValueError(f"limits.{section}.{name}: unknown setting; known: {', '.join(sorted(known))}")
                want = type(known[name].default)
                if want is bool and not isinstance(value, bool) or want is not bool and isinstance(value, bool):
                    raise ValueError(f"limits.{section}.{name}: expected {want.__name__}, got {value!r}")
                if want is int and not isinstance(value, int):
                    raise ValueError(f"limits.{section}.{name}: expected a whole number, got {value!r}")
            try:
                cls(**table)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"limits.{section}: {exc}") from None
        return self

    def merged(self, over: Limits | None) -> Limits:
        """These limits with ``over``'s settings on top (a node's over the lab's)."""
        if over is None:
            return self
        return Limits(sip={**self.sip, **over.sip}, diameter={**self.diameter, **over.diameter},
                      overload={**self.overload, **over.overload})

    def sip_limits(self):  # type: ignore[no-untyped-def]  # -> SipLimits
        return _dataclass_of("sip")(**self.sip)

    def diameter_limits(self):  # type: ignore[no-untyped-def]  # -> DiameterLimits
        return _dataclass_of("diameter")(**self.diameter)

    def overload_config(self):  # type: ignore[no-untyped-def]  # -> OverloadConfig
        return _dataclass_of("overload")(**self.overload)


class Node(_Strict):
    name: str
    kind: NodeKind
    domain: str | None = None  # domain name; defaults to the first domain
    address: str = "127.0.0.1"
    control_port: Port
    sip: SipSettings | None = None
    diameter: DiameterSettings | None = None
    timers: Timers = Field(default_factory=Timers)
    restart: Literal["no", "on-failure"] = "no"
    # scscf: what it offers; hss: the S-CSCFs in its capability table
    capabilities: Capabilities | None = None
    scscfs: list[str] | None = None
    # pcscf/icscf/bgcf: where to send things (node names)
    icscf: str | None = None
    bgcf: str | None = None
    mgw: str | None = None
    # mgw: RTP port range
    rtp_ports: tuple[Port, Port] | None = None
    # isup (mgcf/pstn)
    point_code: int | None = Field(None, ge=0, le=16383)
    m3ua_port: Port | None = None
    peer: str | None = None
    circuits: int = Field(32, ge=1, le=4095)  # mgcf/pstn: ISUP circuits (CIC 1..circuits) between them
    # mgw/pstn: RTP port pair of circuit CIC is trunk_ports[0] + 2 * (CIC - 1) (the lab's "TDM" trunk)
    trunk_ports: tuple[Port, Port] | None = None
    limits: Limits | None = None  # over the lab-wide [limits], field by field

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"node name {v!r} must start with a lower-case letter and use only a-z, 0-9, '-', '_'"
            )
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IP address") from None
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Node:
        if self.capabilities is not None and self.kind != "scscf":
            raise ValueError(f"'capabilities' is for S-CSCF nodes, not {self.kind}")
        if self.scscfs is not None and self.kind not in ("hss", "icscf"):
            raise ValueError(f"'scscfs' is for the HSS or I-CSCF, not {self.kind}")
        if self.kind in ("pcscf", "icscf", "scscf", "tas", "bgcf", "mgcf", "proxy") and self.sip is None:
            object.__setattr__(self, "sip", SipSettings())
        if self.kind == "hss" and self.diameter is None:
            object.__setattr__(self, "diameter", DiameterSettings())
        return self


class Subscriber(_Strict):
    """A USIM/ISIM subscription: TS 23.003 identities and TS 35.206 keys."""

    imsi: str
    impi: str
    impus: list[str]
    msisdn: str | None = None
    k: str
    opc: str | None = None
    op: str | None = None
    amf: str = "8000"
    sqn: str = "000000000000"
    password: str | None = None  # MD5 digest (softphones without a USIM)
    service_profile: str | None = None

    @field_validator("imsi")
    @classmethod
    def _imsi(cls, v: str) -> str:
        if not (_ascii_digits(v) and 6 <= len(v) <= 15):
            raise ValueError(f"IMSI must be 6 to 15 digits, got {v!r}")
        return v

    @field_validator("impi")
    @classmethod
    def _impi(cls, v: str) -> str:
        if "@" not in v or _UNSAFE.search(v):
            raise ValueError(f"IMPI must have the NAI form user@realm (TS 23.003 §13.3), got {v!r}")
        return v

    @field_validator("impus")
    @classmethod
    def _impus(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one public identity (IMPU) is needed")
        for impu in v:
            if not impu.startswith(("sip:", "tel:")):
                raise ValueError(f"IMPU {impu!r} must be a sip: or tel: URI")
            if _UNSAFE.search(impu):
                raise ValueError(f"IMPU {impu!r} holds a control character or a blank")
        return v

    @field_validator("k")
    @classmethod
    def _k(cls, v: str) -> str:
        return _hex_field(v, 16, "K")

    @field_validator("opc")
    @classmethod
    def _opc(cls, v: str | None) -> str | None:
        return None if v is None else _hex_field(v, 16, "OPc")

    @field_validator("op")
    @classmethod
    def _op(cls, v: str | None) -> str | None:
        return None if v is None else _hex_field(v, 16, "OP")

    @field_validator("amf")
    @classmethod
    def _amf(cls, v: str) -> str:
        return _hex_field(v, 2, "AMF")

    @field_validator("sqn")
    @classmethod
    def _sqn(cls, v: str) -> str:
        return _hex_field(v, 6, "SQN")

    @model_validator(mode="after")
    def _op_or_opc(self) -> Subscriber:
        if (self.op is None) == (self.opc is None):
            raise ValueError("give exactly one of 'op' and 'opc'")
        return self


class Trigger(_Strict):
    """A Service Point Trigger set (TS 29.228 Annex B), ANDed together."""

    method: str | None = None
    request_uri: str | None = None
    header: str | None = None
    header_content: str | None = None
    session_case: Literal[
        "originating", "terminating_registered", "terminating_unregistered",
        "originating_unregistered", "originating_cdiv",
    ] | None = None


class Ifc(_Strict):
    priority: int = Field(ge=0)
    trigger: Trigger = Field(default_factory=Trigger)
    server: str  # node name of an application server, or a sip: URI
    default_handling: Literal["session_continued", "session_terminated"] = "session_continued"


class ServiceProfile(_Strict):
    name: str
    ifcs: list[Ifc] = Field(default_factory=list)


class PstnRange(_Strict):
    prefix: str  # E.164 digits without '+'
    mgcf: str

    @field_validator("prefix")
    @classmethod
    def _digits(cls, v: str) -> str:
        if not _ascii_digits(v):
            raise ValueError(f"number prefix must be digits, got {v!r}")
        return v


class PstnLine(_Strict):
    number: str
    behaviour: Literal["answer", "busy", "no_answer", "unallocated"] = "answer"
    answer_after: float = Field(1.0, ge=0, le=300)
    media: Literal["tone", "wav", "silence"] = "tone"
    wav: str | None = None


class Pstn(_Strict):
    ranges: list[PstnRange] = Field(default_factory=list)
    lines: list[PstnLine] = Field(default_factory=list)


class UeBehaviour(_Strict):
    register_on_start: bool = True
    auto_answer: bool = True
    answer_after: float = Field(0.5, ge=0, le=300)
    busy: bool = False
    # QoS preconditions (RFC 3312): 183/PRACK/UPDATE before alerting. Calling: true or "required" sends
    # Require: precondition, "supported" only Supported (TS 24.229 §5.1.3.1); false: none, and 420 when called.
    preconditions: bool | Literal["required", "supported"] = True
    retry_without_preconditions: bool = True  # a 420 Unsupported: precondition: call again without (RFC 3312 §6)
    srtp: bool = False  # offer RTP/SAVP with a=crypto (SDES, RFC 4568); answers SRTP offers either way
    codecs: list[Literal["AMR-WB", "AMR", "PCMU", "PCMA"]] = Field(
        default_factory=lambda: ["AMR-WB", "AMR", "PCMU", "PCMA"])  # offered / accepted, in preference order
    media: str = "tone:440"  # what it sends in a call: tone:HZ, wav:PATH (8 kHz 16-bit mono), silence
    media_enabled: bool = True  # false: signalling only (no RTP sockets, as before media existed)

    @field_validator("codecs")
    @classmethod
    def _codecs(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one codec is needed")
        if len(set(v)) != len(v):
            raise ValueError("a codec is listed twice")
        return v

    @field_validator("media")
    @classmethod
    def _media(cls, v: str) -> str:
        kind, _, arg = v.partition(":")
        if kind == "silence" and not arg:
            return v
        if kind == "tone":
            try:
                hz = float(arg)
            except ValueError:
                raise ValueError(f"media {v!r}: tone needs a frequency, e.g. tone:440") from None
            if not 20 <= hz <= 3900:
                raise ValueError(f"media {v!r}: the tone must be between 20 and 3900 Hz")
            return v
        if kind == "wav" and arg:
            return v
        raise ValueError(f"media {v!r}: use tone:HZ, wav:PATH or silence")


class Ue(_Strict):
    name: str
    node: str  # the 'ue' node (process) that hosts this handset
    subscriber: str  # IMPI or IMSI of a subscriber
    pcscf: str
    auth: Literal["aka", "md5"] = "aka"
    transport: Transport = "udp"
    behaviour: UeBehaviour = Field(default_factory=UeBehaviour)
    # Fault injection: the handset's card or identity differs from what the HSS holds.
    k: str | None = None  # the USIM's K (wrong K: the handset rejects the network, 403)
    sqn: str | None = None  # the USIM's SQN_MS (far ahead: resynchronisation)
    impu: str | None = None  # the identity it registers (unknown: 403)

    @field_validator("k")
    @classmethod
    def _k(cls, v: str | None) -> str | None:
        return None if v is None else _hex_field(v, 16, "K")

    @field_validator("sqn")
    @classmethod
    def _sqn(cls, v: str | None) -> str | None:
        return None if v is None else _hex_field(v, 6, "SQN")


class Impairment(_Strict):
    between: tuple[str, str]
    delay_ms: float = Field(0, ge=0, le=10_000)
    jitter_ms: float = Field(0, ge=0, le=10_000)
    loss: float = Field(0, ge=0, le=100)  # percent


class Topology(_Strict):
    lab: Lab = Field(default_factory=Lab)
    domains: list[Domain]
    nodes: list[Node]
    subscribers: list[Subscriber] = Field(default_factory=list)
    subscribers_csv: str | None = None
    service_profiles: list[ServiceProfile] = Field(default_factory=list)
    pstn: Pstn = Field(default_factory=Pstn)
    ues: list[Ue] = Field(default_factory=list)
    impairments: list[Impairment] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)  # every node's, unless its own [nodes.limits] says otherwise

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def limits_of(self, node: Node) -> Limits:
        return self.limits.merged(node.limits)

    def nodes_of(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def domain_of(self, node: Node) -> Domain:
        if node.domain is None:
            return self.domains[0]
        for d in self.domains:
            if d.name == node.domain:
                return d
        raise KeyError(node.domain)

    def diameter_identity(self, node: Node) -> str:
        if node.diameter and node.diameter.identity:
            return node.diameter.identity
        return f"{node.name}.{self.domain_of(node).name}"
