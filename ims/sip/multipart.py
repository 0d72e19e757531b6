"""multipart/mixed bodies (RFC 2046 §5.1, RFC 5621): SDP + ISUP for SIP-I/SIP-T.

``parse_multipart(content_type, body)`` splits a body into parts with their
own headers; ``build_multipart(parts)`` does the reverse.  Parts are bytes:
an ISUP part is binary.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ims.sip.errors import SipParseError
from ims.sip.uri import parse_params


@dataclass
class BodyPart:
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, e.g. content-disposition

    @property
    def media_type(self) -> str:
        return self.content_type.partition(";")[0].strip().lower()


def boundary_of(content_type: str) -> str:
    media, _, ptext = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        raise SipParseError(f"Not a multipart body: {media.strip()!r}")
    boundary = parse_params(ptext.replace(" ", ""), "Content-Type parameter").get("boundary")
    if not boundary:
        raise SipParseError("multipart Content-Type without boundary")
    return boundary.strip('"')


def parse_multipart(content_type: str, body: bytes) -> list[BodyPart]:
    delim = b"--" + boundary_of(content_type).encode()
    chunks = body.split(delim)
    if len(chunks) < 3:
        raise SipParseError("multipart body without delimited parts")
    parts: list[BodyPart] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # close-delimiter
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]  # the CRLF belongs to the next delimiter
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            if chunk.startswith(b"\r\n"):  # part with no headers
                head, content = b"", chunk[2:]
            else:
                raise SipParseError("multipart body part without header/body separator")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "surrogateescape").split("\r\n"):
            if not line:
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise SipParseError(f"Bad body part header line {line[:40]!r}")
            headers[name.strip().lower()] = value.strip()
        parts.append(BodyPart(headers.get("content-type", "text/plain"), content, headers))
    else:
        raise SipParseError("multipart body without close delimiter")
    return parts


def build_multipart(parts: list[BodyPart], boundary: str | None = None) -> tuple[str, bytes]:
    boundary = boundary or ("ims" + secrets.token_hex(8))
    out = bytearray()
    for p in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        out += f"Content-Type: {p.content_type}\r\n".encode()
        for name, value in p.headers.items():
            if name != "content-type":
                out += f"{_title(name)}: {value}\r\n".encode()
        out += b"\r\n" + p.body + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return f"multipart/mixed;boundary={boundary}", bytes(out)


def _title(name: str) -> str:
    return "-".join(w.capitalize() for w in name.split("-"))
