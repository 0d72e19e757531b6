"""Impairment decisions (ims.net.impair): loss rate, delay and jitter bounds, pause, validation."""

from __future__ import annotations

import math

import pytest

from ims.net.impair import Impairments


def test_no_rule_sends_now() -> None:
    assert Impairments().decide("127.0.0.1", 0.0) == 0.0


def test_loss_rate_is_close_to_the_setting() -> None:
    imp = Impairments(seed=7)
    imp.set("10.0.0.2", loss_percent=5)
    decisions = [imp.decide("10.0.0.2", 0.0) for _ in range(20000)]
    lost = sum(d is None for d in decisions) / len(decisions)
    assert 0.04 < lost < 0.06
    assert imp.stats["impair_dropped"] == sum(d is None for d in decisions)
    assert imp.decide("10.0.0.3", 0.0) == 0.0  # another destination is not impaired


def test_delay_and_jitter_bounds_and_star_rule() -> None:
    imp = Impairments(seed=1)
    imp.set("*", delay_ms=100, jitter_ms=20)
    holds = [imp.decide("10.9.9.9", 0.0) for _ in range(1000)]
    assert all(h is not None and 0.1 <= h <= 0.12 for h in holds)
    assert max(holds) - min(holds) > 0.015  # type: ignore[operator]


def test_pause_for_a_while_and_until_cleared() -> None:
    imp = Impairments()
    imp.set("10.0.0.2", pause_s=2, now=10.0)
    assert imp.decide("10.0.0.2", 11.0) is None
    assert imp.decide("10.0.0.2", 12.5) == 0.0
    imp.set("10.0.0.2", pause_s=-1, now=0.0)
    assert math.isinf(imp.rules["10.0.0.2"].paused_until)
    assert imp.describe(0.0) == ["10.0.0.2: paused"]
    imp.clear("10.0.0.2")
    assert imp.decide("10.0.0.2", 0.0) == 0.0 and not imp


@pytest.mark.parametrize("kw, field", [({"loss_percent": 101}, "loss_percent"), ({"delay_ms": -1}, "delay_ms"),
                                       ({"jitter_ms": 1e9}, "jitter_ms")])
def test_bad_values_name_the_field(kw: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=field):
        Impairments().set("10.0.0.2", **kw)


def test_topology_impairments_are_installed_on_both_ends() -> None:
    from pathlib import Path

    from ims.net.impair import from_topology
    from ims.topology import loads

    text = (Path(__file__).resolve().parents[2] / "topologies" / "volte-basic.toml").read_text()
    topo = loads(text + '\n[[impairments]]\nbetween = ["pcscf", "ue"]\ndelay_ms = 20\nloss = 5\n')
    at_ue, at_pcscf, at_hss = Impairments(), Impairments(), Impairments()
    assert from_topology(at_ue, topo, "ue") == ["127.0.1.40 (pcscf): delay 20 ms, loss 5.0 %"]
    assert from_topology(at_pcscf, topo, "pcscf") == ["127.0.1.100 (ue): delay 20 ms, loss 5.0 %"]
    assert from_topology(at_hss, topo, "hss") == [] and not at_hss
