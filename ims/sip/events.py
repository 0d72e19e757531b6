"""Small typed values exchanged between the sans-IO SIP cores and their drivers.

A core returns a list of these; a driver executes ``SendMessage`` and hands the
rest to whoever asked (the transaction user, the application).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    from ims.sip.message import Request, Response

TransactionKey = tuple  # (kind, branch-or-2543-key..., method); opaque to users


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    transport: str = "udp"  # "udp" | "tcp" | "tls" | "sctp"

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.transport}"


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 §17.1.1.1 / Table 4 timer bases, seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    trying_after: float = 0.2  # §17.2.1: 100 Trying if the TU is silent this long


@dataclass(frozen=True, slots=True)
class SendMessage:
    message: Request | Response
    dest: Address


@dataclass(frozen=True, slots=True)
class RequestReceived:
    key: TransactionKey
    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class AckReceived:
    """ACK for a 2xx: not part of any transaction (§17.2.1), goes to the TU."""

    request: Request
    source: Address


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    key: TransactionKey
    response: Response


@dataclass(frozen=True, slots=True)
class StrayResponse:
    response: Response
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransportFailure:
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class CancelReceived:
    key: TransactionKey  # the INVITE server transaction being cancelled
    cancel: Request


Action = Union[
    SendMessage, RequestReceived, AckReceived, ResponseReceived, StrayResponse, TransactionTimeout,
    TransportFailure, TransactionTerminated, CancelReceived,
]
