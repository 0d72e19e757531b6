"""Registrar (RFC 3261 §10.3) and redirect server (§8.3) rules, with the RFC 3665 §2 registration flows."""

from __future__ import annotations

from ims.sip.message import Request, parse_message
from ims.sip.redirect import RedirectServer
from ims.sip.registrar import LocationService, Registrar


def register(contact: str | None, *, cseq: int = 1, call_id: str = "843817637684230@998sdasdh09",
             expires: str | None = None, to: str = "Bob <sip:bob@biloxi.example.com>") -> Request:
    # RFC 3665 §2.1 F1, with the fields each test varies.
    lines = [
        "REGISTER sips:ss2.biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7",
        "Max-Forwards: 70",
        "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
    ]
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines.append("Content-Length: 0")
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def _registrar(**kw):  # type: ignore[no-untyped-def]
    loc = LocationService()
    return loc, Registrar(["biloxi.example.com", "ss2.biloxi.example.com"], loc, **kw)


def test_rfc3665_2_1_new_registration() -> None:
    loc, reg = _registrar()
    resp = reg.handle(register("<sips:bob@client.biloxi.example.com>", expires="7200"), 0.0)
    assert resp.status == 200
    assert [str(c) for c in resp.contacts] == ["<sips:bob@client.biloxi.example.com>;expires=7200"]
    assert [b.uri.host for b in loc.lookup("sip:bob@biloxi.example.com", 1.0)] == ["client.biloxi.example.com"]


def test_rfc3665_2_2_update_contact_list() -> None:
    loc, reg = _registrar()
    reg.handle(register("<sips:bob@client.biloxi.example.com>", expires="7200"), 0.0)
    resp = reg.handle(register("mailto:bob@biloxi.example.com", cseq=2), 10.0)
    assert resp.status == 200 and len(resp.contacts) == 2


def test_rfc3665_2_3_request_current_contact_list() -> None:
    loc, reg = _registrar()
    reg.handle(register("<sips:bob@client.biloxi.example.com>", expires="7200"), 0.0)
    resp = reg.handle(register(None, cseq=2), 100.0)
    assert resp.status == 200 and resp.contacts[0].expires == 7100


def test_rfc3665_2_4_cancellation_with_star() -> None:
    loc, reg = _registrar()
    reg.handle(register("<sips:bob@client.biloxi.example.com>"), 0.0)
    resp = reg.handle(register("*", cseq=2, expires="0"), 1.0)
    assert resp.status == 200 and resp.contacts == [] and loc.lookup("sip:bob@biloxi.example.com", 1.0) == []


def test_10_2_2_star_needs_expires_zero() -> None:
    _, reg = _registrar()
    assert reg.handle(register("*", expires="60"), 0.0).status == 400


def test_rfc3665_2_5_unknown_user_404() -> None:
    _, reg = _registrar(known_aor=lambda aor: aor == "sip:bob@biloxi.example.com")
    resp = reg.handle(register("<sip:x@h>", to="<sip:mallory@biloxi.example.com>"), 0.0)
    assert resp.status == 404


def test_10_3_interval_too_brief_423() -> None:
    _, reg = _registrar(min_expires=300)
    resp = reg.handle(register("<sip:bob@h>;expires=10"), 0.0)
    assert resp.status == 423 and resp.min_expires == 300


def test_10_3_out_of_order_cseq_500() -> None:
    _, reg = _registrar()
    reg.handle(register("<sip:bob@h>", cseq=5), 0.0)
    assert reg.handle(register("<sip:bob@h>", cseq=4), 1.0).status == 500


def test_10_3_expiry_and_expires_zero() -> None:
    loc, reg = _registrar()
    reg.handle(register("<sip:bob@h1>;expires=60"), 0.0)
    reg.handle(register("<sip:bob@h2>;expires=120", cseq=2), 0.0)
    assert len(loc.lookup("sip:bob@biloxi.example.com", 61.0)) == 1
    reg.handle(register("<sip:bob@h2>;expires=0", cseq=3), 62.0)
    assert loc.lookup("sip:bob@biloxi.example.com", 62.0) == []


def test_8_3_redirect_302_300_404_480() -> None:
    loc, reg = _registrar()
    redirect = RedirectServer(loc, known_aor=lambda aor: aor.startswith("sip:carol"))
    invite = parse_message(register("<sip:x@h>").to_bytes().replace(b"REGISTER", b"INVITE")
                           .replace(b"sips:ss2.biloxi.example.com", b"sip:bob@biloxi.example.com"))
    assert redirect.handle(invite, 0.0).status == 404
    reg.handle(register("<sip:bob@h1>;q=0.5"), 0.0)
    resp = redirect.handle(invite, 0.0)
    assert resp.status == 302 and str(resp.contacts[0].uri) == "sip:bob@h1"
    reg.handle(register("<sip:bob@h2>", cseq=2), 0.0)
    assert redirect.handle(invite, 0.0).status == 300
    carol = parse_message(invite.to_bytes().replace(b"INVITE sip:bob@", b"INVITE sip:carol@"))
    assert redirect.handle(carol, 0.0).status == 480
