"""In-memory network for sans-IO SIP cores: messages travel as bytes between cores by address."""

from __future__ import annotations

from typing import Any

from ims.sip.events import Address, SendMessage
from ims.sip.message import parse_message


class Net:
    """Delivers every SendMessage to the core bound at its destination, through real bytes."""

    def __init__(self) -> None:
        self.cores: dict[tuple[str, int], Any] = {}
        self.now = 0.0
        self.events: list[tuple[str, Any]] = []  # (core name, app event)
        self.wire: list[tuple[Address, Address, bytes]] = []
        self.drop: callable | None = None  # type: ignore[valid-type]

    def add(self, name: str, addr: Address, core: Any) -> None:
        core._test_name = name
        core._test_addr = addr
        self.cores[(addr.host, addr.port)] = core

    def run(self, actions: list[Any], origin: Any) -> None:
        queue = [(origin, a) for a in actions]
        while queue:
            core, a = queue.pop(0)
            if isinstance(a, SendMessage):
                data = a.message.to_bytes()
                self.wire.append((core._test_addr, a.dest, data))
                if self.drop and self.drop(data):
                    continue
                target = self.cores.get((a.dest.host, a.dest.port))
                if target is None:
                    continue
                src = Address(core._test_addr.host, core._test_addr.port, a.dest.transport)
                msg = parse_message(data)
                queue.extend((target, x) for x in target.receive(msg, src, self.now))
            else:
                self.events.append((core._test_name, a))

    def advance(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for core in list(self.cores.values()):
                dl = core.next_deadline()
                if dl is not None and dl <= self.now:
                    self.run(core.handle_timers(self.now), core)

    def of(self, name: str, kind: type) -> list[Any]:
        return [e for n, e in self.events if n == name and isinstance(e, kind)]

    def methods(self) -> list[str]:
        out = []
        for _, _, data in self.wire:
            line = data.split(b"\r\n", 1)[0].decode()
            out.append(line.split(" ")[1] if line.startswith("SIP/") else line.split(" ")[0])
        return out
