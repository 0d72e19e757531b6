"""One harness per decoder: bytes in, only the decoder's typed error out (DESIGN §6a "Untrusted bytes").

Each harness is ``fn(data: bytes) -> None``.  It calls the decoder the way a
node does, and after a successful parse touches what a node touches next
(the lazily parsed typed accessors of a SIP message, an SDP's media helpers,
the Cx view of a Diameter message, the answer built for a bad request...).
The decoder's own error (``SipParseError``, ``SdpError``, ``DiameterError``,
``IsupError``, ``M3uaError``, ``RtpError``...) is the expected outcome for
bad input and is checked to carry a usable answer (a 4xx-6xx SIP status
without CR/LF in its reason, a Diameter result code, an M3UA error code,
at least one topology problem).  Any other exception - ``ValueError``,
``IndexError``, ``RecursionError``, an ``AssertionError`` raised here - is a
finding.  A stateful core that promises never to raise (the Diameter
``Peer.receive_data``, M3UA ``receive``, the media relay's packet path, the
ISUP call control) may raise nothing at all; the CSCF, handset and MGCF
cores fed one SIP message (``sip_cores``), the HSS fed a Cx request
(``hss_cx``) and the CSCFs fed a Cx answer (``cx_answers``) may raise only
the error their driver turns into an answer (``SipError``, ``DiameterError``).

Harnesses are deterministic: fixed keys, clocks and identities, so a crash
input replays the same way anywhere.  Not here: mutation (``fuzz.mutate``),
the atheris driver (``fuzz.run``), seeds (``fuzz/make_seeds.py``).
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ims.cscf.reginfo import Reginfo, ReginfoError
from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.errors import DiameterError
from ims.diameter.peer import LocalIdentity, Peer
from ims.diameter.userdata import UserDataError, parse_user_data
from ims.flow.loader import FlowError, load_flow
from ims.hss.cx import HssConfig, HssCx
from ims.hss.provisioning import parse_csv_rows, provision_from_topology
from ims.hss.store import Store, StoreError
from ims.isup import m3ua as m3ua_mod
from ims.isup import messages as isup_mod
from ims.isup.exchange import Exchange, ExchangeConfig, Line
from ims.isup.m3ua import M3uaError
from ims.isup.messages import IsupError
from ims.isup.mgcf import Mgcf, MgcfConfig
from ims.isup.sipi import split_sipi_body
from ims.media.amr import AmrError, parse_amr_payload
from ims.media.relay import Relay, TermSpec
from ims.media.rtcp import RtcpError, parse_compound
from ims.media.rtp import RtpError, RtpPacket, TelephoneEvent
from ims.media.srtp import SrtpError, SrtpSession, from_inline
from ims.media.stats import ReceiverStats
from ims.sdp import SdpError
from ims.sdp.model import SessionDescription
from ims.sip.auth import (
    DigestError,
    build_authorization,
    parse_aka_nonce,
    resync_authorization,
    verify_response,
)
from ims.sip.errors import SipError, SipParseError, SipValueError
from ims.sip.events import Address
from ims.sip.framing import StreamFramer
from ims.sip.message import Request, Response, SipMessage, build_response, parse_message
from ims.sip.multipart import parse_multipart
from ims.sip.uri import NameAddr, parse_uri
from ims.topology.errors import TopologyError
from ims.topology.loader import load as load_topology
from ims.ue import sdp as ue_sdp


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    what: str
    max_len: int = 4096  # libFuzzer -max_len for ``make fuzz``
    tokens: tuple[bytes, ...] = ()  # a dictionary for the mutators (libFuzzer -dict, fuzz.mutate)
    length_field: tuple[int, int] | None = None  # (offset, width) of a header length fuzz.mutate keeps right


class Finding(AssertionError):
    """A harness invariant failed on a typed error (an answer that cannot be sent as it is)."""


# --- helpers -------------------------------------------------------------------------------------

def _text(data: bytes) -> str:
    # The decoders see header text as the SIP stack does: UTF-8 with surrogate escapes for bad bytes.
    return data.decode("utf-8", "surrogateescape")


def _check_sip_error(exc: SipParseError) -> None:
    # RFC 3261 §7.2 / §25.1: the reason goes into our status line; it may not break the framing.
    if not isinstance(exc.status, int) or not 400 <= exc.status <= 699:
        raise Finding(f"SipParseError status {exc.status!r} is not a 4xx-6xx answer")
    if any(c in exc.reason for c in "\r\n\x00"):
        raise Finding(f"SipParseError reason carries CR/LF/NUL: {exc.reason[:80]!r}")


def _check_diameter_error(exc: DiameterError) -> None:
    # RFC 6733 §7.1: protocol (3xxx), transient (4xxx) or permanent (5xxx) failures.
    if not isinstance(exc.result_code, int) or not 3000 <= exc.result_code <= 5999:
        raise Finding(f"DiameterError result code {exc.result_code!r} is not 3xxx-5xxx")


def _check_topology_error(exc: TopologyError) -> None:
    if not exc.problems:
        raise Finding("TopologyError without any problem")
    str(exc)


_SKIP = (types.MemberDescriptorType, types.GetSetDescriptorType)


def _accessor_names(cls: type) -> list[str]:
    """Every property-like attribute of a class (properties and the message's lazy ``_Typed`` accessors).

    Found by inspection so that an accessor added later is fuzzed without touching this file."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("__") or isinstance(value, _SKIP) or callable(value) or name in names:
                continue
            if isinstance(value, property) or hasattr(type(value), "__get__"):
                names.append(name)
    return names


def _touch(value: Any, tolerate: tuple[type[BaseException], ...], depth: int = 0) -> None:
    """Read every property of a parsed value (and of what it holds), and its text form."""
    if depth > 4 or value is None or isinstance(value, (str, bytes, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _touch(v, tolerate, depth + 1)
        return
    if isinstance(value, dict):
        for v in value.values():
            _touch(v, tolerate, depth + 1)
        return
    for name in _accessor_names(type(value)):
        try:
            _touch(getattr(value, name), tolerate, depth + 1)
        except tolerate as exc:
            _check(exc)
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _touch(getattr(value, f.name, None), tolerate, depth + 1)
    for method in ("host_port", "copy"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                fn()
            except tolerate as exc:
                _check(exc)
    str(value)
    if type(value).__hash__ is not None:
        hash(value)


def _check(exc: BaseException) -> None:
    if isinstance(exc, SipParseError):
        _check_sip_error(exc)
    elif isinstance(exc, DiameterError):
        _check_diameter_error(exc)
    elif isinstance(exc, TopologyError):
        _check_topology_error(exc)


# --- SIP ------------------------------------------------------------------------------------------

_MESSAGE_ACCESSORS = {cls: _accessor_names(cls) for cls in (Request, Response)}


def touch_message(msg: SipMessage) -> None:
    """What a proxy, registrar or UA reads of a parsed message: every typed accessor, then the
    values inside them (Via rport/ttl, Contact expires/q, Security-* numbers, URIs...)."""
    for name in _MESSAGE_ACCESSORS[type(msg)]:
        try:
            value = getattr(msg, name)
        except SipParseError as exc:
            _check_sip_error(exc)
            continue
        _touch(value, (SipParseError,))
    for mech_list in ("security_client", "security_server", "security_verify"):
        try:
            mechs = getattr(msg, mech_list)
        except SipParseError:
            continue
        for mech in mechs:
            for param in list(mech.params):
                try:
                    mech.get_int(param)
                except SipParseError as exc:
                    _check_sip_error(exc)
    _touch_auth(msg)
    msg.to_bytes()
    copy = msg.copy()
    copy.set("Max-Forwards", "69")
    copy.to_bytes()
    if isinstance(msg, Request) and msg.method != "ACK":
        # The answer a server sends to a request the core then refuses (RFC 3261 §8.2.6).
        build_response(msg, 488, "Not Acceptable Here", to_tag="fuzz").to_bytes()


def _touch_auth(msg: SipMessage) -> None:
    """What the S-CSCF reads of credentials (RFC 2617 §3.2.2, RFC 3310: AKA nonce, auts) and what a UE
    computes from a challenge; only :class:`DigestError` (or the header's SipParseError) may come out."""
    for name in ("authorization", "proxy_authorization"):
        try:
            creds = getattr(msg, name)
        except SipParseError:
            continue
        for c in creds:
            _digest(parse_aka_nonce, c.params.get("nonce", ""))
            _digest(resync_authorization, c)
            _digest(verify_response, c, password=b"secret", method="REGISTER")
            _digest(verify_response, c, method="INVITE", ha1="0" * 32)
    for name in ("www_authenticate", "proxy_authenticate"):
        try:
            challenges = getattr(msg, name)
        except SipParseError:
            continue
        for ch in challenges:
            _digest(parse_aka_nonce, ch.get("nonce") or "")
            _digest(build_authorization, ch, username="alice", password=b"secret", method="REGISTER",
                    uri="sip:ims.example.net", cnonce="0a1b2c3d")


def _digest(fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except DigestError as exc:
        if not isinstance(exc.status, int) or not 400 <= exc.status <= 699:
            raise Finding(f"DigestError status {exc.status!r} is not a 4xx-6xx answer") from None


def _answer_partial(exc: SipParseError) -> None:
    """What ``ims.net.sip`` does with a request it could not parse: answer the readable part (§8.2)."""
    partial = exc.partial
    if partial is not None and partial.get("via") and partial.get("call-id") and partial.get("cseq") \
            and partial.get("from") and partial.get("to") and partial.method != "ACK":
        build_response(partial, exc.status, exc.reason).to_bytes()


def sip_message(data: bytes) -> None:
    """``parse_message`` as the UDP (datagram) and stream transports call it, then every accessor."""
    for datagram in (True, False):
        try:
            msg = parse_message(data, datagram=datagram)
        except SipParseError as exc:
            _check_sip_error(exc)
            _answer_partial(exc)
            continue
        touch_message(msg)


def _pieces(data: bytes) -> list[bytes]:
    """``data`` cut as a stream may deliver it: pieces of 1 to 7 octets (the first octet picks the size)."""
    size = 1 + (data[0] % 7 if data else 0)
    return [data[i:i + size] for i in range(0, len(data), size)]


def sip_framer(data: bytes) -> None:
    """The TCP/TLS stream framer fed the input whole, then in chunks (sizes from the first byte),
    and every framed message parsed as a stream message."""
    for pieces in ([data], _pieces(data)):
        framer = StreamFramer(max_message=4096)
        frames: list[bytes] = []
        try:
            for piece in pieces:
                frames.extend(framer.feed(piece))
        except SipParseError as exc:
            _check_sip_error(exc)  # the connection is closed: nothing more is read
        for frame in frames:
            if frame == b"\r\n\r\n":
                continue
            try:
                msg = parse_message(frame, datagram=False)
            except SipParseError as exc:
                _check_sip_error(exc)
                continue
            touch_message(msg)


class _Cores:
    """The P-, I- and S-CSCF cores and a handset of topologies/volte-basic.toml, and an MGCF, made fresh
    per input."""

    def __init__(self) -> None:
        from ims.cscf.lab import icscf_config, pcscf_config, scscf_config, sip_address
        from ims.topology import load
        from ims.ue.lab import subscription_for

        topo = load(str(_ROOT / "topologies" / "volte-basic.toml"))
        self.configs = (pcscf_config(topo, topo.node("pcscf")), icscf_config(topo, topo.node("icscf")),
                        scscf_config(topo, topo.node("scscf")))
        self.pcscf_addr = sip_address(topo.node("pcscf"))
        self.icscf_addr = sip_address(topo.node("icscf"))
        self.subscription = vars(subscription_for(topo, topo.ues[0]))
        self.realm = topo.domains[0].diameter_realm

    def receivers(self) -> list[tuple[Any, Address]]:
        """(core, the address a message to it comes from): a UE to the P-CSCF, the P-CSCF to the I- and
        S-CSCF, the P-CSCF to the handset."""
        from ims.cscf.icscf import Icscf
        from ims.cscf.pcscf import Pcscf
        from ims.cscf.scscf import Scscf
        from ims.ue.handset import ImsHandset, Subscription

        pc, ic, sc = self.configs
        ue = ImsHandset(Subscription(**self.subscription), Address("127.0.1.100", 5060), self.pcscf_addr)
        return [(Pcscf(pc), Address("127.0.1.100", 5060)), (Icscf(ic), self.pcscf_addr),
                (Scscf(sc), self.icscf_addr), (ue, self.pcscf_addr),
                (_mgcf(), Address("127.0.9.50", 5060))]  # SIP-I/SIP-T from the BGCF (TS 29.163)


_CORES: list[_Cores] = []
_HSS_TEMPLATE: list[Store] = []


def _fresh_hss() -> HssCx:
    """An HSS over a copy of the provisioned store: each input sees the same subscribers and no state."""
    if not _HSS_TEMPLATE:
        _HSS_TEMPLATE.append(_hss().store)
    store = Store(":memory:")
    _HSS_TEMPLATE[0].conn.backup(store.conn)
    return HssCx(store, _hss().config)


def sip_cores(data: bytes) -> None:
    """One message into the P-CSCF, I-CSCF and S-CSCF cores, a handset and the MGCF, with Cx queries answered by
    the HSS logic and every timer run: what escapes may only be a :class:`SipError`, which the driver
    answers (400 for a header a core needed that turned out malformed).  Anything else is a 500."""
    try:
        parse_message(data)
    except SipParseError:
        return
    if not _CORES:
        _CORES.append(_Cores())
    cores = _CORES[0]
    hss: HssCx | None = None
    now = 100.0
    for core, source in cores.receivers():
        queries: list[Any] = []
        if hasattr(core, "submit"):
            core.submit = queries.append
        msg = parse_message(data)  # a fresh message per core: a proxy edits what it forwards
        try:
            core.receive(msg, source, now)
        except SipValueError:
            raise  # our own value refused on its way to the wire (a 500): the input should have been a 400
        except SipError as exc:
            if not 400 <= exc.status <= 699:
                raise Finding(f"{type(exc).__name__} status {exc.status} is not an answer") from None
        while queries:
            q = queries.pop(0)
            if hss is None:
                hss = _fresh_hss()
            q.request.origin_host = q.request.origin_host or "scscf.ims"
            q.request.origin_realm = q.request.origin_realm or cores.realm
            request = q.request.to_message()
            answer = cx.parse(hss.handle(cx.parse(request)).to_message(request))
            try:
                q.on_answer(answer, now)
            except SipValueError:
                raise
            except SipError:
                pass
        for later in (now + 1.0, now + 40.0, now + 4000.0):
            try:
                core.handle_timers(later)
            except SipError:
                pass


_TRIGGERS: list[bytes] = []


def _cx_triggers() -> list[bytes]:
    """Requests that make the I- and S-CSCF ask the HSS: REGISTER (UAR, MAR) and INVITE (LIR, SAR)."""
    if not _TRIGGERS:
        realm = "ims.mnc001.mcc001.3gppnetwork.org"
        common = (f"From: <sip:bob@{realm}>;tag=t1\r\nCall-ID: cx1@127.0.1.100\r\nMax-Forwards: 69\r\n"
                  "Content-Length: 0\r\n\r\n")
        _TRIGGERS.append((
            f"REGISTER sip:{realm} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.40:5060;branch=z9hG4bKcx1\r\n"
            f"Path: <sip:term@127.0.1.40:5060;lr>\r\nSupported: path\r\nTo: <sip:alice@{realm}>\r\n"
            f"Contact: <sip:alice@127.0.1.100:5060>;expires=600\r\nCSeq: 1 REGISTER\r\n"
            f'Authorization: Digest username="001010000000001@{realm}",realm="{realm}",nonce="",'
            f'uri="sip:{realm}",response=""\r\nP-Visited-Network-ID: "{realm}"\r\n'
            + common.replace("bob", "alice")).encode())
        _TRIGGERS.append((
            f"INVITE sip:alice@{realm} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.1.40:5060;branch=z9hG4bKcx2\r\n"
            f"To: <sip:alice@{realm}>\r\nContact: <sip:bob@127.0.1.101:5060>\r\nCSeq: 1 INVITE\r\n"
            f"P-Asserted-Identity: <sip:bob@{realm}>\r\n" + common).encode())
    return _TRIGGERS


def cx_answers(data: bytes) -> None:
    """A Cx answer from the HSS - or from another vendor's HSS - as the I-CSCF and S-CSCF take it
    (UAA, MAA, SAA, LIA; TS 29.229 §6.1): decoded, then handed to every pending query of the same command;
    an RTR or PPR goes to the S-CSCF.  The decode may raise DiameterError; the core's handling of an answer
    only a SipError, of an RTR/PPR a DiameterError or UserDataError (which the driver answers)."""
    try:
        answer = cx.parse(DiameterMessage.from_bytes(data))
    except DiameterError as exc:
        _check_diameter_error(exc)
        return
    if not _CORES:
        _CORES.append(_Cores())
    if isinstance(answer, (cx.RegistrationTerminationRequest, cx.PushProfileRequest)):
        # TS 29.228 §6.1.3, §6.1.4: the HSS's own requests to the S-CSCF (the driver answers the errors).
        scscf = _CORES[0].receivers()[2][0]
        try:
            if isinstance(answer, cx.RegistrationTerminationRequest):
                scscf.on_rtr(answer, 100.0)
            else:
                scscf.on_ppr(answer, 100.0)
        except DiameterError as exc:
            _check_diameter_error(exc)
        except UserDataError:
            pass
        return
    if not isinstance(answer, cx.CxAnswer):
        return
    for trigger in _cx_triggers():
        for core, source in _CORES[0].receivers()[1:3]:  # the I-CSCF and the S-CSCF
            queries: list[Any] = []
            core.submit = queries.append
            try:
                core.receive(parse_message(trigger), source, 100.0)
            except SipError:
                continue
            for q in queries:
                if q.request.COMMAND != answer.COMMAND:
                    continue
                try:
                    q.on_answer(answer, 100.5)
                except SipValueError:
                    raise
                except SipError:
                    pass
            try:
                core.handle_timers(200.0)
            except SipError:
                pass


def sip_uri(data: bytes) -> None:
    """A URI (Request-URI, Route) and a name-addr (From, To, Contact), with their properties."""
    text = _text(data)
    for parse in (parse_uri, NameAddr.parse):
        try:
            value = parse(text)
        except SipParseError as exc:
            _check_sip_error(exc)
            continue
        _touch(value, (SipParseError,))
        again = str(value)
        try:
            reparsed = parse(again)
        except SipParseError as exc:
            raise Finding(f"{parse.__qualname__} refuses its own output {again[:80]!r}: {exc}") from None
        _ = value == reparsed  # RFC 3261 §19.1.4 comparison on what the parser made


def multipart(data: bytes) -> None:
    """A SIP-I/SIP-T body: the first line is the Content-Type, the rest the body (RFC 2046 §5.1, RFC 3204).

    The parts found are decoded as the MGCF does: SDP and ISUP without CIC."""
    ctype, _, body = data.partition(b"\n")
    content_type = _text(ctype.rstrip(b"\r"))
    try:
        parts = parse_multipart(content_type, body)
    except SipParseError as exc:
        _check_sip_error(exc)
    else:
        for part in parts:
            _touch(part, (SipParseError,))
    try:
        sdp, isup = split_sipi_body(body, content_type)
    except SipParseError as exc:
        _check_sip_error(exc)
        return
    if sdp is not None:
        try:
            SessionDescription.parse(sdp)
        except SdpError:
            pass
    if isup is not None:
        try:
            isup_mod.decode(isup, with_cic=False)
        except IsupError:
            pass


# --- SDP --------------------------------------------------------------------------------------------

_OUR_OFFER = ue_sdp.offer("127.0.0.1", 40000, 1, qos_state=("none", "none"))


def sdp(data: bytes) -> None:
    """``SessionDescription.parse``, every media helper, serialization; then a handset answering it
    as an offer and reading it as the answer to its own offer (the 488 path is ``ims.ue.sdp.SdpError``)."""
    try:
        sd = SessionDescription.parse(data)
    except SdpError:
        return
    for m in sd.media:
        try:
            for pt in m.rtpmap():
                m.fmtp_params(pt)
            m.fmtp()
            _ = m.ptime, m.maxptime, m.direction, m.rejected
            for c in m.crypto():
                c.master_key_salt()
            m.preconditions()
            m.effective_direction(sd)
            m.connection_address(sd)
        except SdpError:
            pass
    body = sd.to_bytes()
    try:
        SessionDescription.parse(body)
    except SdpError as exc:
        raise Finding(f"SDP parser refuses its own serialization: {exc}") from None
    try:
        ue_sdp.answer(data, "127.0.0.1", 40002, 2, qos_state=("none", "none"))
    except (SdpError, ue_sdp.SdpError):
        pass
    try:
        ue_sdp.stream_params(_OUR_OFFER, data, local_is_offer=True)
    except (SdpError, ue_sdp.SdpError):
        pass


# --- Diameter ----------------------------------------------------------------------------------------

def diameter(data: bytes) -> None:
    """``DiameterMessage.from_bytes``, then its accessors, its Cx view and the answer skeleton."""
    try:
        msg = DiameterMessage.from_bytes(data)
    except DiameterError as exc:
        _check_diameter_error(exc)
        return
    _ = msg.origin_host, msg.origin_realm, msg.session_id, msg.experimental, msg.summary()
    try:
        _ = msg.result_code
    except DiameterError as exc:
        _check_diameter_error(exc)
    try:
        view = cx.parse(msg)
    except DiameterError as exc:
        _check_diameter_error(exc)
    else:
        _touch(view, (DiameterError,))
    if msg.request:
        msg.answer().to_bytes()


_SERVER = LocalIdentity("hss.ims.example.net", "ims.example.net", origin_state_id=1)
_CLIENT = LocalIdentity("scscf.ims.example.net", "ims.example.net", origin_state_id=1)


def _open_responder() -> tuple[Peer, float]:
    """A responder after a good CER from the S-CSCF (RFC 6733 §5.3): R-Open."""
    client = Peer(_CLIENT, initiator=True, tw=30.0, tw_jitter=0.0)
    client.start(0.0)
    [cer] = client.connected(0.0)
    server = Peer(_SERVER, initiator=False, tw=30.0, tw_jitter=0.0)
    server.connected(0.0)
    server.receive_data(cer.data, 0.0)  # type: ignore[attr-defined]
    if not server.is_open:
        raise Finding("the responder did not open on a good CER")
    return server, 1.0


def diameter_peer(data: bytes) -> None:
    """The peer state machine of the HSS side fed the bytes before and after the capabilities exchange:
    ``receive_data`` answers or closes, it never raises (RFC 6733 §5.3, §7.1.5)."""
    fresh = Peer(_SERVER, initiator=False, tw=30.0, tw_jitter=0.0)
    fresh.connected(0.0)
    fresh.receive_data(data, 0.5)
    fresh.handle_timers(100.0)
    opened, now = _open_responder()
    opened.receive_data(data, now)
    opened.handle_timers(now + 100.0)
    chunked, now = _open_responder()  # the same bytes as TCP may deliver them: in pieces
    for piece in _pieces(data):
        chunked.receive_data(piece, now)


_ROOT = Path(__file__).resolve().parent.parent
_HSS: list[HssCx] = []


def _hss() -> HssCx:
    """The HSS's Cx core over a store provisioned from topologies/volte-basic.toml (made once per process)."""
    if not _HSS:
        store = Store(_WORK / "hss.sqlite")
        provision_from_topology(store, str(_ROOT / "topologies" / "volte-basic.toml"), "hss")
        realm = "ims.mnc001.mcc001.3gppnetwork.org"
        _HSS.append(HssCx(store, HssConfig(f"hss.{realm}", realm, (realm,), f"aaa://ccf.{realm}:3868")))
    return _HSS[0]


def hss_cx(data: bytes) -> None:
    """A Cx request as the HSS answers it (TS 29.228 §6.1): decode, then ``handle_batch`` as the node calls
    it; every request gets an answer or a DiameterError carrying the result code, nothing else."""
    try:
        msg = DiameterMessage.from_bytes(data)
    except DiameterError:
        return
    [out] = _hss().handle_batch([msg])
    if isinstance(out, DiameterError):
        _check_diameter_error(out)
    elif isinstance(out, Exception):
        raise out
    else:
        out.to_bytes()


def user_data(data: bytes) -> None:
    """The User-Data XML of an SAA or PPR (TS 29.228 Annex E) as the S-CSCF reads it."""
    try:
        parsed = parse_user_data(data)
    except UserDataError:
        return
    _touch(parsed, ())


# --- reg event ------------------------------------------------------------------------------------------

def reginfo(data: bytes) -> None:
    """A reg-event NOTIFY body (RFC 3680) as the P-CSCF and the handset read it."""
    try:
        info = Reginfo.from_xml(data)
    except ReginfoError:
        return
    for r in info.registrations:
        info.state_of(r.aor)
    info.to_xml()


# --- ISUP / M3UA -------------------------------------------------------------------------------------

def isup(data: bytes) -> None:
    """``decode`` with and without the CIC (M3UA DATA / SIP-I body); a decoded message re-encodes."""
    for with_cic in (True, False):
        try:
            msg = isup_mod.decode(data, with_cic=with_cic)
        except IsupError:
            continue
        _touch(msg, ())
        try:
            again = isup_mod.encode(msg, with_cic=with_cic)
        except IsupError as exc:
            raise Finding(f"a decoded ISUP message does not encode: {exc}") from None
        # A receiver ignores spare bits, so the bytes may differ; the decoded message may not.
        if isup_mod.decode(again, with_cic=with_cic) != msg:
            raise Finding("a decoded ISUP message changes when encoded and decoded again")


def _frames(data: bytes) -> list[bytes]:
    """Split an input into messages: a length octet, then that many octets (the last may be short)."""
    out, pos = [], 0
    while pos < len(data) and len(out) < 64:
        n = data[pos]
        out.append(data[pos + 1:pos + 1 + n])
        pos += 1 + n
    return out


def _exchange() -> Exchange:
    return Exchange(ExchangeConfig(
        point_code=200, peer_point_code=100, circuits=8, country_code="1", local_host="127.0.8.80",
        trunk_base=32000, mgw_host="127.0.8.70", mgw_trunk_base=31000,
        lines=(Line("12125550100", "answer", 2.0, "tone:425"), Line("12125550186", "busy"),
               Line("12125550199", "no_answer", 5.0), Line("12125550000", "unallocated"))))


def _mgcf() -> Mgcf:
    return Mgcf(MgcfConfig("ims.example.org", "127.0.9.60", 5060, Address("127.0.9.20", 5060), opc=100, dpc=200,
                           circuits=8, country_code="1", mgw_host="127.0.9.70", mgw_trunk_base=31000,
                           pstn_host="127.0.9.80", pstn_trunk_base=32000))


def isup_call(data: bytes) -> None:
    """A sequence of ISUP messages (length-prefixed) into the PSTN exchange's and the MGCF's call control
    (Q.764): decoded ones to ``receive_isup``/``isup_received``, refused ones to the undecodable path
    (Q.764 §2.9.5).  Neither may raise; timers run after every message."""
    exchange, mgcf = _exchange(), _mgcf()
    now = 1000.0
    for frame in _frames(data):
        now += 1.0
        try:
            msg = isup_mod.decode(frame)
        except IsupError as exc:
            exchange.receive_undecodable(frame, exc, now)
            mgcf.isup_undecodable(frame, exc, now)
        else:
            exchange.receive_isup(msg, now)
            mgcf.isup_received(msg, now)
        exchange.handle_timers(now + 0.5)
        mgcf.handle_timers(now + 0.5)
    exchange.handle_timers(now + 600.0)
    mgcf.handle_timers(now + 600.0)


def m3ua(data: bytes) -> None:
    """``decode_m3ua``, the stream framer, and both ends of the association fed the stream
    (``receive`` answers bad input with ERR and never raises, RFC 4666 §3.8.1)."""
    try:
        msg = m3ua_mod.decode_m3ua(data)
    except M3uaError as exc:
        if not isinstance(exc.error_code, int):
            raise Finding(f"M3uaError without an error code: {exc!r}") from None
    else:
        _touch(msg, ())
    framer = m3ua_mod.M3uaFramer()
    try:
        framer.feed(data)
    except M3uaError:
        pass
    asp = m3ua_mod.M3uaAsp(routing_context=7)
    asp.start(0.0)
    asp.receive(data, 1.0)
    asp.handle_timer(10.0)
    chunked = m3ua_mod.M3uaAsp(routing_context=7)
    chunked.start(0.0)
    for piece in _pieces(data):
        events = chunked.receive(piece, 1.0)
        if any(type(e).__name__ == "FramingLost" for e in events):
            break  # the driver closes the connection: nothing more is read
    sgp = m3ua_mod.M3uaSgp(routing_context=7)
    sgp.receive(data, 1.0)


# --- media ---------------------------------------------------------------------------------------------

def _relay() -> tuple[Relay, Any, Any]:
    relay = Relay()
    a = relay.add("$", TermSpec("127.0.0.1", 4000, 0, "PCMU", 8000, 101), "127.0.0.2", 5000)
    b = relay.add(a.context, TermSpec("127.0.0.1", 4002, 8, "PCMA", 8000, 101), "127.0.0.2", 5002)
    return relay, a, b


def rtp(data: bytes) -> None:
    """``RtpPacket.parse`` (and re-serialization), its payload as telephone-event and AMR, the
    receiver statistics, and the IM-MGW relay's packet path (which drops bad packets, never raises)."""
    try:
        pkt = RtpPacket.parse(data)
    except RtpError:
        pkt = None
    if pkt is not None:
        try:
            again = pkt.to_bytes()
        except RtpError as exc:
            raise Finding(f"a parsed RTP packet does not serialize: {exc}") from None
        RtpPacket.parse(again)
        try:
            TelephoneEvent.parse(pkt.payload)
        except RtpError:
            pass
        for wideband in (False, True):
            for octet_aligned in (False, True):
                try:
                    parse_amr_payload(pkt.payload, wideband=wideband, octet_aligned=octet_aligned)
                except AmrError:
                    pass
        stats = ReceiverStats(8000)
        stats.update(pkt, 0.0)
        stats.update(pkt, 0.02)
        _ = stats.expected, stats.cumulative_lost, stats.jitter_ms, stats.fraction_lost_since_last()
    relay, a, b = _relay()
    relay.rtp_in(a, data, ("127.0.0.1", 4000), 0.0)
    relay.rtp_in(b, data, ("127.0.0.1", 4002), 0.02)
    relay.rtcp_in(a, data, ("127.0.0.1", 4001))


def rtcp(data: bytes) -> None:
    """``parse_compound`` (RFC 3550 §6.1, A.2) and every report's fields."""
    try:
        packets = parse_compound(data)
    except RtcpError:
        return
    _touch(packets, ())


_KEY = bytes(range(30))  # a fixed SDES master key||salt: crash inputs replay the same way


def srtp(data: bytes) -> None:
    """SRTP and SRTCP unprotect (RFC 3711 §3.3, §3.4) of arbitrary bytes with a fixed key, and
    of the same bytes protected first (so the fuzzer reaches what comes after authentication)."""
    rx = SrtpSession("AES_CM_128_HMAC_SHA1_80", _KEY, outbound=False)
    for fn in (rx.unprotect, rx.unprotect_rtcp):
        try:
            fn(data)
        except SrtpError:
            pass
    tx = SrtpSession("AES_CM_128_HMAC_SHA1_80", _KEY, outbound=True)
    rx2 = SrtpSession("AES_CM_128_HMAC_SHA1_80", _KEY, outbound=False)
    for protect, unprotect in ((tx.protect, rx2.unprotect), (tx.protect_rtcp, rx2.unprotect_rtcp)):
        try:
            wire = protect(data)
        except SrtpError:
            continue
        try:
            plain = unprotect(wire)
        except SrtpError as exc:
            raise Finding(f"SRTP does not unprotect what it protected: {exc}") from None
        if plain != data:
            raise Finding("SRTP round trip changed the packet")
    try:
        from_inline(_text(data))
    except SrtpError:
        pass


# --- lab files -------------------------------------------------------------------------------------------

_WORK = Path(tempfile.mkdtemp(prefix="ims-fuzz-"))  # lab files are read from disk, as `ims up` reads them
atexit.register(shutil.rmtree, _WORK, True)
_TOPOLOGY_STUB = b'domain = "ims.example.net"\n'


def _write(name: str, data: bytes) -> Path:
    path = _WORK / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def topology(data: bytes) -> None:
    """``ims.topology.load`` of a file with these bytes: a validated topology or ``TopologyError``."""
    path = _write("lab.toml", data)
    try:
        load_topology(path)
    except TopologyError as exc:
        _check_topology_error(exc)


def flow(data: bytes) -> None:
    """``ims.flow.loader.load_flow`` of a file with these bytes (next to a topology file it may name)."""
    for name in ("volte-basic", "volte-flows", "volte-pstn"):  # what the seed flows name (../topologies/)
        _write(f"topologies/{name}.toml", _TOPOLOGY_STUB)
    path = _write("flows/flow.toml", data)
    try:
        load_flow(path)
    except FlowError as exc:  # FlowError is a TopologyError
        _check_topology_error(exc)


_CSV_TOPOLOGY = b'subscribers_csv = "subs.csv"\n'


def subscriber_csv(data: bytes) -> None:
    """A subscriber CSV as ``ims subscriber import`` reads it (``StoreError`` naming the line) and as a
    topology's ``subscribers_csv`` (``TopologyError`` with file:line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # the CLI reads the file as text first: its own error, not the parser's
    if text is not None:
        try:
            parse_csv_rows(text, "subs.csv")
        except StoreError:
            pass
    _write("subs.csv", data)
    path = _write("csv-lab.toml", _CSV_TOPOLOGY)
    try:
        load_topology(path)
    except TopologyError as exc:
        _check_topology_error(exc)


_SIP_TOKENS = (
    b"Via: ", b"SIP/2.0/UDP ", b";branch=z9hG4bK", b";rport", b";ttl=", b";received=", b"Max-Forwards: ",
    b"CSeq: ", b"Content-Length: ", b"l: ", b"Contact: ", b";expires=", b";q=", b"Expires: ", b"RSeq: ",
    b"RAck: ", b"Security-Client: ipsec-3gpp;spi-c=", b";port-s=", b"Route: <sip:", b";lr>", b"sip:", b"sips:",
    b"tel:+", b";tag=", b"Authorization: Digest ", b"nonce=", b"Content-Type: multipart/mixed;boundary=",
    b"Subscription-State: active;expires=", b"Date: Sat, 13 Nov 2010 23:29:00 GMT", b"SIP/2.0 ", b"INVITE ",
)
_SDP_TOKENS = (
    b"m=audio ", b"c=IN IP4 ", b"a=rtpmap:", b"a=fmtp:", b"a=ptime:", b"a=maxptime:", b"a=crypto:1 ",
    b"AES_CM_128_HMAC_SHA1_80 inline:", b"a=curr:qos local ", b"a=des:qos mandatory ", b"a=conf:qos remote ",
    b"RTP/SAVP", b"RTP/AVP", b"b=AS:", b"t=", b"o=- ", b"/8000", b"telephone-event", b"AMR-WB/16000",
)
_TOML_TOKENS = (
    b"[[nodes]]", b"[nodes.sip]", b"[[steps]]", b"[flow]", b"port = ", b'address = "127.0.0.', b"= [", b"= {",
    b'"""', b"'''", b"[[subscribers]]", b'subscribers_csv = "', b"= 1e999", b"= -1", b"= 0x", b"= inf",
)
_CSV_TOKENS = (b"imsi,impi,impus,k,opc", b",", b'"', b'""', b"|", b";", b"\x00", b"sip:", b"tel:+", b"0" * 32)
_MULTIPART_TOKENS = (b"--", b"\r\n--", b"Content-Type: application/ISUP", b"Content-Type: application/sdp",
                     b"multipart/mixed;boundary=", b"Content-Disposition: signal;handling=required")

TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("sip", sip_message, "SIP parse_message (datagram and stream) and every typed accessor", 8192,
           _SIP_TOKENS),
    Target("sip_framer", sip_framer, "SIP stream framer (RFC 3261 §18.3) and the messages it frames", 8192,
           _SIP_TOKENS),
    Target("sip_cores", sip_cores, "one SIP message into the P/I/S-CSCF cores, a handset and the MGCF", 8192,
           _SIP_TOKENS),
    Target("cx_answers", cx_answers, "Cx answers (UAA, MAA, SAA, LIA) and RTR/PPR into the I- and S-CSCF", 4096,
           length_field=(1, 3)),
    Target("sip_uri", sip_uri, "SIP/SIPS/tel URIs and name-addr values", 1024, _SIP_TOKENS),
    Target("multipart", multipart, "multipart/mixed and SIP-I/SIP-T bodies (RFC 2046, RFC 3204)", 4096,
           _MULTIPART_TOKENS + _SDP_TOKENS),
    Target("sdp", sdp, "SDP parse, media helpers, the handset's answer", 4096, _SDP_TOKENS),
    Target("diameter", diameter, "Diameter codec decode and the Cx view", 4096, length_field=(1, 3)),
    Target("diameter_peer", diameter_peer, "Diameter peer state machine: CER handling and after", 4096,
           length_field=(1, 3)),
    Target("hss_cx", hss_cx, "the HSS answering Cx requests (UAR, MAR, SAR, LIR)", 4096, length_field=(1, 3)),
    Target("user_data", user_data, "Cx User-Data XML (TS 29.228 Annex E)", 8192,
           (b"<IMSSubscription>", b"<ServiceProfile>", b"<PublicIdentity>", b"<Identity>", b"<Priority>",
            b"<InitialFilterCriteria>", b"<TriggerPoint>", b"<SPT>", b"<BarringIndication>", b"<!ENTITY")),
    Target("reginfo", reginfo, "reg event package body (RFC 3680)", 4096,
           (b"<reginfo ", b'version="', b"<registration ", b"<contact ", b'expires="', b"<uri>", b"<!ENTITY")),
    Target("isup", isup, "ISUP message decode (Q.763)", 512),
    Target("isup_call", isup_call, "ISUP sequences into the exchange's and the MGCF's call control (Q.764)", 1024),
    Target("m3ua", m3ua, "M3UA decode, framer and ASP/SGP association", 2048, length_field=(4, 4)),
    Target("rtp", rtp, "RTP parse, telephone-event, AMR payload, relay packet path", 1500),
    Target("rtcp", rtcp, "RTCP compound parse", 1500),
    Target("srtp", srtp, "SRTP/SRTCP unprotect", 1500),
    Target("topology", topology, "topology file loader", 8192, _TOML_TOKENS),
    Target("flow", flow, "flow file loader", 8192, _TOML_TOKENS),
    Target("subscriber_csv", subscriber_csv, "subscriber CSV import", 4096, _CSV_TOKENS),
)}


def run_one(name: str, data: bytes) -> None:
    """Run one target on one input (what the crash replay tests call)."""
    TARGETS[name].run(data)


__all__ = ["TARGETS", "Finding", "Target", "run_one"]
