"""RFC 4475 torture tests, reconstructed message by message (CRLF line ends, <hex> bytes inline).

Each valid message must parse and expose its typed headers; each invalid one
must raise SipParseError with a reason naming the fault (or, for the §3.3
application-layer cases, parse and then be refused by the element).
"""

from __future__ import annotations

import pytest

from ims.sip.errors import SipParseError
from ims.sip.message import Request, Response, parse_message
from ims.sip.multipart import parse_multipart
from ims.sip.uri import AbsoluteURI, SipURI


def m(text: str) -> bytes:
    """Message text with LF line ends -> bytes with CRLF (RFC 4475 §2)."""
    return text.replace("\n", "\r\n").encode("utf-8", "surrogateescape")


WSINV = m("""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaleiemnciuvduvcj
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""")

INTMETH = m("""!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb
Content-Length: 0

""")

ESC01 = m("""INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""")

ESCNULL = m("""REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

""")

ESC02 = m("""RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

""")

LWSDISP = m("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

""")

LONG = "amazinglylongcallee" * 20
LONGREQ = m(f"""INVITE sip:user@example.com SIP/2.0
To: "I have a user name of {'extreme' * 40} proportion"<sip:user@example.com:6000;unknownparam1=very{'long' * 50}value;longparam{'name' * 30}=shortvalue>
From: sip:{LONG}@example.net;tag=12{'982' * 100}424;unknownheaderparam{'name' * 30}=unknowheaderparam{'value' * 30};unknownValuelessparam{'name' * 30}
Call-ID: longreq.one{'really' * 40}longcallid
CSeq: 3882340 INVITE
Unknown-{'Long' * 50}-Name: unknown-{'long' * 50}-value; unknown-{'long' * 20}-parameter-name = unknown-{'long' * 20}-parameter-value
Via: SIP/2.0/TCP sip33.example.com
v: SIP/2.0/TCP sip32.example.com
V: SIP/2.0/TCP sip31.example.com
Via: SIP/2.0/TCP sip30.example.com
ViA: SIP/2.0/TCP sip29.example.com
VIa: SIP/2.0/TCP sip28.example.com
VIA: SIP/2.0/TCP sip27.example.com
via: SIP/2.0/TCP sip26.example.com
viA: SIP/2.0/TCP sip25.example.com
vIa: SIP/2.0/TCP sip24.example.com
vIA: SIP/2.0/TCP sip23.example.com
V :  SIP/2.0/TCP sip22.example.com
v :  SIP/2.0/TCP sip21.example.com
V  : SIP/2.0/TCP sip20.example.com
v  : SIP/2.0/TCP sip19.example.com
Via: SIP/2.0/TCP sip18.example.com
Via: SIP/2.0/TCP sip17.example.com
Via: SIP/2.0/TCP sip16.example.com
Via: SIP/2.0/TCP sip15.example.com
Via: SIP/2.0/TCP sip14.example.com
Via: SIP/2.0/TCP sip13.example.com
Via: SIP/2.0/TCP sip12.example.com
Via: SIP/2.0/TCP sip11.example.com
Via: SIP/2.0/TCP sip10.example.com
Via: SIP/2.0/TCP sip9.example.com
Via: SIP/2.0/TCP sip8.example.com
Via: SIP/2.0/TCP sip7.example.com
Via: SIP/2.0/TCP sip6.example.com
Via: SIP/2.0/TCP sip5.example.com
Via: SIP/2.0/TCP sip4.example.com
Via: SIP/2.0/TCP sip3.example.com
Via: SIP/2.0/TCP sip2.example.com
Via: SIP/2.0/TCP sip1.example.com
Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{'long' * 50}branchvalue
Max-Forwards: 70
Contact: <sip:{LONG}@host5.example.net>
Content-Type: application/sdp
l: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""")

DBLREQ = m("""REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""")

SEMIURI = m("""OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

""")

TRANSPORTS = m("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

""")

MPART01 = (m("""MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Date: Sat, 15 Oct 2005 04:44:56 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: 553

""") + b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n"
    b"--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    + bytes(range(256))[:300 - 0] + b"\x00\x01\r\n--7a9cbec02ceef655--\r\n")

UNREASON = m("""SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""")

NOREASON = m("""SIP/2.0 100 
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""")

INV2543 = m("""INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""")


def _fix_length(raw: bytes) -> bytes:
    """Our reconstruction's bodies may differ by a few bytes from the RFC's; make the length exact."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        name = line.split(b":", 1)[0].strip().lower()
        if name in (b"content-length", b"l"):
            lines[i] = line.split(b":", 1)[0] + b": " + str(len(body)).encode()
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


VALID = {
    "3.1.1.1-wsinv": _fix_length(WSINV),
    "3.1.1.2-intmeth": INTMETH,
    "3.1.1.3-esc01": _fix_length(ESC01),
    "3.1.1.4-escnull": ESCNULL,
    "3.1.1.5-esc02": ESC02,
    "3.1.1.6-lwsdisp": LWSDISP,
    "3.1.1.7-longreq": _fix_length(LONGREQ),
    "3.1.1.8-dblreq": DBLREQ,
    "3.1.1.9-semiuri": SEMIURI,
    "3.1.1.10-transports": TRANSPORTS,
    "3.1.1.11-mpart01": _fix_length(MPART01),
    "3.1.1.12-unreason": _fix_length(UNREASON),
    "3.1.1.13-noreason": NOREASON,
    "3.4.1-inv2543": _fix_length(INV2543),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_3_1_1_valid_messages_parse(name: str) -> None:
    msg = parse_message(VALID[name])
    # Every typed accessor a transaction needs is reachable.
    assert msg.vias and msg.call_id and msg.cseq.seq >= 0
    assert msg.from_.uri is not None and msg.to.uri is not None
    msg.contacts, msg.max_forwards, msg.content_length  # noqa: B018
    assert parse_message(msg.to_bytes()).to_bytes() == msg.to_bytes()


def test_3_1_1_1_wsinv_details() -> None:
    msg = parse_message(VALID["3.1.1.1-wsinv"])
    assert isinstance(msg, Request) and msg.method == "INVITE"
    assert msg.to.tag == "1918181833n" and msg.from_.tag == "98asjd8"
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.max_forwards == 68 and msg.cseq.seq == 9 and msg.cseq.method == "INVITE"
    assert [v.host for v in msg.vias] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.vias[1].branch == "z9hG4bK9ikj8" and msg.vias[2].branch == "z9hG4bK30239"
    (contact,) = msg.contacts
    assert contact.q == 0.33 and contact.params["newparam"] == "newvalue" and "secondparam" in contact.params
    assert contact.address.display_name == 'Quoted string ""'
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.routes[0].uri.params["unknown-no-value"] is None
    assert msg.get("subject") == ""


def test_3_1_1_2_intmeth_unusual_characters() -> None:
    msg = parse_message(VALID["3.1.1.2-intmeth"])
    assert isinstance(msg, Request) and msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = msg.uri
    assert isinstance(uri, SipURI) and uri.host == "example.com"
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"


def test_3_1_1_3_esc01_escaped_uris_compare_equal() -> None:
    msg = parse_message(VALID["3.1.1.3-esc01"])
    assert msg.to.uri == SipURI.parse("sip:user@example.com")
    assert msg.from_.uri.user == "I%20have%20spaces"
    assert msg.contacts[0].uri == SipURI.parse("sip:caller@host5.example.net;lr;name=value%41")


def test_3_1_1_5_esc02_escaped_method_and_header_name() -> None:
    msg = parse_message(VALID["3.1.1.5-esc02"])
    assert msg.method == "RE%47IST%45R"  # type: ignore[union-attr]
    assert len(msg.contacts) == 2  # C%6Fntact is an unknown header, not Contact
    assert msg.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_3_1_1_8_dblreq_second_request_is_ignored() -> None:
    msg = parse_message(VALID["3.1.1.8-dblreq"])
    assert msg.method == "REGISTER" and msg.body == b""  # type: ignore[union-attr]


def test_3_1_1_9_semiuri_semicolon_in_user() -> None:
    msg = parse_message(VALID["3.1.1.9-semiuri"])
    assert msg.uri.user == "user;par=u%40example.net" and msg.uri.host == "example.com"  # type: ignore[union-attr]
    assert len(msg.get_all("accept")) == 6


def test_3_1_1_10_transports() -> None:
    msg = parse_message(VALID["3.1.1.10-transports"])
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_3_1_1_11_mpart01_binary_multipart() -> None:
    msg = parse_message(VALID["3.1.1.11-mpart01"])
    parts = parse_multipart(msg.content_type or "", msg.body)
    assert [p.media_type for p in parts] == ["text/plain", "application/octet-stream"]
    assert parts[0].body == b"Hello" and parts[1].body.startswith(b"\x00\x01\x02")


def test_3_1_1_12_13_reason_phrases() -> None:
    unreason = parse_message(VALID["3.1.1.12-unreason"])
    assert isinstance(unreason, Response) and unreason.status == 200 and unreason.reason.startswith("= 2**3")
    noreason = parse_message(VALID["3.1.1.13-noreason"])
    assert isinstance(noreason, Response) and noreason.status == 100 and noreason.reason == ""


def _bad(base: bytes, old: bytes, new: bytes) -> bytes:
    assert old in base, old
    return base.replace(old, new, 1)


BASE = m("""OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: torture.0ha0isndaksdj
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
Content-Length: 0

""")

INVALID = {
    # (message, fragment of the reason)
    "3.1.2.1-badinv01-extraneous-separators": (
        _bad(BASE, b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw", b"Via: SIP/2.0/UDP 192.0.2.15;;,;,,"), "Via"),
    "3.1.2.2-clerr-content-length-larger": (
        _bad(BASE, b"Content-Length: 0\r\n\r\n", b"Content-Length: 9999\r\n\r\nv=0\r\n"), "Content-Length 9999 exceeds"),
    "3.1.2.3-ncl-negative-content-length": (_bad(BASE, b"Content-Length: 0", b"Content-Length: -999"), "Content-Length"),
    "3.1.2.4-scalar02-overlarge-max-forwards": (_bad(BASE, b"Max-Forwards: 3", b"Max-Forwards: 300"), "Max-Forwards"),
    "3.1.2.4-scalar02-overlarge-cseq": (_bad(BASE, b"CSeq: 8 OPTIONS", b"CSeq: 36893488147419103232 OPTIONS"), "CSeq"),
    "3.1.2.5-scalarlg-overlarge-status": (
        m("SIP/2.0 503 Service Unavailable\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\n"
          "To: <sip:user@example.com>\nFrom: <sip:other@example.net>;tag=2easdjfejw\nCSeq: 9292394834772304023312 OPTIONS\n"
          "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\nRetry-After: 949302838503028349304023988\n"
          "Warning: 1812 overture \"In Progress\"\nContent-Length: 0\n\n"), "CSeq"),
    "3.1.2.6-quotbal-unterminated-quote": (
        _bad(BASE, b"To: sip:user@example.com", b'To: "Mr. J. User <sip:j.user@example.com>'), "unterminated quoted"),
    "3.1.2.7-ltgtruri-bracketed-request-uri": (
        _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS <sip:user@example.com> SIP/2.0"), "Request-URI"),
    "3.1.2.8-lwsruri-lws-in-request-uri": (
        _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS sip:user@example.com; lr SIP/2.0"), "request line"),
    "3.1.2.9-lwsstart-multiple-sp": (
        _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS  sip:user@example.com  SIP/2.0"), "request line"),
    "3.1.2.10-trws-trailing-sp": (
        _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS sip:user@example.com SIP/2.0  "), "request line"),
    "3.1.2.11-escruri-escaped-headers-in-request-uri": (
        _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0",
             b"OPTIONS sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0"), "escaped headers"),
    "3.1.2.12-baddate-timezone": (
        _bad(BASE, b"Content-Length: 0", b"Date: Fri, 01 Jan 2010 16:00:00 EST\r\nContent-Length: 0"), "Date"),
    "3.1.2.13-regbadct-unbracketed-uri-with-header": (
        _bad(BASE, b"Content-Length: 0", b"Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\nContent-Length: 0"),
        "must be in <>"),
    "3.1.2.14-badaspec-spaces-in-addr-spec": (
        _bad(BASE, b"To: sip:user@example.com", b'To: "Watson, Thomas" < sip:t.watson@example.org >'), "spaces inside <>"),
    "3.1.2.15-baddn-non-token-display-name": (
        _bad(BASE, b"From: sip:caller@example.org;tag=33242", b"From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43"),
        "must be quoted"),
    "3.1.2.16-badvers-unknown-version": (
        _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS sip:user@example.com SIP/7.0"), "version"),
    "3.1.2.17-mismatch01-cseq-method": (_bad(BASE, b"CSeq: 8 OPTIONS", b"CSeq: 8 INVITE"), "does not match"),
    "3.1.2.18-mismatch02-unknown-method": (
        _bad(_bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"NEWMETHOD sip:user@example.com SIP/2.0"),
             b"CSeq: 8 OPTIONS", b"CSeq: 8 INVITE"), "does not match"),
    "3.1.2.19-bigcode-overlarge-status": (
        m("SIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
          "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\nCSeq: 353494 INVITE\n"
          "From: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\n\n"),
        "status code"),
    "3.3.1-insuf-missing-headers": (_bad(BASE, b"Call-ID: torture.0ha0isndaksdj\r\n", b""), "Missing Call-ID"),
    "3.3.8-multi01-multiple-single-value-headers": (
        _bad(BASE, b"CSeq: 8 OPTIONS", b"CSeq: 8 OPTIONS\r\nCall-ID: other.call.id"), "Call-ID header appears 2 times"),
    "3.3.8-multi01-two-to-values": (
        _bad(BASE, b"To: sip:user@example.com", b"To: sip:user@example.com, sip:other@example.net"), "To"),
    "3.3.9-mcl01-conflicting-content-length": (
        _bad(BASE, b"Content-Length: 0", b"Content-Length: 0\r\nl: 3"), "Conflicting Content-Length"),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_3_1_2_invalid_messages_are_rejected_with_a_reason(name: str) -> None:
    raw, fragment = INVALID[name]
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    assert fragment.lower() in info.value.reason.lower(), info.value.reason
    assert info.value.status in (400, 505)


def test_3_1_2_16_unknown_version_answers_505() -> None:
    raw, _ = INVALID["3.1.2.16-badvers-unknown-version"]
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    assert info.value.status == 505 and info.value.partial is not None


def test_3_1_2_17_partial_request_allows_a_400() -> None:
    raw, _ = INVALID["3.1.2.17-mismatch01-cseq-method"]
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    assert info.value.partial is not None and info.value.partial.get("via")


APP_LAYER_VALID = {
    "3.3.2-unkscm": _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0"),
    "3.3.3-novelsc": _bad(BASE, b"OPTIONS sip:user@example.com SIP/2.0", b"OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0"),
    "3.3.4-unksm2": _bad(BASE, b"To: sip:user@example.com", b"To: isbn:2983792873"),
    "3.3.5-bext01": _bad(BASE, b"Content-Length: 0", b"Require: nothingSupportsThis, nothingSupportsThisEither\r\n"
                         b"Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\nContent-Length: 0"),
    "3.3.11-zeromf": _bad(BASE, b"Max-Forwards: 3", b"Max-Forwards: 0"),
    "3.3.12-cparam01": _bad(BASE, b"Content-Length: 0", b"Contact: sip:+19725552222@gw1.example.net;unknownparam\r\nContent-Length: 0"),
    "3.3.14-regescrt": _bad(BASE, b"Content-Length: 0", b"Contact: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\r\nContent-Length: 0"),
}


@pytest.mark.parametrize("name", sorted(APP_LAYER_VALID))
def test_3_3_syntactically_valid_application_layer_cases_parse(name: str) -> None:
    msg = parse_message(APP_LAYER_VALID[name])
    if name.startswith("3.3.2") or name.startswith("3.3.3"):
        assert isinstance(msg.uri, AbsoluteURI)  # type: ignore[union-attr]
    if name.startswith("3.3.5"):
        assert msg.require == ["nothingsupportsthis", "nothingsupportsthiseither"] and len(msg.proxy_require) == 2
    if name.startswith("3.3.12"):
        assert msg.contacts[0].params == {"unknownparam": None}
