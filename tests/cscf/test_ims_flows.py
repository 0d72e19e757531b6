"""Registration and calls through the sans-IO P-, I- and S-CSCF with the real HSS logic (TS 24.229)."""

from __future__ import annotations

from ims.sip.uacore import CallAnswered, CallEnded, CallFailed, IncomingCall, Registered, RegistrationFailed
from ims.sip.uri import parse_uri
from ims.ue.handset import ChallengeAnswered, Deregistered
from tests.cscf.lab import Lab

ALICE = "sip:alice@ims.mnc001.mcc001.3gppnetwork.org"
BOB = "sip:bob@ims.mnc001.mcc001.3gppnetwork.org"


def ue_sent(lab: Lab, port: int, method: str) -> int:
    """Requests ``method`` the handset on ``port`` put on the wire."""
    return sum(1 for src, _, data in lab.wire if src.port == port and src.host == "127.0.1.100"
               and data.startswith(method.encode() + b" "))


def register(lab: Lab, ue) -> None:  # type: ignore[no-untyped-def]
    lab.run(ue.ims_register(lab.now), ue)


def test_aka_registration_end_to_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    assert lab.of("alice", ChallengeAnswered) == [ChallengeAnswered("res")]
    regs = lab.of("alice", Registered)
    assert len(regs) == 1, lab.methods()
    ok = regs[0].response
    assert [str(r) for r in ok.service_routes] == ["<sip:orig@127.0.1.30:5060;lr>"]
    assert [str(p.uri) for p in ok.p_associated_uri] == [ALICE, "tel:+15550001"]
    assert [str(p) for p in ok.paths] == ["<sip:term@127.0.1.40:5060;lr>"]
    assert lab.cx_log[:4] == ["UserAuthorizationRequest", "MultimediaAuthRequest", "UserAuthorizationRequest",
                              "ServerAssignmentRequest"]
    assert alice.registered and alice.reg_sub is not None  # reg event subscribed, NOTIFY answered
    assert lab.pcscf.registrations and lab.scscf.registrations() == 1
    # the 401 the UE saw had no CK/IK and had our Security-Server
    assert "REGISTER" in lab.methods() and "NOTIFY" in lab.methods()


def test_wrong_k_gets_403_after_second_register(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060, k=bytes(16))
    register(lab, alice)
    assert lab.of("alice", ChallengeAnswered) == [ChallengeAnswered("mac-failure")]
    failed = lab.of("alice", RegistrationFailed)
    assert [f.status for f in failed] == [403]
    assert ue_sent(lab, 5060, "REGISTER") == 2


def test_sqn_out_of_range_resyncs_then_registers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060, sqn=0x0000_0100_0000)  # the USIM is far ahead of the HSS
    register(lab, alice)
    assert [c.outcome for c in lab.of("alice", ChallengeAnswered)] == ["sync-failure", "res"]
    assert len(lab.of("alice", Registered)) == 1
    assert ue_sent(lab, 5060, "REGISTER") == 3


def test_md5_registration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    bob = lab.handset("bob", 5062, auth="md5")
    register(lab, bob)
    assert lab.of("bob", ChallengeAnswered) == [ChallengeAnswered("digest")]
    assert len(lab.of("bob", Registered)) == 1


def test_unknown_impu_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    eve = lab.handset("alice", 5064, impu="sip:eve@ims.mnc001.mcc001.3gppnetwork.org")
    register(lab, eve)
    assert [f.status for f in lab.of("alice", RegistrationFailed)] == [403]


def test_call_answer_and_hangup(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    register(lab, alice)
    register(lab, bob)
    call_id, actions = alice.call(parse_uri(BOB), lab.now, sdp=b"v=0\r\n")
    lab.run(actions, alice)
    incoming = lab.of("bob", IncomingCall)
    assert len(incoming) == 1
    inv = incoming[0].request
    assert str(inv.p_asserted_identity[0].uri) == ALICE
    assert "P-Preferred-Identity" not in inv
    assert inv.get("P-Called-Party-ID") == f"<{BOB}>"
    lab.run(bob.ringing(call_id, lab.now), bob)
    lab.run(bob.answer(call_id, lab.now, body=b"v=0\r\n", content_type="application/sdp"), bob)
    assert lab.of("alice", CallAnswered)
    assert lab.of("bob", CallAnswered)
    lab.run(alice.bye(call_id, lab.now), alice)
    assert lab.of("bob", CallEnded) and lab.of("alice", CallEnded)


def test_call_by_tel_uri_uses_enum(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    register(lab, alice)
    register(lab, bob)
    call_id, actions = alice.call(parse_uri("tel:+15550002"), lab.now)
    lab.run(actions, alice)
    assert len(lab.of("bob", IncomingCall)) == 1


def test_call_to_unregistered_user_is_480(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    assert [f.status for f in lab.of("alice", CallFailed)] == [480]


def test_cancel_before_answer_is_487(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    register(lab, alice)
    register(lab, bob)
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    lab.run(bob.ringing(call_id, lab.now), bob)
    lab.run(alice.cancel(call_id, lab.now), alice)
    assert [f.status for f in lab.of("alice", CallFailed)] == [487]
    assert lab.of("bob", CallEnded)[0].reason == "cancelled"


def test_busy_callee_is_486(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    register(lab, alice)
    register(lab, bob)
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    lab.run(bob.reject(call_id, 486, lab.now), bob)
    assert [f.status for f in lab.of("alice", CallFailed)] == [486]


def test_unregistered_ue_request_is_403_at_pcscf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    alice.service_route = ["<sip:orig@127.0.1.30:5060;lr>"]
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    assert [f.status for f in lab.of("alice", CallFailed)] == [403]


def test_deregistration_and_network_initiated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    register(lab, alice)
    register(lab, bob)
    lab.run(alice.ims_deregister(lab.now), alice)
    assert lab.of("alice", Deregistered)[0].by_network is False
    assert not alice.registered and lab.scscf.registrations() == 1
    assert ("127.0.1.100", 5060) not in lab.pcscf.registrations
    # RTR for bob: the S-CSCF NOTIFYs terminated; bob and the P-CSCF drop the registration
    rtr = lab.hss.build_rtr("sip:bob@ims.mnc001.mcc001.3gppnetwork.org", 0, "")
    result, actions = lab.scscf.on_rtr(rtr.request, lab.now)
    lab.run(actions, lab.scscf)
    assert result == 2001
    assert lab.of("bob", Deregistered)[0].by_network is True
    assert ("127.0.1.100", 5062) not in lab.pcscf.registrations
