"""The MGCF core facing bad input: unreadable SDP and SIP-I bodies from the IMS, undecodable ISUP from the PSTN.

SIP side: RFC 3261 §21.4.26 (488 for an offer that cannot be read, at once, no circuit seized), §21.4.1 (400
for a multipart body that does not parse), RFC 3311 §5.2 (an UPDATE's offer). The MGCF goes on serving.
"""

from __future__ import annotations

from ims.isup.messages import MessageType
from ims.sip.message import Request, parse_message
from ims.ue import sdp as policy
from tests.mgcf.test_mgcf_core import BGCF, UE_SDP, invite, isup, mgcf, responses, run

HUGE_PORT = UE_SDP.replace(b"m=audio 40000", b"m=audio " + b"4" * 4301)


def _final(out: list[object]) -> list[int]:
    return [r.status for r in responses(out) if r.status >= 200]  # type: ignore[arg-type]


def test_rfc3261_an_invite_whose_sdp_has_a_4301_digit_port_is_488_and_no_circuit_is_seized() -> None:
    core = mgcf()
    out = run(core, core.receive(invite(body=HUGE_PORT), BGCF, 0.0))
    [refused] = [r for r in responses(out) if r.status >= 200]
    assert refused.status == 488 and "m= port has 4301 digits" in refused.reason
    assert isup(out) == [] and not core.calls and not core.by_cic
    out = run(core, core.receive(_again(), BGCF, 1.0))
    assert [m.type for m in isup(out)] == [MessageType.IAM]  # the next call goes through


def _again() -> Request:
    msg = parse_message(invite().to_bytes().replace(b"mg1@x", b"mg2@x").replace(b"z9hG4bKmg1", b"z9hG4bKmg2"))
    assert isinstance(msg, Request)
    return msg


def test_rfc2046_a_sip_i_body_that_does_not_parse_is_400() -> None:
    core = mgcf()
    body = b"--b1\r\nContent-Type: application/sdp\r\n\r\n" + UE_SDP  # no closing delimiter
    req = invite(body=body).to_bytes().replace(b"Content-Type: application/sdp",
                                               b'Content-Type: multipart/mixed;boundary="b1"')
    msg = parse_message(req)
    assert isinstance(msg, Request)
    out = run(core, core.receive(msg, BGCF, 0.0))
    assert _final(out) == [400] and not core.calls


def test_rfc3311_an_update_with_an_unreadable_offer_gets_488_and_the_call_waits_on() -> None:
    core = mgcf()
    offer = policy.offer("127.0.9.100", 40000, 1234, codecs=("PCMU",), qos_state=("none", "none"))
    out = run(core, core.receive(invite(body=offer, extra="Supported: 100rel\r\nRequire: precondition\r\n"),
                                 BGCF, 0.0))
    [early] = [r for r in responses(out) if r.status == 183]
    assert isup(out) == []  # the IAM waits for the caller's segment (TS 29.163 §7.2.3.1.2)
    bad = HUGE_PORT
    update = parse_message((
        "UPDATE sip:mgcf@127.0.9.60:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.9.50:5060;branch=z9hG4bKup1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@ims.example.org>;tag=a1\r\n"
        f"To: <tel:+12125550100>;tag={early.to.tag}\r\nCall-ID: mg1@x\r\nCSeq: 2 UPDATE\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(bad)}\r\n\r\n").encode() + bad)
    assert isinstance(update, Request)
    out = run(core, core.receive(update, BGCF, 0.5))
    [refused] = responses(out)
    assert refused.status == 488 and (refused.get("warning") or "").startswith('399 127.0.9.60 "bad SDP')
    assert isup(out) == [] and core.calls["mg1@x"].state == "wait_qos"


# -- ISUP from the exchange that does not decode (Q.764 §2.9.5) ------------------------------------

def _undecodable(core: object, data: bytes, now: float) -> list[object]:
    from ims.isup.messages import IsupError, decode

    try:
        decode(data)
    except IsupError as exc:
        return core.isup_undecodable(data, exc, now)  # type: ignore[attr-defined, no-any-return]
    raise AssertionError("decoded")


def test_q764_malformed_isup_on_a_call_in_progress_is_rel_95_and_the_sip_side_is_cleared() -> None:
    from ims.isup.messages import acm, encode

    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    out = _undecodable(core, encode(acm(iam_msg.cic))[:-1], 0.5)
    assert [(m.type, m.params["cause"].value) for m in isup(out)] == [(MessageType.REL, 95)]
    assert _final(out) == [500]  # Q.850 95 -> 500 (RFC 3398 §8.2.6.1)
    assert not core.calls and iam_msg.cic in core.releasing


def test_q764_an_unknown_message_type_is_cfn_97_and_the_call_goes_on() -> None:
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    out = _undecodable(core, bytes([iam_msg.cic, 0, 0x99]), 0.5)
    [confusion] = isup(out)
    assert confusion.type == MessageType.CFN and confusion.params["cause"].value == 97
    assert confusion.params["cause"].diagnostic == b"\x99" and core.by_cic[iam_msg.cic].state == "iam_sent"
    assert core.stats["isup_malformed"] == 1
