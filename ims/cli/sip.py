"""``ims sip check FILE...``: is what my phone sent legal SIP?

Each file holds one SIP message.  Prints ``FILE: valid`` or ``FILE: invalid:
<reason>`` and exits 1 if any is invalid; ``--json`` prints the parsed
message (start line, headers in order, body length).  Files saved from text
editors often have LF line ends; SIP requires CRLF, so they are reported as
invalid unless ``--lf-ok`` converts them first.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ims.sip.errors import SipParseError
from ims.sip.message import Request, SipMessage, parse_message

# Typed accessors checked after parsing, so a bad header anywhere is reported.
_ACCESSORS = ("vias", "call_id", "cseq", "from_", "to", "contacts", "routes", "record_routes", "paths",
              "service_routes", "max_forwards", "expires", "content_length", "require", "supported",
              "proxy_require", "www_authenticate", "proxy_authenticate", "authorization", "proxy_authorization",
              "p_asserted_identity", "p_preferred_identity", "p_associated_uri", "p_access_network_info",
              "p_charging_vector", "security_client", "security_server", "security_verify", "rseq", "rack")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sip", help="SIP tools")
    ssub = p.add_subparsers(dest="sip_command", metavar="ACTION")
    ssub.required = True
    check = ssub.add_parser("check", help="check files that each hold one SIP message")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print the parsed message as JSON")
    check.add_argument("--lf-ok", action="store_true", help="accept bare LF line ends (converted to CRLF)")
    check.set_defaults(func=_check)


def check_bytes(data: bytes, *, lf_ok: bool = False) -> SipMessage:
    if lf_ok and b"\r\n" not in data:
        head, sep, body = data.partition(b"\n\n")
        data = head.replace(b"\n", b"\r\n") + (b"\r\n\r\n" + body if sep else b"")
    msg = parse_message(data)
    for name in _ACCESSORS:
        getattr(msg, name)
    return msg


def describe(msg: SipMessage) -> dict[str, Any]:
    return {
        "start_line": msg.start_line(),
        "kind": "request" if isinstance(msg, Request) else "response",
        "headers": [[n, v] for n, v in msg._headers],
        "body_length": len(msg.body),
    }


def _check(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            print(f"{name}: invalid: cannot read: {exc.strerror}")
            status = 1
            continue
        try:
            msg = check_bytes(data, lf_ok=args.lf_ok)
        except SipParseError as exc:
            reason = exc.reason
            if "LF, not CRLF" in reason:
                reason += " (use --lf-ok for files saved by a text editor)"
            print(f"{name}: invalid: {reason}")
            status = 1
            continue
        if args.json:
            json.dump({"file": name, **describe(msg)}, sys.stdout, ensure_ascii=False)
            print()
        else:
            print(f"{name}: valid")
    return status
