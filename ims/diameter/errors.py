"""Diameter errors carry the Result-Code to answer with (RFC 6733 §7.1, TS 29.229 §6.2).

The code that catches a :class:`DiameterError` turns it into the answer
directly: ``result_code`` (Experimental-Result with ``vendor_id`` when
``experimental``), ``message`` as Error-Message and ``failed_avp`` (a
Failed-AVP grouped AVP, RFC 6733 §7.5) when the fault is one AVP.
"""

from __future__ import annotations

from typing import Any


class DiameterError(Exception):
    def __init__(self, result_code: int, message: str = "", *, experimental: bool = False,
                 vendor_id: int = 10415, failed_avp: Any = None) -> None:
        super().__init__(message or f"Diameter result {result_code}")
        self.result_code = result_code
        self.experimental = experimental
        self.vendor_id = vendor_id
        self.message = message
        self.failed_avp = failed_avp


class DiameterTimeout(Exception):
    """No answer within the request timeout (the peer may have failed over)."""


class NoRoute(DiameterError):
    """No open peer for the Destination-Host / Destination-Realm (RFC 6733 §6.1: 3002 / 3003)."""

    def __init__(self, message: str, result_code: int = 3002) -> None:
        super().__init__(result_code, message)
