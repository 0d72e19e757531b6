"""Registration and calls through the sans-IO P-, I- and S-CSCF with the real HSS logic (TS 24.229)."""

from __future__ import annotations

from ims.sip.uacore import CallAnswered, CallEnded, CallFailed, IncomingCall, Registered, RegistrationFailed
from ims.sip.message import parse_message
from ims.sip.uri import parse_uri
from ims.ue.handset import ChallengeAnswered, Deregistered
from tests.cscf.lab import Lab

ALICE = "sip:alice@ims.mnc001.mcc001.3gppnetwork.org"
BOB = "sip:bob@ims.mnc001.mcc001.3gppnetwork.org"


def ue_sent(lab: Lab, port: int, method: str) -> int:
    """Requests ``method`` the handset on ``port`` put on the wire."""
    return sum(1 for src, _, data in lab.wire if src.port == port and src.host == "127.0.1.100"
               and data.startswith(method.encode() + b" "))


def alice_and_bob(lab: Lab):  # type: ignore[no-untyped-def]
    """Both handsets of volte-basic, registered."""
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    register(lab, alice)
    register(lab, bob)
    return alice, bob


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
    alice, bob = alice_and_bob(lab)
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
    alice, bob = alice_and_bob(lab)
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
    alice, bob = alice_and_bob(lab)
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    lab.run(bob.ringing(call_id, lab.now), bob)
    lab.run(alice.cancel(call_id, lab.now), alice)
    assert [f.status for f in lab.of("alice", CallFailed)] == [487]
    assert lab.of("bob", CallEnded)[0].reason == "cancelled"


def test_busy_callee_is_486(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = alice_and_bob(lab)
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
    alice, bob = alice_and_bob(lab)
    lab.run(alice.ims_deregister(lab.now), alice)
    assert lab.of("alice", Deregistered)[0].by_network is False
    assert not alice.registered and lab.scscf.registrations() == 1
    assert ("127.0.1.100", 5060) not in lab.pcscf.registrations
    assert ("127.0.1.100", 5060) not in lab.pcscf._offered and ("127.0.1.100", 5062) in lab.pcscf._offered
    # RTR for bob: the S-CSCF NOTIFYs terminated; bob and the P-CSCF drop the registration
    rtr = lab.hss.build_rtr("sip:bob@ims.mnc001.mcc001.3gppnetwork.org", 0, "")
    result, actions = lab.scscf.on_rtr(rtr.request, lab.now)
    lab.run(actions, lab.scscf)
    assert result == 2001
    assert lab.of("bob", Deregistered)[0].by_network is True
    assert ("127.0.1.100", 5062) not in lab.pcscf.registrations


def test_pcscf_security_agreement_and_ck_ik_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    to_ue = [parse_message(d) for s, dst, d in lab.wire if dst.port == 5060 and dst.host == "127.0.1.100"]
    challenge = next(m for m in to_ue if getattr(m, "status", 0) == 401)
    www = challenge.get("WWW-Authenticate") or ""
    assert "ck=" not in www and "ik=" not in www and "AKAv1-MD5" in www  # TS 33.203 §7.1
    server = challenge.get("Security-Server") or ""
    assert server.startswith("ipsec-3gpp;") and "spi-c=" in server and "port-s=5060" in server
    # the protected REGISTER repeated it as Security-Verify; the I-CSCF saw no sec-agree headers
    to_icscf = [parse_message(d) for s, dst, d in lab.wire if dst.host == "127.0.1.20" and d.startswith(b"REGISTER")]
    assert all("Security-Verify" not in m and "Security-Client" not in m for m in to_icscf)
    assert 'integrity-protected="yes"' in (to_icscf[-1].get("Authorization") or "")
    assert 'integrity-protected="no"' in (to_icscf[0].get("Authorization") or "")
    assert to_icscf[0].get("Path") == "<sip:term@127.0.1.40:5060;lr>"


def test_security_verify_mismatch_is_494(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    from ims.sip.events import Address, SendMessage

    _, actions = alice.call(parse_uri(BOB), lab.now)
    inv = next(a.message for a in actions if isinstance(a, SendMessage))
    inv.set("Security-Verify", "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2;port-c=1;port-s=2")  # not ours
    out = lab.pcscf.receive(parse_message(inv.to_bytes()), Address("127.0.1.100", 5060), lab.now)
    assert [a.message.status for a in out if isinstance(a, SendMessage)] == [494]
    inv.set("Security-Verify", alice.security_server or "")  # the right one passes
    out = lab.pcscf.receive(parse_message(inv.to_bytes().replace(b"branch=", b"branch=x")),
                            Address("127.0.1.100", 5060), lab.now)
    assert 494 not in [getattr(a.message, "status", 0) for a in out if isinstance(a, SendMessage)]


def test_pcscf_asserts_identity_and_strips_ue_assertions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice, bob = alice_and_bob(lab)
    # the UE claims another identity in P-Asserted-Identity (ignored) and prefers its tel URI (honoured)
    call_id, actions = alice.invite(parse_uri(BOB), lab.now, extra_headers=[
        *alice._route_headers(), ("P-Asserted-Identity", f"<{BOB}>"), ("P-Preferred-Identity", "<tel:+15550001>")])
    lab.run(actions, alice)
    inv = lab.of("bob", IncomingCall)[0].request
    assert [str(p.uri) for p in inv.p_asserted_identity] == ["tel:+15550001"]
    assert (inv.get("P-Charging-Vector") or "").startswith('icid-value="')


def test_forking_to_two_registered_contacts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    bob1, bob2 = lab.handset("bob", 5062), lab.handset("bob", 5064)
    for ue in (alice, bob1, bob2):
        register(lab, ue)
    assert len(lab.scscf._record(BOB).bindings) == 2
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    ringing = [e for n, e in lab.events if n == "bob" and isinstance(e, IncomingCall)]
    assert len(ringing) == 2  # both handsets of bob ring (parallel forking)
    lab.run(bob2.ringing(call_id, lab.now), bob2)
    lab.run(bob1.ringing(call_id, lab.now), bob1)
    lab.run(bob2.answer(call_id, lab.now), bob2)
    assert lab.of("alice", CallAnswered)
    ended = [e for n, e in lab.events if n == "bob" and isinstance(e, CallEnded)]
    assert [e.reason for e in ended] == ["cancelled"]  # the other fork was CANCELled (§16.7 item 10)


def test_ifc_routes_through_an_application_server_and_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ims.diameter.userdata import Ifc
    from ims.sip.events import Address
    from ims.sip.proxy import Forward, ProxyCore, Target

    lab = Lab(tmp_path)
    as_core = ProxyCore(local=Address("127.0.1.50", 5060), domain="as.example",
                        route=lambda req: Forward([Target(req.uri)]))
    lab.add("as", Address("127.0.1.50", 5060), as_core)
    alice, bob = alice_and_bob(lab)
    lab.scscf._record(ALICE).ifcs = [Ifc(0, "sip:127.0.1.50:5060", method="INVITE", session_case=0)]
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    hops = [(s.host, dst.host) for s, dst, d in lab.wire if d.startswith(b"INVITE")]
    assert ("127.0.1.30", "127.0.1.50") in hops and ("127.0.1.50", "127.0.1.30") in hops  # ISC out and back
    assert len(lab.of("bob", IncomingCall)) == 1
    assert lab.scscf.counters["ifc_matches"] == 1


def test_reregistration_refreshes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    register(lab, alice)
    assert len(lab.of("alice", Registered)) == 2
    assert lab.cx_log.count("ServerAssignmentRequest") == 2
    assert alice.registered and lab.scscf.registrations() == 1


def test_registration_expiry_notifies_terminated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    lab.run(alice.ims_register(lab.now, expires=60), alice)
    assert alice.registered
    alice._refresh_at = None  # this handset forgets to re-register
    lab.advance(62, step=1.0)
    assert lab.scscf.registrations() == 0
    assert lab.of("alice", Deregistered) and lab.of("alice", Deregistered)[0].by_network
    assert lab.cx_log[-1] == "ServerAssignmentRequest"  # TIMEOUT_DEREGISTRATION


def test_handset_reregisters_before_expiry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    lab.run(alice.ims_register(lab.now, expires=60), alice)
    lab.advance(45, step=1.0)
    assert len(lab.of("alice", Registered)) == 2  # at half of the 60 s (§5.1.1.4.1)
    assert lab.scscf.registrations() == 1


def test_hss_unreachable_gives_480_at_icscf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    lab.hss_down = True
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    assert [f.status for f in lab.of("alice", RegistrationFailed)] == [480]


def test_message_between_handsets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ims.sip.uacore import MessageReceived
    from ims.ue.handset import MessageDelivered

    lab = Lab(tmp_path)
    alice, bob = alice_and_bob(lab)
    call_id, actions = alice.message(parse_uri(BOB), "hello bob", lab.now)
    lab.run(actions, alice)
    assert lab.of("alice", MessageDelivered) == [MessageDelivered(call_id, 200)]
    assert lab.of("bob", MessageReceived)[0].request.body == b"hello bob"


def test_ppr_replaces_the_profile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ims.diameter import cx
    from ims.diameter.userdata import Ifc, UserData, build_user_data

    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    impi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
    xml = build_user_data(UserData(impi, [ALICE, "tel:+15550001"], [Ifc(1, "sip:as.example", method="MESSAGE")]))
    assert lab.scscf.on_ppr(cx.PushProfileRequest(user_name=impi, user_data=xml), lab.now) == 2001
    assert [i.server for i in lab.scscf._record(ALICE).ifcs] == ["sip:as.example"]


def _stub(lab: Lab, name: str, host: str, status: int) -> list:  # type: ignore[type-arg]
    """A node at ``host`` that answers every request ``status`` and records what it got."""
    from ims.sip.events import Address
    from ims.sip.proxy import ProxyCore, Reject

    seen: list = []  # type: ignore[type-arg]

    def answer(req, source, now):  # type: ignore[no-untyped-def]
        seen.append(req)
        return Reject(status)

    lab.add(name, Address(host, 5060), ProxyCore(local=Address(host, 5060), domain="x.invalid",
                                                  route=lambda req: Reject(500), prepare=answer))
    return seen


def test_unknown_number_goes_to_the_bgcf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ims.sip.events import Address

    lab = Lab(tmp_path)
    lab.scscf.config.bgcf = Address("127.0.1.60", 5060)
    seen = _stub(lab, "bgcf", "127.0.1.60", 404)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    call_id, actions = alice.call(parse_uri("tel:+4930123456"), lab.now)
    lab.run(actions, alice)
    assert len(seen) == 1 and str(seen[0].uri) == "tel:+4930123456"  # no ENUM entry: breakout (§5.4.3.2)
    assert [f.status for f in lab.of("alice", CallFailed)] == [404]


def test_unknown_number_without_bgcf_is_404(tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    call_id, actions = alice.call(parse_uri("tel:+4930123456"), lab.now)
    lab.run(actions, alice)
    assert [f.status for f in lab.of("alice", CallFailed)] == [404]


def test_unregistered_callee_with_services_goes_to_its_as(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """LIA 2003 (unregistered service): the S-CSCF takes the profile (SAR UNREGISTERED_USER) and runs the
    terminating-unregistered iFC, e.g. to a voicemail AS (TS 29.228 §6.1.4, TS 24.229 §5.4.3.3)."""
    lab = Lab(tmp_path)
    lab.store.set_service_profile("voicemail", [{"priority": 1, "server": "sip:127.0.1.61:5060",
                                                 "trigger": {"method": "INVITE",
                                                             "session_case": "terminating_unregistered"}}])
    lab.store.set_subscriber_profile(BOB, "voicemail")
    seen = _stub(lab, "voicemail", "127.0.1.61", 486)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    call_id, actions = alice.call(parse_uri(BOB), lab.now)
    lab.run(actions, alice)
    assert "LocationInfoRequest" in lab.cx_log
    assert lab.cx_log[-1] == "ServerAssignmentRequest"  # UNREGISTERED_USER
    assert len(seen) == 1
    assert [f.status for f in lab.of("alice", CallFailed)] == [486]


def test_preconditions_183_prack_update_then_alerting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """RFC 3262/3311/3312 through the CSCFs: reliable 183 (Require: 100rel, RSeq), PRACK (RAck),
    UPDATE with the caller's reserved QoS and its 200 with the callee's, then 180 and 200."""
    from ims.sip.uacore import CallProgress, PrackReceived, UpdateAnswered, UpdateReceived
    from ims.ue import sdp

    lab = Lab(tmp_path)
    alice, bob = alice_and_bob(lab)
    bob.answer_sdp = lambda call_id, req: sdp.answer(req.body, "127.0.1.100", 4002, qos_state=("sendrecv", "sendrecv"))
    offer = sdp.offer("127.0.1.100", 4000, qos_state=("none", "none"))
    call_id, actions = alice.call(parse_uri(BOB), lab.now, sdp=offer, preconditions=True)
    lab.run(actions, alice)
    inv = lab.of("bob", IncomingCall)[0].request
    assert "precondition" in inv.require and "100rel" in inv.supported
    answer = sdp.answer(inv.body, "127.0.1.100", 4002, qos_state=("none", "none"), confirm=True)
    lab.run(bob.provisional(call_id, lab.now, 183, reliable=True, body=answer, content_type="application/sdp"), bob)
    progress = [e for e in lab.of("alice", CallProgress) if e.status == 183]
    assert progress and progress[0].reliable
    assert progress[0].response.get("RSeq") == "1" and "100rel" in progress[0].response.require
    pracks = lab.of("bob", PrackReceived)
    assert len(pracks) == 1 and pracks[0].request.get("RAck") == "1 1 INVITE"
    lab.run(alice.update(call_id, lab.now, body=sdp.offer("127.0.1.100", 4000, qos_state=("sendrecv", "none"))), alice)
    assert sdp.qos_state(lab.of("bob", UpdateReceived)[0].request.body) == {"local": "sendrecv", "remote": "none"}
    answered = lab.of("alice", UpdateAnswered)
    assert answered[0].status == 200 and sdp.qos_state(answered[0].response.body)["local"] == "sendrecv"
    lab.run(bob.ringing(call_id, lab.now), bob)
    lab.run(bob.answer(call_id, lab.now), bob)
    assert lab.of("alice", CallAnswered) and lab.of("bob", CallAnswered)
    lab.run(alice.bye(call_id, lab.now), alice)
    assert lab.of("bob", CallEnded)


def test_reliable_183_is_retransmitted_until_prack_and_given_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """RFC 3262 §3: retransmitted at T1, 2*T1... while no PRACK comes; 500 after 64*T1."""
    from ims.sip.uacore import CallFailed

    lab = Lab(tmp_path)
    alice, bob = alice_and_bob(lab)
    call_id, actions = alice.call(parse_uri(BOB), lab.now, preconditions=True)
    lab.run(actions, alice)
    lab.drop = lambda data: data.startswith(b"PRACK")  # every PRACK is lost
    lab.run(bob.provisional(call_id, lab.now, 183, reliable=True), bob)
    lab.advance(3.6, step=0.1)
    sent = sum(1 for s, d, data in lab.wire if s.port == 5062 and data.startswith(b"SIP/2.0 183"))
    assert sent == 4  # at 0, 0.5, 1.5 and 3.5 s
    lab.advance(36.5, step=0.5)  # the retransmission at 35.5 s is past 64*T1: give up
    assert [f.status for f in lab.of("alice", CallFailed)] == [500]
    assert lab.of("bob", CallEnded)[0].reason == "no-prack"


def test_reregistration_after_a_failed_one_sets_up_a_new_security_agreement(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """TS 33.203 §7.4: a re-registration that failed (HSS unreachable) leaves the P-CSCF with the old
    registration; the handset starts again unprotected and the Security-Verify it then sends is the
    P-CSCF's new offer, which must be accepted (it was answered 494 forever; found by `make chaos`)."""
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    register(lab, alice)
    lab.hss_down = True
    register(lab, alice)
    assert [f.status for f in lab.of("alice", RegistrationFailed)] != []
    lab.hss_down = False
    register(lab, alice)
    assert len(lab.of("alice", Registered)) == 2, [f.status for f in lab.of("alice", RegistrationFailed)]
    assert alice.registered
