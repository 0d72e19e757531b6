"""Stream framing for SIP over TCP/TLS (RFC 3261 §18.3) and CRLF keep-alives (RFC 5626 §3.5.1).

``StreamFramer.feed(data)`` returns whole messages (bytes) as they complete,
and :data:`PING` markers for the double-CRLF keep-alive the server must
answer with a single CRLF (:data:`PONG`).  A stream without Content-Length
or with an oversized message raises :class:`SipParseError`: the connection
cannot be resynchronised and the driver closes it.
"""

from __future__ import annotations

from ims.sip.errors import SipParseError
from ims.sip.limits import DEFAULT_LIMITS, SipLimits

PING = b"\r\n\r\n"
PONG = b"\r\n"

# Content-Length over a stream: the message bound is at most 10 digits long (leading zeros aside).
_MAX_LENGTH_DIGITS = 10


class StreamFramer:
    """Splits a byte stream into messages; linear in what it is fed, however it is cut.

    The search for the end of a header block resumes where the last feed stopped, and a
    header block is read for its Content-Length once: feeding a 64 KB message one byte at a
    time costs 64 K small steps, not 64 K rescans of the buffer.
    """

    def __init__(self, max_message: int | None = None, *, limits: SipLimits = DEFAULT_LIMITS) -> None:
        self.max_message = limits.max_message_bytes if max_message is None else max_message
        self._buf = bytearray()
        self._scanned = 0  # bytes at the head of _buf searched for CRLFCRLF without finding it
        self._total = -1  # length of the message at the head of _buf once its header block is read

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while buf:
            total = self._total
            if total < 0:
                if self._scanned == 0:
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
                    if buf == b"\r":
                        break  # maybe the start of a ping or of a CRLF
                end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
                if end < 0:
                    self._scanned = len(buf)
                    if len(buf) > self.max_message:
                        raise SipParseError(f"Header block exceeds {self.max_message} bytes", 513)
                    break
                if end + 4 > self.max_message:
                    raise SipParseError(f"Header block exceeds {self.max_message} bytes", 513)
                total = end + 4 + _content_length(bytes(buf[:end]))
                if total > self.max_message:
                    raise SipParseError(f"Message of {total} bytes exceeds the {self.max_message}-byte limit", 513)
                self._total = total
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
            self._total = -1
            self._scanned = 0
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            v = value.strip()
            # bytes.isdigit() is ASCII only; the length bound keeps int() clear of huge conversions.
            if not v.isdigit() or len(v) > _MAX_LENGTH_DIGITS:
                raise SipParseError(f"Bad Content-Length header: {v[:20]!r}")
            return int(v)
    raise SipParseError("Missing Content-Length header on a stream transport (§18.3)")
