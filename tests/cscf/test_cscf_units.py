"""Unit tests of the CSCF building blocks: reginfo, iFC matching, S-CSCF selection, parked requests."""

from __future__ import annotations

import pytest

from ims.cscf.icscf import ScscfEntry, select_scscf
from ims.cscf.ifc import ORIGINATING, TERMINATING_REGISTERED, first_match, matches
from ims.cscf.reginfo import ContactInfo, Reginfo, ReginfoError, RegistrationInfo
from ims.diameter.userdata import Ifc
from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, parse_message
from ims.sip.proxy import Defer, Forward, ProxyCore, Target
from ims.sip.uri import SipURI

INVITE = (b"INVITE sip:bob@ims.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
          b"From: <sip:alice@ims.example>;tag=a\r\nTo: <sip:bob@ims.example>\r\nCall-ID: c1\r\n"
          b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:alice@10.0.0.1>\r\n"
          b"Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"\r\n"
          b"Content-Type: application/sdp\r\nContent-Length: 29\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n")


def invite() -> Request:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    return msg


# -- reginfo (RFC 3680) ------------------------------------------------------------------
def test_reginfo_round_trip() -> None:
    doc = Reginfo(3, "full", [RegistrationInfo("sip:alice@ims.example", "active", contacts=(
        ContactInfo("sip:alice@10.0.0.1:5060", "active", "registered", expires=600),))])
    back = Reginfo.from_xml(doc.to_xml())
    assert back.version == 3 and back.state == "full"
    assert back.registrations[0].aor == "sip:alice@ims.example"
    assert back.registrations[0].contacts[0].uri == "sip:alice@10.0.0.1:5060"
    assert back.registrations[0].contacts[0].expires == 600
    assert back.state_of("sip:alice@ims.example") == "active"
    assert b'xmlns="urn:ietf:params:xml:ns:reginfo"' in doc.to_xml()


@pytest.mark.parametrize("body, fault", [
    (b"<reginfo", "not XML"),
    (b"<other/>", "not reginfo"),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" state="full"/>', "version"),
    (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0"><registration id="x"/></reginfo>', "aor"),
])
def test_reginfo_errors_name_the_fault(body: bytes, fault: str) -> None:
    with pytest.raises(ReginfoError, match=fault):
        Reginfo.from_xml(body)


# -- iFC (TS 29.228 Annex B) ------------------------------------------------------------
def test_ifc_spts_are_anded() -> None:
    req = invite()
    assert matches(Ifc(0, "as", method="INVITE"), req, ORIGINATING)
    assert not matches(Ifc(0, "as", method="MESSAGE"), req, ORIGINATING)
    assert matches(Ifc(0, "as", method="INVITE", session_case=ORIGINATING), req, ORIGINATING)
    assert not matches(Ifc(0, "as", method="INVITE", session_case=ORIGINATING), req, TERMINATING_REGISTERED)
    assert matches(Ifc(0, "as", request_uri=r"^sip:bob@"), req, ORIGINATING)
    assert not matches(Ifc(0, "as", request_uri=r"^tel:"), req, ORIGINATING)
    assert matches(Ifc(0, "as", header="Accept-Contact", header_content="mmtel"), req, ORIGINATING)
    assert not matches(Ifc(0, "as", header="Accept-Contact", header_content="smsip"), req, ORIGINATING)
    assert not matches(Ifc(0, "as", header="P-Served-User"), req, ORIGINATING)
    assert matches(Ifc(0, "as", sdp_line="m", sdp_content="audio"), req, ORIGINATING)
    assert not matches(Ifc(0, "as", sdp_line="m", sdp_content="video"), req, ORIGINATING)


def test_ifc_priority_order_and_continuation() -> None:
    ifcs = [Ifc(20, "late", method="INVITE"), Ifc(10, "early", method="INVITE"), Ifc(5, "msg", method="MESSAGE")]
    req = invite()
    first = first_match(ifcs, req, ORIGINATING)
    assert first is not None and first.server == "early"
    after = first_match(ifcs, req, ORIGINATING, after=first.priority)
    assert after is not None and after.server == "late"
    assert first_match(ifcs, req, ORIGINATING, after=20) is None


# -- S-CSCF selection (TS 29.228 §6.7) ----------------------------------------------------
SCSCFS = [ScscfEntry("sip:a:5060", Address("a", 5060), frozenset({1}), frozenset({2})),
          ScscfEntry("sip:b:5060", Address("b", 5060), frozenset({1, 3}), frozenset({2, 4}))]


def test_select_scscf_by_name_then_capabilities() -> None:
    assert select_scscf(SCSCFS, (), (), ("sip:b:5060",)).name == "sip:b:5060"  # type: ignore[union-attr]
    assert select_scscf(SCSCFS, (1,), (), ()).name == "sip:a:5060"  # type: ignore[union-attr]
    assert select_scscf(SCSCFS, (1,), (4,), ()).name == "sip:b:5060"  # type: ignore[union-attr]
    assert select_scscf(SCSCFS, (3,), (), ()).name == "sip:b:5060"  # type: ignore[union-attr]
    assert select_scscf(SCSCFS, (9,), (), ()) is None
    assert select_scscf(SCSCFS, (1,), (), (), exclude={"sip:a:5060"}).name == "sip:b:5060"  # type: ignore[union-attr]


# -- parked requests (ProxyCore Defer) --------------------------------------------------------
def _proxy(started: list) -> ProxyCore:  # type: ignore[type-arg]
    return ProxyCore(local=Address("10.0.0.9", 5060), domain="ims.example",
                     route=lambda req: Defer(started.append))


def test_parked_invite_gets_100_then_forwarded_on_resume() -> None:
    started: list = []  # type: ignore[type-arg]
    core = _proxy(started)
    out = core.receive(invite(), Address("10.0.0.1", 5060), 0.0)
    assert [a.message.status for a in out if isinstance(a, SendMessage)] == [100]
    assert len(started) == 1 and core.parked() == 1
    out = core.resume(started[0], Forward([Target(SipURI.parse("sip:bob@10.0.0.2"))]), 0.1)
    sent = [a.message for a in out if isinstance(a, SendMessage)]
    assert len(sent) == 1 and isinstance(sent[0], Request) and str(sent[0].uri) == "sip:bob@10.0.0.2"
    assert core.parked() == 0


def test_cancel_while_parked_answers_487_and_resume_does_nothing() -> None:
    started: list = []  # type: ignore[type-arg]
    core = _proxy(started)
    core.receive(invite(), Address("10.0.0.1", 5060), 0.0)
    cancel = parse_message(INVITE.replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL"))
    out = core.receive(cancel, Address("10.0.0.1", 5060), 0.1)
    statuses = sorted(a.message.status for a in out if isinstance(a, SendMessage))
    assert statuses == [200, 487]
    assert core.resume(started[0], Forward([Target(SipURI.parse("sip:bob@10.0.0.2"))]), 0.2) == []


# -- P-CSCF: several registrations from one contact (TS 24.229 §5.2.2, §5.2.6.3.1) -----------------
def test_pcscf_picks_the_registration_by_preferred_identity_then_from_then_oldest() -> None:
    from ims.cscf.pcscf import Pcscf, PcscfConfig, UeRegistration

    p = Pcscf(PcscfConfig("ims.example", "10.0.0.9", 5060, Address("10.0.0.8", 5060)))
    contact = ("10.0.0.1", 5060)
    for user, tel in (("carol", "tel:+15553"), ("alice", "tel:+15551")):  # carol registered first
        p.registrations.setdefault(contact, {})[f"sip:{user}@ims.example"] = UeRegistration(
            contact, f"sip:{user}@ims.example", [f"sip:{user}@ims.example", tel], [], expires_at=100.0)
    source = Address(*contact)
    req = invite()  # From alice
    assert p._ue_of(req, source, 0.0).aor == "sip:alice@ims.example"
    req.add("P-Preferred-Identity", "<tel:+15553>")  # carol's tel URI outranks the From
    assert p._ue_of(req, source, 0.0).aor == "sip:carol@ims.example"
    req.remove("P-Preferred-Identity")
    req.remove("From")
    req.add("From", "<sip:mallory@ims.example>;tag=m")  # nobody registered here: the oldest
    assert p._ue_of(req, source, 0.0).aor == "sip:carol@ims.example"
    assert p._ue_of(req, source, 200.0) is None  # all expired
    p.registrations[contact]["sip:carol@ims.example"].expires_at = 50.0
    assert p._ue_of(req, source, 60.0).aor == "sip:alice@ims.example"  # the only live one
