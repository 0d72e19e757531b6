"""The P-CSCF's Path on a REGISTER (RFC 3327, TS 24.229 §5.2.2.1) as a registrar that checks it sees it.

Regression (issue 14): the P-CSCF added ``Require: path`` when the UE had not sent ``Supported: path``,
and Kamailio's S-CSCF answered 420 "No support for found Path indicated".  A registrar wants to be told
Path is supported (RFC 3327 §5.3); nothing asks it to require that.
"""

from __future__ import annotations

from ims.cscf.pcscf import Pcscf, PcscfConfig
from ims.sip.events import Address
from ims.sip.message import Request, parse_message

DOMAIN = "ims.example"
UE = Address("10.0.0.1", 5060)


def _register(extra: str = "") -> Request:
    msg = parse_message((
        f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-r1;rport\r\n"
        f"From: <sip:alice@{DOMAIN}>;tag=a1\r\n"
        f"To: <sip:alice@{DOMAIN}>\r\n"
        "Call-ID: reg-1\r\n"
        "CSeq: 1 REGISTER\r\n"
        "Contact: <sip:alice@10.0.0.1:5060>\r\n"
        f"{extra}"
        "Expires: 600\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def _forwarded(req: Request) -> Request:
    p = Pcscf(PcscfConfig(DOMAIN, "10.0.0.9", 5060, Address("10.0.0.8", 5060)))
    assert p._prepare_register(req, UE, 0.0) is None  # forwarded toward the I-CSCF
    return req


def _tags(req: Request, name: str) -> list[str]:
    return [t.strip().lower() for v in req.get_all(name) for t in v.split(",")]


def test_rfc3327_ue_silent_on_path_gets_supported_path_not_require() -> None:
    req = _forwarded(_register())
    assert req.get_all("path") and "term@10.0.0.9" in req.get_all("path")[0]
    assert "path" in _tags(req, "supported")
    assert "path" not in _tags(req, "require")


def test_rfc3327_ue_that_supports_path_is_left_as_it_said() -> None:
    req = _forwarded(_register("Supported: path, 100rel\r\n"))
    assert _tags(req, "supported").count("path") == 1
    assert "path" not in _tags(req, "require")


def test_rfc3327_ue_that_requires_path_keeps_its_require() -> None:
    req = _forwarded(_register("Supported: path\r\nRequire: path\r\n"))
    assert "path" in _tags(req, "require")
