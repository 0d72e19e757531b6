"""Run a sans-IO :class:`UserAgent` on a :class:`SipStack` and wait for its events.

Used by the demo, tests and simulated handsets: commands are the UA's methods
(their actions go through ``execute``); ``wait_for`` returns the next event
of a given type, keeping the others for later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ims.net.sip import SipStack
from ims.sip.uacore import UserAgent

E = TypeVar("E")


class UaDriver:
    def __init__(self, ua: UserAgent, stack: SipStack) -> None:
        self.ua = ua
        self.stack = stack
        self.seen: list[Any] = []

    @property
    def now(self) -> float:
        return trio.current_time()

    async def do(self, actions: list[Any]) -> None:
        await self.stack.execute(actions)

    async def wait_for(self, kind: type[E] | tuple[type, ...], timeout: float = 5.0,
                       pred: Callable[[Any], bool] | None = None) -> E:
        for i, e in enumerate(self.seen):
            if isinstance(e, kind) and (pred is None or pred(e)):
                return self.seen.pop(i)  # type: ignore[no-any-return]
        with trio.fail_after(timeout):
            async for e in self.stack.events:
                if isinstance(e, kind) and (pred is None or pred(e)):
                    return e  # type: ignore[return-value]
                self.seen.append(e)
        raise trio.EndOfChannel("event stream closed")
