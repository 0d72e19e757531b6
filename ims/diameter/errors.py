"""Diameter errors carry the Result-Code to answer with (RFC 6733 §7.1, TS 29.229 §6.2)."""

from __future__ import annotations


class DiameterError(Exception):
    def __init__(self, result_code: int, message: str = "", *, experimental: bool = False,
                 vendor_id: int = 10415) -> None:
        super().__init__(message or f"Diameter result {result_code}")
        self.result_code = result_code
        self.experimental = experimental
        self.vendor_id = vendor_id
        self.message = message


class DiameterTimeout(Exception):
    """No answer within the request timeout."""


class NoRoute(DiameterError):
    def __init__(self, message: str, result_code: int = 3002) -> None:
        super().__init__(result_code, message)
