"""SIP errors that carry the status to answer with (RFC 3261 §21).

Code that catches a :class:`SipError` turns it straight into the wire answer:
``build_response(request, err.status, err.reason)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ims.sip.message import Request


class SipError(Exception):
    """Base SIP error: ``status`` is the response code, ``reason`` its phrase."""

    status: int = 500

    def __init__(self, reason: str, status: int | None = None) -> None:
        if len(reason) > MAX_REASON or "\r" in reason or "\n" in reason or "\x00" in reason:
            reason = _one_line(reason)  # it becomes a status line's Reason-Phrase: one short line
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


MAX_REASON = 200


def _one_line(reason: str) -> str:
    reason = reason.replace("\r", "\\r").replace("\n", "\\n").replace("\x00", "\\x00")
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "..."


class SipParseError(SipError):
    """Malformed message; ``reason`` names the fault ("Bad CSeq header: ...").

    ``partial`` holds what could be read of a request (Via, From, To, Call-ID,
    CSeq) so that a server can still answer it with 400 and this reason.
    """

    status = 400

    def __init__(self, reason: str, status: int | None = None, partial: Request | None = None) -> None:
        super().__init__(reason, status)
        self.partial = partial


class SipValueError(SipError, ValueError):
    """A value given through the API that cannot go on the wire; ``header`` names where it was given.

    Our own fault, not the peer's: a server that meets it while answering says 500."""

    status = 500

    def __init__(self, reason: str, header: str = "") -> None:
        super().__init__(reason)
        self.header = header


class HeaderInjectionError(SipValueError):
    """CR, LF or NUL in a header name or value, a URI or a reason phrase (STYLE.md §6a): written out it
    would end the line and start a header of the caller's choosing (RFC 3261 §7.3.1)."""


def check_text(value: str, header: str, what: str = "value") -> str:
    """``value`` unchanged, or :class:`HeaderInjectionError` when it holds CR, LF or NUL."""
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderInjectionError(f"CR, LF or NUL in the {header} {what}: {value[:40]!r}", header)
    return value
