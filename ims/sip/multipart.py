"""multipart/mixed bodies (RFC 2046 §5.1, RFC 5621): SDP + ISUP for SIP-I/SIP-T.

``parse_multipart(content_type, body)`` splits a body into :class:`BodyPart`
values with their own headers; ``build_multipart(parts)`` does the reverse;
``leaf_parts`` walks nested multiparts (RFC 5621 §3.1) down to their leaves.
The body size, the number of parts and the nesting depth are bounded by
:class:`~ims.sip.limits.SipLimits`.
Parts are bytes: an ISUP part is binary, and a delimiter is only recognised
at the start of a line (CRLF "--" boundary), so binary content never splits.
Not here: what a part means (``ims.sdp``, ``ims.isup``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ims.sip.errors import SipParseError, SipValueError, check_text
from ims.sip.limits import DEFAULT_LIMITS, SipLimits
from ims.sip.uri import parse_params


@dataclass
class BodyPart:
    """One part: its headers (lower-cased names), its Content-Type and its bytes."""

    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"  # RFC 2046 §5.1: the default for a part without Content-Type
    body: bytes = b""

    @property
    def media_type(self) -> str:
        return self.content_type.partition(";")[0].strip().lower()


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type (RFC 2046 §5.1.1)."""
    media, _, ptext = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        raise SipParseError(f"Not a multipart body: {media.strip()!r}")
    try:
        params = parse_params(ptext.strip(), "Content-Type parameter")
    except SipParseError:
        params = {}
    boundary = (params.get("boundary") or "").strip('"')
    if not boundary or len(boundary) > 70:  # RFC 2046 §5.1.1: 1 to 70 characters
        raise SipParseError("Bad Content-Type header: multipart without a usable boundary")
    return boundary


def parse_multipart(content_type: str, body: bytes, *, limits: SipLimits = DEFAULT_LIMITS,
                    depth: int = 1) -> list[BodyPart]:
    """Split a multipart body; raise :class:`SipParseError` naming what is wrong.

    ``depth`` is how deep this body is nested in multiparts (1 for a message body): a caller that
    splits a part which is itself multipart passes ``depth + 1``."""
    if depth > limits.max_multipart_depth:
        raise SipParseError(f"multipart bodies nested deeper than {limits.max_multipart_depth}", 413)
    if len(body) > limits.max_body_bytes:
        raise SipParseError(f"multipart body of {len(body)} bytes, at most {limits.max_body_bytes}", 413)
    dash = b"--" + boundary_of(content_type).encode("utf-8", "surrogateescape")
    if body.startswith(dash):
        pos = 0
    else:
        pos = body.find(b"\r\n" + dash)  # anything before is the preamble
        if pos < 0:
            raise SipParseError("multipart body without its first boundary delimiter")
        pos += 2
    parts: list[BodyPart] = []
    while True:
        pos += len(dash)
        if body.startswith(b"--", pos):
            break  # close-delimiter; the epilogue is ignored
        eol = body.find(b"\r\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise SipParseError("multipart boundary delimiter not followed by CRLF")
        start = eol + 2
        end = body.find(b"\r\n" + dash, start)
        if end < 0:
            raise SipParseError("multipart body without close delimiter")
        if len(parts) >= limits.max_multipart_parts:
            raise SipParseError(f"multipart body with more than {limits.max_multipart_parts} parts", 413)
        parts.append(_part(body[start:end]))
        pos = end + 2
    if not parts:
        raise SipParseError("multipart body without parts")
    return parts


def leaf_parts(content_type: str, body: bytes, *, limits: SipLimits = DEFAULT_LIMITS,
               depth: int = 1) -> list[BodyPart]:
    """Every part that is not itself multipart, in order, nested multiparts opened (RFC 5621 §3.1)
    down to ``limits.max_multipart_depth``."""
    out: list[BodyPart] = []
    for part in parse_multipart(content_type, body, limits=limits, depth=depth):
        if part.media_type.startswith("multipart/"):
            out.extend(leaf_parts(part.content_type, part.body, limits=limits, depth=depth + 1))
        else:
            out.append(part)
        if len(out) > limits.max_multipart_parts:
            raise SipParseError(f"multipart body with more than {limits.max_multipart_parts} parts", 413)
    return out


def _part(chunk: bytes) -> BodyPart:
    if chunk.startswith(b"\r\n"):
        return BodyPart({}, "text/plain", chunk[2:])  # no part headers
    head, sep, content = chunk.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("multipart body part without the empty line after its headers")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "surrogateescape").replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"Bad body part header line {line[:40]!r}")
        headers[name.strip().lower()] = value.strip()
    return BodyPart(headers, headers.get("content-type", "text/plain"), content)


def build_multipart(parts: list[BodyPart], boundary: str | None = None) -> tuple[str, bytes]:
    """(Content-Type, body) for ``parts``; a random boundary unless one is given."""
    boundary = boundary or ("ims" + secrets.token_hex(8))
    if not 0 < len(boundary) <= 70 or boundary[-1] == " " or not boundary.isascii() or any(
            c < " " for c in boundary):
        raise SipValueError(f"Bad multipart boundary {boundary[:80]!r} (RFC 2046 §5.1.1)", "Content-Type")
    dash = b"--" + boundary.encode()
    for p in parts:
        if b"\r\n" + dash in b"\r\n" + p.body:
            raise SipValueError(f"boundary {boundary!r} occurs inside a part", "Content-Type")
        check_text(p.content_type, "body part Content-Type")
        for name, value in p.headers.items():
            check_text(name, "body part header", "name")
            check_text(value, f"body part {name}")
    out = bytearray()
    for p in parts:
        out += dash + b"\r\n"
        out += f"Content-Type: {p.content_type}\r\n".encode()
        for name, value in p.headers.items():
            if name != "content-type":
                out += f"{_title(name)}: {value}\r\n".encode()
        out += b"\r\n" + p.body + b"\r\n"
    out += dash + b"--\r\n"
    return f"multipart/mixed;boundary={boundary}", bytes(out)


def _title(name: str) -> str:
    return "-".join(w.capitalize() for w in name.split("-"))
