"""Make the seed corpora in ``fuzz/corpus/<target>/`` from the test material (reproducible, deterministic).

    .venv/bin/python -m fuzz.make_seeds          # rewrite every corpus
    .venv/bin/python -m fuzz.make_seeds --check  # exit 1 when the committed seeds differ

Sources: the RFC 4475 torture messages (tests/sip/rfc4475), the ISUP and M3UA
vectors of tests/isup, the Cx requests and answers of tests/diameter, SDP
strings of tests/sdp, topologies/*.toml, flows/*.toml; and messages built
with the library itself with fixed identifiers, keys and clocks (a handset's
offer, an IMS REGISTER, a CER, RTP/RTCP/SRTP packets).  The inputs of issue 13
that killed a node are seeds too: the fuzzers start next to known faults.
Every seed's name says where it came from; the file is ``<name>`` (binary).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 16 * 1024  # no seed above 16 KiB: the whole corpus stays small

Seeds = Iterator[tuple[str, bytes]]


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def _string_constants(path: Path, needle: str) -> list[str | bytes]:
    """String and bytes literals of a test module that contain ``needle`` (its SDP bodies, its URIs)."""
    out: list[str | bytes] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            value = node.value
            probe = needle.encode() if isinstance(value, bytes) else needle
            if probe in value and value not in out:  # type: ignore[operator]
                out.append(value)
    return out


# --- SIP ---------------------------------------------------------------------------------------------

def _rfc4475() -> list[tuple[str, bytes]]:
    return [(f"rfc4475-{p.stem}", p.read_bytes()) for p in sorted((ROOT / "tests/sip/rfc4475").glob("*.dat"))]


_REGISTER = """\
REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfuzz1;rport
Max-Forwards: 70
From: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>;tag=a1
To: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>
Call-ID: reg1@10.0.0.1
CSeq: 1 REGISTER
Contact: <sip:alice@10.0.0.1:5060>;expires=600;+sip.instance="<urn:gsma:imei:35-0000-0>";q=0.5
Expires: 600
Supported: path, sec-agree
Require: sec-agree
Proxy-Require: sec-agree
Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=5064
Authorization: Digest username="001010000000001@ims.mnc001.mcc001.3gppnetwork.org",realm="ims.mnc001.mcc001.3gppnetwork.org",nonce="",uri="sip:ims.mnc001.mcc001.3gppnetwork.org",response=""
P-Access-Network-Info: 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=0010100010019B01
P-Visited-Network-ID: "ims.mnc001.mcc001.3gppnetwork.org"
Path: <sip:term@pcscf.ims.example.net;lr>
Content-Length: 0

"""

_CHALLENGE = """\
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfuzz1;rport=5060;received=10.0.0.1
From: <sip:alice@ims.example.net>;tag=a1
To: <sip:alice@ims.example.net>;tag=s1
Call-ID: reg1@10.0.0.1
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm="ims.example.net", nonce="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", algorithm=AKAv1-MD5, qop="auth,auth-int"
Security-Server: ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;spi-c=3333;spi-s=4444;port-c=5066;port-s=5068
Service-Route: <sip:orig@scscf.ims.example.net;lr>
P-Associated-URI: <sip:alice@ims.example.net>, <tel:+15550001>
Content-Length: 0

"""

_PRACK = """\
PRACK sip:bob@10.0.0.2:5060 SIP/2.0
Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKfuzz2
Max-Forwards: 70
Route: <sip:pcscf.ims.example.net;lr>
From: <sip:alice@ims.example.net>;tag=a2
To: <tel:+15550002>;tag=b2
Call-ID: call2@10.0.0.1
CSeq: 2 PRACK
RAck: 1 1 INVITE
P-Charging-Vector: icid-value="AyretyU0dm+6O2IrT5tAFrbHLso=";orig-ioi=ims.example.net
P-Asserted-Identity: "Alice" <sip:alice@ims.example.net>, <tel:+15550001>
Content-Length: 0

"""

_RELIABLE_183 = """\
SIP/2.0 183 Session Progress
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfuzz3;ttl=16
Record-Route: <sip:scscf.ims.example.net;lr>, <sip:pcscf.ims.example.net;lr>
From: <sip:alice@ims.example.net>;tag=a3
To: <sip:bob@ims.example.net>;tag=b3
Call-ID: call3@10.0.0.1
CSeq: 1 INVITE
Contact: <sip:bob@10.0.0.2:5060>
Require: 100rel, precondition
RSeq: 1
Allow: INVITE, ACK, BYE, CANCEL, PRACK, UPDATE
Content-Length: 0

"""

_NOTIFY = """\
NOTIFY sip:alice@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bKfuzz4
Max-Forwards: 70
From: <sip:alice@ims.example.net>;tag=n4
To: <sip:alice@ims.example.net>;tag=a4
Call-ID: sub4@10.0.0.1
CSeq: 3 NOTIFY
Event: reg
Subscription-State: active;expires=600000
Content-Type: application/reginfo+xml
Content-Length: 0

"""


def _invite(body: bytes, content_type: str) -> bytes:
    head = f"""\
INVITE tel:+15550002;phone-context=ims.example.net SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKfuzz5
Max-Forwards: 70
From: "Alice" <sip:alice@ims.example.net>;tag=a5
To: <tel:+15550002>
Call-ID: call5@10.0.0.1
CSeq: 1 INVITE
Contact: <sip:alice@10.0.0.1:5060>;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"
Supported: 100rel, precondition, timer
Session-Expires: 1800;refresher=uac
Content-Type: {content_type}
Content-Length: {len(body)}

"""
    return _crlf(head) + body


def _issue13_sip() -> list[tuple[str, bytes]]:
    """Issue 13's single-datagram kills: non-ASCII digits, 5,000-digit numbers, CR/LF smuggling."""
    base = _REGISTER
    return [
        ("issue13-max-forwards-superscript", _crlf(base.replace("Max-Forwards: 70", "Max-Forwards: \u00b2"))),
        ("issue13-cseq-superscript", _crlf(base.replace("CSeq: 1 REGISTER", "CSeq: \u00b2 REGISTER"))),
        ("issue13-via-ttl-5000", _crlf(base.replace(";rport\n", ";ttl=" + "9" * 5000 + "\n"))),
        ("issue13-rport-superscript", _crlf(base.replace(";rport\n", ";rport=\u00b9\n"))),
        ("issue13-contact-expires-superscript", _crlf(base.replace("expires=600;", "expires=\u00b2;"))),
        ("issue13-status-superscript", _crlf(_CHALLENGE.replace("401 Unauthorized", "4\u00b201 Unauthorized"))),
        ("issue13-folded-smuggle", _crlf(base).replace(b"Expires: 600\r\n", b"Expires: 600\r\n 1\nVia: x\r\n")),
    ]


def sip_seeds() -> Seeds:
    yield from _rfc4475()
    for name, text in (("register-aka", _REGISTER), ("401-aka", _CHALLENGE), ("prack", _PRACK),
                       ("183-reliable", _RELIABLE_183), ("notify-reg", _NOTIFY)):
        yield name, _crlf(text)
    yield "invite-sdp", _invite(_offer(), "application/sdp")
    body, ctype = _sipi_body()
    yield "invite-sipi", _invite(body, ctype)
    yield from _issue13_sip()


_REALM = "ims.mnc001.mcc001.3gppnetwork.org"  # topologies/volte-basic.toml, which the core harness loads

_REGISTER_AT_ICSCF = f"""\
REGISTER sip:{_REALM} SIP/2.0
Via: SIP/2.0/UDP 127.0.1.40:5060;branch=z9hG4bKpcscf1
Via: SIP/2.0/UDP 127.0.1.100:5060;branch=z9hG4bKue1;rport=5060
Max-Forwards: 69
Path: <sip:term@127.0.1.40:5060;lr>
Require: path
Supported: path
From: <sip:alice@{_REALM}>;tag=u1
To: <sip:alice@{_REALM}>
Call-ID: core1@127.0.1.100
CSeq: 1 REGISTER
Contact: <sip:alice@127.0.1.100:5060>;expires=600;+sip.instance="<urn:gsma:imei:35-0000-0>"
Authorization: Digest username="001010000000001@{_REALM}",realm="{_REALM}",nonce="",uri="sip:{_REALM}",response="",integrity-protected="no"
P-Visited-Network-ID: "{_REALM}"
P-Charging-Vector: icid-value="core1";orig-ioi={_REALM}
Content-Length: 0

"""

_MESSAGE_AT_SCSCF = f"""\
MESSAGE sip:bob@{_REALM} SIP/2.0
Via: SIP/2.0/UDP 127.0.1.20:5060;branch=z9hG4bKicscf2
Max-Forwards: 68
Route: <sip:127.0.1.30:5060;lr>
From: <sip:alice@{_REALM}>;tag=u2
To: <sip:bob@{_REALM}>
Call-ID: core2@127.0.1.100
CSeq: 1 MESSAGE
P-Asserted-Identity: <sip:alice@{_REALM}>
Content-Type: text/plain
Content-Length: 2

hi"""

_SUBSCRIBE_REG = f"""\
SUBSCRIBE sip:alice@{_REALM} SIP/2.0
Via: SIP/2.0/UDP 127.0.1.40:5060;branch=z9hG4bKpcscf3
Max-Forwards: 70
From: <sip:pcscf.{_REALM}>;tag=p3
To: <sip:alice@{_REALM}>
Call-ID: core3@127.0.1.40
CSeq: 1 SUBSCRIBE
Event: reg
Expires: 600000
Accept: application/reginfo+xml
Contact: <sip:127.0.1.40:5060>
P-Asserted-Identity: <sip:pcscf.{_REALM}>
Content-Length: 0

"""


def _notify_reg() -> bytes:
    from ims.cscf.reginfo import ContactInfo, Reginfo, RegistrationInfo

    body = Reginfo(1, "full", [RegistrationInfo(f"sip:alice@{_REALM}", "terminated", "r1", (
        ContactInfo("sip:alice@127.0.1.100:5060", "terminated", "deactivated", "c1", 0),))]).to_xml()
    head = f"""\
NOTIFY sip:alice@127.0.1.100:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.1.40:5060;branch=z9hG4bKpcscf4
Max-Forwards: 69
From: <sip:alice@{_REALM}>;tag=s4
To: <sip:alice@{_REALM}>;tag=u4
Call-ID: core4@127.0.1.100
CSeq: 2 NOTIFY
Event: reg
Subscription-State: terminated;reason=deactivated
Content-Type: application/reginfo+xml
Content-Length: {len(body)}

"""
    return _crlf(head) + body


def sip_cores_seeds() -> Seeds:
    yield from sip_seeds()
    yield "core-register-at-icscf", _crlf(_REGISTER_AT_ICSCF)
    yield "core-message-at-scscf", _crlf(_MESSAGE_AT_SCSCF)
    yield "core-subscribe-reg", _crlf(_SUBSCRIBE_REG)
    yield "core-notify-reg-terminated", _notify_reg()


def sip_framer_seeds() -> Seeds:
    register, challenge = _crlf(_REGISTER), _crlf(_CHALLENGE)
    yield "two-messages", register + challenge
    yield "ping-message-pong", b"\r\n\r\n" + register + b"\r\n"
    yield "invite-sdp", _invite(_offer(), "application/sdp")
    yield "compact-content-length", register.replace(b"Content-Length: 0", b"l: 0")
    yield "issue13-content-length-4301-digits", register.replace(b"Content-Length: 0", b"Content-Length: " + b"9" * 4301)
    yield "content-length-superscript", register.replace(b"Content-Length: 0", "Content-Length: \u00b2".encode())


def sip_uri_seeds() -> Seeds:
    values: list[str] = []
    for path in (ROOT / "tests/sip/test_uri.py",):
        for needle in ("sip:", "sips:", "tel:"):
            values += [v for v in _string_constants(path, needle) if isinstance(v, str) and len(v) < 300]
    values += ['"Alice \\"A\\"" <sip:alice@[2001:db8::1]:5061;transport=tls;lr>;tag=1;expires=60',
               "<sip:+15550001@ims.example.net;user=phone?Subject=hi>",
               "tel:+1-555-0001;phone-context=ims.example.net;ext=2",
               "sip:%61lice:pw@example.net:5060;maddr=239.255.255.1;ttl=15;method=INVITE"]
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v not in seen:
            seen.add(v)
            yield f"uri-{i:03d}", v.encode("utf-8", "surrogateescape")


# --- SDP, multipart ------------------------------------------------------------------------------------

def _offer() -> bytes:
    from ims.sdp import Crypto
    from ims.ue import sdp as ue_sdp

    crypto = [Crypto(1, "AES_CM_128_HMAC_SHA1_80", "inline:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk"),
              Crypto(2, "AES_CM_128_HMAC_SHA1_32", "inline:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk")]
    return ue_sdp.offer("192.0.2.1", 40000, 1, qos_state=("none", "none"), crypto=crypto)


def sdp_seeds() -> Seeds:
    from ims.ue import sdp as ue_sdp

    offer = _offer()
    yield "handset-offer-srtp-qos", offer
    yield "handset-offer-plain", ue_sdp.offer("192.0.2.1", 40000, 1)
    yield "handset-answer", ue_sdp.answer(ue_sdp.offer("192.0.2.1", 40000, 1, qos_state=("none", "none")),
                                          "192.0.2.2", 40002, 2, qos_state=("none", "sendrecv"), confirm=True)
    n = 0
    for path in sorted((ROOT / "tests/sdp").glob("test_*.py")) + [ROOT / "tests/isup/test_sipi.py"]:
        for value in _string_constants(path, "v=0"):
            data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
            yield f"{path.stem}-{n:03d}", data
            n += 1
    yield "issue13-port-4301-digits", offer.replace(b"m=audio 40000", b"m=audio " + b"4" * 4301)


def _sipi_body() -> tuple[bytes, str]:
    from ims.isup import messages
    from ims.isup.sipi import make_sipi_body

    iam = messages.encode(messages.iam(1, "4930123456", "4940555"), with_cic=False)
    return make_sipi_body(_offer(), iam, boundary="fuzzboundary")


def multipart_seeds() -> Seeds:
    from ims.isup import messages
    from ims.isup.sipi import make_sipi_body

    body, ctype = _sipi_body()
    yield "sipi-iam", ctype.encode() + b"\n" + body
    rel = messages.encode(messages.rel(1, 16), with_cic=False)
    body, ctype = make_sipi_body(None, rel, handling="optional", boundary="b1")
    yield "sipi-rel-only", ctype.encode() + b"\n" + body
    yield "bare-lf-parts", (ctype.encode() + b"\n" + body.replace(b"\r\n", b"\n"))
    yield "quoted-boundary-preamble", (b'multipart/mixed; boundary="a b"\n' b"preamble\r\n--a b\r\n"
                                       b"Content-Type: application/sdp\r\n\r\nv=0\r\n--a b--\r\nepilogue")
    yield "nested", (b"multipart/mixed;boundary=outer\n--outer\r\nContent-Type: multipart/mixed;boundary=inner\r\n"
                     b"\r\n--inner\r\n\r\nx\r\n--inner--\r\n--outer--\r\n")


# --- Diameter --------------------------------------------------------------------------------------------

_ISSUE13_CER = (b'\x01\x00\x00L\x80\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x01\x08@'
                b'\x00\x00\x0cevil\x00\x00\x01(@\x00\x00\x0cevil\x00\x00\x01\x04@\x00\x00 \x00\x00\x01\n@\x00\x00'
                b'\x0c\x00\x00(\xaf\x00\x00\x01\x02\x80\x00\x00\x0c\x01\x00\x00\x00')


def _nested_grouped(depth: int) -> bytes:
    """Vendor-Specific-Application-Id (260, grouped) nested ``depth`` deep inside a CER (issue 13)."""
    inner = b""
    for _ in range(depth):
        length = 8 + len(inner)
        inner = (260).to_bytes(4, "big") + b"\x40" + length.to_bytes(3, "big") + inner
    origin = (264).to_bytes(4, "big") + b"\x40\x00\x00\x0cevil" + (296).to_bytes(4, "big") + b"\x40\x00\x00\x0cevil"
    avps = origin + inner
    total = 20 + len(avps)
    return b"\x01" + total.to_bytes(3, "big") + b"\x80\x00\x01\x01" + bytes(4) + b"\x00\x00\x00\x01" \
        + b"\x00\x00\x00\x02" + avps


def _cer(identity_host: str) -> bytes:
    from ims.diameter.peer import LocalIdentity, Peer

    peer = Peer(LocalIdentity(identity_host, "ims.example.net", origin_state_id=1), initiator=True,
                tw_jitter=0.0)
    peer.next_ids = lambda: (0x1234, 0x5678)  # type: ignore[method-assign]
    peer.start(0.0)
    [cer] = peer.connected(0.0)
    return cer.data  # type: ignore[attr-defined, no-any-return]


def diameter_seeds() -> Seeds:
    sys.path.insert(0, str(ROOT))
    from tests.diameter import test_cx

    for i, req in enumerate(test_cx.REQUESTS):
        req.session_id = f"scscf.ims.example.net;1;{i}"
        msg = req.to_message()
        msg.hop_by_hop, msg.end_to_end = 0x100 + i, 0x200 + i
        yield f"cx-{type(req).__name__}", msg.to_bytes()
    for i, ans in enumerate(test_cx.ANSWERS):
        ans.session_id = f"scscf.ims.example.net;1;{i}"
        yield f"cx-{type(ans).__name__}", ans.to_message().to_bytes()
    yield "cer", _cer("scscf.ims.example.net")
    yield "issue13-cer-empty-auth-application-id", _ISSUE13_CER
    yield "issue13-grouped-nested-200", _nested_grouped(200)


def diameter_peer_seeds() -> Seeds:
    sys.path.insert(0, str(ROOT))
    from tests.diameter import test_cx

    cer = _cer("scscf.ims.example.net")
    yield "cer", cer
    req = test_cx.REQUESTS[1]
    req.session_id = "scscf.ims.example.net;1;mar"
    mar = req.to_message()
    mar.hop_by_hop, mar.end_to_end = 0x300, 0x400
    yield "cer-then-mar", cer + mar.to_bytes()
    yield "mar-before-cer", mar.to_bytes()
    from ims.diameter.codec import DiameterMessage

    dwr = DiameterMessage(280, True, 0, [], 0x500, 0x600, proxiable=False)
    from ims.diameter.codec import ORIGIN_HOST, ORIGIN_REALM, avp

    dwr.add(avp(ORIGIN_HOST, "scscf.ims.example.net"), avp(ORIGIN_REALM, "ims.example.net"))
    yield "dwr", dwr.to_bytes()
    yield "issue13-cer-empty-auth-application-id", _ISSUE13_CER
    yield "issue13-grouped-nested-200", _nested_grouped(200)


def hss_cx_seeds() -> Seeds:
    sys.path.insert(0, str(ROOT))
    from tests.hss import helpers as h

    msgs = [("uar", h.uar()), ("uar-deregistration", h.uar(uat=1)), ("mar-akav1", h.mar()),
            ("mar-digest", h.mar(scheme="SIP Digest")),
            ("mar-resync", h.mar(authorization=bytes(range(16)) + bytes(14))), ("sar-registration", h.sar(1)),
            ("sar-user-deregistration", h.sar(5)), ("lir", h.lir()), ("lir-tel", h.lir("tel:+15550001"))]
    for i, (name, msg) in enumerate(msgs):
        for a in msg.avps:
            if a.code == 263:
                a.value = f"scscf;1;{i}"  # a fixed Session-Id: seeds are reproducible
        msg.hop_by_hop, msg.end_to_end = 0x700 + i, 0x800 + i
        yield name, msg.to_bytes()


def cx_answers_seeds() -> Seeds:
    from ims.diameter import cx
    from ims.diameter.constants import DIAMETER_FIRST_REGISTRATION, DIAMETER_SUCCESS
    from ims.diameter.userdata import UserData, build_user_data

    realm = _REALM
    hss = {"origin_host": f"hss.{realm}", "origin_realm": realm, "session_id": "icscf;1;1"}
    impi, impu = f"001010000000001@{realm}", f"sip:alice@{realm}"
    rand, autn = bytes(range(16)), bytes(range(16, 32))
    answers = [
        ("uaa-first-registration-capabilities", cx.UserAuthorizationAnswer(
            **hss, experimental_result_code=DIAMETER_FIRST_REGISTRATION,
            server_capabilities=cx.ServerCapabilities((1,), (2,), ("sip:127.0.1.30:5060",)))),
        ("uaa-server-name", cx.UserAuthorizationAnswer(**hss, result_code=DIAMETER_SUCCESS,
                                                       server_name="sip:127.0.1.30:5060")),
        ("maa-akav1", cx.MultimediaAuthAnswer(
            **hss, result_code=DIAMETER_SUCCESS, user_name=impi, public_identity=impu, sip_auth_data_items=[
                cx.SipAuthDataItem(cx.SCHEME_AKAV1, 1, rand + autn, bytes(8), b"\x11" * 16, b"\x22" * 16)])),
        ("maa-digest", cx.MultimediaAuthAnswer(
            **hss, result_code=DIAMETER_SUCCESS, user_name=impi, public_identity=impu, sip_auth_data_items=[
                cx.SipAuthDataItem(cx.SCHEME_DIGEST, 1, sip_digest_authenticate=cx.SipDigestAuthenticate(
                    realm, "0123456789abcdef0123456789abcdef"))])),
        ("saa-user-data", cx.ServerAssignmentAnswer(
            **hss, result_code=DIAMETER_SUCCESS, user_name=impi,
            user_data=build_user_data(UserData(impi, [impu, "tel:+15550001"])))),
        ("lia-server-name", cx.LocationInfoAnswer(**hss, result_code=DIAMETER_SUCCESS,
                                                  server_name="sip:127.0.1.30:5060")),
        ("rtr", cx.RegistrationTerminationRequest(
            **hss, destination_host=f"scscf.{realm}", destination_realm=realm, user_name=impi,
            public_identities=[impu], deregistration_reason=cx.DeregistrationReason(0, "bye"))),
        ("ppr", cx.PushProfileRequest(**hss, destination_host=f"scscf.{realm}", destination_realm=realm,
                                      user_name=impi, user_data=build_user_data(UserData(impi, [impu])))),
    ]
    for i, (name, ans) in enumerate(answers):
        msg = ans.to_message()
        msg.hop_by_hop, msg.end_to_end = 0x900 + i, 0xA00 + i
        yield name, msg.to_bytes()


def user_data_seeds() -> Seeds:
    sys.path.insert(0, str(ROOT))
    from ims.diameter.userdata import UserData, build_user_data
    from tests.diameter import test_userdata

    yield "annex-e-mmtel-voicemail", test_userdata.SUB.to_xml().encode()
    yield "flat", build_user_data(UserData("001@ims.example.net", ["sip:alice@ims.example.net", "tel:+15550001"])
                                  ).encode()
    yield "entity", (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "xxxxxxxx">]>'
                     b"<IMSSubscription><PrivateID>&e;&e;</PrivateID></IMSSubscription>")


def reginfo_seeds() -> Seeds:
    from ims.cscf.reginfo import ContactInfo, Reginfo, RegistrationInfo

    contacts = (ContactInfo("sip:alice@10.0.0.1:5060", "active", "registered", "c1", 600),
                ContactInfo("sip:alice@10.0.0.9:5060", "terminated", "expired", "c2", 0))
    yield "full", Reginfo(3, "full", [RegistrationInfo("sip:alice@ims.example.net", "active", "r1", contacts),
                                      RegistrationInfo("tel:+15550001", "active", "r2", contacts[:1])]).to_xml()
    yield "terminated", Reginfo(4, "partial", [RegistrationInfo("sip:alice@ims.example.net", "terminated", "r1",
                                                                contacts[1:])]).to_xml()


# --- ISUP / M3UA -------------------------------------------------------------------------------------------

def isup_seeds() -> Seeds:
    sys.path.insert(0, str(ROOT))
    from ims.isup import messages
    from tests.isup import test_messages

    yield "osmo-iam", test_messages.OSMO_IAM
    for name, _msg, hexdata in test_messages.SPEC_VECTORS:
        yield f"q763-{name}", bytes.fromhex(hexdata.replace(" ", ""))
    for i, msg in enumerate(test_messages.FULL):
        data = messages.encode(msg)
        yield f"full-{i}-{msg.type.name.lower()}", data
        yield f"full-{i}-{msg.type.name.lower()}-no-cic", messages.encode(msg, with_cic=False)


def isup_call_seeds() -> Seeds:
    from ims.isup import messages as m

    def framed(*msgs: m.IsupMessage) -> bytes:
        return b"".join(bytes([len(d)]) + d for d in (m.encode(x) for x in msgs))

    yield "iam-answer-rel", framed(m.iam(1, "12125550100", "15550001"), m.rel(1, 16), m.rlc(1))
    yield "iam-busy", framed(m.iam(2, "12125550186", "15550001"), m.rlc(2))
    yield "iam-sam-no-answer", framed(m.iam(3, "1212555", "15550001"), m.sam(3, "0199F"))
    yield "mgcf-out-acm-cpg-anm-sus-res-rel", framed(m.acm(5), m.cpg(5, 1), m.anm(5), m.sus(5), m.res(5),
                                                     m.rel(5, 16), m.rlc(5))
    yield "con-unknown-type", framed(m.con(4)) + bytes([4, 4, 0, 0xFE, 0])


def m3ua_seeds() -> Seeds:
    sys.path.insert(0, str(ROOT))
    from ims.isup.m3ua import encode_m3ua
    from tests.isup import test_m3ua

    for name, _msg, hexdata in test_m3ua.VECTORS:
        yield f"rfc4666-{name}", bytes.fromhex(hexdata.replace(" ", ""))
    for i, msg in enumerate(test_m3ua.ROUND_TRIP):
        yield f"round-trip-{i:02d}-{type(msg).__name__.lower()}", encode_m3ua(msg)
    yield "stream", test_m3ua.STREAM
    yield "other-class", bytes.fromhex("01000202 00000010 00120008 00000102".replace(" ", ""))


# --- media -------------------------------------------------------------------------------------------------

def _rtp_packets() -> list[tuple[str, bytes]]:
    from ims.media.amr import amr_payload
    from ims.media.rtp import RtpPacket, RtpSender, TelephoneEvent

    sender = RtpSender(0, 8000, ssrc=0x11223344, sequence=1000, timestamp=160000)
    out = [("pcmu", sender.next(bytes(range(160)), 160).to_bytes())]
    dtmf = RtpSender(101, 8000, ssrc=0x11223344, sequence=2000, timestamp=320000)
    out += [(f"telephone-event-{i}", p.to_bytes()) for i, p in
            enumerate(dtmf.dtmf(5, 100, payload_type=101)[:2])]
    out.append(("csrc-extension-padding", RtpPacket(96, 7, 8, 9, b"\x01\x02\x03", True, (1, 2),
                                                    (0xBEDE, b"\x10\xaa\x00\x00"), 4).to_bytes()))
    for wideband in (False, True):
        for octet_aligned in (False, True):
            payload = amr_payload(2, None, wideband=wideband, octet_aligned=octet_aligned)
            name = f"amr{'-wb' if wideband else ''}-{'oa' if octet_aligned else 'be'}"
            out.append((name, RtpPacket(97, 1, 320, 5, payload).to_bytes()))
    out.append(("telephone-event-payload", RtpPacket(101, 3, 480, 5, TelephoneEvent(1, True, 10, 800).to_bytes())
                .to_bytes()))
    return out


def rtp_seeds() -> Seeds:
    yield from _rtp_packets()


def _rtcp_packets() -> list[tuple[str, bytes]]:
    from ims.media.rtcp import (
        Bye,
        ReceiverReport,
        ReportBlock,
        SenderReport,
        SourceDescription,
        serialize_compound,
    )

    block = ReportBlock(0x55667788, 12, -3, 70000, 40, 0x12345678, 6553)
    return [
        ("sr-sdes", serialize_compound([SenderReport(0x11223344, 0xE1234567_89ABCDEF, 160000, 50, 8000, [block]),
                                        SourceDescription([(0x11223344, [(1, b"alice@192.0.2.1")])])])),
        ("rr-bye", serialize_compound([ReceiverReport(0x11223344, [block, block]),
                                       Bye([0x11223344, 0x55667788], "call ended")])),
    ]


def rtcp_seeds() -> Seeds:
    yield from _rtcp_packets()


def srtp_seeds() -> Seeds:
    from fuzz.harnesses import _KEY
    from ims.media.srtp import SrtpSession, inline

    tx = SrtpSession("AES_CM_128_HMAC_SHA1_80", _KEY, outbound=True)
    for name, packet in _rtp_packets()[:3]:
        yield f"srtp-{name}", tx.protect(packet)
    for name, packet in _rtcp_packets():
        yield f"srtcp-{name}", tx.protect_rtcp(packet)
    yield "inline-key", inline(_KEY).encode()


# --- lab files ---------------------------------------------------------------------------------------------

def topology_seeds() -> Seeds:
    for path in sorted((ROOT / "topologies").glob("*.toml")):
        data = path.read_bytes()
        if len(data) <= MAX_SEED:
            yield path.stem, data
    yield "issue13-deep-nesting", b"a = " + b"[" * 2000 + b"]" * 2000 + b"\n"
    yield "issue13-huge-integer", b'domain = "x"\n[[nodes]]\nname = "p"\nkind = "pcscf"\naddress = "127.0.0.1"\n' \
        b"[nodes.sip]\nport = " + b"9" * 5000 + b"\n"
    yield "issue13-latin1", 'domain = "caf\u00e9"\n'.encode("latin-1")


def flow_seeds() -> Seeds:
    for path in sorted((ROOT / "flows").glob("*.toml")):
        data = path.read_bytes()
        if len(data) <= MAX_SEED:
            yield path.stem, data


def subscriber_csv_seeds() -> Seeds:
    k, opc = "465b5ce8b199b49faa5f0a2ee238a6bc", "cd63cb71954a9f4e48a5994e37a02baf"  # TS 35.208 set 1
    head = "imsi,impi,impus,msisdn,k,opc,amf,sqn"
    rows = [f"00101000000000{i},{i}@ims.example.net,sip:u{i}@ims.example.net;tel:+155500{i:02d},155500{i:02d},"
            f"{k},{opc},8000,000000000020" for i in range(3)]
    yield "three-rows", ("\n".join([head, *rows]) + "\n").encode()
    yield "digest-and-irs", (
        "imsi,impi,impus,k,op,password,auth_schemes,barred\n"
        f'001010000000009,9@r.example,"sip:a@r.example|sip:b@r.example",{k},{opc},secret,"Digest-AKAv1-MD5;SIP Digest",\n'
    ).encode()
    yield "bad-hex", (head + "\n" + rows[0].replace(opc, "zz") + "\n").encode()


TARGET_SEEDS = {
    "sip": sip_seeds, "sip_cores": sip_cores_seeds, "sip_framer": sip_framer_seeds, "sip_uri": sip_uri_seeds, "multipart": multipart_seeds,
    "sdp": sdp_seeds, "diameter": diameter_seeds, "diameter_peer": diameter_peer_seeds, "hss_cx": hss_cx_seeds, "cx_answers": cx_answers_seeds, "user_data": user_data_seeds,
    "reginfo": reginfo_seeds, "isup": isup_seeds, "isup_call": isup_call_seeds,
    "m3ua": m3ua_seeds, "rtp": rtp_seeds, "rtcp": rtcp_seeds, "srtp": srtp_seeds, "topology": topology_seeds,
    "flow": flow_seeds, "subscriber_csv": subscriber_csv_seeds,
}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def build() -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for target, make in TARGET_SEEDS.items():
        seeds: dict[str, bytes] = {}
        for name, data in make():
            if len(data) > MAX_SEED:
                raise SystemExit(f"{target}/{name}: {len(data)} bytes is above the {MAX_SEED}-byte seed limit")
            seeds[_safe(name)] = data
        out[target] = seeds
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with fuzz/corpus instead of writing")
    args = parser.parse_args(argv)
    corpora = build()
    stale = []
    for target, seeds in corpora.items():
        folder = CORPUS / target
        if args.check:
            have = {p.name: p.read_bytes() for p in folder.glob("*")} if folder.exists() else {}
            if have != seeds:
                stale.append(target)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*"):
            if old.name not in seeds:
                old.unlink()
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
    total = sum(len(d) for s in corpora.values() for d in s.values())
    count = sum(len(s) for s in corpora.values())
    if stale:
        print(f"seed corpora out of date: {', '.join(stale)} (run python -m fuzz.make_seeds)")
        return 1
    print(f"{count} seeds, {total} bytes, in {len(corpora)} corpora under {CORPUS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
