"""The sans-IO Diameter peer (RFC 6733 §5.6, RFC 3539) with a fake clock."""

from __future__ import annotations

from ims.diameter import cx
from ims.diameter.codec import RESULT_CODE, DiameterMessage, avp
from ims.diameter.constants import CMD_CE, CMD_DP, CMD_DW, CMD_UA, DIAMETER_NO_COMMON_APPLICATION, DIAMETER_SUCCESS
from ims.diameter.peer import (
    AnswerIn, CloseConnection, LocalIdentity, Peer, PeerDown, PeerUp, RequestIn, RequestTimedOut, SendBytes,
)

A = LocalIdentity("a.example.net", "example.net")
B = LocalIdentity("b.example.net", "example.net")


def pipe(src: Peer, dst: Peer, actions: list, now: float) -> list:  # type: ignore[type-arg]
    """Deliver src's SendBytes to dst; return what dst did."""
    out = []
    for a in actions:
        if isinstance(a, SendBytes):
            out.extend(dst.receive_data(a.data, now))
    return out


def open_pair(tw: float = 30.0) -> tuple[Peer, Peer]:
    a, b = Peer(A, initiator=True, tw=tw), Peer(B, initiator=False, tw=tw)
    b_out = pipe(a, b, a.connected(0.0), 0.0)
    assert any(isinstance(x, PeerUp) for x in b_out)
    a_out = pipe(b, a, b_out, 0.0)
    assert any(isinstance(x, PeerUp) for x in a_out) and a.state == b.state == "open"
    return a, b


def test_5_3_cer_cea_opens_both_sides() -> None:
    a, b = open_pair()
    assert a.remote_host == "b.example.net" and b.remote_host == "a.example.net"
    assert a.common_apps == (16777216,)


def test_5_3_no_common_application_5010() -> None:
    a = Peer(LocalIdentity("a.example.net", "example.net", applications=(16777217,)), initiator=True)
    b = Peer(B, initiator=False)
    b_out = pipe(a, b, a.connected(0.0), 0.0)
    cea = next(x.message for x in b_out if isinstance(x, SendBytes))
    assert cea.result_code == DIAMETER_NO_COMMON_APPLICATION
    assert any(isinstance(x, CloseConnection) for x in b_out)
    assert any(isinstance(x, PeerDown) for x in pipe(b, a, b_out, 0.0))


def test_request_answer_matched_by_hop_by_hop() -> None:
    a, b = open_pair()
    req = cx.request(CMD_UA, "a.example.net", "example.net", "example.net", cx.user_name("u@example.net"))
    delivered = pipe(a, b, a.send_request(req, 1.0), 1.0)
    (rin,) = [x for x in delivered if isinstance(x, RequestIn)]
    ans = cx.answer(rin.message, "b.example.net", "example.net", DIAMETER_SUCCESS)
    got = pipe(b, a, b.send_answer(ans), 1.1)
    assert [type(x) for x in got] == [AnswerIn] and got[0].hop_by_hop == req.hop_by_hop
    assert pipe(b, a, b.send_answer(ans), 1.2) == []  # duplicate answer discarded


def test_request_timeout() -> None:
    a, _ = open_pair()
    a.send_request(cx.request(CMD_UA, "a.example.net", "example.net", "example.net"), 0.0)
    assert any(isinstance(x, RequestTimedOut) for x in a.handle_timers(a.request_timeout + 0.1))


def test_rfc3539_watchdog_dwr_then_failover_without_dwa() -> None:
    a, b = open_pair(tw=6.0)
    dwr = a.handle_timers(6.0)
    assert [x.message.command_code for x in dwr if isinstance(x, SendBytes)] == [CMD_DW]
    dwa = pipe(a, b, dwr, 6.0)
    assert [x.message.command_code for x in dwa if isinstance(x, SendBytes)] == [CMD_DW]
    pipe(b, a, dwa, 6.1)  # answered: stays open
    assert a.state == "open"
    a.handle_timers(12.2)  # next DWR; this one is never answered
    out = a.handle_timers(18.3)
    assert any(isinstance(x, CloseConnection) for x in out) and a.state == "closed"


def test_5_4_dpr_dpa() -> None:
    a, b = open_pair()
    dpr = a.disconnect(1.0)
    b_out = pipe(a, b, dpr, 1.0)
    assert any(isinstance(x, PeerDown) for x in b_out)
    a_out = pipe(b, a, b_out, 1.0)
    assert any(isinstance(x, CloseConnection) for x in a_out) and a.state == "closed"


def test_malformed_request_gets_an_error_answer_not_a_crash() -> None:
    a, b = open_pair()
    req = cx.request(CMD_UA, "a.example.net", "example.net", "example.net").to_bytes()
    broken = req[:20] + b"\x00\x00\x01\x07\x40\x00\x00\x03"  # an AVP with length 3
    broken = broken[:1] + len(broken).to_bytes(3, "big") + broken[4:]
    out = b.receive_data(broken, 1.0)
    answers = [x.message for x in out if isinstance(x, SendBytes)]
    assert answers and answers[0].result_code is not None and answers[0].result_code >= 3000


def test_bad_length_closes_the_connection() -> None:
    _, b = open_pair()
    out = b.receive_data(b"\x01\x00\x00\x08" + b"\x00" * 16, 1.0)
    assert any(isinstance(x, CloseConnection) for x in out)


def test_codec_round_trip_of_each_cx_command() -> None:
    from ims.diameter.constants import CMD_LI, CMD_MA, CMD_PP, CMD_RT, CMD_SA
    for cmd in (CMD_UA, CMD_MA, CMD_SA, CMD_LI, CMD_RT, CMD_PP):
        req = cx.request(cmd, "a.example.net", "example.net", "example.net", cx.user_name("u@example.net"),
                         cx.public_identity("sip:u@example.net"),
                         cx.auth_data_item(1, cx.SCHEME_AKAV1, authenticate=b"r" * 32, authorization=b"x" * 8))
        back = DiameterMessage.from_bytes(req.to_bytes())
        assert back.command_code == cmd and back.request and cx.auth_items(back)[0].authenticate == b"r" * 32
        ans = cx.answer(back, "b.example.net", "example.net", 2001)
        assert DiameterMessage.from_bytes(ans.to_bytes()).result_code == 2001
    assert DiameterMessage.from_bytes(DiameterMessage(CMD_CE, True, 0, [avp(RESULT_CODE, 1)]).to_bytes()).request
    assert CMD_DP == 282
