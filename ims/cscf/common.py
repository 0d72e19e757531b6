"""What the three CSCFs share: Cx queries as actions, node timers, and the SIP-core plumbing.

:class:`CscfApp` is a SIP core (``receive`` / ``next_deadline`` /
``handle_timers`` / ``transport_error``, the contract ``ims.net.sip.SipStack``
drives) wrapping a :class:`~ims.sip.proxy.ProxyCore`.  A CSCF that needs the
HSS calls ``self.query(cx_request, on_answer)``: the query goes to
``submit`` (the trio driver sends it over Diameter; tests answer it by
hand) and ``on_answer(answer_or_None, now)`` returns the SIP actions that
follow.  ``None`` means no answer (timeout, no peer): TS 24.229 has the CSCF
answer 480 (I-CSCF, §5.3.1.3) or 500 then.

Node timers (registration expiry, subscription refresh) are
``self.at(when, callback)``; callbacks return actions too.

State that must outlive the process (registrations, reg-event dialogs) is
reported, not written: a core calls ``self.changed(kind, key, obj)`` (or
``obj=None`` when it is gone); the driver, when it keeps a state file
(``persisting``), drains :meth:`CscfApp.take_changes` - the latest state of
each changed key as :class:`~ims.cscf.store.Persist` / ``Forget`` values -
and writes them off the loop; at start it hands the stored records to
``restore``.  Times in a record are wall-clock (``now + wall_offset``).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from ims.cscf.store import Change, Forget, Persist, StoredRecord
from ims.diameter.cx import CxAnswer, CxRequest
from ims.sip.events import Action, Address
from ims.sip.message import Request, Response
from ims.sip.proxy import ProxyCore
from ims.sip.uri import URI, SipURI, TelURI, parse_uri

AnswerCallback = Callable[[CxAnswer | None, float], list[Action]]


@dataclass(frozen=True, slots=True)
class CxQuery:
    """A Cx request the node must send; ``on_answer`` gets the parsed answer (None if none came)."""

    request: CxRequest
    on_answer: AnswerCallback


class CscfApp:
    """A SIP core around a ProxyCore, with Cx queries and timers of its own."""

    core: ProxyCore

    def __init__(self) -> None:
        self.queries: list[CxQuery] = []  # used when no ``submit`` is set (tests)
        self.submit: Callable[[CxQuery], None] = self.queries.append
        self._timers: list[tuple[float, int, Callable[[float], list[Action]]]] = []
        self._seq = itertools.count()
        self.counters: dict[str, int] = {}
        # Written-through state (ims.cscf.store): off unless the driver keeps a state file.
        self.persisting = False
        self.wall_offset = 0.0  # wall clock minus ``now``: records hold wall-clock times
        self.on_change: Callable[[], None] = lambda: None  # the driver's wake-up (set with ``persisting``)
        self._dirty: dict[tuple[str, str], object | None] = {}  # (kind, key) -> live object, None: gone

    # -- written-through state -----------------------------------------------------
    def changed(self, kind: str, key: str, obj: object | None) -> None:
        """Record ``kind``/``key`` changed (``obj`` is the live object, serialised when drained) or gone."""
        if self.persisting:
            self._dirty[(kind, key)] = obj
            self.on_change()

    def pending_changes(self) -> int:
        return len(self._dirty)

    def take_dirty(self, limit: int = 10_000) -> list[tuple[str, str, object | None]]:
        """Up to ``limit`` changed keys, oldest first, each with its live object (None: gone)."""
        out = []
        for kind, key in list(itertools.islice(self._dirty, limit)):
            out.append((kind, key, self._dirty.pop((kind, key))))
        return out

    def requeue(self, items: list[tuple[str, str, object | None]]) -> None:
        """Taken changes that were not written: pending again, unless their key changed meanwhile."""
        for kind, key, obj in items:
            self._dirty.setdefault((kind, key), obj)

    def take_changes(self, now: float, limit: int = 10_000) -> list[Change]:
        """The drained changes as values: the latest state of each changed key."""
        return [Forget(kind, key) if obj is None else self.snapshot(kind, key, obj, now)
                for kind, key, obj in self.take_dirty(limit)]

    def snapshot(self, kind: str, key: str, obj: object, now: float) -> Persist:
        """The record to store for a live object (each CSCF that keeps state says how)."""
        raise NotImplementedError(kind)

    def restore(self, records: list[StoredRecord], now: float) -> list[Action]:
        """Rebuild from stored records before serving; actions to send once the transports are up."""
        return []

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def query(self, request: CxRequest, on_answer: AnswerCallback) -> None:
        self.count(f"cx_{type(request).__name__}")
        self.submit(CxQuery(request, on_answer))

    def at(self, when: float, callback: Callable[[float], list[Action]]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), callback))

    # -- SipCore ------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        return self.core.receive(message, source, now)

    def next_deadline(self) -> float | None:
        theirs = self.core.next_deadline()
        mine = self._timers[0][0] if self._timers else None
        if mine is None:
            return theirs
        return mine if theirs is None else min(mine, theirs)

    def handle_timers(self, now: float) -> list[Action]:
        out = self.core.handle_timers(now)
        while self._timers and self._timers[0][0] <= now:
            _, _, callback = heapq.heappop(self._timers)
            out.extend(callback(now))
        return out

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        return self.core.transport_error(dest, now)

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        return self.core.connection_lost(dest, now)

    def stats(self) -> dict[str, int]:
        return {**self.core.stats, **self.counters, "transactions": len(self.core.layer),
                "parked": self.core.parked()}


def aor_key(uri: URI | str) -> str:
    """The comparison key of a public identity: ``sip:user@host`` or ``tel:+digits``."""
    if isinstance(uri, str):
        uri = parse_uri(uri)
    return uri.aor


def route_value(host: str, port: int, user: str | None = None, transport: str = "udp") -> str:
    """A loose-route URI naming a CSCF (``<sip:orig@host:port;lr>``)."""
    u = f"{user}@" if user else ""
    tp = "" if transport == "udp" else f";transport={transport}"
    return f"<sip:{u}{host}:{port}{tp};lr>"


def telephone_number(uri: URI) -> str | None:
    """The E.164 digits (with '+') of a tel: URI or a sip: URI with user=phone, else None."""
    if isinstance(uri, TelURI):
        return uri.number.split(";")[0]
    if isinstance(uri, SipURI) and uri.params.get("user") == "phone" and uri.user:
        return uri.user.split(";")[0]
    return None


def log_extra(req: Request, **fields: object) -> dict[str, object]:
    """The structured fields of a log line about ``req``: call_id, transaction (top Via branch), more."""
    try:
        branch = req.top_via.branch or ""
    except Exception:  # noqa: BLE001 - logging must never fail on a message we already handled
        branch = ""
    return {"call_id": req.call_id, "transaction": branch, **fields}
