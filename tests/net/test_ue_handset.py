"""The handset driver's own bookkeeping (ims.net.ue): call history and SDP versions per early dialog."""

from __future__ import annotations

import pytest

from ims.net import ue as ue_mod
from ims.net.ue import CallRecord, Handset
from ims.sip.events import Address
from ims.ue.handset import ImsHandset, Subscription

DOMAIN = "ims.example.net"


def _handset() -> Handset:
    sub = Subscription(f"001@{DOMAIN}", f"sip:alice@{DOMAIN}", DOMAIN, k=bytes(16), opc=bytes(16))
    return Handset("alice", ImsHandset(sub, Address("127.0.9.90", 5060), Address("127.0.9.91", 5060)))


def test_ended_calls_beyond_the_kept_number_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ue_mod, "KEPT_ENDED_CALLS", 3)
    h = _handset()
    for i in range(6):
        h._keep(CallRecord(f"c{i}", "uac", "sip:bob@x", "ended" if i % 2 else "failed", float(i)))
        h._sdp_version[f"c{i}"] = 1
    h._keep(CallRecord("live", "uac", "sip:bob@x", "confirmed", 6.0))
    assert list(h.calls) == ["c3", "c4", "c5", "live"]  # a call still going is never forgotten
    assert sorted(h._sdp_version) == ["c3", "c4", "c5"]


def test_each_early_dialog_counts_sdp_versions_from_the_invite_offer() -> None:
    """RFC 3264 §8: o= version is one more than the previous SDP sent *in that session*; with a forked
    INVITE each early dialog's previous SDP is the INVITE's offer (version 1)."""
    h = _handset()
    h._sdp_version["call"] = 1  # the INVITE's offer
    assert h._bump("call", "fork-a") == 2
    assert h._bump("call", "fork-b") == 2
    assert h._bump("call", "fork-a") == 3
    h._confirm_version("call", "fork-a")  # fork a answered: the dialog goes on from its version
    assert h._bump("call") == 4
    assert not h._early_version
