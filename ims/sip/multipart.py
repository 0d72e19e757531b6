"""multipart/mixed bodies (RFC 2046 §5.1, RFC 5621): SDP + ISUP for SIP-I/SIP-T.

``parse_multipart(content_type, body)`` splits a body into :class:`BodyPart`
values with their own headers; ``build_multipart(parts)`` does the reverse.
Parts are bytes: an ISUP part is binary, and a delimiter is only recognised
at the start of a line (CRLF "--" boundary), so binary content never splits.
Not here: what a part means (``ims.sdp``, ``ims.isup``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ims.sip.errors import SipParseError
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


def parse_multipart(content_type: str, body: bytes) -> list[BodyPart]:
    """Split a multipart body; raise :class:`SipParseError` naming what is wrong."""
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
        parts.append(_part(body[start:end]))
        pos = end + 2
    if not parts:
        raise SipParseError("multipart body without parts")
    return parts


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
    dash = b"--" + boundary.encode()
    for p in parts:
        if b"\r\n" + dash in b"\r\n" + p.body:
            raise ValueError(f"boundary {boundary!r} occurs inside a part")
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
