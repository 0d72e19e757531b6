"""The node's event bus: messages sent and received, fanned out to control-plane subscribers.

A node calls ``bus.publish(NodeEvent(...))`` from its trio code for every
SIP/Diameter/ISUP message it sends or receives; each ``Events`` gRPC stream
(``ims trace``, ladder and pcap writers, tests) is one :class:`Subscription`
drained by a gRPC worker thread.

``publish`` never waits for a subscriber: each subscription is a bounded
deque; when a slow subscriber falls behind, its *oldest* events are dropped
and counted (the next event it gets carries the count), so the node's event
loop is never held up by a reader.  The locks taken in ``publish`` guard a
few list operations only, never I/O.  With no subscriber, ``publish`` is one
counter increment and a tuple check.

This module is not a log: events exist only for the subscribers present
when they are published.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_DEPTH = 4096
KINDS = ("sip", "diameter", "isup", "rtp", "log")


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """One message a node sent (``direction="out"``) or received (``"in"``), as published and as streamed.

    ``time`` and ``node`` may be left empty when publishing: the bus fills in
    the publish time and its node's name.  ``seq`` and ``dropped`` are set on
    the receiving side (see ``Event`` in node.proto).
    """

    kind: str
    direction: str
    src: str = ""
    dst: str = ""
    transport: str = ""
    payload: bytes = b""
    summary: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    time: float = 0.0
    node: str = ""
    seq: int = 0
    dropped: int = 0


class EventLike(Protocol):
    """What ``publish`` reads; any object with these attributes will do (a NodeEvent, a node's own dataclass)."""

    kind: str
    direction: str


class Subscription:
    """One subscriber's bounded queue.  Filled from the node's thread, drained by one consumer thread."""

    __slots__ = ("depth", "kinds", "dropped", "delivered", "closed", "_queue", "_lock", "_ready", "_signalled",
                 "_reported")

    def __init__(self, depth: int, kinds: Collection[str] | None) -> None:
        if depth < 1:
            raise ValueError(f"subscription depth must be at least 1, not {depth}")
        self.depth = depth
        self.kinds = frozenset(kinds) if kinds else None
        self.dropped = 0  # events lost to this subscriber, oldest first
        self.delivered = 0
        self.closed = False
        self._queue: deque[tuple[int, float, Any]] = deque(maxlen=depth)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._signalled = False
        self._reported = 0

    def _offer(self, item: tuple[int, float, Any]) -> None:
        with self._lock:
            if len(self._queue) == self.depth:
                self.dropped += 1  # deque(maxlen) evicts the oldest on append
            self._queue.append(item)
            if not self._signalled:
                self._signalled = True
                self._ready.set()

    def get(self, timeout: float | None) -> tuple[list[tuple[int, float, Any]], int]:
        """Block (on the consumer's thread) until events arrive, ``timeout`` passes or the subscription closes.

        Returns the queued ``(seq, published_at, event)`` items, oldest first, and how
        many events were dropped since the previous call (all older than these items).
        """
        self._ready.wait(timeout)
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._ready.clear()
            self._signalled = False
            lost, self._reported = self.dropped - self._reported, self.dropped
        if self.closed:
            self._ready.set()  # stay awake: every later get() returns at once
        self.delivered += len(items)
        return items, lost

    def close(self) -> None:
        """Wake the consumer for good (client went away, or the server stops)."""
        self.closed = True
        self._ready.set()


class EventBus:
    """Fan-out of a node's events to its subscribers; ``publish`` is called on the node's trio thread."""

    def __init__(self, node: str = "", *, default_depth: int = DEFAULT_DEPTH) -> None:
        self.node = node
        self.default_depth = default_depth
        self._subscribers: tuple[Subscription, ...] = ()  # replaced, never mutated: publish reads it lock-free
        self._lock = threading.Lock()
        self._seq = itertools.count(1)  # next() is atomic under the GIL: publish from any thread is safe
        self.published = 0

    def publish(self, event: EventLike) -> None:
        """Offer ``event`` to every subscriber that wants its kind.  Never blocks, never raises for a slow reader."""
        seq = next(self._seq)
        self.published = seq
        subscribers = self._subscribers
        if not subscribers:
            return
        item = (seq, time.time(), event)
        kind = event.kind
        for sub in subscribers:
            if sub.kinds is None or kind in sub.kinds:
                sub._offer(item)

    def subscribe(self, depth: int = 0, kinds: Collection[str] | None = None) -> Subscription:
        sub = Subscription(depth or self.default_depth, kinds)
        with self._lock:
            self._subscribers = (*self._subscribers, sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not sub)

    def close(self) -> None:
        """End every subscription (their streams finish cleanly); used when the control server stops."""
        with self._lock:
            subs, self._subscribers = self._subscribers, ()
        for sub in subs:
            sub.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        """Events dropped for the current subscribers."""
        return sum(s.dropped for s in self._subscribers)

    def stats(self) -> dict[str, int]:
        return {"events_published": self.published, "event_subscribers": self.subscribers,
                "events_dropped": self.dropped}

    def materialize(self, item: tuple[int, float, Any], dropped: int = 0) -> NodeEvent:
        """A queued item as a :class:`NodeEvent` with its defaults filled in (on the consumer's thread)."""
        seq, published_at, ev = item
        payload = getattr(ev, "payload", b"")
        if isinstance(payload, str):
            payload = payload.encode()
        fields = getattr(ev, "fields", None) or {}
        return NodeEvent(kind=ev.kind, direction=ev.direction, src=str(getattr(ev, "src", "") or ""),
                         dst=str(getattr(ev, "dst", "") or ""), transport=getattr(ev, "transport", "") or "",
                         payload=bytes(payload), summary=getattr(ev, "summary", "") or "",
                         fields={str(k): str(v) for k, v in fields.items()},
                         time=getattr(ev, "time", 0.0) or published_at, node=getattr(ev, "node", "") or self.node,
                         seq=seq, dropped=dropped)
