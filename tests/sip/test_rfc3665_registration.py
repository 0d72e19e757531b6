"""RFC 3665 §2 registration flows replayed in memory against the registrar.

The requests are the RFC's own F-messages (reconstructed from the RFC text,
line for line); the registrar's answers are compared with the RFC's responses
field by field where the RFC fixes them (status, Via/From/Call-ID/CSeq echo,
To tag present, the Contact list and its expires).  Values that are the
server's own choice (To tags, nonces) are checked for presence, not value.

RFC 3665 §1 notes that its Digest responses are not real MD5 values, so the
authentication hook used here accepts exactly the (nonce, response) pairs the
RFC shows and challenges everything else with the RFC's WWW-Authenticate.

Every §2 flow is an independent example (each starts its CSeq at 1 on the same
Call-ID), so each test sets up the state its description assumes.
"""

from __future__ import annotations

from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.registrar import Binding, LocationService, Registrar
from ims.sip.uri import SipURI

CALL_ID = "1j9FpLxk3uxtm8tn@biloxi.example.com"
AOR = "sip:bob@biloxi.example.com"  # sips:bob@... is the same address-of-record (§10.3 step 5)
VIA = "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7"
FROM = "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl"
TO = "To: Bob <sips:bob@biloxi.example.com>"


def msg(*lines: str) -> Request:
    m = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(m, Request)
    return m


# §2.1 F1 REGISTER Bob -> SIP Server
F2_1_F1 = ("REGISTER sips:ss2.biloxi.example.com SIP/2.0", VIA, "Max-Forwards: 70", FROM, TO,
           f"Call-ID: {CALL_ID}", "CSeq: 1 REGISTER", "Contact: <sips:bob@client.biloxi.example.com>",
           "Content-Length: 0")
# §2.1 F2 401 Unauthorized: the challenge the server sends
F2_1_F2_CHALLENGE = ('Digest realm="atlanta.example.com", qop="auth", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", '
                     'opaque="", stale=FALSE, algorithm=MD5')
# §2.1 F3 REGISTER Bob -> SIP Server (with credentials)
F2_1_F3 = ("REGISTER sips:ss2.biloxi.example.com SIP/2.0",
           "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92", "Max-Forwards: 70",
           "From: Bob <sips:bob@biloxi.example.com>;tag=ja743ks76zlflH", TO, f"Call-ID: {CALL_ID}",
           "CSeq: 2 REGISTER", "Contact: <sips:bob@client.biloxi.example.com>",
           'Authorization: Digest username="bob", realm="atlanta.example.com", '
           'nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", uri="sips:ss2.biloxi.example.com", '
           'response="dfe56131d1958046689d83306477ecc"',
           "Content-Length: 0")
# §2.2 F1 REGISTER: add a mailto: contact
F2_2_F1 = ("REGISTER sips:ss2.biloxi.example.com SIP/2.0", VIA, "Max-Forwards: 70", FROM, TO,
           f"Call-ID: {CALL_ID}", "CSeq: 1 REGISTER", "Contact: mailto:bob@biloxi.example.com",
           'Authorization: Digest username="bob", realm="atlanta.example.com", qop="auth", '
           'nonce="1cec4341ae6cbe5a359ea9c8e88df84f", opaque="", uri="sips:ss2.biloxi.example.com", '
           'response="71ba27c64bd01de719686aa4590d5824"',
           "Content-Length: 0")
# §2.3 F1 REGISTER: no Contact, a query
F2_3_F1 = ("REGISTER sips:ss2.biloxi.example.com SIP/2.0", VIA, "Max-Forwards: 70", FROM, TO,
           f"Call-ID: {CALL_ID}", "CSeq: 1 REGISTER",
           'Authorization: Digest username="bob", realm="atlanta.example.com", '
           'nonce="df84f1cec4341ae6cbe5ap359a9c8e88", opaque="", uri="sips:ss2.biloxi.example.com", '
           'response="aa7ab4678258377c6f7d4be6087e2f60"',
           "Content-Length: 0")
# §2.4 F1 REGISTER: Expires 0, Contact *
F2_4_F1 = ("REGISTER sips:ss2.biloxi.example.com SIP/2.0", VIA, "Max-Forwards: 70", FROM, TO,
           f"Call-ID: {CALL_ID}", "CSeq: 1 REGISTER", "Expires: 0", "Contact: *",
           'Authorization: Digest username="bob", realm="atlanta.example.com", '
           'nonce="88df84f1cac4341aea9c8ee6cbe5a359", opaque="", uri="sips:ss2.biloxi.example.com", '
           'response="ff0437c51696f9a76244f0cf1dbabbea"',
           "Content-Length: 0")
# §2.5 F3 REGISTER: wrong credentials (the F3 of §2.1 against another nonce)
F2_5_F2_CHALLENGE = ('Digest realm="atlanta.example.com", qop="auth", nonce="f84f1cec41e6cbe5aea9c8e88d359", '
                     'opaque="", stale=FALSE, algorithm=MD5')
F2_5_F3 = ("REGISTER sips:ss2.biloxi.example.com SIP/2.0",
           "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92", "Max-Forwards: 70",
           "From: Bob <sips:bob@biloxi.example.com>;tag=JueHGuidj28dfga", TO, f"Call-ID: {CALL_ID}",
           "CSeq: 2 REGISTER", "Contact: <sips:bob@client.biloxi.example.com>",
           'Authorization: Digest username="bob", realm="atlanta.example.com", '
           'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", uri="sips:ss2.biloxi.example.com", '
           'response="dfe56131d1958046689d83306477ecc"',
           "Content-Length: 0")

# The (nonce, response) pairs RFC 3665 shows as valid for Bob.
VALID = {
    ("ea9c8e88df84f1cec4341ae6cbe5a359", "dfe56131d1958046689d83306477ecc"),  # §2.1 F3
    ("1cec4341ae6cbe5a359ea9c8e88df84f", "71ba27c64bd01de719686aa4590d5824"),  # §2.2 F1
    ("df84f1cec4341ae6cbe5ap359a9c8e88", "aa7ab4678258377c6f7d4be6087e2f60"),  # §2.3 F1
    ("88df84f1cac4341aea9c8ee6cbe5a359", "ff0437c51696f9a76244f0cf1dbabbea"),  # §2.4 F1
}


class Rfc3665Auth:
    """The RFC's digest exchange as a table; challenges carry the RFC's WWW-Authenticate."""

    def __init__(self, challenges: list[str]) -> None:
        self.challenges = list(challenges)
        self.issued: list[str] = []

    def __call__(self, request: Request, now: float) -> Response | None:
        for cred in request.authorization:
            if (cred.get("nonce"), cred.get("response")) in VALID and cred.get("username") == "bob":
                return None
        resp = build_response(request, 401, to_tag="1410948204")
        challenge = self.challenges.pop(0)
        resp.add("WWW-Authenticate", challenge)
        self.issued.append(challenge)
        return resp


def registrar(location: LocationService | None = None, challenges: tuple[str, ...] = (F2_1_F2_CHALLENGE,)) \
        -> tuple[LocationService, Registrar]:
    loc = location or LocationService()
    return loc, Registrar(["ss2.biloxi.example.com", "biloxi.example.com"], loc, default_expires=3600,
                          authenticate=Rfc3665Auth(list(challenges)))


def echoes(request: Request, response: Response) -> None:
    """§8.2.6.2 as the RFC's responses show it: Via, From, Call-ID, CSeq copied; To gets a tag."""
    assert [v.branch for v in response.vias] == [v.branch for v in request.vias]
    assert response.get("from") == request.get("from") and response.call_id == request.call_id
    assert str(response.cseq) == str(request.cseq)
    assert response.to.uri == request.to.uri and response.to.tag


def test_rfc3665_2_1_successful_new_registration() -> None:
    loc, reg = registrar()
    f1 = msg(*F2_1_F1)
    f2 = reg.handle(f1, 0.0)  # F2 401 Unauthorized
    assert f2.status == 401
    echoes(f1, f2)
    (challenge,) = f2.www_authenticate
    assert challenge.get("realm") == "atlanta.example.com" and challenge.get("nonce") == "ea9c8e88df84f1cec4341ae6cbe5a359"
    assert loc.lookup(AOR, 0.0) == []  # nothing bound before authentication
    f3 = msg(*F2_1_F3)
    f4 = reg.handle(f3, 1.0)  # F4 200 OK
    assert f4.status == 200
    echoes(f3, f4)
    assert f4.get_all("contact") == ["<sips:bob@client.biloxi.example.com>;expires=3600"]  # as in F4
    (b,) = loc.lookup(AOR, 2.0)
    assert str(b.uri) == "sips:bob@client.biloxi.example.com" and (b.call_id, b.cseq) == (CALL_ID, 2)


def test_rfc3665_2_2_update_of_contact_list() -> None:
    # Bob is registered as after §2.1 (binding from that flow's F3).
    loc, reg = registrar()
    reg.handle(msg(*F2_1_F3), 0.0)
    f1 = msg(*F2_2_F1)
    f2 = reg.handle(f1, 10.0)
    assert f2.status == 200
    echoes(f1, f2)
    contacts = {str(c.uri): c.expires for c in f2.contacts}
    # RFC F2 lists both; the sips binding has 3590 s left here, the mailto gets our default 3600
    # (the RFC's 4294967295 is that server's own choice for a contact without expiry).
    assert contacts == {"sips:bob@client.biloxi.example.com": 3590, "mailto:bob@biloxi.example.com": 3600}
    assert len(loc.lookup(AOR, 11.0)) == 2


def test_rfc3665_2_3_request_for_current_contact_list() -> None:
    loc, reg = registrar()
    reg.handle(msg(*F2_1_F3), 0.0)
    reg.handle(msg(*F2_2_F1), 0.0)
    f1 = msg(*F2_3_F1)
    f2 = reg.handle(f1, 100.0)
    assert f2.status == 200
    echoes(f1, f2)
    assert sorted(f2.get_all("contact")) == ["<mailto:bob@biloxi.example.com>;expires=3500",
                                            "<sips:bob@client.biloxi.example.com>;expires=3500"]
    assert len(loc.lookup(AOR, 100.0)) == 2  # a query changes nothing


def test_rfc3665_2_4_cancellation_of_registration() -> None:
    # Bob's bindings were made from an earlier Call-ID (the §2.4 F1 starts again at CSeq 1).
    loc = LocationService()
    loc.put(Binding(AOR, SipURI.parse("sips:bob@client.biloxi.example.com"), "<sips:bob@client.biloxi.example.com>",
                    3600.0, "earlier@biloxi.example.com", 7))
    loc, reg = registrar(loc)
    f1 = msg(*F2_4_F1)
    f2 = reg.handle(f1, 5.0)
    assert f2.status == 200
    echoes(f1, f2)
    assert f2.get("contact") is None  # RFC F2: no Contact left
    assert loc.lookup(AOR, 5.0) == []


def test_rfc3665_2_4_star_with_a_stale_cseq_on_the_same_call_id_fails() -> None:
    # Replayed right after §2.1 (binding CSeq 2 on the same Call-ID) the §2.4 F1 (CSeq 1) is out of
    # order: §10.3 step 6 aborts and nothing is removed.
    loc, reg = registrar()
    reg.handle(msg(*F2_1_F3), 0.0)
    assert reg.handle(msg(*F2_4_F1), 1.0).status == 500
    assert len(loc.lookup(AOR, 1.0)) == 1


def test_rfc3665_2_5_unsuccessful_registration() -> None:
    loc, reg = registrar(challenges=(F2_5_F2_CHALLENGE, F2_5_F2_CHALLENGE))
    f1 = msg(*F2_1_F1)
    f2 = reg.handle(f1, 0.0)
    assert f2.status == 401 and f2.www_authenticate[0].get("nonce") == "f84f1cec41e6cbe5aea9c8e88d359"
    f3 = msg(*F2_5_F3)  # credentials that do not check out
    f4 = reg.handle(f3, 1.0)
    assert f4.status == 401
    echoes(f3, f4)
    assert f4.www_authenticate[0].get("realm") == "atlanta.example.com"
    assert loc.lookup(AOR, 1.0) == []
