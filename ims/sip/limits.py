"""Bounds on what one SIP input may make a node allocate or compute (STYLE.md §6a).

:class:`SipLimits` holds the sizes a parser, the stream framer and the
multipart splitter check before the expensive work; :data:`DEFAULT_LIMITS`
applies when nothing is passed.  :func:`decimal` is the one way the SIP stack
turns text into a number: ASCII digits only (``str.isdigit`` also accepts
'²', which ``int`` refuses) and a bounded length (Python refuses to convert
more than 4,300 digits), every fault a :class:`SipParseError` naming the
header.  Not here: where the limits come from (the topology, ``ims.topology``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ims.sip.errors import SipParseError


@dataclass(frozen=True, slots=True)
class SipLimits:
    """Sizes beyond which a message is refused (each violation a :class:`SipParseError`)."""

    # RFC 3261 §18.1.1 / §21.5.11: a message larger than this is answered 513 Message Too Large.
    # 65535 is the largest UDP payload; streams get the same bound per message.
    max_message_bytes: int = 65535
    max_headers: int = 256  # header lines in one message (folded continuation lines count)
    max_header_bytes: int = 8192  # one header field, folded lines joined
    max_body_bytes: int = 65535  # §21.4.11 413 Request Entity Too Large
    max_multipart_depth: int = 4  # multipart inside multipart (RFC 5621 §3.1 allows nesting)
    max_multipart_parts: int = 16  # body parts in one multipart body

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_headers", "max_header_bytes", "max_body_bytes",
                     "max_multipart_depth", "max_multipart_parts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SipLimits.{name} must be a positive integer, not {value!r}")


DEFAULT_LIMITS = SipLimits()

# The largest number the stack reads is a 32-bit value (expires, SPIs, CSeq); 10 digits hold it.
MAX_DIGITS = 10


def decimal(text: str, what: str, maximum: int = 2**32 - 1, *, minimum: int = 0, digits: int = MAX_DIGITS,
            clamp: bool = False) -> int:
    """``text`` (already stripped) as a number of ASCII digits, between ``minimum`` and ``maximum``.

    ``what`` names the place for the error ("Max-Forwards header", "Via rport").  With ``clamp``
    a larger number (of any length) reads as ``maximum``, as RFC 3261 §10.2.1.1 asks of
    expiry values; otherwise more than ``digits`` digits is an error.
    """
    if len(text) <= digits and text.isdigit() and text.isascii():  # isdigit alone accepts '²' and '٣'
        n = int(text)
        if minimum <= n <= maximum:
            return n
    return _decimal_fault(text, what, maximum, minimum, digits, clamp)


def _decimal_fault(text: str, what: str, maximum: int, minimum: int, digits: int, clamp: bool) -> int:
    """The slow path of :func:`decimal`: clamping, and the error naming the fault."""
    if text.isascii() and text.isdigit():
        if len(text) <= digits:
            n = int(text)
            if minimum <= n <= maximum:
                return n
            if clamp and n > maximum:
                return maximum
            raise SipParseError(f"Bad {what}: {n} is not in {minimum}..{maximum}")
        if clamp:
            return maximum
        raise SipParseError(f"Bad {what}: a number of {len(text)} digits")
    raise SipParseError(f"Bad {what}: {text[:20]!r} is not a number")
