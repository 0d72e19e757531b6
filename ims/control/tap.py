"""Follow the Events streams of several nodes at once: one reader thread per node.

``EventTap(on_event).follow(target)`` subscribes to a node's control service
("127.0.0.1:PORT") and calls ``on_event(target, event)`` from that node's
reader thread for every message the node sends or receives, from the moment
``follow`` returns (it waits until the stream is open).  The flow runner
collects with it, the demo prints with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ims.control.client import ControlError, NodeClient
from ims.control.events import NodeEvent


class EventTap:
    def __init__(self, on_event: Callable[[str, NodeEvent], None], *, timeout: float = 3600.0) -> None:
        self.on_event = on_event
        self.timeout = timeout
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def follow(self, target: str, ready_timeout: float = 3.0) -> None:
        ready = threading.Event()
        t = threading.Thread(target=self._run, args=(target, ready), daemon=True, name=f"tap-{target}")
        t.start()
        ready.wait(ready_timeout)
        self.threads.append(t)

    def _run(self, target: str, ready: threading.Event) -> None:
        try:
            with NodeClient(target) as c:
                stream = c.events(timeout=self.timeout)
                ready.set()
                for ev in stream:
                    if self.stop.is_set():
                        return
                    self.on_event(target, ev)
        except ControlError:
            ready.set()  # the node went away: nothing more to follow
