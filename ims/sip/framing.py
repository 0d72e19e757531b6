"""Stream framing for SIP over TCP/TLS (RFC 3261 §18.3) and CRLF keep-alives (RFC 5626 §3.5.1).

``StreamFramer.feed(data)`` returns whole messages (bytes) as they complete,
and :data:`PING` markers for the double-CRLF keep-alive the server must
answer with a single CRLF (:data:`PONG`).  A stream without Content-Length
or with an oversized message raises :class:`SipParseError`: the connection
cannot be resynchronised and the driver closes it.
"""

from __future__ import annotations

from ims.sip.errors import SipParseError

PING = b"\r\n\r\n"
PONG = b"\r\n"


class StreamFramer:
    def __init__(self, max_message: int = 65535) -> None:
        self.max_message = max_message
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while buf:
            # Keep-alives and stray CRLFs between messages (§7.5, RFC 5626 §3.5.1).
            if buf[:4] == PING:
                del buf[:4]
                out.append(PING)
                continue
            if buf[:2] == b"\r\n":
                if len(buf) < 4 and PING.startswith(bytes(buf)):
                    break  # maybe the start of a ping
                del buf[:2]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self.max_message:
                    raise SipParseError(f"Header block exceeds {self.max_message} bytes")
                break
            length = _content_length(bytes(buf[:end]))
            total = end + 4 + length
            if total > self.max_message:
                raise SipParseError(f"Message of {total} bytes exceeds the {self.max_message}-byte limit", 513)
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            v = value.strip()
            if not v.isdigit():
                raise SipParseError(f"Bad Content-Length header: {v[:20]!r}")
            return int(v)
    raise SipParseError("Missing Content-Length header on a stream transport (§18.3)")
