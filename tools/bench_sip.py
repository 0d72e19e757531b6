"""SIP parse/serialize throughput on one core: a 1.6 kB IMS INVITE with SDP and 25 headers, and a REGISTER.

"Full parse" = parse_message + every typed accessor ``ims sip check`` uses.
Serialization is measured for an unmodified message (cached bytes) and after
a proxy-like change (new top Via, Max-Forwards decremented), which rebuilds
the bytes.  Medians of 5 runs of about 0.5 s each.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from ims.cli.sip import _ACCESSORS
from ims.sip.message import parse_message

SDP = (
    "v=0\r\no=- 3826384728 3826384728 IN IP4 10.45.0.2\r\ns=-\r\nc=IN IP4 10.45.0.2\r\nt=0 0\r\n"
    "m=audio 31000 RTP/AVP 116 111\r\nb=AS:41\r\n"
    "a=rtpmap:116 AMR-WB/16000/1\r\na=fmtp:116 mode-change-capability=2;max-red=0\r\n"
    "a=rtpmap:111 telephone-event/16000\r\na=fmtp:111 0-15\r\n"
    "a=ptime:20\r\na=maxptime:240\r\na=curr:qos local none\r\n"
    "a=curr:qos remote none\r\na=des:qos mandatory local sendrecv\r\na=des:qos optional remote sendrecv\r\n"
)

INVITE = (
    "INVITE tel:+15550002;phone-context=ims.example.net SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.1.40:5060;branch=z9hG4bK3f7a91c2e6d84b0f.0\r\n"
    "Via: SIP/2.0/UDP 10.45.0.2:5060;received=10.45.0.2;rport=5060;branch=z9hG4bK1958361234smg.1\r\n"
    "Max-Forwards: 69\r\n"
    "Route: <sip:orig@scscf.ims.example.net:6060;lr>\r\n"
    "Route: <sip:127.0.1.30:5060;lr;transport=udp>\r\n"
    "Record-Route: <sip:127.0.1.40:5060;lr>\r\n"
    "From: <sip:alice@ims.example.net>;tag=1958361234\r\n"
    "To: <tel:+15550002;phone-context=ims.example.net>\r\n"
    "Call-ID: 1958361234_2873456@10.45.0.2\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:001010000000001@10.45.0.2:5060>;+sip.instance=\"<urn:gsma:imei:35846812-345678-0>\";"
    "+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\";audio\r\n"
    "P-Asserted-Identity: <sip:alice@ims.example.net>\r\n"
    "P-Access-Network-Info: 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=0010100010019B01\r\n"
    "P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tA=023551024\";orig-ioi=ims.example\r\n"
    "Security-Verify: ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4096;spi-s=4097;port-c=5062;port-s=5063\r\n"
    "Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"\r\n"
    "P-Preferred-Service: urn:urn-7:3gpp-service.ims.icsi.mmtel\r\n"
    "Supported: 100rel,histinfo,join,norefersub,precondition,replaces,timer,sec-agree\r\n"
    "Require: sec-agree\r\n"
    "Proxy-Require: sec-agree\r\n"
    "Allow: INVITE,ACK,OPTIONS,BYE,CANCEL,UPDATE,PRACK\r\n"
    "Session-Expires: 1800\r\n"
    "Min-SE: 90\r\n"
    "Accept: application/sdp,application/3gpp-ims+xml\r\n"
    "User-Agent: Samsung IMS 6.0\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP)}\r\n\r\n{SDP}"
).encode()

REGISTER = (
    "REGISTER sip:ims.example.net SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.45.0.2:5060;branch=z9hG4bK427155372smg;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:001010000000001@ims.example.net>;tag=427155372\r\n"
    "To: <sip:001010000000001@ims.example.net>\r\n"
    "Call-ID: 427155350_2873432@10.45.0.2\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:001010000000001@10.45.0.2:5060>;+sip.instance=\"<urn:gsma:imei:35846812-345678-0>\";"
    "+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\";+g.3gpp.smsip;expires=600000\r\n"
    "Authorization: Digest username=\"001010000000001@ims.example.net\","
    "realm=\"ims.example.net\",uri=\"sip:ims.example.net\","
    "nonce=\"2hS0bkW0ZCqkDUlzgtsmvd4HVLSqTIAAwXC1rnNXxVA=\",response=\"6cbd6b4bb3f2d2a2e1ae4a1c1e1a0d0a\","
    "algorithm=AKAv1-MD5,nc=00000001,qop=auth,cnonce=\"ab12cd34\"\r\n"
    "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=trans;ealg=null;spi-c=4096;spi-s=4097;port-c=5062;port-s=5063\r\n"
    "Security-Verify: ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=trans;ealg=null;spi-c=3333;spi-s=3334;port-c=5064;port-s=5065\r\n"
    "Require: sec-agree\r\nProxy-Require: sec-agree\r\nSupported: path,gruu,sec-agree\r\n"
    "P-Access-Network-Info: 3GPP-E-UTRAN-FDD;utran-cell-id-3gpp=0010100010019B01\r\n"
    "Expires: 600000\r\nUser-Agent: Samsung IMS 6.0\r\nContent-Length: 0\r\n\r\n"
).encode()


def _rate(fn: Callable[[], object], seconds: float = 0.5) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(200):
            fn()
        n += 200
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def _median(fn: Callable[[], object]) -> float:
    return statistics.median(_rate(fn) for _ in range(5))


def _full_parse(data: bytes) -> Callable[[], object]:
    def run() -> object:
        msg = parse_message(data)
        for name in _ACCESSORS:
            getattr(msg, name)
        return msg
    return run


def _serialize_modified(data: bytes) -> Callable[[], object]:
    base = parse_message(data)

    def run() -> object:
        msg = base.copy()
        msg.add("Via", "SIP/2.0/UDP 127.0.1.30:5060;branch=z9hG4bKbench.0", first=True)
        msg.set("Max-Forwards", "68")
        return msg.to_bytes()
    return run


def main() -> None:
    assert 1500 <= len(INVITE) <= 1900, len(INVITE)
    invite = parse_message(INVITE)
    headers = len(list(invite._headers))
    print(f"INVITE: {len(INVITE)} bytes, {headers} headers; REGISTER: {len(REGISTER)} bytes; pid {os.getpid()}")
    for label, data in (("INVITE", INVITE), ("REGISTER", REGISTER)):
        parsed = parse_message(data)
        print(f"{label:8} full parse          {_median(_full_parse(data)):>10,.0f} msg/s")
        print(f"{label:8} parse (lazy)        {_median(lambda d=data: parse_message(d)):>10,.0f} msg/s")
        print(f"{label:8} serialize unmodified {_median(parsed.to_bytes):>9,.0f} msg/s")
        print(f"{label:8} copy+modify+serialize {_median(_serialize_modified(data)):>8,.0f} msg/s")


if __name__ == "__main__":
    main()
