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
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class SipParseError(SipError):
    """Malformed message; ``reason`` names the fault ("Bad CSeq header: ...").

    ``partial`` holds what could be read of a request (Via, From, To, Call-ID,
    CSeq) so that a server can still answer it with 400 and this reason.
    """

    status = 400

    def __init__(self, reason: str, status: int | None = None, partial: Request | None = None) -> None:
        super().__init__(reason, status)
        self.partial = partial
