"""The MGCF call control (ims.isup.mgcf) with a fake clock: SIP in/out, ISUP in/out, IM-MGW requests answered here.

TS 29.163 §7.2.3 and ITU-T Q.1912.5 mappings, Q.764 release procedures.
"""

from __future__ import annotations

from typing import Any

from ims.isup.messages import MessageType, acm, anm, decode, rel, rlc
from ims.isup.mgcf import Mgcf, MgcfConfig, MgwOp, SendIsup
from ims.isup.sipi import split_sipi_body
from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, Response, build_response, parse_message
from ims.ue import sdp as policy

MGCF = Address("127.0.9.60", 5060)
BGCF = Address("127.0.9.50", 5060)
ICSCF = Address("127.0.9.20", 5060)
UE_SDP = policy.offer("127.0.9.100", 40000, 1234, codecs=("AMR-WB", "PCMU", "PCMA"))


def mgcf() -> Mgcf:
    return Mgcf(MgcfConfig("ims.example.org", MGCF.host, MGCF.port, ICSCF, opc=100, dpc=200, circuits=8,
                           country_code="1", mgw_host="127.0.9.70", mgw_trunk_base=31000, pstn_host="127.0.9.80",
                           pstn_trunk_base=32000))


def invite(number: str = "+12125550100", *, body: bytes = UE_SDP, extra: str = "") -> Request:
    msg = parse_message((
        f"INVITE tel:{number} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.9.50:5060;branch=z9hG4bKmg1\r\n"
        "Max-Forwards: 66\r\nFrom: <sip:alice@ims.example.org>;tag=a1\r\n"
        f"To: <tel:{number}>\r\nCall-ID: mg1@x\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.9.100:5060>\r\n"
        "P-Asserted-Identity: <sip:alice@ims.example.org>\r\nP-Asserted-Identity: <tel:+15550001>\r\n"
        f"{extra}Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    assert isinstance(msg, Request)
    return msg


def mgw_result(op: MgwOp) -> dict[str, Any]:
    ims = {"context_id": "c1", "termination_id": "t1", "local_address": "127.0.9.70", "local_port": 30000,
           "srtp_local_key": b""}
    tdm = {"context_id": "c1", "termination_id": "t2", "local_address": "127.0.9.70",
           "local_port": op.args["tdm"]["local_port"], "srtp_local_key": b""}
    return {"context": "c1", "ims": ims, "tdm": tdm}


def run(core: Mgcf, actions: list[Any], now: float = 0.0) -> list[Any]:
    """Answer every MgwOp at once (as the driver does) and return everything else."""
    out: list[Any] = []
    for a in actions:
        if isinstance(a, MgwOp):
            out += run(core, a.done(mgw_result(a) if a.op == "setup" else {}, "", now), now)
        else:
            out.append(a)
    return out


def isup(actions: list[Any]) -> list[Any]:
    return [a.msg for a in actions if isinstance(a, SendIsup)]


def responses(actions: list[Any]) -> list[Response]:
    return [a.message for a in actions if isinstance(a, SendMessage) and isinstance(a.message, Response)]


def requests(actions: list[Any]) -> list[Request]:
    return [a.message for a in actions if isinstance(a, SendMessage) and isinstance(a.message, Request)]


def test_o_mgcf_invite_iam_acm_180_anm_200_with_the_gateway_in_the_sdp() -> None:
    core = mgcf()
    out = run(core, core.receive(invite(), BGCF, 0.0))
    [iam_msg] = isup(out)
    assert iam_msg.type == MessageType.IAM and iam_msg.cic % 2 == 1  # the lower point code takes odd circuits
    assert iam_msg.params["called_party_number"].digits.rstrip("F") == "12125550100"
    assert iam_msg.params["called_party_number"].nature_of_address == 4
    assert iam_msg.params["calling_party_number"].digits == "15550001"  # from the tel P-Asserted-Identity
    out = core.isup_received(acm(iam_msg.cic), 0.5)
    assert [r.status for r in responses(out)] == [180]
    out = core.isup_received(anm(iam_msg.cic), 2.0)
    [ok] = responses(out)
    assert ok.status == 200 and b"c=IN IP4 127.0.9.70" in ok.body and b"m=audio 30000 RTP/AVP 0" in ok.body
    sdp, isup_part = split_sipi_body(ok.body, ok.get("content-type") or "")  # SIP-T: the ANM rides along
    assert sdp is not None and b"m=audio 30000" in sdp and decode(isup_part, with_cic=False).type == MessageType.ANM
    assert core.stats["answered"] == 1


def test_o_mgcf_busy_line_rel_17_is_486_and_rlc() -> None:
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    out = core.isup_received(rel(iam_msg.cic, 17), 0.3)
    assert [r.status for r in responses(out) if r.status >= 200] == [486]
    assert [m.type for m in isup(out)] == [MessageType.RLC]
    assert any(isinstance(a, MgwOp) and a.op == "release" for a in out)
    assert not core.calls and not core.by_cic


def test_o_mgcf_unallocated_number_is_404() -> None:
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    out = core.isup_received(rel(iam_msg.cic, 1), 0.3)
    assert [r.status for r in responses(out) if r.status >= 200] == [404]


def test_q764_release_collision_our_rel_crosses_theirs() -> None:
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    call = core.by_cic[iam_msg.cic]
    out = core._release_circuit(call, 16, 1.0)  # as after a BYE/CANCEL from the IMS
    assert [m.type for m in isup(out)] == [MessageType.REL] and iam_msg.cic in core.releasing
    out = core.isup_received(rel(iam_msg.cic, 16), 1.1)  # theirs crosses ours
    assert [m.type for m in isup(out)] == [MessageType.RLC] and iam_msg.cic not in core.releasing
    assert core.isup_received(rlc(iam_msg.cic), 1.2) == []  # the late RLC to our REL changes nothing
    assert core._free_cic() == 1


def test_t7_no_acm_releases_with_cause_102() -> None:
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    out = core.handle_timers(21.0)
    assert [r.status for r in responses(out) if r.status >= 200] == [504]
    assert [(m.type, m.params["cause"].value) for m in isup(out)] == [(MessageType.REL, 102)]


def _nth_invite(i: int) -> Request:
    text = invite().to_bytes().replace(b"mg1@x", f"mgc{i}@x".encode()).replace(b"z9hG4bKmg1", f"z9hG4bKc{i}".encode())
    msg = parse_message(text)
    assert isinstance(msg, Request)
    return msg


def test_no_circuit_left_is_503() -> None:
    core = mgcf()
    for i in range(4):  # four calls take the odd circuits of eight: 1, 3, 5, 7
        run(core, core.receive(_nth_invite(i), BGCF, 0.0))
    assert sorted(core.by_cic) == [1, 3, 5, 7]
    out = run(core, core.receive(_nth_invite(9), BGCF, 0.0))
    assert [r.status for r in responses(out) if r.status >= 200] == [503] and core.stats["no_circuit"] == 1


def test_i_mgcf_iam_becomes_an_invite_with_the_isup_inside_then_acm_anm() -> None:
    from ims.isup.messages import iam

    core = mgcf()
    out = run(core, core.isup_received(iam(2, "15550001", "12125550100", complete=True), 0.0))
    [inv] = requests(out)
    assert inv.method == "INVITE" and str(inv.uri) == "tel:+15550001"
    assert inv.get("p-asserted-identity") == "<tel:+12125550100>" and "precondition" in inv.require
    sdp, isup_part = split_sipi_body(inv.body, inv.get("content-type") or "")
    assert sdp is not None and b"m=audio 30000 RTP/AVP 0 8" in sdp and b"a=curr:qos local none" in sdp
    assert decode(isup_part, with_cic=False).type == MessageType.IAM  # RFC 3204: no CIC in the body
    ringing = build_response(inv, 180, to_tag="ue1")
    ringing.add("Contact", "<sip:bob@127.0.9.100:5061>")
    out = core.receive(ringing, ICSCF, 0.5)
    assert [(m.type, m.params["backward_call_indicators"].called_party_status) for m in isup(out)] == [
        (MessageType.ACM, 1)]
    ok = build_response(inv, 200, to_tag="ue1")
    ok.add("Contact", "<sip:bob@127.0.9.100:5061>")
    out = core.receive(ok, ICSCF, 1.0)
    assert [m.type for m in isup(out)] == [MessageType.ANM]
    assert any(r.method == "ACK" for r in requests(out))


def test_i_mgcf_busy_callee_486_is_rel_17() -> None:
    from ims.isup.messages import iam

    core = mgcf()
    [inv] = requests(run(core, core.isup_received(iam(4, "15550001", None), 0.0)))
    out = core.receive(build_response(inv, 486, to_tag="ue1"), ICSCF, 0.5)
    assert [(m.type, m.params["cause"].value) for m in isup(out)] == [(MessageType.REL, 17)]


def test_i_mgcf_iam_on_a_busy_circuit_is_refused() -> None:
    from ims.isup.messages import iam

    core = mgcf()
    run(core, core.isup_received(iam(4, "15550001", None), 0.0))
    out = core.isup_received(iam(4, "15550002", None), 0.1)
    assert [(m.type, m.params["cause"].value) for m in isup(out)] == [(MessageType.REL, 44)]


def _in_dialog(method: str, ok: Response, cseq: int, branch: str) -> Request:
    to_tag = ok.to.tag
    msg = parse_message((
        f"{method} sip:mgcf@127.0.9.60:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.9.100:5060;branch={branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@ims.example.org>;tag=a1\r\n"
        f"To: <tel:+12125550100>;tag={to_tag}\r\nCall-ID: mg1@x\r\nCSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def test_rel_from_the_pstn_crossing_a_bye_from_the_ue_releases_once() -> None:
    """Q.764 §2.3 / TS 29.163 §7.2.3.1.7: REL -> BYE + RLC; the UE's BYE that crosses ours gets an answer and no
    second REL goes out."""
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    core.isup_received(acm(iam_msg.cic), 0.5)
    [ok] = responses(core.isup_received(anm(iam_msg.cic), 1.0))
    core.receive(_in_dialog("ACK", ok, 1, "z9hG4bKack1"), BGCF, 1.1)
    out = core.isup_received(rel(iam_msg.cic, 16), 2.0)
    assert [r.method for r in requests(out)] == ["BYE"] and [m.type for m in isup(out)] == [MessageType.RLC]
    out = core.receive(_in_dialog("BYE", ok, 2, "z9hG4bKbye1"), BGCF, 2.01)
    assert isup(out) == [] and [r.status for r in responses(out)] in ([200], [481])
    assert not core.calls and not core.by_cic and not core.releasing


def test_bye_from_the_ue_after_answer_is_rel_16_and_the_circuit_waits_for_rlc() -> None:
    core = mgcf()
    [iam_msg] = isup(run(core, core.receive(invite(), BGCF, 0.0)))
    [ok] = responses(core.isup_received(anm(iam_msg.cic), 1.0))  # CON-like: answer without ACM
    core.receive(_in_dialog("ACK", ok, 1, "z9hG4bKack2"), BGCF, 1.1)
    out = core.receive(_in_dialog("BYE", ok, 2, "z9hG4bKbye2"), BGCF, 3.0)
    assert [(m.type, m.params["cause"].value) for m in isup(out)] == [(MessageType.REL, 16)]
    assert iam_msg.cic in core.releasing and core._free_cic() != iam_msg.cic
    core.isup_received(rlc(iam_msg.cic), 3.1)
    assert core._free_cic() == iam_msg.cic  # idle again
