"""SIP-I / SIP-T bodies: SDP and an encapsulated ISUP message in one multipart/mixed body.

What this is for: the MGCF puts the ISUP message it mirrors (IAM in the
INVITE, ACM in the 18x, REL in the BYE...) next to the SDP, as SIP-I (ITU-T
Q.1912.5 profile C) and SIP-T (RFC 3372 §6) prescribe, and reads both back.
The ISUP part is ``application/ISUP`` (RFC 3204 §3.1): the message *starting
at the message type code*, without routing label and CIC, i.e.
``ims.isup.messages.encode(msg, with_cic=False)``.  RFC 3204 §4 (and §6 of RFC
3372) add ``Content-Disposition: signal;handling=required|optional`` so a
receiver knows whether it may ignore the part.

The multipart syntax itself is :mod:`ims.sip.multipart` (RFC 2046 §5.1).  The
one thing added here is tolerance of bodies whose lines end in a bare LF
(seen from some SIP stacks); the ISUP part is binary, so only delimiter and
part-header lines are touched, never part contents.  Errors are
:class:`ims.sip.errors.SipParseError` (answered with 400).
"""

from __future__ import annotations

from ims.sip.errors import SipParseError
from ims.sip.multipart import BodyPart, boundary_of, build_multipart, parse_multipart

__all__ = ["ISUP_CONTENT_TYPE", "SDP_CONTENT_TYPE", "make_sipi_body", "split_sipi_body"]

ISUP_CONTENT_TYPE = "application/ISUP; version=itu-t92+"  # RFC 3204 §3.1 Table 1 version/base value
SDP_CONTENT_TYPE = "application/sdp"
_HANDLING = ("required", "optional")


def make_sipi_body(sdp: bytes | None, isup: bytes, *, handling: str = "required",
                   boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type header value) with the SDP part (if any) first, then the ISUP part."""
    if handling not in _HANDLING:
        raise ValueError(f"handling must be 'required' or 'optional' (RFC 3204 §4), got {handling!r}")
    parts: list[BodyPart] = []
    if sdp is not None:
        parts.append(BodyPart({}, SDP_CONTENT_TYPE, sdp))
    parts.append(BodyPart({"content-disposition": f"signal;handling={handling}"}, ISUP_CONTENT_TYPE, isup))
    content_type, body = build_multipart(parts, boundary)
    return body, content_type


def split_sipi_body(body: bytes, content_type: str) -> tuple[bytes | None, bytes | None]:
    """(sdp, isup) from a SIP body: multipart/mixed, a lone application/sdp or application/ISUP.

    A missing part is None; parts of other types are ignored (RFC 3261 §7.4.1
    leaves unknown optional parts to the receiver).
    """
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/sdp":
        return body, None
    if media == "application/isup":
        return None, body
    if not media.startswith("multipart/"):
        return None, None
    try:
        parts = parse_multipart(content_type, body)
    except SipParseError:
        parts = parse_multipart(content_type, _crlf_lines(body, boundary_of(content_type)))
    sdp = next((p.body for p in parts if p.media_type == "application/sdp"), None)
    isup = next((p.body for p in parts if p.media_type == "application/isup"), None)
    return sdp, isup


def _crlf_lines(body: bytes, boundary: str) -> bytes:
    """Rewrite bare-LF delimiter and part-header lines to CRLF, leaving part contents alone.

    A CR before a delimiter's LF is taken as part of the delimiter, as RFC 2046
    §5.1.1 has it, so a binary part ending in CR before a bare-LF delimiter
    loses that CR: unavoidable, the body is ambiguous.
    """
    dash = b"--" + boundary.encode("utf-8", "surrogateescape")
    chunks = (b"\n" + body).split(b"\n" + dash)
    if len(chunks) < 2:
        return body  # no delimiter at all: let the parser report it
    chunks = [c[:-1] if c.endswith(b"\r") and i < len(chunks) - 1 else c for i, c in enumerate(chunks)]
    out = [chunks[0][1:]]  # preamble
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):  # close delimiter and epilogue
            out.append(chunk)
            continue
        out.append(_crlf_part(chunk))
    return (b"\r\n" + dash).join(out)


def _crlf_part(chunk: bytes) -> bytes:
    """The rest of the delimiter line and the part headers CRLF-ended, then the content untouched."""
    first = chunk.find(b"\n")
    if first < 0:
        return chunk  # not a complete part: the parser will say so
    lines = [chunk[:first].rstrip(b"\r")]  # whatever followed the boundary (transport padding)
    pos = first + 1
    while True:
        eol = chunk.find(b"\n", pos)
        if eol < 0:
            return chunk
        line = chunk[pos:eol].rstrip(b"\r")
        pos = eol + 1
        if not line:
            break  # the empty line that ends the part headers
        lines.append(line)
    return b"\r\n".join([*lines, b"", chunk[pos:]])
