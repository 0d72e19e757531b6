"""Registrar (RFC 3261 §10.3) and location service rules, one rule per test, on a fake clock."""

from __future__ import annotations

from typing import Any

from ims.sip.auth import build_authorization, verify_response
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.registrar import LocationService, Registrar

AOR = "sip:bob@biloxi.example.com"


def register(*contacts: str, cseq: int = 1, call_id: str = "843817637684230@998sdasdh09",
             expires: str | None = None, to: str = "Bob <sip:bob@biloxi.example.com>",
             extra: tuple[str, ...] = ()) -> Request:
    # RFC 3261 §10.2 example (F1 of the registration in §24.1 style), with the fields each test varies.
    lines = [
        "REGISTER sip:registrar.biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7",
        "Max-Forwards: 70",
        "From: Bob <sip:bob@biloxi.example.com>;tag=456248",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
        *extra,
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines.append("Content-Length: 0")
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def make(**kw: Any) -> tuple[LocationService, Registrar]:
    loc = LocationService()
    return loc, Registrar(["biloxi.example.com", "registrar.biloxi.example.com"], loc, **kw)


def contacts_of(resp: Response) -> dict[str, int | None]:
    return {str(c.uri): c.expires for c in resp.contacts}


def test_10_3_add_binding_with_header_expires() -> None:
    loc, reg = make()
    resp = reg.handle(register("<sip:bob@192.0.2.4>", expires="7200"), 0.0)
    assert resp.status == 200 and resp.to.tag
    assert contacts_of(resp) == {"sip:bob@192.0.2.4": 7200}
    (b,) = loc.lookup(AOR, 0.0)
    assert (b.call_id, b.cseq, b.expires_at) == ("843817637684230@998sdasdh09", 1, 7200.0)


def test_10_3_contact_expires_param_beats_header_and_default_applies() -> None:
    _, reg = make(default_expires=3600)
    resp = reg.handle(register("<sip:bob@h1>;expires=120", "<sip:bob@h2>", expires="600"), 0.0)
    assert contacts_of(resp) == {"sip:bob@h1": 120, "sip:bob@h2": 600}
    resp = reg.handle(register("<sip:bob@h3>", cseq=2), 0.0)
    assert contacts_of(resp)["sip:bob@h3"] == 3600


def test_10_3_registrar_shortens_too_long_expiry() -> None:
    _, reg = make(max_expires=3600)
    resp = reg.handle(register("<sip:bob@h1>", expires="86400"), 0.0)
    assert contacts_of(resp) == {"sip:bob@h1": 3600}


def test_10_3_multiple_contacts_per_aor_and_200_lists_all_with_remaining_time() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>;q=0.5", expires="300"), 0.0)
    resp = reg.handle(register("<sip:bob@h2>;q=0.9", expires="600", call_id="other@h2"), 100.0)
    assert contacts_of(resp) == {"sip:bob@h1": 200, "sip:bob@h2": 600}
    assert [str(b.uri) for b in loc.lookup(AOR, 100.0)] == ["sip:bob@h2", "sip:bob@h1"]  # highest q first
    assert "q=0.9" in resp.get_all("contact")[0] or "q=0.9" in resp.get_all("contact")[1]


def test_10_3_refresh_updates_the_same_binding() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", expires="60"), 0.0)
    resp = reg.handle(register("<sip:bob@h1>", expires="600", cseq=2), 50.0)
    assert contacts_of(resp) == {"sip:bob@h1": 600}
    assert len(loc) == 1 and loc.lookup(AOR, 100.0)[0].cseq == 2


def test_10_3_expiry_removes_bindings() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>;expires=60", "<sip:bob@h2>;expires=120"), 0.0)
    assert [str(b.uri) for b in loc.lookup(AOR, 61.0)] == ["sip:bob@h2"]
    assert [b.aor for b in loc.expire(200.0)] == [AOR] and len(loc) == 0
    resp = reg.handle(register(cseq=2), 200.0)  # a query: nothing left
    assert resp.status == 200 and resp.contacts == []


def test_10_3_expires_zero_removes_one_binding() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", "<sip:bob@h2>", expires="600"), 0.0)
    resp = reg.handle(register("<sip:bob@h2>;expires=0", cseq=2), 1.0)
    assert contacts_of(resp) == {"sip:bob@h1": 599}


def test_10_3_star_with_expires_zero_removes_all() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", "<sip:bob@h2>", expires="600"), 0.0)
    resp = reg.handle(register("*", expires="0", cseq=2), 1.0)
    assert resp.status == 200 and resp.contacts == [] and loc.lookup(AOR, 1.0) == []


def test_10_3_star_rules_400() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", expires="600"), 0.0)
    assert reg.handle(register("*", expires="60", cseq=2), 1.0).status == 400  # Expires must be 0
    assert reg.handle(register("*", cseq=3), 1.0).status == 400  # no Expires at all
    mixed = register("*", expires="0", cseq=4)
    mixed.add("Contact", "<sip:bob@h2>")  # built, not parsed: the parser refuses this already
    resp = reg.handle(mixed, 1.0)
    assert resp.status == 400 and "'*'" in (resp.reason or "")  # '*' must stand alone
    assert len(loc.lookup(AOR, 1.0)) == 1


def test_10_3_step_7_same_call_id_lower_or_equal_cseq_is_refused() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", cseq=5, expires="600"), 0.0)
    assert reg.handle(register("<sip:bob@h1>", cseq=4, expires="60"), 1.0).status == 500
    assert reg.handle(register("<sip:bob@h1>", cseq=5, expires="60"), 1.0).status == 500
    assert loc.lookup(AOR, 1.0)[0].expires_at == 600.0  # unchanged
    # An out-of-order request changes nothing at all, not even its other contacts.
    assert reg.handle(register("<sip:bob@h9>", "<sip:bob@h1>", cseq=3), 1.0).status == 500
    assert [str(b.uri) for b in loc.lookup(AOR, 1.0)] == ["sip:bob@h1"]


def test_10_3_step_7_other_call_id_updates_whatever_its_cseq() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", cseq=5, expires="600"), 0.0)
    resp = reg.handle(register("<sip:bob@h1>", cseq=1, call_id="rebooted@h1", expires="60"), 1.0)
    assert resp.status == 200 and loc.lookup(AOR, 1.0)[0].call_id == "rebooted@h1"


def test_10_3_step_6_star_with_stale_cseq_is_refused() -> None:
    loc, reg = make()
    reg.handle(register("<sip:bob@h1>", cseq=5, expires="600"), 0.0)
    assert reg.handle(register("*", cseq=5, expires="0"), 1.0).status == 500
    assert len(loc.lookup(AOR, 1.0)) == 1


def test_10_3_interval_too_brief_423_with_min_expires() -> None:
    loc, reg = make(min_expires=300)
    resp = reg.handle(register("<sip:bob@h>;expires=10"), 0.0)
    assert resp.status == 423 and resp.min_expires == 300
    resp = reg.handle(register("<sip:bob@h>", expires="10"), 0.0)
    assert resp.status == 423 and loc.lookup(AOR, 0.0) == []
    assert reg.handle(register("<sip:bob@h>", expires="0", cseq=2), 0.0).status == 200  # 0 is never too brief


def test_10_3_step_1_and_5_foreign_domain_404() -> None:
    _, reg = make()
    req = register("<sip:x@h>")
    req.uri = "sip:registrar.atlanta.example.com"
    assert reg.handle(req, 0.0).status == 404
    assert reg.handle(register("<sip:x@h>", to="<sip:bob@atlanta.example.com>"), 0.0).status == 404


def test_10_3_unknown_aor_404() -> None:
    _, reg = make(known_aor=lambda aor: aor == AOR)
    assert reg.handle(register("<sip:x@h>", to="<sip:mallory@biloxi.example.com>"), 0.0).status == 404
    assert reg.handle(register("<sip:x@h>"), 0.0).status == 200


def test_10_3_step_2_require_unsupported_420() -> None:
    _, reg = make()
    resp = reg.handle(register("<sip:x@h>", extra=("Require: foo",)), 0.0)
    assert resp.status == 420 and resp.get("unsupported") == "foo"


def test_rfc5626_instance_and_reg_id_identify_the_binding() -> None:
    loc, reg = make()
    inst = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    reg.handle(register(f"<sip:bob@192.0.2.1:5060>;+sip.instance={inst};reg-id=1", expires="600"), 0.0)
    # The device moved: a new contact URI, same instance and reg-id -> replaces the binding.
    resp = reg.handle(register(f"<sip:bob@192.0.2.7:5060>;+sip.instance={inst};reg-id=1", expires="600", cseq=2), 1.0)
    (b,) = loc.lookup(AOR, 1.0)
    assert str(b.uri) == "sip:bob@192.0.2.7:5060" and b.instance == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
    assert b.reg_id == "1" and "+sip.instance" in resp.get_all("contact")[0]


def test_rfc3327_path_is_stored_and_echoed() -> None:
    loc, reg = make()
    resp = reg.handle(register("<sip:bob@h>", extra=("Path: <sip:pcscf.example.com;lr>",), expires="600"), 0.0)
    assert resp.get_all("path") == ["<sip:pcscf.example.com;lr>"] and "path" in resp.supported
    assert loc.lookup(AOR, 0.0)[0].path == ["<sip:pcscf.example.com;lr>"]


def test_10_3_step_3_digest_hook_challenges_then_accepts() -> None:
    """The authentication hook with real MD5 digest from ims.sip.auth (RFC 2617)."""
    nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093"

    def authenticate(req: Request, now: float) -> Response | None:
        for cred in req.authorization:
            if cred.get("nonce") == nonce and verify_response(cred, password="zanzibar", method="REGISTER"):
                return None
        resp = build_response(req, 401, to_tag="t")
        resp.add("WWW-Authenticate", f'Digest realm="biloxi.example.com", nonce="{nonce}", qop="auth", algorithm=MD5')
        return resp

    loc, reg = make(authenticate=authenticate)
    first = reg.handle(register("<sip:bob@h>", expires="600"), 0.0)
    assert first.status == 401 and loc.lookup(AOR, 0.0) == []
    auth = build_authorization(first.www_authenticate[0], username="bob", password="zanzibar", method="REGISTER",
                               uri="sip:registrar.biloxi.example.com")
    assert reg.handle(register("<sip:bob@h>", expires="600", cseq=2, extra=(f"Authorization: {auth}",)), 1.0).status == 200
    wrong = build_authorization(first.www_authenticate[0], username="bob", password="nope", method="REGISTER",
                                uri="sip:registrar.biloxi.example.com")
    assert reg.handle(register("<sip:bob@h2>", cseq=3, extra=(f"Authorization: {wrong}",)), 2.0).status == 401
    assert [str(b.uri) for b in loc.lookup(AOR, 2.0)] == ["sip:bob@h"]


def test_register_only() -> None:
    _, reg = make()
    req = parse_message(register("<sip:x@h>").to_bytes().replace(b"REGISTER", b"OPTIONS"))
    assert isinstance(req, Request) and reg.handle(req, 0.0).status == 405
