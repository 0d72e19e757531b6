"""Network impairments a node applies to what it sends: delay, jitter, loss, pause (fault injection).

A lab link can be made bad on purpose (the topology's ``[[impairments]]``,
or ``ims impair NODE`` at run time through the Node control service):
every message this node sends toward a peer address is dropped with
probability ``loss``, else held for ``delay`` plus a uniform ``jitter``
(which can reorder datagrams, as real jitter does), or dropped outright
while the link is paused.  Rules are per destination host; ``*`` matches
every destination.  Applied on the sending side only: a topology
impairment between A and B is installed on both A and B.

The decisions are sans-IO (``decide(host, now)`` returns a delay or None
for "drop"); the SIP stack (and the RTP sender) act on them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass
class Rule:
    delay: float = 0.0  # seconds
    jitter: float = 0.0  # seconds, uniform 0..jitter added to delay
    loss: float = 0.0  # probability 0..1
    paused_until: float = 0.0  # clock time before which everything is dropped (math.inf: until cleared)

    def describe(self, now: float) -> str:
        parts = []
        if self.delay:
            parts.append(f"delay {self.delay * 1000:.0f} ms")
        if self.jitter:
            parts.append(f"jitter {self.jitter * 1000:.0f} ms")
        if self.loss:
            parts.append(f"loss {self.loss * 100:.1f} %")
        if self.paused_until > now:
            parts.append("paused" if math.isinf(self.paused_until)
                         else f"paused {self.paused_until - now:.1f} s more")
        return ", ".join(parts) or "none"


class Impairments:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: dict[str, Rule] = {}
        self.rng = random.Random(seed)
        self.stats = {"impair_dropped": 0, "impair_delayed": 0}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def set(self, peer: str, *, delay_ms: float = 0.0, jitter_ms: float = 0.0, loss_percent: float = 0.0,
            pause_s: float = 0.0, now: float = 0.0) -> Rule:
        """Install (replace) the rule for ``peer`` (a host, or "*"); ``pause_s`` < 0 pauses until cleared."""
        for name, value, top in (("delay_ms", delay_ms, 60_000), ("jitter_ms", jitter_ms, 60_000),
                                 ("loss_percent", loss_percent, 100)):
            if not 0 <= value <= top:
                raise ValueError(f"{name} must be between 0 and {top}, got {value}")
        if not peer:
            raise ValueError("peer: give a host address or '*'")
        paused = math.inf if pause_s < 0 else (now + pause_s if pause_s > 0 else 0.0)
        rule = Rule(delay_ms / 1000, jitter_ms / 1000, loss_percent / 100, paused)
        self.rules[peer] = rule
        return rule

    def clear(self, peer: str | None = None) -> None:
        if peer is None or peer == "":
            self.rules.clear()
        else:
            self.rules.pop(peer, None)

    def decide(self, host: str, now: float) -> float | None:
        """Seconds to hold a message for ``host`` (0: send now), or None to drop it."""
        rule = self.rules.get(host) or self.rules.get("*")
        if rule is None:
            return 0.0
        if rule.paused_until > now or (rule.loss and self.rng.random() < rule.loss):
            self.stats["impair_dropped"] += 1
            return None
        hold = rule.delay + (self.rng.uniform(0, rule.jitter) if rule.jitter else 0.0)
        if hold > 0:
            self.stats["impair_delayed"] += 1
        return hold

    def describe(self, now: float) -> list[str]:
        return [f"{peer}: {rule.describe(now)}" for peer, rule in sorted(self.rules.items())]


def from_topology(imp: Impairments, topology: object, node_name: str) -> list[str]:
    """Install the topology's ``[[impairments]]`` that involve ``node_name`` (toward the other end's
    address); the rules installed, described."""
    out = []
    nodes = {n.name: n for n in topology.nodes}  # type: ignore[attr-defined]
    for i in topology.impairments:  # type: ignore[attr-defined]
        a, b = i.between
        if node_name not in (a, b):
            continue
        other = nodes[b if node_name == a else a]
        imp.set(other.address, delay_ms=i.delay_ms, jitter_ms=i.jitter_ms, loss_percent=i.loss)
        out.append(f"{other.address} ({other.name}): {imp.rules[other.address].describe(0.0)}")
    return out
